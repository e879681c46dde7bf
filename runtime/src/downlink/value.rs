//! Value downlinks: a local copy of a value lane.

use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::driver::open;
use super::driver::Kind;
use super::handle::ValueDownlinkHandle;
use super::lifecycle::{call_handler, downlink_lifecycle, DynRunner, LifecycleState, Outcome};
use super::slot::{Slot, ValuePending};
use crate::config::SimpleDownlinkConfig;
use crate::event_handler::{ActionContext, HandlerAction, OnceHandler, StepResult};
use crate::lanes::{LatestSink, LinkSubscriber, ReconValueSink, UnlinkReason};
use crate::lock::lock;

downlink_lifecycle! {
    /// The handlers of a value downlink (see [`ValueDownlinkBuilder`]).
    lifecycle ValueDownlinkLifecycle;
    /// Builds a value downlink: register handlers, then `done()` opens it (see
    /// `HandlerContext::value_downlink_builder`).
    builder ValueDownlinkBuilder(SimpleDownlinkConfig);
    types <T>;
    /// Runs when the link to the lane is established.
    on_linked();
    /// Runs when the downlink has received the lane's state, with that value.
    on_synced(value: &T);
    /// Runs for every new value (after the sync unless `events_when_not_synced`).
    on_event(value: &T);
    /// Runs for every new value, after `on_event`, with the previous value.
    on_set(previous: Option<T>, value: &T);
    /// Runs when the link is closed (also when the node or lane does not exist).
    on_unlinked();
    /// Runs when the link fails: a value from the lane does not fit `T`, or the lane is not a
    /// value lane.
    on_failed();
}

/// A value downlink builder without shared state.
pub type StatelessValueDownlinkBuilder<A, T> = ValueDownlinkBuilder<A, T, ()>;

/// The state of a value downlink inside its agent.
pub(crate) struct ValueKind<A, T, St: LifecycleState> {
    pub(crate) lifecycle: ValueDownlinkLifecycle<A, T, St>,
    pub(crate) current: Option<T>,
    pub(crate) last: Arc<Mutex<Option<T>>>,
}

impl<A, T, St> Kind<A> for ValueKind<A, T, St>
where
    A: 'static,
    T: Clone + Serialize + DeserializeOwned + Send + 'static,
    St: LifecycleState,
{
    type Pending = ValuePending<T>;
    const ALWAYS_DELIVER: bool = false;

    fn subscriber(id: u64, slot: &Arc<Slot<ValuePending<T>>>) -> LinkSubscriber {
        LinkSubscriber::Value {
            id,
            typed: Box::new(slot.clone() as Arc<dyn LatestSink<T>>),
            recon: slot.clone() as Arc<dyn ReconValueSink>,
            sync: true,
        }
    }

    fn linked(&mut self, runner: &mut dyn DynRunner<A>) -> Outcome {
        call_handler!(self.lifecycle, on_linked, runner)
    }

    fn apply(
        &mut self,
        pending: &mut ValuePending<T>,
        deliver: bool,
        runner: &mut dyn DynRunner<A>,
    ) -> Outcome {
        let Some(value) = pending.newest() else {
            return Ok(());
        };
        *lock(&self.last) = Some(value.clone());
        let previous = self.current.replace(value);
        let Some(current) = &self.current else {
            return Ok(());
        };
        if !deliver {
            return Ok(());
        }
        let first = call_handler!(self.lifecycle, on_event, runner, current);
        let second = call_handler!(self.lifecycle, on_set, runner, previous, current);
        first.and(second)
    }

    fn synced(&mut self, runner: &mut dyn DynRunner<A>) -> Outcome {
        match &self.current {
            Some(current) => call_handler!(self.lifecycle, on_synced, runner, current),
            None => Ok(()),
        }
    }

    fn unlinked(&mut self, reason: &UnlinkReason, runner: &mut dyn DynRunner<A>) -> Outcome {
        self.current = None;
        if reason.is_failure() {
            call_handler!(self.lifecycle, on_failed, runner)
        } else {
            call_handler!(self.lifecycle, on_unlinked, runner)
        }
    }
}

impl<A, T, St> ValueDownlinkBuilder<A, T, St>
where
    A: 'static,
    T: Clone + Serialize + DeserializeOwned + Send + 'static,
    St: LifecycleState,
{
    /// A handler that opens the downlink and completes with its handle at once; the link is
    /// made in the background. Keep the handle: dropping it stops the downlink.
    pub fn done(
        self,
    ) -> impl HandlerAction<A, Completion = ValueDownlinkHandle<T>> + Send + 'static {
        let ValueDownlinkBuilder {
            lifecycle,
            address,
            config,
        } = self;
        OnceHandler::new(move |context: &mut ActionContext<A>, _, _: &A| {
            let handle = open(context, address, config, |lifeline, target| {
                let last = Arc::new(Mutex::new(None));
                let handle = ValueDownlinkHandle::new(lifeline, last.clone(), target);
                let kind = ValueKind {
                    lifecycle,
                    current: None,
                    last,
                };
                (kind, handle)
            });
            StepResult::done(handle)
        })
    }
}
