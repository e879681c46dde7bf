//! The task of one agent instance, and the handle that feeds its inbox.

use std::marker::PhantomData;
use std::sync::Arc;

use futures::StreamExt;
use serde::Serialize;
use tokio::sync::mpsc;
use tracing::Instrument;

use super::{AgentCore, AgentLaneModel};
use crate::agent_lifecycle::AgentLifecycle;
use crate::environment::{Mailbox, Request};
use crate::event_handler::{BoxEventHandler, EventHandler};
use crate::lanes::{CommandPayload, UnlinkReason};

/// A handle to a running agent instance: sends it commands and handlers.
///
/// Cloning it is cheap. The agent runs until it stops itself, [`AgentRef::stop`] is called, or
/// every handle to its inbox is dropped.
pub struct AgentRef<A> {
    uri: Arc<str>,
    inbox: Mailbox,
    _agent: PhantomData<fn(A)>,
}

impl<A> Clone for AgentRef<A> {
    fn clone(&self) -> Self {
        AgentRef {
            uri: self.uri.clone(),
            inbox: self.inbox.clone(),
            _agent: PhantomData,
        }
    }
}

impl<A: AgentLaneModel> AgentRef<A> {
    pub(crate) fn new(uri: Arc<str>, inbox: Mailbox) -> Self {
        AgentRef {
            uri,
            inbox,
            _agent: PhantomData,
        }
    }

    /// The node URI of the agent.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// Sends `command` to the lane named `lane` (its external name), waiting while the inbox
    /// is full.
    ///
    /// A command of the lane's own type is used as it is; another type is converted through
    /// Recon (so `5u8` can set a `ValueLane<i64>`). A command that does not convert is logged
    /// and dropped by the agent.
    ///
    /// # Errors
    /// [`SendError::Stopped`] if the agent has stopped; [`SendError::LaneNotFound`] if it has
    /// no lane of that name.
    pub async fn command<T>(&self, lane: &str, command: T) -> Result<(), SendError>
    where
        T: Serialize + Send + 'static,
    {
        if A::lane_id(lane).is_none() {
            return Err(SendError::LaneNotFound(lane.to_owned()));
        }
        self.send(Request::Command {
            lane: lane.to_owned(),
            payload: CommandPayload::typed(command),
            sender: None,
        })
        .await
    }

    /// Runs `handler` in the agent as one event.
    ///
    /// # Errors
    /// [`SendError::Stopped`] if the agent has stopped.
    pub async fn run<H>(&self, handler: H) -> Result<(), SendError>
    where
        H: EventHandler<A> + Send + 'static,
    {
        let handler: BoxEventHandler<'static, A> = Box::new(handler);
        self.send(Request::Run(Box::new(handler))).await
    }

    /// Asks the agent to stop (its `on_stop` handler runs).
    ///
    /// # Errors
    /// [`SendError::Stopped`] if the agent has stopped already.
    pub async fn stop(&self) -> Result<(), SendError> {
        self.send(Request::Stop(UnlinkReason::AgentStopped)).await
    }

    /// Whether the agent has stopped.
    pub fn is_stopped(&self) -> bool {
        self.inbox.is_closed()
    }

    async fn send(&self, request: Request) -> Result<(), SendError> {
        self.inbox
            .send(request)
            .await
            .map_err(|_| SendError::Stopped)
    }
}

/// Why a message could not be sent to an agent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The agent has stopped.
    #[error("the agent has stopped")]
    Stopped,
    /// The agent has no lane with this name.
    #[error("the agent has no lane named `{0}`")]
    LaneNotFound(String),
}

/// Spawns the task of an agent instance; `ready` is the receiving end of the ready queue of the
/// core's downlinks.
pub(crate) fn spawn<A, L>(
    core: AgentCore<A, L>,
    ready: mpsc::UnboundedReceiver<u64>,
) -> (Mailbox, Arc<str>, tokio::task::JoinHandle<()>)
where
    A: AgentLaneModel,
    L: AgentLifecycle<A>,
{
    let (tx, rx) = mpsc::channel(core.config().inbox_capacity.max(1));
    let uri: Arc<str> = core.uri().into();
    // A span of its own: the agent outlives whichever connection or agent started it.
    let span = tracing::info_span!(parent: None, "agent", node = %uri);
    let handle = match core.log_tap() {
        // Introspection: the agent's `tracing` events also go to its log lanes.
        Some((logs, dispatch)) => {
            let task = run(core, rx, ready).instrument(span);
            tokio::spawn(crate::introspection::Logged::new(task, logs, dispatch))
        }
        None => tokio::spawn(run(core, rx, ready).instrument(span)),
    };
    (tx, uri, handle)
}

