//! Uplinks: a WARP client's link to a lane, and the events waiting to be written to its
//! connection.
//!
//! The lane writes into a [`Slot`] as it does for a downlink: the latest value (value lanes),
//! the latest operation per key (map lanes) or every command up to a bound (command lanes). The
//! connection task takes it all when the link is ready and writes the frames in one batch.

use std::collections::VecDeque;
use std::sync::Arc;

use indexmap::IndexMap;

use crate::downlink::{LinkEvents, Pending, Slot, EVENT_QUEUE_BOUND};
use crate::lanes::{Encoded, ItemKind, ReconMapSink, ReconValueSink};
use crate::warp::map_event_body;

/// Events of one client link that the connection has not written yet.
#[derive(Default)]
pub(crate) struct UplinkPending {
    pub(crate) link: LinkEvents,
    /// Command lanes: every event is kept (up to a bound); otherwise only the latest.
    queue_events: bool,
    /// Bodies of value or command lane events (encoded Recon text).
    pub(crate) events: VecDeque<Arc<str>>,
    pub(crate) lost: u64,
    /// Map lanes: a clear, then the latest event body per key (by the key's Recon text).
    pub(crate) cleared: bool,
    pub(crate) ops: IndexMap<Arc<str>, String>,
}

impl Pending for UplinkPending {
    fn link_events(&mut self) -> &mut LinkEvents {
        &mut self.link
    }

    fn take(&mut self) -> Self {
        let queue_events = self.queue_events;
        let taken = std::mem::take(self);
        self.queue_events = queue_events;
        taken
    }

    fn lane_kind(&mut self, kind: ItemKind) {
        self.queue_events = kind == ItemKind::CommandLane;
    }
}

impl ReconValueSink for Slot<UplinkPending> {
    fn event_recon(&self, value: &Encoded) -> Result<(), String> {
        let text = value.text().clone();
        self.update(|pending| {
            if !pending.queue_events {
                pending.events.clear();
            } else if pending.events.len() >= EVENT_QUEUE_BOUND {
                pending.events.pop_front();
                pending.lost += 1;
            }
            pending.events.push_back(text);
        });
        Ok(())
    }
}

impl ReconMapSink for Slot<UplinkPending> {
    fn update_recon(&self, key: &Encoded, value: &Encoded) -> Result<(), String> {
        let body = map_event_body(key.value(), Some(value.value())).to_string();
        self.update(|pending| {
            pending.ops.insert(key.text().clone(), body);
        });
        Ok(())
    }

    fn remove_recon(&self, key: &Encoded) -> Result<(), String> {
        let body = map_event_body(key.value(), None).to_string();
        self.update(|pending| {
            pending.ops.insert(key.text().clone(), body);
        });
        Ok(())
    }

    fn clear(&self) {
        self.update(|pending| {
            pending.cleared = true;
            pending.ops.clear();
        });
    }
}
