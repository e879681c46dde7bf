//! What a step can reach besides the agent: async work and a description of the agent instance.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::FutureExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{BoxEventHandler, EventHandler};
use crate::downlink::slot::Notifier;
use crate::downlink::HostedDownlink;
use crate::environment::Environment;
use crate::config::AgentConfig;
use crate::lanes::CommandPayload;

/// Async work finished: what the agent task must run next.
pub(crate) enum Wakeup<A> {
    /// A suspended future produced this handler.
    Handler(BoxEventHandler<'static, A>),
    /// The timer with this id fired (runs the lifecycle's `on_timer`).
    Timer(u64),
    /// The downlink with this id must link again.
    Relink(u64),
}

/// A command for a lane of another agent, sent once the current event is over.
pub(crate) struct OutgoingCommand {
    pub(crate) host: Option<String>,
    pub(crate) node: String,
    pub(crate) lane: String,
    pub(crate) payload: CommandPayload,
}

/// Async work and outside requests registered by handlers, owned by the agent task.
pub(crate) struct Effects<A> {
    suspended: FuturesUnordered<BoxFuture<'static, Wakeup<A>>>,
    environment: Option<Arc<dyn Environment>>,
    ready: mpsc::UnboundedSender<u64>,
    next_downlink: u64,
    pub(crate) opened: Vec<(u64, Box<dyn HostedDownlink<A>>)>,
    pub(crate) commands: Vec<OutgoingCommand>,
}

impl<A: 'static> Effects<A> {
    pub(crate) fn new(
        environment: Option<Arc<dyn Environment>>,
        ready: mpsc::UnboundedSender<u64>,
    ) -> Self {
        Effects {
            suspended: FuturesUnordered::new(),
            environment,
            ready,
            next_downlink: 0,
            opened: Vec::new(),
            commands: Vec::new(),
        }
    }

    /// The agents around this one (none in the test harness).
    pub(crate) fn environment(&self) -> Option<&Arc<dyn Environment>> {
        self.environment.as_ref()
    }

    /// Links the downlink `id` again after `delay`.
    pub(crate) fn relink_after(&mut self, id: u64, delay: std::time::Duration) {
        let relink = tokio::time::sleep(delay).map(move |_| Wakeup::Relink(id));
        self.suspended.push(relink.boxed());
    }

    /// The registered futures, polled by the agent task.
    pub(crate) fn suspended(&mut self) -> &mut FuturesUnordered<BoxFuture<'static, Wakeup<A>>> {
        &mut self.suspended
    }

    /// How many futures and timers are pending.
    pub(crate) fn pending(&self) -> usize {
        self.suspended.len()
    }
}

/// The agent-task services available to a [`HandlerAction`](super::HandlerAction) while it steps.
///
/// Handlers never block or await: they hand futures and timers to the agent task through this
/// context, and the task runs the handler each one produces when it completes.
pub struct ActionContext<'a, A> {
    effects: &'a mut Effects<A>,
}

impl<'a, A: 'static> ActionContext<'a, A> {
    pub(crate) fn new(effects: &'a mut Effects<A>) -> Self {
        ActionContext { effects }
    }

    /// Runs `future` inside the agent task; when it completes, the handler it yields is run.
    pub fn suspend<F, H>(&mut self, future: F)
    where
        F: Future<Output = H> + Send + 'static,
        H: EventHandler<A> + Send + 'static,
    {
        let wakeup = future.map(|handler| Wakeup::Handler(Box::new(handler) as BoxEventHandler<A>));
        self.effects.suspended.push(wakeup.boxed());
    }

    /// Fires the lifecycle's `on_timer` handler with `id` at `at`.
    pub fn schedule_timer(&mut self, at: Instant, id: u64) {
        let timer = tokio::time::sleep_until(at).map(move |_| Wakeup::Timer(id));
        self.effects.suspended.push(timer.boxed());
    }

    /// An id and a ready-queue notifier for a new downlink.
    pub(crate) fn new_downlink(&mut self) -> Notifier {
        let id = self.effects.next_downlink;
        self.effects.next_downlink += 1;
        Notifier::new(id, self.effects.ready.clone())
    }

    /// The agents around this one (none in the test harness).
    pub(crate) fn environment(&self) -> Option<Arc<dyn Environment>> {
        self.effects.environment.clone()
    }

    /// Hosts a downlink; it links once the current event is over.
    pub(crate) fn open_downlink(&mut self, id: u64, downlink: Box<dyn HostedDownlink<A>>) {
        self.effects.opened.push((id, downlink));
    }

    /// Sends a command once the current event is over.
    pub(crate) fn send_command(&mut self, command: OutgoingCommand) {
        self.effects.commands.push(command);
    }
}

/// A description of the running agent instance: its node URI, route parameters and config.
#[derive(Debug, Clone, Copy)]
pub struct AgentMetadata<'a> {
    uri: &'a str,
    parameters: &'a HashMap<String, String>,
    config: &'a AgentConfig,
}

impl<'a> AgentMetadata<'a> {
    /// Describes an agent instance.
    pub fn new(
        uri: &'a str,
        parameters: &'a HashMap<String, String>,
        config: &'a AgentConfig,
    ) -> Self {
        AgentMetadata {
            uri,
            parameters,
            config,
        }
    }

    /// The node URI of the agent, e.g. `/example/1`.
    pub fn agent_uri(&self) -> &'a str {
        self.uri
    }

    /// The route parameter `name` (from a pattern such as `/example/:name`).
    pub fn get_parameter(&self, name: &str) -> Option<&'a str> {
        self.parameters.get(name).map(String::as_str)
    }

    /// All route parameters.
    pub fn parameters(&self) -> &'a HashMap<String, String> {
        self.parameters
    }

    /// The configuration the agent runs with.
    pub fn agent_configuration(&self) -> &'a AgentConfig {
        self.config
    }
}
