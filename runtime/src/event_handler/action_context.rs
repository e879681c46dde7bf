//! What a step can reach besides the agent: async work and a description of the agent instance.

use std::collections::HashMap;
use std::future::Future;

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::FutureExt;
use tokio::time::Instant;

use super::{BoxEventHandler, EventHandler};
use crate::config::AgentConfig;

/// Async work finished: what the agent task must run next.
pub(crate) enum Wakeup<A> {
    /// A suspended future produced this handler.
    Handler(BoxEventHandler<'static, A>),
    /// The timer with this id fired (runs the lifecycle's `on_timer`).
    Timer(u64),
}

/// Async work registered by handlers, owned by the agent task.
pub(crate) struct Effects<A> {
    suspended: FuturesUnordered<BoxFuture<'static, Wakeup<A>>>,
}

impl<A> Default for Effects<A> {
    fn default() -> Self {
        Effects {
            suspended: FuturesUnordered::new(),
        }
    }
}

impl<A: 'static> Effects<A> {
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
