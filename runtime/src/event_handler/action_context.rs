//! What a step can reach besides the agent: async work and a description of the agent instance.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;

use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::time::Instant;

use super::{BoxEventHandler, EventHandler};
use crate::config::AgentConfig;
use crate::vocabulary::{Identity, OutgoingCommand};

/// Async work finished: what the agent task must run next.
pub(crate) enum Wakeup<A> {
    /// A suspended future produced this handler.
    Handler(BoxEventHandler<'static, A>),
    /// The timer with this id fired (runs the lifecycle's `on_timer`).
    Timer(u64),
    /// The downlink with this id must link again.
    Relink(u64),
}

/// Where a stepping handler leaves the work it hands to the agent task. The agent task's
/// outbox (in `agent_model`) implements it; this layer knows nothing of what is behind it.
pub(crate) trait Outbox<A> {
    /// Polls `future` inside the agent task; what it yields is run as one event.
    fn wake_on(&mut self, future: BoxFuture<'static, Wakeup<A>>);

    /// Sends a command once the current event is over.
    fn send_command(&mut self, command: OutgoingCommand);

    /// The agent's table of downlinks, a type of the `downlink` layer above this one (which
    /// recovers it by downcasting).
    fn downlinks(&mut self) -> &mut dyn Any;
}

/// The agent-task services available to a [`HandlerAction`](super::HandlerAction) while it steps.
///
/// Handlers never block or await: they hand futures and timers to the agent task through this
/// context, and the task runs the handler each one produces when it completes.
pub struct ActionContext<'a, A> {
    outbox: &'a mut dyn Outbox<A>,
}

impl<'a, A: 'static> ActionContext<'a, A> {
    pub(crate) fn new(outbox: &'a mut dyn Outbox<A>) -> Self {
        ActionContext { outbox }
    }

    /// Runs `future` inside the agent task; when it completes, the handler it yields is run.
    pub fn suspend<F, H>(&mut self, future: F)
    where
        F: Future<Output = H> + Send + 'static,
        H: EventHandler<A> + Send + 'static,
    {
        let wakeup = future.map(|handler| Wakeup::Handler(Box::new(handler) as BoxEventHandler<A>));
        self.outbox.wake_on(wakeup.boxed());
    }

    /// Fires the lifecycle's `on_timer` handler with `id` at `at`.
    pub fn schedule_timer(&mut self, at: Instant, id: u64) {
        let timer = tokio::time::sleep_until(at).map(move |_| Wakeup::Timer(id));
        self.outbox.wake_on(timer.boxed());
    }

    /// The agent's table of downlinks, if it is of type `T` (see [`Outbox::downlinks`]).
    pub(crate) fn downlinks<T: 'static>(&mut self) -> Option<&mut T> {
        self.outbox.downlinks().downcast_mut()
    }

    /// Sends a command once the current event is over.
    pub(crate) fn send_command(&mut self, command: OutgoingCommand) {
        self.outbox.send_command(command);
    }
}

/// What [`AgentMetadata`] describes: the node URI, route parameters and config of a running
/// agent instance, and who sent the command being handled.
#[derive(Debug, Clone, Copy)]
pub struct AgentInstance<'a> {
    uri: &'a str,
    parameters: &'a HashMap<String, String>,
    config: &'a AgentConfig,
    sender: Option<&'a Identity>,
}

impl<'a> AgentInstance<'a> {
    /// Describes an agent instance.
    pub fn new(
        uri: &'a str,
        parameters: &'a HashMap<String, String>,
        config: &'a AgentConfig,
    ) -> Self {
        AgentInstance {
            uri,
            parameters,
            config,
            sender: None,
        }
    }

    /// The same, during an event caused by a command from `sender`.
    pub fn with_sender(mut self, sender: Option<&'a Identity>) -> Self {
        self.sender = sender;
        self
    }
}

/// A description of the running agent instance: its node URI, route parameters and config.
///
/// One pointer wide (to an [`AgentInstance`]), so passing it to every step costs a register.
///
/// ```
/// use std::collections::HashMap;
/// use tidal_runtime::config::AgentConfig;
/// use tidal_runtime::event_handler::{AgentInstance, AgentMetadata};
///
/// let (parameters, config) = (HashMap::new(), AgentConfig::default());
/// let instance = AgentInstance::new("/rooms/1", &parameters, &config);
/// let meta = AgentMetadata::new(&instance);
/// assert_eq!(meta.agent_uri(), "/rooms/1");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct AgentMetadata<'a> {
    instance: &'a AgentInstance<'a>,
}

impl<'a> AgentMetadata<'a> {
    /// Describes the agent instance `instance`.
    pub fn new(instance: &'a AgentInstance<'a>) -> Self {
        AgentMetadata { instance }
    }

    /// Who sent the command the current event handles, if a server's policy identified them
    /// (`None` for anonymous clients, other agents and other events).
    pub fn sender(&self) -> Option<&'a Identity> {
        self.instance.sender
    }

    /// The node URI of the agent, e.g. `/example/1`.
    pub fn agent_uri(&self) -> &'a str {
        self.instance.uri
    }

    /// The route parameter `name` (from a pattern such as `/example/:name`).
    pub fn get_parameter(&self, name: &str) -> Option<&'a str> {
        self.instance.parameters.get(name).map(String::as_str)
    }

    /// All route parameters.
    pub fn parameters(&self) -> &'a HashMap<String, String> {
        self.instance.parameters
    }

    /// The configuration the agent runs with.
    pub fn agent_configuration(&self) -> &'a AgentConfig {
        self.instance.config
    }
}