/// The most requests one burst runs before the task looks at its other sources (downlinks,
/// timers) again.
const BURST: usize = 64;

/// Runs `first` and then the requests already waiting in the inbox (at most [`BURST`] in all),
/// as one burst: a store that allows it commits their turns together, and consecutive
/// commands whose turns await their commit are committed together. Any other request (a link,
/// a sync, an HTTP request, a handler) first waits until the turns before it have landed and
/// been published: it sees only what is stored.
async fn run_burst<A, L>(
    core: &mut AgentCore<A, L>,
    first: Request,
    inbox: &mut mpsc::Receiver<Request>,
) where
    A: AgentLaneModel,
    L: AgentLifecycle<A>,
{
    core.begin_burst();
    // Failures are logged by the core; its policy decides whether the agent goes on.
    let _ = core.request(first);
    for _ in 1..BURST {
        if core.is_stopping() {
            break;
        }
        let Ok(request) = inbox.try_recv() else {
            break;
        };
        if !request.is_command() {
            settle(core).await;
        }
        let _ = core.request(request);
    }
    let _ = core.end_burst();
    settle(core).await;
}

/// Awaits the commit the agent's last turns wait for, if they wait for one (it runs on the
/// store's thread: the worker runs other agents meanwhile), then publishes them.
async fn settle<A, L>(core: &mut AgentCore<A, L>)
where
    A: AgentLaneModel,
    L: AgentLifecycle<A>,
{
    if let Some(commit) = core.take_commit() {
        let (result, changes) = commit.run().await;
        // Failures are logged by the core; a commit that failed stops the agent.
        let _ = core.finish_commit(result, changes);
    }
}

/// The agent task: start, then one event at a time until stopped, then `on_stop`.
async fn run<A, L>(
    mut core: AgentCore<A, L>,
    mut inbox: mpsc::Receiver<Request>,
    mut ready: mpsc::UnboundedReceiver<u64>,
) where
    A: AgentLaneModel,
    L: AgentLifecycle<A>,
{
    // The instance this one replaces writes its last turn (`on_stop`) first.
    if let Some(predecessor) = core.take_predecessor() {
        predecessor.await;
    }
    // The persisted state is read off the worker, as commits are written.
    let loaded = match core.store() {
        Some(store) => Some(store.load(core.uri()).await),
        None => None,
    };
    // Failures are logged by the core; its policy decides whether the agent goes on.
    let _ = core.start(loaded);
    settle(&mut core).await;
    let idle_limit = core.config().inactive_timeout;
    let idle = tokio::time::sleep(idle_limit.unwrap_or(std::time::Duration::MAX));
    tokio::pin!(idle);
    // Ticks only while someone watches the agent's meta node.
    let pulse = tokio::time::sleep(std::time::Duration::ZERO);
    tokio::pin!(pulse);
    while !core.is_stopping() {
        let has_pending = core.effects().pending() > 0;
        let pulse_due = core.pulse_due();
        tokio::select! {
            biased;
            request = inbox.recv() => match request {
                Some(request) => {
                    let started = core.clock();
                    run_burst(&mut core, request, &mut inbox).await;
                    core.clocked(started);
                }
                None => break,
            },
            Some(id) = ready.recv() => {
                let started = core.clock();
                let _ = core.downlink_ready(id);
                core.clocked(started);
            }
            Some(wakeup) = core.effects().suspended().next(), if has_pending => {
                let started = core.clock();
                let _ = core.wakeup(wakeup);
                core.clocked(started);
            }
            () = &mut pulse, if pulse_due.is_some() => {
                core.pulse();
                if let Some(interval) = pulse_due {
                    pulse.as_mut().reset(tokio::time::Instant::now() + interval);
                }
                continue;
            }
            _ = &mut idle, if idle_limit.is_some() => {
                if core.is_idle() {
                    tracing::debug!("passivating an idle agent");
                    break;
                }
            }
        }
        settle(&mut core).await;
        if let Some(limit) = idle_limit {
            idle.as_mut().reset(tokio::time::Instant::now() + limit);
        }
    }
    inbox.close();
    let _ = core.stop();
    settle(&mut core).await;
    let reason = core.stop_reason();
    tracing::debug!(%reason, "agent stopped");
    // Every link still open hears why the agent went (a server stopping or a move is not the
    // end of the link: join lanes keep theirs).
    crate::lanes::closing_because(reason.clone(), || drop(core));
    // Whoever is still waiting to link must not wait forever.
    while let Ok(request) = inbox.try_recv() {
        request.refuse(reason.clone());
    }
}
