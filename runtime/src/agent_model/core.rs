//! The state of a running agent instance and the one way every event is handled.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

use std::sync::Arc;

use tokio::sync::mpsc;

use super::effects::Effects;
use super::meta::NodeMeta;
use super::persistence;
use super::runner::{DirtyItems, Runner};
use super::AgentLaneModel;
use crate::agent_lifecycle::{AgentLifecycle, HandlerRunner};
use crate::config::{AgentConfig, HandlerErrorPolicy};
use crate::downlink::{HostedDownlink, Next};
use crate::environment::Waits;
use crate::environment::{send_command, Environment, Request};
use crate::event_handler::{
    AgentInstance, AgentMetadata, BoxEventHandler, EventHandler, EventHandlerError, Wakeup,
};
use crate::introspection::{clip, HostMeta, RefusalLog, Rejection, LOG_INTERVAL};
use crate::lanes::{AgentItem, CommandPayload, ModificationSink, StatusCode, UnlinkReason};
use crate::store::io::{Changes, StoreIo};
use crate::store::{AgentState, StoreError};
use crate::vocabulary::{Identity, Modification, OutgoingCommand};

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
    uri: String,
    parameters: HashMap<String, String>,
    config: AgentConfig,
    effects: Effects<A>,
    dirty: DirtyItems,
    downlinks: HashMap<u64, Box<dyn HostedDownlink<A>>, BuildHasherDefault<IdHasher>>,
    /// Why the agent stops, once it must.
    stopping: Option<UnlinkReason>,
    /// Where the agent's state is kept, if anywhere.
    store: Option<StoreIo>,
    /// The node URI, shared with the store's queue.
    node: Arc<str>,
    /// The changes of the current turn, for the store (reused).
    changes: Changes,
    /// The items changed by turns not committed yet.
    unsaved: DirtyItems,
    /// Whether the store lets turns of a burst of requests be committed together.
    gathers: bool,
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
        let node: Arc<str> = uri.as_str().into();
        AgentCore {
            agent,
            lifecycle,
            uri,
            parameters,
            config,
            effects: Effects::new(hosting.environment, ready),
            dirty: DirtyItems::new(A::ITEMS.len()),
            downlinks: HashMap::default(),
            stopping: None,
            gathers: hosting
                .store
                .as_ref()
                .is_some_and(|store| store.gathers_turns()),
            store: hosting.store,
            node,
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
                    node: self.uri.clone(),
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

    /// Handles a message from the inbox.
    ///
    /// During a burst, consecutive commands publish their changes together when the burst
    /// ends or another kind of request comes (subscribers of a value lane see its latest
    /// value, of a map lane the latest operation per key, of a command or supply lane every
    /// value: what they would see anyway once the connection coalesces); any other request
    /// first publishes what the commands before it changed, so that links and syncs see the
    /// same sequence as outside a burst.
    pub(crate) fn request(&mut self, request: Request) -> Result<(), HandlerFailure> {
        let command = request.is_command();
        if self.deferring && !command {
            self.publish_deferred();
        }
        self.deferring = command && self.bursting;
        match request {
            Request::Command {
                lane,
                payload,
                sender,
            } => match A::lane_id(&lane) {
                Some(id) => self.command_from(id, payload, sender),
                None => {
                    self.refused(Rejection::UnknownLane, &lane, "no such lane");
                    Ok(())
                }
            },
            Request::Link { lane, subscriber } => {
                let Some((id, item)) = self.lane(&lane) else {
                    tracing::debug!(node = %self.uri, %lane, "link to an unknown lane refused");
                    subscriber.refuse(UnlinkReason::LaneNotFound);
                    return Ok(());
                };
                tracing::debug!(node = %self.uri, %lane, link = subscriber.id(), "link");
                item.link(subscriber);
                let awaits_cue = item.awaits_cue();
                if let Some(meta) = &mut self.meta {
                    meta.linked(id, true, self.downlinks.len());
                }
                if !awaits_cue {
                    return Ok(());
                }
                // A demand lane's sync is computed by its lifecycle, as for a cue.
                self.run_item_handlers(id)
            }
            Request::Unlink { lane, link } => {
                tracing::debug!(node = %self.uri, %lane, link, "unlink");
                if let Some((id, item)) = self.lane(&lane) {
                    if item.unlink(link) {
                        if let Some(meta) = &mut self.meta {
                            meta.linked(id, false, self.downlinks.len());
                        }
                    }
                }
                Ok(())
            }
            Request::Meta {
                address,
                subscriber,
            } => {
                match &mut self.meta {
                    Some(meta) => {
                        meta.link(&self.agent, self.downlinks.len(), address, subscriber);
                    }
                    None => subscriber.refuse(UnlinkReason::NodeNotFound),
                }
                Ok(())
            }
            Request::MetaUnlink { address, link } => {
                if let Some(meta) = &mut self.meta {
                    meta.unlink::<A>(&address, link);
                }
                Ok(())
            }
            Request::Run(handler) => match handler.downcast::<BoxEventHandler<'static, A>>() {
                Ok(handler) => self.run(*handler),
                Err(_) => {
                    tracing::error!(node = %self.uri, "a handler for another agent type was sent to this agent");
                    Ok(())
                }
            },
            Request::Http { lane, exchange } => {
                let Some((id, item)) = self.lane(&lane) else {
                    exchange.fail(StatusCode::NOT_FOUND, format!("no lane `{lane}`"));
                    return Ok(());
                };
                if let Err(exchange) = item.http(exchange) {
                    let message = format!("lane `{lane}` is not an HTTP lane");
                    exchange.fail(StatusCode::NOT_FOUND, message);
                    return Ok(());
                }
                // Its handler answers, as for a change of the lane.
                self.run_item_handlers(id)
            }
            Request::Stop(reason) => {
                self.stop_for(reason);
                Ok(())
            }
        }
    }

    /// Counts a command from outside that the agent refused, and logs it unless a line was
    /// logged less than an interval ago (then the next line counts it): a client sending
    /// garbage cannot fill the log. `why` may hold what the client sent: it is clipped.
    fn refused(&mut self, rejection: Rejection, lane: &str, why: &str) {
        if let Some(meta) = &self.meta {
            meta.rejected(rejection);
        }
        if let Some(suppressed) = self.refused_log.admit(rejection) {
            let (lane, why) = (clip(lane), clip(why));
            tracing::warn!(node = %self.uri, %lane, %why, suppressed, "command dropped ({}); later ones are counted, one line per {:?}", rejection.label(), LOG_INTERVAL);
        }
    }

    /// The lane with this external name, and its id.
    fn lane(&self, name: &str) -> Option<(u64, &dyn AgentItem)> {
        let id = A::lane_id(name)?;
        Some((id, self.agent.item(id)?))
    }

    /// Runs the lifecycle handlers of the item `id` as one event, as for a change of the item.
    fn run_item_handlers(&mut self, id: u64) -> Result<(), HandlerFailure> {
        self.execute(Source::Lane(id), true, |_, runner| {
            runner.modified(Modification::of(id))
        })
    }

    /// Starts a burst: the requests waiting in the inbox run one after the other, and if the
    /// store allows it their turns are committed together when the burst ends.
    pub(crate) fn begin_burst(&mut self) {
        self.bursting = true;
    }

    /// Ends a burst: commits the turns gathered during it, then publishes what they changed.
    ///
    /// If the burst's turns await their commit, the task commits them and publishes after
    /// (see [`take_commit`](Self::take_commit)).
    pub(crate) fn end_burst(&mut self) -> Result<(), HandlerFailure> {
        self.bursting = false;
        if self.awaiting {
            return Ok(());
        }
        let result = match self.store.clone() {
            Some(store) => {
                let saved = self.save_now(&store);
                self.conclude(saved, None)
            }
            None => Ok(()),
        };
        self.publish_deferred();
        result
    }

    /// Commits the unsaved changes on this thread (a store that commits inline).
    fn save_now(&mut self, store: &StoreIo) -> Result<(), EventHandlerError> {
        let mut saved = persistence::encode(&self.agent, &mut self.unsaved, &mut self.changes);
        if saved.is_ok() && !self.changes.is_empty() {
            saved = store
                .commit_now(&self.uri, &self.changes)
                .map_err(EventHandlerError::Store);
        }
        self.changes.clear();
        self.unsaved_failure |= saved.is_err();
        saved
    }

    /// The commit the turns run since the last one await, if they await one: the task runs
    /// it off the agent ([`PendingCommit::run`]) and hands the outcome to
    /// [`committed`](Self::committed), which publishes them. Turns that changed nothing the
    /// store keeps are published here, at once.
    pub(crate) fn take_commit(&mut self) -> Option<PendingCommit> {
        if !std::mem::take(&mut self.awaiting) {
            return None;
        }
        let store = self.store.clone()?;
        if let Err(error) = persistence::encode(&self.agent, &mut self.unsaved, &mut self.changes) {
            self.changes.clear();
            // A failure is logged there, and stops the agent.
            let _ = self.committed(Err(error));
            return None;
        }
        if self.changes.is_empty() {
            // A failure is logged there, and stops the agent.
            let _ = self.committed(Ok(()));
            return None;
        }
        Some(PendingCommit {
            store,
            node: self.node.clone(),
            changes: std::mem::take(&mut self.changes),
        })
    }

    /// What became of the commit [`take_commit`](Self::take_commit) gave (`changes` is its
    /// vector back, for reuse): landed, the turns are published and their commands sent;
    /// failed, nobody hears of them and the agent stops.
    pub(crate) fn finish_commit(
        &mut self,
        result: Result<(), StoreError>,
        changes: Changes,
    ) -> Result<(), HandlerFailure> {
        if self.changes.capacity() < changes.capacity() {
            self.changes = changes;
        }
        self.committed(result.map_err(EventHandlerError::Store))
    }

    fn committed(&mut self, result: Result<(), EventHandlerError>) -> Result<(), HandlerFailure> {
        if result.is_err() {
            self.unsaved_failure = true;
        }
        self.deferring = false;
        self.conclude_turns();
        self.conclude(result, None)
    }

    /// Publishes the changes of the turns whose publication was deferred.
    fn publish_deferred(&mut self) {
        self.deferring = false;
        let AgentCore {
            agent, dirty, meta, ..
        } = self;
        if self.unsaved_failure {
            dirty.drain(|_| {});
        } else {
            publish(agent, dirty, meta);
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

    /// Links the downlinks opened and sends the commands issued during the last event.
    fn dispatch_effects(&mut self) {
        // Most events do neither: they pay nothing here.
        if self.effects.downlinks.is_empty() && self.effects.commands.is_empty() {
            return;
        }
        let environment = self.effects.environment().cloned();
        for (id, downlink) in self.effects.downlinks.take() {
            downlink.link(environment.as_deref());
            self.downlinks.insert(id, downlink);
        }
        if let Some(meta) = &self.meta {
            meta.downlinks(0, self.effects.commands.len() as u64);
        }
        for command in self.effects.commands.drain(..) {
            let Some(environment) = environment.clone() else {
                tracing::warn!(node = %self.uri, target = %command.node, lane = %command.lane, "command dropped: the agent is not in a server");
                continue;
            };
            send_later(environment, command);
        }
    }

    /// Publishes the changes of the turns run, and sends their commands, unless a turn's
    /// changes could not be saved: then nobody hears of them.
    fn conclude_turns(&mut self) {
        let AgentCore {
            agent, dirty, meta, ..
        } = self;
        if self.unsaved_failure {
            dirty.drain(|_| {});
            self.effects.commands.clear();
        } else if !self.deferring {
            publish(agent, dirty, meta);
        }
        self.dispatch_effects();
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
            sender,
            ..
        } = self;
        let instance = AgentInstance::new(uri, parameters, config).with_sender(sender.as_ref());
        let metadata = AgentMetadata::new(&instance);
        let mut runner = Runner::new(agent, lifecycle, effects, metadata, dirty, triggers);
        let mut result = f(lifecycle, &mut runner);
        let failed_item = runner.failed_item;
        // The turn's changes are saved before its events are published (durable first under
        // `Durability::Sync`), unless the store lets a burst's turns be committed together.
        if let Some(store) = self.store.clone() {
            // Every item still awaiting publication, not only those new in this turn: one
            // changed in an earlier turn of the burst may have changed again in this one (the
            // items only write what changed since they were last saved).
            for &id in dirty.ids() {
                self.unsaved.mark(id);
            }
            if !store.commits_inline() {
                // The task commits, off this thread, then publishes.
                self.awaiting = true;
            } else if !(self.bursting && self.gathers) {
                if let Err(error) = self.save_now(&store) {
                    result = Err(error);
                }
            }
        }
        if !self.awaiting {
            // Nobody hears of a turn that did not land: no events, no commands to others.
            self.conclude_turns();
        }
        let lane_id = failed_item.or(match source {
            Source::Lane(id) => Some(id),
            Source::Lifecycle => None,
        });
        self.conclude(result, lane_id)
    }

    /// What the outcome of a turn (or of a commit) means for the agent: failures are logged,
    /// and those that lose state, or that the policy says so of, stop it.
    fn conclude(
        &mut self,
        result: Result<(), EventHandlerError>,
        lane_id: Option<u64>,
    ) -> Result<(), HandlerFailure> {
        match result {
            Ok(()) => Ok(()),
            Err(EventHandlerError::StopInstructed) => {
                self.stop_for(UnlinkReason::AgentStopped);
                Ok(())
            }
            Err(error) => {
                // Bad input from outside is not a failed handler run.
                if let (Some(meta), false) = (
                    &self.meta,
                    matches!(error, EventHandlerError::BadCommand(_)),
                ) {
                    meta.failed();
                }
                let failure = HandlerFailure {
                    node: self.uri.clone(),
                    lane: lane_id.and_then(A::item_spec).map(|spec| spec.name),
                    error,
                };
                if matches!(
                    failure.error,
                    EventHandlerError::Store(_) | EventHandlerError::Encode(_)
                ) {
                    // Going on would lose state without a word: the agent stops.
                    tracing::error!(fail = true, node = %failure.node, lane = failure.lane, error = %failure.error, "the agent's state cannot be saved; stopping it");
                    self.stop_for(UnlinkReason::AgentStopped);
                    return Err(failure);
                }
                if let EventHandlerError::BadCommand(why) = &failure.error {
                    // Bad input from outside is dropped; it says nothing about the agent's health.
                    let lane = failure.lane.unwrap_or("?");
                    self.refused(Rejection::BadCommand, lane, why);
                    return Err(failure);
                }
                if self.config.on_handler_error == HandlerErrorPolicy::Stop {
                    tracing::error!(fail = true, node = %failure.node, lane = failure.lane, error = %failure.error, "event handler failed; stopping the agent");
                    self.stop_for(UnlinkReason::AgentStopped);
                } else {
                    tracing::error!(node = %failure.node, lane = failure.lane, error = %failure.error, "event handler failed");
                }
                Err(failure)
            }
        }
    }
}

