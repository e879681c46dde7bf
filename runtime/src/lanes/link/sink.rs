//! Sinks: what a subscriber hears from a lane, typed or in Recon form.

use std::sync::{Arc, Weak};

use super::Encoded;
use crate::lock::lock;
use crate::vocabulary::{ItemKind, UnlinkReason};

/// What every subscriber hears about the state of its link.
pub trait LinkSink: Send + Sync + 'static {
    /// The kind of lane the link is to (told before `linked`).
    fn lane_kind(&self, kind: ItemKind) {
        let _ = kind;
    }

    /// The link is established.
    fn linked(&self);
    /// The lane's state has been sent in full.
    fn synced(&self);
    /// The link has ended.
    fn unlinked(&self, reason: UnlinkReason);
    /// The connection carrying a remote link was lost; it will be linked (and synced) again
    /// when the connection is back. This is not an unlink.
    fn connection_lost(&self) {}
    /// Whether the subscriber is gone (the lane then drops the link).
    fn is_closed(&self) -> bool;
}

/// A subscriber to a value or command lane that takes values of type `T` as they are.
pub trait ValueSink<T>: LinkSink {
    /// One value (the lane's state, or a command).
    fn event(&self, value: T);
}

/// The latest value of a value lane, shared by all its coalescing subscribers: the lane writes
/// it once per event and wakes only the subscribers that are waiting for a change; each reads
/// it when it gets round to it, then waits again. A burst of `M` changes seen by `N`
/// subscribers costs about `M + N`, not `M * N`.
pub struct Latest<T> {
    value: std::sync::Mutex<Option<T>>,
    waiting: std::sync::Mutex<Vec<Weak<dyn LatestSink<T>>>>,
}

impl<T: Clone + 'static> Latest<T> {
    /// A shared copy of `value`.
    pub(crate) fn new_shared(value: &T) -> Self {
        Latest {
            value: std::sync::Mutex::new(Some(value.clone())),
            waiting: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn value(&self) -> std::sync::MutexGuard<'_, Option<T>> {
        lock(&self.value)
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, Vec<Weak<dyn LatestSink<T>>>> {
        lock(&self.waiting)
    }

    /// A copy of the latest value.
    pub fn get(&self) -> Option<T> {
        self.value().clone()
    }

    /// Tells `sink` (once) of the next change.
    pub fn wait(&self, sink: Weak<dyn LatestSink<T>>) {
        self.waiting().push(sink);
    }

    pub(crate) fn set(&self, value: &T) {
        *self.value() = Some(value.clone());
    }

    /// Sets the value and wakes the waiting subscribers (`spare` is reused storage).
    pub(crate) fn publish(&self, value: &T, spare: &mut Vec<Weak<dyn LatestSink<T>>>) {
        self.set(value);
        std::mem::swap(&mut *self.waiting(), spare);
        for sink in spare.drain(..) {
            if let Some(sink) = sink.upgrade() {
                sink.changed();
            }
        }
    }
}

/// A subscriber to a value lane that only needs its latest value (a value downlink of the
/// lane's type): the lane shares one copy with all such subscribers and wakes each, once, when
/// it changes.
pub trait LatestSink<T>: LinkSink {
    /// The lane's shared latest value, and the subscriber itself, for it to wait again after
    /// each change (given once, before `linked`).
    fn attach(&self, latest: Arc<Latest<T>>, this: Weak<dyn LatestSink<T>>);
    /// The latest value has changed.
    fn changed(&self);
}

/// A subscriber to a value or command lane that takes values in Recon form.
pub trait ReconValueSink: LinkSink {
    /// One value; `Err` if it does not fit the subscriber's type.
    fn event_recon(&self, value: &Encoded) -> Result<(), String>;
}

/// A subscriber to a map lane that takes keys and values of types `K` and `V` as they are.
pub trait MapSink<K, V>: LinkSink {
    /// The entry for `key` is now `value`.
    fn update(&self, key: K, value: V);
    /// The entry for `key` is gone.
    fn remove(&self, key: K);
    /// Every entry is gone.
    fn clear(&self);
}

/// A subscriber to a map lane that takes keys and values in Recon form.
pub trait ReconMapSink: LinkSink {
    /// The entry for `key` is now `value`; `Err` if either does not fit.
    fn update_recon(&self, key: &Encoded, value: &Encoded) -> Result<(), String>;
    /// The entry for `key` is gone; `Err` if the key does not fit.
    fn remove_recon(&self, key: &Encoded) -> Result<(), String>;
    /// Every entry is gone.
    fn clear(&self);
}
