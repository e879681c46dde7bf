//! Value downlinks: a local copy of a value lane.

use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::driver::{open, Kind};
use super::handle::ValueDownlinkHandle;
use super::handlers::{Address, DynRunner, Outcome, ValueDownlinkHandlers};
use super::slot::{Slot, ValuePending};
use crate::config::SimpleDownlinkConfig;
use crate::event_handler::ActionContext;
use crate::lanes::{LatestSink, LinkSubscriber, ReconValueSink, UnlinkReason};
use crate::lock::lock;

/// The state of a value downlink inside its agent.
struct ValueKind<T, H> {
    lifecycle: H,
    current: Option<T>,
    last: Arc<Mutex<Option<T>>>,
}

impl<A, T, H> Kind<A> for ValueKind<T, H>
where
    A: 'static,
    T: Clone + Serialize + DeserializeOwned + Send + 'static,
    H: ValueDownlinkHandlers<A, T>,
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
        self.lifecycle.on_linked(runner)
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
        let first = self.lifecycle.on_event(runner, current);
        let second = self.lifecycle.on_set(runner, previous, current);
        first.and(second)
    }

    fn synced(&mut self, runner: &mut dyn DynRunner<A>) -> Outcome {
        match &self.current {
            Some(current) => self.lifecycle.on_synced(runner, current),
            None => Ok(()),
        }
    }

    fn unlinked(&mut self, reason: &UnlinkReason, runner: &mut dyn DynRunner<A>) -> Outcome {
        self.current = None;
        self.lifecycle.on_closed(runner, reason)
    }
}

/// Opens a value downlink with these handlers in the running agent; it links once the current
/// event is over.
pub(crate) fn open_value<A, T, H>(
    context: &mut ActionContext<A>,
    address: Address,
    config: SimpleDownlinkConfig,
    lifecycle: H,
) -> ValueDownlinkHandle<T>
where
    A: 'static,
    T: Clone + Serialize + DeserializeOwned + Send + 'static,
    H: ValueDownlinkHandlers<A, T>,
{
    open(context, address, config, |lifeline, target| {
        let last = Arc::new(Mutex::new(None));
        let handle = ValueDownlinkHandle::new(lifeline, last.clone(), target);
        let kind = ValueKind {
            lifecycle,
            current: None,
            last,
        };
        (kind, handle)
    })
}
