//! Event downlinks: every event of a lane, without keeping state.

use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::driver::{keep_first, open, Kind};
use super::handle::EventDownlinkHandle;
use super::lifecycle::{call_handler, downlink_lifecycle, DynRunner, LifecycleState, Outcome};
use super::slot::{EventPending, Slot};
use crate::config::SimpleDownlinkConfig;
use crate::event_handler::{ActionContext, HandlerAction, OnceHandler, StepResult};
use crate::lanes::{LinkSubscriber, ReconValueSink, UnlinkReason, ValueSink};

downlink_lifecycle! {
    /// The handlers of an event downlink (see [`EventDownlinkBuilder`]).
    lifecycle EventDownlinkLifecycle;
    /// Builds an event downlink: register handlers, then `done()` opens it (see
    /// `HandlerContext::event_downlink_builder`).
    builder EventDownlinkBuilder(SimpleDownlinkConfig);
    types <T>;
    /// Runs when the link to the lane is established.
    on_linked();
    /// Runs for every event of the lane (each value of a value lane, each command of a command
    /// lane), by value.
    on_event(event: T);
    /// Runs when the link is closed (also when the node or lane does not exist).
    on_unlinked();
    /// Runs when the link fails: an event does not fit `T`, or the lane is a map lane.
    on_failed();
}

/// An event downlink builder without shared state.
pub type StatelessEventDownlinkBuilder<A, T> = EventDownlinkBuilder<A, T, ()>;

/// The state of an event downlink inside its agent.
pub(crate) struct EventKind<A, T, St: LifecycleState> {
    pub(crate) lifecycle: EventDownlinkLifecycle<A, T, St>,
}

impl<A, T, St> Kind<A> for EventKind<A, T, St>
where
    A: 'static,
    T: DeserializeOwned + Send + 'static,
    St: LifecycleState,
{
    type Pending = EventPending<T>;
    const ALWAYS_DELIVER: bool = true;

    fn subscriber(id: u64, slot: &Arc<Slot<EventPending<T>>>) -> LinkSubscriber {
        LinkSubscriber::Value {
            id,
            typed: Box::new(slot.clone() as Arc<dyn ValueSink<T>>),
            recon: slot.clone() as Arc<dyn ReconValueSink>,
            sync: false,
        }
    }

    fn linked(&mut self, runner: &mut dyn DynRunner<A>) -> Outcome {
        call_handler!(self.lifecycle, on_linked, runner)
    }

    fn apply(
        &mut self,
        pending: &mut EventPending<T>,
        _: bool,
        runner: &mut dyn DynRunner<A>,
    ) -> Outcome {
        if pending.lost > 0 {
            tracing::warn!(
                lost = pending.lost,
                "event downlink fell behind; the oldest events were dropped"
            );
        }
        let mut result = Ok(());
        for event in pending.events.drain(..) {
            let outcome = call_handler!(self.lifecycle, on_event, runner, event);
            keep_first(&mut result, outcome);
        }
        result
    }

    fn synced(&mut self, _: &mut dyn DynRunner<A>) -> Outcome {
        Ok(())
    }

    fn unlinked(&mut self, reason: &UnlinkReason, runner: &mut dyn DynRunner<A>) -> Outcome {
        if reason.is_failure() {
            call_handler!(self.lifecycle, on_failed, runner)
        } else {
            call_handler!(self.lifecycle, on_unlinked, runner)
        }
    }
}

impl<A, T, St> EventDownlinkBuilder<A, T, St>
where
    A: 'static,
    T: DeserializeOwned + Send + 'static,
    St: LifecycleState,
{
    /// A handler that opens the downlink and completes with its handle at once; the link is
    /// made in the background. Keep the handle: dropping it stops the downlink.
    pub fn done(self) -> impl HandlerAction<A, Completion = EventDownlinkHandle> + Send + 'static {
        let EventDownlinkBuilder {
            lifecycle,
            address,
            config,
        } = self;
        OnceHandler::new(move |context: &mut ActionContext<A>, _, _: &A| {
            let handle = open(context, address, config, |lifeline, _| {
                (EventKind { lifecycle }, EventDownlinkHandle::new(lifeline))
            });
            StepResult::done(handle)
        })
    }
}