/// A commit the agent's turns await: run it off the agent with [`run`](Self::run), then give
/// the outcome to [`AgentCore::finish_commit`].
pub(crate) struct PendingCommit {
    store: StoreIo,
    node: Arc<str>,
    changes: Changes,
}

impl PendingCommit {
    /// Commits the changes on the store's thread: the outcome, and the vector back.
    pub(crate) async fn run(self) -> (Result<(), StoreError>, Changes) {
        self.store.commit(self.node, self.changes).await
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

/// Sends a command from a task of its own, so the agent never waits for another agent's inbox.
fn send_later(environment: Arc<dyn Environment>, command: OutgoingCommand) {
    tokio::spawn(async move {
        let OutgoingCommand {
            host,
            node,
            lane,
            payload,
        } = command;
        if let Err(reason) = send_command(
            environment.as_ref(),
            host.as_deref(),
            &node,
            &lane,
            payload,
            Waits::Every,
        )
        .await
        {
            tracing::warn!(%node, %lane, %reason, "command not delivered");
        }
    });
}

/// Publishes the changes of the items marked in `dirty` to their subscribers.
fn publish<A: AgentLaneModel>(agent: &A, dirty: &mut DirtyItems, meta: &mut Option<Box<NodeMeta>>) {
    dirty.drain(|id| {
        if let Some(item) = agent.item(id) {
            item.flush();
            if let Some(meta) = meta.as_deref_mut() {
                meta.flushed(id);
            }
        }
    });
}
