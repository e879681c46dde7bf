//! The state of a running agent instance and the one way every event is handled.

use std::collections::HashMap;
use std::fmt;

use super::runner::{DirtyItems, Runner};
use super::AgentLaneModel;
use crate::agent_lifecycle::{AgentLifecycle, HandlerRunner};
use crate::config::{AgentConfig, HandlerErrorPolicy};
use crate::event_handler::{AgentMetadata, Effects, EventHandler, EventHandlerError, Wakeup};
use crate::lanes::CommandPayload;

/// A handler failure, as logged and reported: which agent, which lane, what went wrong.
#[derive(Debug)]
pub struct HandlerFailure {
    /// The node URI of the agent.
    pub node: String,
    /// The lane whose handler failed (or that received the failing command), if any.
    pub lane: Option<&'static str>,
    /// The error.
    pub error: EventHandlerError,
}

impl fmt::Display for HandlerFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.lane {
            Some(lane) => write!(f, "agent {} lane {}: {}", self.node, lane, self.error),
            None => write!(f, "agent {}: {}", self.node, self.error),
        }
    }
}

impl std::error::Error for HandlerFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// Where an event came from (for error reports).
#[derive(Debug, Clone, Copy)]
enum Source {
    Lifecycle,
    Lane(u64),
}

/// One agent instance: its lanes, its lifecycle and its pending async work.
pub(crate) struct AgentCore<A, L> {
    agent: A,
    lifecycle: L,
    uri: String,
    parameters: HashMap<String, String>,
    config: AgentConfig,
    effects: Effects<A>,
    dirty: DirtyItems,
    chain: Vec<u64>,
    stopping: bool,
}

impl<A, L> AgentCore<A, L>
where
    A: AgentLaneModel,
    L: AgentLifecycle<A>,
{
    pub(crate) fn new(
        agent: A,
        lifecycle: L,
        uri: String,
        parameters: HashMap<String, String>,
        config: AgentConfig,
    ) -> Self {
        AgentCore {
            agent,
            lifecycle,
            uri,
            parameters,
            config,
            effects: Effects::default(),
            dirty: DirtyItems::new(A::ITEMS.len()),
            chain: Vec::new(),
            stopping: false,
        }
    }

    pub(crate) fn agent(&self) -> &A {
        &self.agent
    }

    pub(crate) fn config(&self) -> &AgentConfig {
        &self.config
    }

    pub(crate) fn uri(&self) -> &str {
        &self.uri
    }

    pub(crate) fn effects(&mut self) -> &mut Effects<A> {
        &mut self.effects
    }

    /// Whether the agent must stop (a handler asked, or a failure under the `Stop` policy).
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping
    }

    /// Runs `on_init` (lane handlers disabled), then `on_start`.
    pub(crate) fn start(&mut self) -> Result<(), HandlerFailure> {
        let init = self.execute(Source::Lifecycle, false, |lifecycle, runner| {
            lifecycle.run_init(runner)
        });
        let start = self.execute(Source::Lifecycle, true, |lifecycle, runner| {
            lifecycle.run_start(runner)
        });
        init.and(start)
    }

    /// Runs `on_stop`; the agent is stopped afterwards.
    pub(crate) fn stop(&mut self) -> Result<(), HandlerFailure> {
        let result = self.execute(Source::Lifecycle, true, |lifecycle, runner| {
            lifecycle.run_stop(runner)
        });
        self.stopping = true;
        result
    }

    /// Runs an event handler (and everything it triggers) as one event.
    pub(crate) fn run<H: EventHandler<A>>(&mut self, handler: H) -> Result<(), HandlerFailure> {
        self.execute(Source::Lifecycle, true, |_, runner| runner.run(handler))
    }

    /// Applies a command to the lane `lane_id`.
    pub(crate) fn command(
        &mut self,
        lane_id: u64,
        payload: CommandPayload,
    ) -> Result<(), HandlerFailure> {
        self.execute(Source::Lane(lane_id), true, |_, runner| {
            let agent = runner.agent;
            match agent.item(lane_id) {
                Some(item) => item.apply_command(payload, runner),
                None => Err(EventHandlerError::BadCommand(format!(
                    "the agent has no item with id {lane_id}"
                ))),
            }
        })
    }

    /// Runs what a finished future or timer produced.
    pub(crate) fn wakeup(&mut self, wakeup: Wakeup<A>) -> Result<(), HandlerFailure> {
        match wakeup {
            Wakeup::Handler(handler) => self.run(handler),
            Wakeup::Timer(id) => self.execute(Source::Lifecycle, true, |lifecycle, runner| {
                lifecycle.run_timer(id, runner)
            }),
        }
    }

    fn execute(
        &mut self,
        source: Source,
        triggers: bool,
        f: impl FnOnce(&L, &mut Runner<'_, A, L>) -> Result<(), EventHandlerError>,
    ) -> Result<(), HandlerFailure> {
        let AgentCore {
            agent,
            lifecycle,
            uri,
            parameters,
            config,
            effects,
            dirty,
            chain,
            ..
        } = self;
        let mut runner = Runner {
            agent,
            lifecycle,
            effects,
            meta: AgentMetadata::new(uri, parameters, config),
            dirty,
            chain,
            triggers,
            failed_item: None,
        };
        let result = f(lifecycle, &mut runner);
        let failed_item = runner.failed_item;
        chain.clear();
        dirty.drain(|id| {
            if let Some(item) = agent.item(id) {
                item.flush();
            }
        });
        match result {
            Ok(()) => Ok(()),
            Err(EventHandlerError::StopInstructed) => {
                self.stopping = true;
                Ok(())
            }
            Err(error) => {
                let lane_id = failed_item.or(match source {
                    Source::Lane(id) => Some(id),
                    Source::Lifecycle => None,
                });
                let failure = HandlerFailure {
                    node: self.uri.clone(),
                    lane: lane_id.and_then(A::item_spec).map(|spec| spec.name),
                    error,
                };
                tracing::error!(node = %failure.node, lane = failure.lane, error = %failure.error, "event handler failed");
                if self.config.on_handler_error == HandlerErrorPolicy::Stop {
                    self.stopping = true;
                }
                Err(failure)
            }
        }
    }
}
