//! The turn: one event and everything it triggers, run, committed, then published.
//!
//! A turn runs its handlers; with a store, its changes are committed before anything of it is
//! published (on the agent's task for stores that commit in memory, else awaited by the task:
//! see [`AgentCore::take_commit`]); then its events, HTTP answers and commands go out. A turn
//! whose changes cannot be saved is never heard of, and the agent stops.

use std::sync::Arc;

use crate::agent_lifecycle::AgentLifecycle;
use crate::agent_model::meta::NodeMeta;
use crate::agent_model::persistence;
use crate::agent_model::runner::{DirtyItems, Runner};
use crate::agent_model::AgentLaneModel;
use crate::config::HandlerErrorPolicy;
use crate::environment::Waits;
use crate::environment::{send_command, Environment};
use crate::event_handler::{AgentInstance, AgentMetadata, EventHandlerError};
use crate::introspection::Rejection;
use crate::lanes::UnlinkReason;
use crate::store::io::{Changes, StoreIo};
use crate::store::StoreError;
use crate::vocabulary::OutgoingCommand;

use super::{AgentCore, HandlerFailure, Source};

impl<A, L> AgentCore<A, L>
where
    A: AgentLaneModel,
    L: AgentLifecycle<A>,
{
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
    pub(super) fn save_now(&mut self, store: &StoreIo) -> Result<(), EventHandlerError> {
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
    /// [`finish_commit`](Self::finish_commit), which publishes them. Turns that changed nothing
    /// the store keeps are published here, at once.
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
            node: self.uri.clone(),
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
        // The turn's vector was lent to the commit: it comes back for the next.
        self.changes = changes;
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
    pub(super) fn publish_deferred(&mut self) {
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

    /// Links the downlinks opened and sends the commands issued during the last event.
    pub(super) fn dispatch_effects(&mut self) {
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
    pub(super) fn conclude_turns(&mut self) {
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

    pub(super) fn execute(
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
            } else if !(self.bursting && store.gathers_turns()) {
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
    pub(super) fn conclude(
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
                    node: self.uri.to_string(),
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
