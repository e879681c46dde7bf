//! Event downlinks: every event of a lane, without keeping state.

use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::driver::{keep_first, open, Kind};
use super::handle::EventDownlinkHandle;
use super::handlers::{Address, DynRunner, EventDownlinkHandlers, Outcome};
use super::slot::{EventPending, Slot};
use crate::config::SimpleDownlinkConfig;
use crate::event_handler::ActionContext;
use crate::lanes::{LinkSubscriber, ReconValueSink, UnlinkReason, ValueSink};

/// The state of an event downlink inside its agent.
struct EventKind<T, H> {
    lifecycle: H,
    _events: PhantomData<fn() -> T>,
}

impl<A, T, H> Kind<A> for EventKind<T, H>
where
    A: 'static,
    T: DeserializeOwned + Send + 'static,
    H: EventDownlinkHandlers<A, T>,
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
        self.lifecycle.on_linked(runner)
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
            let outcome = self.lifecycle.on_event(runner, event);
            keep_first(&mut result, outcome);
        }
        result
    }

    fn synced(&mut self, _: &mut dyn DynRunner<A>) -> Outcome {
        Ok(())
    }

    fn unlinked(&mut self, reason: &UnlinkReason, runner: &mut dyn DynRunner<A>) -> Outcome {
        self.lifecycle.on_closed(runner, reason)
    }
}

/// Opens an event downlink with these handlers in the running agent; it links once the current
/// event is over.
pub(crate) fn open_event<A, T, H>(
    context: &mut ActionContext<A>,
    address: Address,
    config: SimpleDownlinkConfig,
    lifecycle: H,
) -> EventDownlinkHandle
where
    A: 'static,
    T: DeserializeOwned + Send + 'static,
    H: EventDownlinkHandlers<A, T>,
{
    open(context, address, config, |lifeline, _| {
        let kind = EventKind {
            lifecycle,
            _events: PhantomData,
        };
        (kind, EventDownlinkHandle::new(lifeline))
    })
}
