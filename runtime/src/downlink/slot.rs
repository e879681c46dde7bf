//! The mailbox of one downlink: what its lane sent since the downlink last looked.
//!
//! The lane's task writes into the slot (coalescing: the latest value, or the latest operation
//! per key) and, when the slot goes from idle to ready, puts the downlink's id on its agent's
//! ready queue. The agent task then takes everything at once and runs the downlink's handlers.
//! Memory stays bounded however slow the agent is.

use std::collections::VecDeque;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use indexmap::IndexMap;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use crate::lanes::{
    Encoded, ItemKind, Latest, LatestSink, LinkSink, MapSink, ReconMapSink, ReconValueSink,
    UnlinkReason, ValueSink, SUPPLY_QUEUE_BOUND,
};
use crate::lock::lock;
use crate::recon::from_value_ref;

/// How many events an event downlink keeps before dropping the oldest.
pub(crate) const EVENT_QUEUE_BOUND: usize = 1024;

/// Puts a downlink on its agent's ready queue, once until it is looked at.
pub(crate) struct Notifier {
    id: u64,
    queued: AtomicBool,
    ready: mpsc::UnboundedSender<u64>,
}

impl Notifier {
    pub(crate) fn new(id: u64, ready: mpsc::UnboundedSender<u64>) -> Self {
        Notifier {
            id,
            queued: AtomicBool::new(false),
            ready,
        }
    }

    /// The id of the downlink.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn notify(&self) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            // The agent may be gone; then nobody needs the event.
            let _ = self.ready.send(self.id);
        }
    }
}

/// The link-state events, in the order they are handled.
#[derive(Debug, Default)]
pub(crate) struct LinkEvents {
    /// The connection was lost: the link starts again (handled first).
    pub(crate) lost: bool,
    pub(crate) linked: bool,
    pub(crate) synced: bool,
    pub(crate) unlinked: Option<UnlinkReason>,
}

/// Pending events of some kind of downlink.
pub(crate) trait Pending: Default + Send + 'static {
    fn link_events(&mut self) -> &mut LinkEvents;

    /// Takes everything pending, leaving an empty state (that may keep settings).
    fn take(&mut self) -> Self {
        std::mem::take(self)
    }

    /// The kind of lane linked to (told before `linked`).
    fn lane_kind(&mut self, kind: ItemKind) {
        let _ = kind;
    }

    /// Shared data changed since the last take (see [`Slot::changed`]).
    fn set_changed(&mut self) {}
}

/// The shared mailbox of a downlink.
pub(crate) struct Slot<P> {
    pending: Mutex<P>,
    notifier: Notifier,
    closed: AtomicBool,
    /// Set when data the subscriber reads from elsewhere (a lane's shared latest value) has
    /// changed: no lock is taken for it.
    changed: AtomicBool,
}

