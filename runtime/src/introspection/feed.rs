//! The subscribers of one meta lane, and what they are sent: a value feed (pulses, log
//! entries) or a map feed (nodes, lanes, uplinks).

use std::sync::Arc;

use crate::lanes::{Encoded, ItemKind, LinkSubscriber, ReconMapSink, ReconValueSink};
use crate::recon::Value;
use crate::vocabulary::UnlinkReason;

/// The subscribers of a meta lane whose events are values.
#[derive(Default)]
pub(crate) struct ValueFeed {
    links: Vec<(u64, Arc<dyn ReconValueSink>)>,
}

impl ValueFeed {
    /// Links `subscriber` to the lane `name` (of `kind`); a sync gets `state` first, if there
    /// is one.
    pub(crate) fn link(
        &mut self,
        subscriber: LinkSubscriber,
        name: &'static str,
        kind: ItemKind,
        state: Option<Value>,
    ) {
        let Some(parts) = subscriber.into_value(name) else {
            return;
        };
        parts.recon.lane_kind(kind);
        parts.recon.linked();
        if parts.sync {
            if let Some(state) = state {
                // An untyped subscriber takes any value.
                let _ = parts.recon.event_recon(&Encoded::new(state));
            }
            parts.recon.synced();
        }
        self.links.push((parts.id, parts.recon));
    }

    /// Sends `value` to every subscriber, dropping the ones that are gone.
    pub(crate) fn publish(&mut self, value: Value) {
        let encoded = Encoded::new(value);
        self.links
            .retain(|(_, sink)| !sink.is_closed() && sink.event_recon(&encoded).is_ok());
    }

    /// Closes the link `id`; `false` if there is none.
    pub(crate) fn unlink(&mut self, id: u64) -> bool {
        unlink(&mut self.links, id, |sink| {
            sink.unlinked(UnlinkReason::Closed)
        })
    }

    /// Whether nobody listens (subscribers that are gone are dropped first).
    pub(crate) fn is_empty(&mut self) -> bool {
        self.links.retain(|(_, sink)| !sink.is_closed());
        self.links.is_empty()
    }
}

/// The subscribers of a meta lane whose events are map operations.
#[derive(Default)]
pub(crate) struct MapFeed {
    links: Vec<(u64, Arc<dyn ReconMapSink>)>,
}

impl MapFeed {
    /// Links `subscriber` to the lane `name`; a sync gets `entries` first.
    pub(crate) fn link(
        &mut self,
        subscriber: LinkSubscriber,
        name: &'static str,
        entries: impl IntoIterator<Item = (Value, Value)>,
    ) {
        let Some(parts) = subscriber.into_map(name) else {
            return;
        };
        parts.recon.lane_kind(ItemKind::DemandMapLane);
        parts.recon.linked();
        if parts.sync {
            for (key, value) in entries {
                let _ = parts
                    .recon
                    .update_recon(&Encoded::new(key), &Encoded::new(value));
            }
            parts.recon.synced();
        }
        self.links.push((parts.id, parts.recon));
    }

    /// Sends the entry `key` → `value` to every subscriber.
    pub(crate) fn update(&mut self, key: Value, value: Value) {
        let (key, value) = (Encoded::new(key), Encoded::new(value));
        self.links
            .retain(|(_, sink)| !sink.is_closed() && sink.update_recon(&key, &value).is_ok());
    }

    /// Tells every subscriber that the entry `key` is gone.
    pub(crate) fn remove(&mut self, key: Value) {
        let key = Encoded::new(key);
        self.links
            .retain(|(_, sink)| !sink.is_closed() && sink.remove_recon(&key).is_ok());
    }

    /// Closes the link `id`; `false` if there is none.
    pub(crate) fn unlink(&mut self, id: u64) -> bool {
        unlink(&mut self.links, id, |sink| {
            sink.unlinked(UnlinkReason::Closed)
        })
    }

    /// Whether nobody listens (subscribers that are gone are dropped first).
    pub(crate) fn is_empty(&mut self) -> bool {
        self.links.retain(|(_, sink)| !sink.is_closed());
        self.links.is_empty()
    }
}

impl Drop for ValueFeed {
    fn drop(&mut self) {
        for (_, sink) in self.links.drain(..) {
            stopped(sink.as_ref());
        }
    }
}

impl Drop for MapFeed {
    fn drop(&mut self) {
        for (_, sink) in self.links.drain(..) {
            stopped(sink.as_ref());
        }
    }
}

/// Tells a subscriber still listening that the meta node went away with its agent.
fn stopped(sink: &dyn crate::lanes::LinkSink) {
    crate::lanes::agent_gone(sink);
}

/// Removes the link `id` from `links`, telling its sink with `tell`.
fn unlink<S: ?Sized>(links: &mut Vec<(u64, Arc<S>)>, id: u64, tell: impl Fn(&S)) -> bool {
    let Some(position) = links.iter().position(|(link, _)| *link == id) else {
        return false;
    };
    let (_, sink) = links.swap_remove(position);
    tell(&sink);
    true
}
