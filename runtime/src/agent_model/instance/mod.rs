//! One running agent instance ([`AgentCore`]): its lanes, its lifecycle, its downlinks and
//! timers, and where it keeps its state. What reaches its inbox is handled in [`requests`];
//! every event runs as one [`turn`].

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

use std::sync::Arc;

use tokio::sync::mpsc;

use super::effects::Effects;
use super::meta::NodeMeta;
use super::persistence;
use super::runner::DirtyItems;
use super::AgentLaneModel;
use crate::agent_lifecycle::{AgentLifecycle, HandlerRunner};
use crate::config::AgentConfig;
use crate::downlink::{HostedDownlink, Next};
use crate::environment::Environment;
use crate::event_handler::{EventHandler, EventHandlerError, Wakeup};
use crate::introspection::{HostMeta, RefusalLog};
use crate::lanes::{CommandPayload, UnlinkReason};
use crate::store::io::{Changes, StoreIo};
use crate::store::{AgentState, StoreError};
use crate::vocabulary::Identity;

mod requests;
mod turn;

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

/// What hosts an agent instance: the agents around it (none in the test harness) and where it
/// keeps its state (nowhere without a store).
#[derive(Clone, Default)]
pub(crate) struct Hosting {
    pub(crate) environment: Option<Arc<dyn Environment>>,
    pub(crate) store: Option<StoreIo>,
    /// The host's meta node, if the server has introspection.
    pub(crate) meta: Option<Arc<HostMeta>>,
    /// The end of the instance this one replaces at the same node (it stopped or was
    /// passivated, and may still be writing its last turn): the new one loads after it.
    pub(crate) after: Option<Finished>,
}

/// Completes when an agent task has ended (shared: whoever waits for it may clone it).
pub(crate) type Finished = futures::future::Shared<futures::future::BoxFuture<'static, ()>>;