impl<P: Pending> Slot<P> {
    pub(crate) fn new(notifier: Notifier) -> Self {
        Slot {
            pending: Mutex::new(P::default()),
            notifier,
            closed: AtomicBool::new(false),
            changed: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, P> {
        lock(&self.pending)
    }

    /// Records events and wakes the downlink's agent.
    pub(crate) fn update(&self, f: impl FnOnce(&mut P)) {
        if self.is_closed() {
            return;
        }
        f(&mut self.lock());
        self.notifier.notify();
    }

    /// Takes everything pending (the agent task calls this when the downlink is ready).
    pub(crate) fn take(&self) -> P {
        self.notifier.queued.store(false, Ordering::Release);
        let mut pending = self.lock().take();
        if self.changed.swap(false, Ordering::AcqRel) {
            pending.set_changed();
        }
        pending
    }

    /// Shared data changed: flags it and wakes the agent, without locking (a subscriber that
    /// is already flagged costs one atomic read).
    pub(crate) fn changed(&self) {
        if self.is_closed() {
            return;
        }
        self.changed.store(true, Ordering::Release);
        self.notifier.notify();
    }

    /// Wakes the agent without new events (e.g. to process a stop request).
    pub(crate) fn wake(&self) {
        self.notifier.notify();
    }

    /// The downlink is gone: the lane will drop the link at its next event.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// Reopens the slot for a new link (after an unlink, when the downlink relinks).
    pub(crate) fn reopen(&self) {
        *self.lock() = P::default();
        self.closed.store(false, Ordering::Release);
    }
}

impl<P: Pending> LinkSink for Slot<P> {
    fn lane_kind(&self, kind: ItemKind) {
        self.lock().lane_kind(kind);
    }

    fn linked(&self) {
        self.update(|p| p.link_events().linked = true);
    }

    fn synced(&self) {
        self.update(|p| p.link_events().synced = true);
    }

    fn connection_lost(&self) {
        self.update(|p| {
            let events = p.link_events();
            events.lost = true;
            events.linked = false;
            events.synced = false;
        });
    }

    fn unlinked(&self, reason: UnlinkReason) {
        self.update(|p| {
            p.link_events().unlinked.get_or_insert(reason);
        });
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// A lane's shared latest value, and the downlink that waits on it.
pub(crate) type SharedLatest<T> = (Arc<Latest<T>>, Weak<dyn LatestSink<T>>);

/// What a value downlink has not handled yet: the latest value, received (converted from
/// another type) or to be read from the lane's shared copy.
pub(crate) struct ValuePending<T> {
    pub(crate) link: LinkEvents,
    pub(crate) value: Option<T>,
    /// The lane's shared latest value, when the lane has the downlink's type, and the
    /// downlink itself, to wait on it again (both kept across takes).
    pub(crate) latest: Option<SharedLatest<T>>,
    /// Whether the shared latest value changed.
    pub(crate) changed: bool,
}

impl<T> Default for ValuePending<T> {
    fn default() -> Self {
        ValuePending {
            link: LinkEvents::default(),
            value: None,
            latest: None,
            changed: false,
        }
    }
}

impl<T: Send + 'static> Pending for ValuePending<T> {
    fn link_events(&mut self) -> &mut LinkEvents {
        &mut self.link
    }

    fn take(&mut self) -> Self {
        let latest = self.latest.clone();
        let taken = std::mem::take(self);
        self.latest = latest;
        taken
    }

    fn set_changed(&mut self) {
        self.changed = true;
    }
}

impl<T> ValuePending<T>
where
    T: Clone + 'static,
{
    /// The newest value this batch carries, if any. Reading the shared latest value waits
    /// for its next change first, so no change is missed.
    pub(crate) fn newest(&mut self) -> Option<T> {
        match self.value.take() {
            Some(value) => Some(value),
            None if self.changed => self.latest.as_ref().and_then(|(latest, this)| {
                latest.wait(this.clone());
                latest.get()
            }),
            None => None,
        }
    }
}

impl<T: Clone + Send + 'static> LatestSink<T> for Slot<ValuePending<T>> {
    fn attach(&self, latest: Arc<Latest<T>>, this: Weak<dyn LatestSink<T>>) {
        self.lock().latest = Some((latest, this));
    }

    fn changed(&self) {
        Slot::changed(self);
    }
}

impl<T: DeserializeOwned + Send + 'static> ReconValueSink for Slot<ValuePending<T>> {
    fn event_recon(&self, value: &Encoded) -> Result<(), String> {
        let value = from_value_ref::<T>(value.value()).map_err(|err| err.to_string())?;
        self.update(|p| p.value = Some(value));
        Ok(())
    }
}

/// What an event downlink has not handled yet: every event, up to a bound (past it, the
/// oldest are dropped; for a supply lane, which drops none, the link ends).
pub(crate) struct EventPending<T> {
    pub(crate) link: LinkEvents,
    pub(crate) events: VecDeque<T>,
    pub(crate) lost: u64,
    /// Linked to a supply lane.
    strict: bool,
}

impl<T> Default for EventPending<T> {
    fn default() -> Self {
        EventPending {
            link: LinkEvents::default(),
            events: VecDeque::new(),
            lost: 0,
            strict: false,
        }
    }
}

impl<T: Send + 'static> Pending for EventPending<T> {
    fn link_events(&mut self) -> &mut LinkEvents {
        &mut self.link
    }

    fn take(&mut self) -> Self {
        let strict = self.strict;
        let taken = std::mem::take(self);
        self.strict = strict;
        taken
    }

    fn lane_kind(&mut self, kind: ItemKind) {
        self.strict = kind == ItemKind::SupplyLane;
    }
}

