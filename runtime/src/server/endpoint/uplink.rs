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
use crate::lanes::{
    Encoded, ItemKind, ReconMapSink, ReconValueSink, UnlinkReason, SUPPLY_QUEUE_BOUND,
};
use crate::warp::map_event_body;

/// Events of one client link that the connection has not written yet.
#[derive(Default)]
pub(crate) struct UplinkPending {
    pub(crate) link: LinkEvents,
    /// The kind of the lane, once it said.
    pub(crate) kind: Option<ItemKind>,
    /// Command and supply lanes: every event is kept (up to a bound); otherwise only the
    /// latest.
    queue_events: bool,
    /// Supply lanes: past the bound, the link is unlinked rather than losing events.
    strict: bool,
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
        let (kind, queue_events, strict) = (self.kind, self.queue_events, self.strict);
        let taken = std::mem::take(self);
        (self.kind, self.queue_events, self.strict) = (kind, queue_events, strict);
        taken
    }

    fn lane_kind(&mut self, kind: ItemKind) {
        self.kind = Some(kind);
        self.queue_events = matches!(kind, ItemKind::CommandLane | ItemKind::SupplyLane);
        self.strict = kind == ItemKind::SupplyLane;
    }
}

impl ReconValueSink for Slot<UplinkPending> {
    fn event_recon(&self, value: &Encoded) -> Result<(), String> {
        let text = value.text().clone();
        self.update(|pending| {
            if pending.link.unlinked.is_some() {
                return;
            }
            if !pending.queue_events {
                pending.events.clear();
            } else if pending.strict && pending.events.len() >= SUPPLY_QUEUE_BOUND {
                pending.link.unlinked = Some(UnlinkReason::Overflow {
                    bound: SUPPLY_QUEUE_BOUND,
                });
                return;
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

#[cfg(test)]
mod tests {
    use tokio::sync::mpsc;

    use super::*;
    use crate::downlink::{Notifier, Pending};
    use crate::lanes::LinkSink;
    use crate::recon::Value;

    /// An uplink slot linked to a lane of `kind`, after `events` events.
    fn after(kind: ItemKind, events: usize) -> UplinkPending {
        let (ready, _) = mpsc::unbounded_channel();
        let slot = Slot::<UplinkPending>::new(Notifier::new(1, ready));
        slot.lane_kind(kind);
        for n in 0..events {
            let n = i64::try_from(n).unwrap();
            slot.event_recon(&Encoded::new(Value::Int(n))).unwrap();
        }
        slot.take()
    }

    #[test]
    fn a_supply_link_that_falls_behind_is_unlinked_with_the_reason_and_drops_nothing_silently() {
        let mut pending = after(ItemKind::SupplyLane, SUPPLY_QUEUE_BOUND + 10);
        assert_eq!(pending.events.len(), SUPPLY_QUEUE_BOUND);
        assert_eq!(pending.lost, 0);
        assert_eq!(
            pending.link_events().unlinked,
            Some(UnlinkReason::Overflow {
                bound: SUPPLY_QUEUE_BOUND
            })
        );
        // The events it kept are the first ones, in order.
        assert_eq!(pending.events.front().map(|text| &**text), Some("0"));
    }

    #[test]
    fn a_supply_link_within_its_bound_keeps_every_event() {
        let pending = after(ItemKind::SupplyLane, SUPPLY_QUEUE_BOUND);
        assert_eq!(pending.events.len(), SUPPLY_QUEUE_BOUND);
        assert!(pending.link.unlinked.is_none());
    }

    #[test]
    fn a_command_link_that_falls_behind_drops_the_oldest_and_counts_them() {
        let pending = after(ItemKind::CommandLane, EVENT_QUEUE_BOUND + 10);
        assert_eq!(pending.events.len(), EVENT_QUEUE_BOUND);
        assert_eq!(pending.lost, 10);
        assert!(pending.link.unlinked.is_none());
    }

    #[test]
    fn a_value_link_keeps_only_the_latest() {
        let pending = after(ItemKind::ValueLane, 5);
        assert_eq!(
            pending.events.iter().map(|t| &**t).collect::<Vec<_>>(),
            ["4"]
        );
    }
}
