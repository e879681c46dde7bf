//! The task of one agent instance, and the handle that feeds its inbox.

use futures::StreamExt;
use tokio::sync::mpsc;
use tracing::Instrument;

use super::{AgentCore, AgentLaneModel};
use crate::agent_lifecycle::AgentLifecycle;
use crate::event_handler::{BoxEventHandler, EventHandler};
use crate::lanes::CommandPayload;

/// What reaches an agent's inbox.
pub(crate) enum AgentMessage<A> {
    /// A command for the lane with this id.
    Command { lane: u64, payload: CommandPayload },
    /// A handler to run as one event.
    Run(BoxEventHandler<'static, A>),
    /// Stop the agent (runs `on_stop`).
    Stop,
}

/// A handle to a running agent instance: sends it commands and handlers.
///
/// Cloning it is cheap; the agent runs until it stops itself, [`AgentRef::stop`] is called, or
/// every `AgentRef` is dropped.
pub struct AgentRef<A> {
    uri: std::sync::Arc<str>,
    inbox: mpsc::Sender<AgentMessage<A>>,
}

impl<A> Clone for AgentRef<A> {
    fn clone(&self) -> Self {
        AgentRef {
            uri: self.uri.clone(),
            inbox: self.inbox.clone(),
        }
    }
}

impl<A: AgentLaneModel> AgentRef<A> {
    /// The node URI of the agent.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// Sends `command` to the lane named `lane` (its external name), waiting while the inbox
    /// is full.
    ///
    /// The command's type must be the lane's command type (`T` for `ValueLane<T>` and
    /// `CommandLane<T>`, `MapMessage<K, V>` for `MapLane<K, V>`); otherwise the agent logs the
    /// command as bad and drops it.
    pub async fn command<T: Send + 'static>(
        &self,
        lane: &str,
        command: T,
    ) -> Result<(), SendError> {
        let lane = A::item_id(lane).ok_or_else(|| SendError::LaneNotFound(lane.to_owned()))?;
        self.send(AgentMessage::Command {
            lane,
            payload: CommandPayload::typed(command),
        })
        .await
    }

    /// Runs `handler` in the agent as one event.
    pub async fn run<H>(&self, handler: H) -> Result<(), SendError>
    where
        H: EventHandler<A> + Send + 'static,
    {
        self.send(AgentMessage::Run(Box::new(handler))).await
    }

    /// Asks the agent to stop (its `on_stop` handler runs).
    pub async fn stop(&self) -> Result<(), SendError> {
        self.send(AgentMessage::Stop).await
    }

    /// Whether the agent has stopped.
    pub fn is_stopped(&self) -> bool {
        self.inbox.is_closed()
    }

    async fn send(&self, message: AgentMessage<A>) -> Result<(), SendError> {
        self.inbox
            .send(message)
            .await
            .map_err(|_| SendError::Stopped)
    }
}

/// Why a message could not be sent to an agent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The agent has stopped.
    #[error("the agent has stopped")]
    Stopped,
    /// The agent has no lane with this name.
    #[error("the agent has no lane named `{0}`")]
    LaneNotFound(String),
}

/// Spawns the task of an agent instance.
pub(crate) fn spawn<A, L>(core: AgentCore<A, L>) -> (AgentRef<A>, tokio::task::JoinHandle<()>)
where
    A: AgentLaneModel,
    L: AgentLifecycle<A>,
{
    let (tx, rx) = mpsc::channel(core.config().inbox_capacity.max(1));
    let uri: std::sync::Arc<str> = core.uri().into();
    let span = tracing::info_span!("agent", node = %uri);
    let handle = tokio::spawn(run(core, rx).instrument(span));
    (AgentRef { uri, inbox: tx }, handle)
}

/// The agent task: start, then one event at a time until stopped, then `on_stop`.
async fn run<A, L>(mut core: AgentCore<A, L>, mut inbox: mpsc::Receiver<AgentMessage<A>>)
where
    A: AgentLaneModel,
    L: AgentLifecycle<A>,
{
    // Failures are logged by the core; the policy decides whether the agent goes on.
    let _ = core.start();
    while !core.is_stopping() {
        let has_pending = core.effects().pending() > 0;
        tokio::select! {
            biased;
            message = inbox.recv() => match message {
                Some(AgentMessage::Command { lane, payload }) => {
                    let _ = core.command(lane, payload);
                }
                Some(AgentMessage::Run(handler)) => {
                    let _ = core.run(handler);
                }
                Some(AgentMessage::Stop) | None => break,
            },
            Some(wakeup) = core.effects().suspended().next(), if has_pending => {
                let _ = core.wakeup(wakeup);
            }
        }
    }
    inbox.close();
    let _ = core.stop();
}