/// One agent instance: its lanes, its lifecycle and its pending async work.
pub(crate) struct AgentCore<A, L> {
    agent: A,
    lifecycle: L,
    /// The node URI (shared with the store's queue).
    uri: Arc<str>,
    parameters: HashMap<String, String>,
    config: AgentConfig,
    effects: Effects<A>,
    dirty: DirtyItems,
    downlinks: HashMap<u64, Box<dyn HostedDownlink<A>>, BuildHasherDefault<IdHasher>>,
    /// Why the agent stops, once it must.
    stopping: Option<UnlinkReason>,
    /// Where the agent's state is kept, if anywhere.
    store: Option<StoreIo>,
    /// The changes of the current turn, for the store (reused).
    changes: Changes,
    /// The items changed by turns not committed yet.
    unsaved: DirtyItems,
    /// Whether a burst of requests is under way (if the store gathers turns, they are
    /// committed when it ends).
    bursting: bool,
    /// Whether the changes of the current turn are published later: during a burst, the
    /// turns of consecutive commands publish together, once (see [`AgentCore::request`]).
    deferring: bool,
    /// Whether turns ran whose commit the task must await (see
    /// [`take_commit`](AgentCore::take_commit)) before their events are published and their
    /// commands sent.
    awaiting: bool,
    /// Who sent the command being handled, if a server's policy identified them.
    sender: Option<Identity>,
    /// The agent's meta node, if the server has introspection.
    meta: Option<Box<NodeMeta>>,
    /// The end of the instance this one replaces, until the task has waited for it.
    after: Option<Finished>,
    /// Lets lines about commands it refused through, at most one per interval.
    refused_log: RefusalLog,
    /// A turn's changes could not be saved: the lanes hold state the store does not, so the
    /// agent publishes and sends nothing more (nobody may hear of a turn that did not land)
    /// while it stops.
    unsaved_failure: bool,
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
        hosting: Hosting,
        ready: mpsc::UnboundedSender<u64>,
    ) -> Self {
        let meta = hosting
            .meta
            .map(|host| Box::new(NodeMeta::new::<A>(host, &uri)));
        AgentCore {
            agent,
            lifecycle,
            uri: uri.into(),
            parameters,
            config,
            effects: Effects::new(hosting.environment, ready),
            dirty: DirtyItems::new(A::ITEMS.len()),
            downlinks: HashMap::default(),
            stopping: None,
            store: hosting.store,
            changes: Vec::new(),
            unsaved: DirtyItems::new(A::ITEMS.len()),
            bursting: false,
            deferring: false,
            awaiting: false,
            sender: None,
            meta,
            after: hosting.after,
            refused_log: RefusalLog::default(),
            unsaved_failure: false,
        }
    }

    pub(crate) fn agent(&self) -> &A {
        &self.agent
    }

    pub(crate) fn lifecycle(&self) -> &L {
        &self.lifecycle
    }

    pub(crate) fn config(&self) -> &AgentConfig {
        &self.config
    }

    pub(crate) fn uri(&self) -> &str {
        &self.uri
    }

    /// The end of the instance this one replaces, if it must wait for it (once).
    pub(crate) fn take_predecessor(&mut self) -> Option<Finished> {
        self.after.take()
    }

    /// Where the agent's state is kept, if anywhere.
    pub(crate) fn store(&self) -> Option<&StoreIo> {
        self.store.as_ref()
    }

    pub(crate) fn effects(&mut self) -> &mut Effects<A> {
        &mut self.effects
    }

    /// Whether the agent must stop (a handler asked, or a failure under the `Stop` policy).
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.is_some()
    }

    /// The agent must stop, for `reason` (the first reason given counts).
    fn stop_for(&mut self, reason: UnlinkReason) {
        self.stopping.get_or_insert(reason);
    }

    /// Why the agent stops (its links end for this reason): what was asked, or
    /// [`UnlinkReason::AgentStopped`].
    pub(crate) fn stop_reason(&self) -> UnlinkReason {
        self.stopping.clone().unwrap_or(UnlinkReason::AgentStopped)
    }

    /// Restores the persisted state `loaded` from the agent's store (`None` without a store),
    /// then runs `on_init` (lane handlers disabled), then `on_start`. State that does not
    /// restore stops the agent before `on_init`.
    pub(crate) fn start(
        &mut self,
        loaded: Option<Result<AgentState, StoreError>>,
    ) -> Result<(), HandlerFailure> {
        if let Some(loaded) = loaded {
            let restored = persistence::restore(loaded, &self.agent, &self.uri, &mut self.unsaved);
            if let Err((lane, error)) = restored {
                let failure = HandlerFailure {
                    node: self.uri.to_string(),
                    lane,
                    error,
                };
                tracing::error!(fail = true, node = %failure.node, lane = failure.lane, error = %failure.error, "the agent cannot start");
                self.stop_for(UnlinkReason::AgentStopped);
                return Err(failure);
            }
        }
        self.lifecycle.attach(&self.agent);
        let init = self.execute(Source::Lifecycle, false, |lifecycle, runner| {
            let mut starts = Vec::new();
            A::item_starts(&mut starts);
            for start in starts {
                runner.run(start)?;
            }
            lifecycle.run_init(runner)
        });
        let start = self.execute(Source::Lifecycle, true, |lifecycle, runner| {
            lifecycle.run_start(runner)
        });
        init.and(start)
    }

    /// Runs `on_stop`, then closes the agent's downlinks; the agent is stopped afterwards.
    pub(crate) fn stop(&mut self) -> Result<(), HandlerFailure> {
        let result = self.execute(Source::Lifecycle, true, |lifecycle, runner| {
            lifecycle.run_stop(runner)
        });
        self.stop_for(UnlinkReason::AgentStopped);
        let environment = self.effects.environment().cloned();
        for (_, downlink) in self.downlinks.drain() {
            downlink.unlink(environment.as_deref());
        }
        result
    }

    /// Runs an event handler (and everything it triggers) as one event.
    pub(crate) fn run<H: EventHandler<A>>(&mut self, handler: H) -> Result<(), HandlerFailure> {
        self.execute(Source::Lifecycle, true, |_, runner| runner.run(handler))
    }

    /// Applies a command from `sender` to the lane `lane_id` (the handlers it runs see who
    /// sent it).
    pub(crate) fn command_from(
        &mut self,
        lane_id: u64,
        payload: CommandPayload,
        sender: Option<Identity>,
    ) -> Result<(), HandlerFailure> {
        self.sender = sender;
        if let Some(meta) = &mut self.meta {
            meta.command(lane_id);
        }
        let result = self.command(lane_id, payload);
        self.sender = None;
        result
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
            Wakeup::Timer(id) => {
                if let Some(meta) = &self.meta {
                    meta.timer();
                }
                self.execute(Source::Lifecycle, true, |lifecycle, runner| {
                    lifecycle.run_timer(id, runner)
                })
            }
            Wakeup::Relink(id) => {
                if let Some(downlink) = self.downlinks.get(&id) {
                    downlink.link(self.effects.environment().map(|e| e.as_ref()));
                }
                Ok(())
            }
        }
    }

    /// Runs the handlers of the downlink `id`, which has events ready.
    pub(crate) fn downlink_ready(&mut self, id: u64) -> Result<(), HandlerFailure> {
        let Some(mut downlink) = self.downlinks.remove(&id) else {
            return Ok(());
        };
        if let Some(meta) = &self.meta {
            meta.downlinks(1, 0);
        }
        let mut next = Next::Running;
        let result = self.execute(Source::Lifecycle, true, |_, runner| {
            let (after, result) = downlink.on_ready(runner);
            next = after;
            result
        });
        match next {
            Next::Running => {
                self.downlinks.insert(id, downlink);
            }
            Next::Relink(delay) => {
                self.effects.relink_after(id, delay);
                self.downlinks.insert(id, downlink);
            }
            Next::Finished => {
                downlink.unlink(self.effects.environment().map(|e| e.as_ref()));
            }
        }
        result
    }

    /// When a piece of the agent's work (a burst of requests, a downlink's events, a wakeup)
    /// starts, if the agent's time is counted (introspection): see [`clocked`](Self::clocked).
    pub(crate) fn clock(&self) -> Option<std::time::Instant> {
        self.meta.as_ref().map(|_| std::time::Instant::now())
    }

    /// Counts the time of the piece of work started at `started` (Java's `execTime`).
    pub(crate) fn clocked(&self, started: Option<std::time::Instant>) {
        if let (Some(meta), Some(started)) = (&self.meta, started) {
            meta.worked(started.elapsed());
        }
    }

    /// The time between pulses, if the agent's meta node is watched (it then ticks).
    pub(crate) fn pulse_due(&mut self) -> Option<std::time::Duration> {
        let meta = self.meta.as_deref_mut()?;
        meta.is_watched().then(|| meta.interval())
    }

    /// The agent's log lanes and the dispatcher its task must run under, if the server has
    /// introspection.
    pub(crate) fn log_tap(
        &self,
    ) -> Option<(Arc<crate::introspection::AgentLogs>, tracing::Dispatch)> {
        self.meta.as_ref().and_then(|meta| meta.log_tap())
    }

    /// Publishes the agent's pulses (see [`pulse_due`](Self::pulse_due)).
    pub(crate) fn pulse(&mut self) {
        if let Some(meta) = &mut self.meta {
            meta.tick(&self.agent, self.downlinks.len());
        }
    }

    /// Whether nothing links to the agent's lanes and it hosts no downlinks (it may be
    /// passivated).
    pub(crate) fn is_idle(&self) -> bool {
        self.downlinks.is_empty()
            && (0..A::ITEMS.len() as u64)
                .filter_map(|id| self.agent.item(id))
                .all(|item| item.link_count() == 0)
    }
}

/// Hashes downlink ids, which are distinct counters already: the id is its own hash.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id;
    }
}