impl<T: Send + 'static> ValueSink<T> for Slot<EventPending<T>> {
    fn event(&self, value: T) {
        self.update(|p| {
            if p.link.unlinked.is_some() {
                return;
            }
            if p.strict && p.events.len() >= SUPPLY_QUEUE_BOUND {
                p.link.unlinked = Some(UnlinkReason::Overflow {
                    bound: SUPPLY_QUEUE_BOUND,
                });
                return;
            }
            if p.events.len() >= EVENT_QUEUE_BOUND {
                p.events.pop_front();
                p.lost += 1;
            }
            p.events.push_back(value);
        });
    }
}

impl<T: DeserializeOwned + Send + 'static> ReconValueSink for Slot<EventPending<T>> {
    fn event_recon(&self, value: &Encoded) -> Result<(), String> {
        let value = from_value_ref::<T>(value.value()).map_err(|err| err.to_string())?;
        self.event(value);
        Ok(())
    }
}

/// What a map downlink has not handled yet: a clear, then the latest operation per key
/// (`None` for a removal).
pub(crate) struct MapPending<K, V> {
    pub(crate) link: LinkEvents,
    pub(crate) cleared: bool,
    pub(crate) ops: IndexMap<K, Option<V>>,
}

impl<K, V> Default for MapPending<K, V> {
    fn default() -> Self {
        MapPending {
            link: LinkEvents::default(),
            cleared: false,
            ops: IndexMap::new(),
        }
    }
}

impl<K: Send + 'static, V: Send + 'static> Pending for MapPending<K, V> {
    fn link_events(&mut self) -> &mut LinkEvents {
        &mut self.link
    }
}

impl<K, V> MapSink<K, V> for Slot<MapPending<K, V>>
where
    K: Eq + Hash + Send + 'static,
    V: Send + 'static,
{
    fn update(&self, key: K, value: V) {
        Slot::update(self, |p| {
            p.ops.insert(key, Some(value));
        });
    }

    fn remove(&self, key: K) {
        Slot::update(self, |p| {
            p.ops.insert(key, None);
        });
    }

    fn clear(&self) {
        Slot::update(self, |p| {
            p.cleared = true;
            p.ops.clear();
        });
    }
}

impl<K, V> ReconMapSink for Slot<MapPending<K, V>>
where
    K: Eq + Hash + DeserializeOwned + Send + 'static,
    V: DeserializeOwned + Send + 'static,
{
    fn update_recon(&self, key: &Encoded, value: &Encoded) -> Result<(), String> {
        let key = from_value_ref::<K>(key.value()).map_err(|err| err.to_string())?;
        let value = from_value_ref::<V>(value.value()).map_err(|err| err.to_string())?;
        MapSink::update(self, key, value);
        Ok(())
    }

    fn remove_recon(&self, key: &Encoded) -> Result<(), String> {
        let key = from_value_ref::<K>(key.value()).map_err(|err| err.to_string())?;
        MapSink::remove(self, key);
        Ok(())
    }

    fn clear(&self) {
        MapSink::clear(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event_slot(kind: ItemKind) -> Slot<EventPending<u32>> {
        let (ready, _) = mpsc::unbounded_channel();
        let slot = Slot::new(Notifier::new(1, ready));
        slot.lane_kind(kind);
        slot
    }

    #[test]
    fn an_event_downlink_that_falls_behind_a_supply_lane_is_unlinked() {
        let slot = event_slot(ItemKind::SupplyLane);
        let bound = u32::try_from(SUPPLY_QUEUE_BOUND).unwrap();
        for n in 0..bound + 3 {
            slot.event(n);
        }
        let pending = slot.take();
        assert_eq!(pending.events.len(), SUPPLY_QUEUE_BOUND);
        assert_eq!((pending.events[0], pending.lost), (0, 0));
        assert_eq!(
            pending.link.unlinked,
            Some(UnlinkReason::Overflow {
                bound: SUPPLY_QUEUE_BOUND
            })
        );
    }

    #[test]
    fn an_event_downlink_that_falls_behind_a_command_lane_drops_the_oldest() {
        let slot = event_slot(ItemKind::CommandLane);
        let bound = u32::try_from(EVENT_QUEUE_BOUND).unwrap();
        for n in 0..bound + 3 {
            slot.event(n);
        }
        let pending = slot.take();
        assert_eq!((pending.events[0], pending.lost), (3, 3));
        assert!(pending.link.unlinked.is_none());
    }
}
