//! Outlets: where a lane's events go after each top-level event (its subscribers).

use std::cell::RefCell;

use super::{MapEvent, SharedEncoding};

/// Whether an outlet wants more events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutletStatus {
    /// Keep sending events.
    Open,
    /// The subscriber is gone: remove the outlet.
    Closed,
}

/// A subscriber to a value lane (each flushed value) or a command lane (each command).
///
/// Closures `FnMut(&T) -> OutletStatus + Send` are outlets.
pub trait ValueOutlet<T>: Send {
    /// Receives the lane's value after an event (or one command).
    fn publish(&mut self, value: &T) -> OutletStatus;

    /// Like [`publish`](Self::publish), with the event's Recon form shared by every outlet of
    /// the lane (outlets that need it convert the value once for all).
    fn publish_shared(&mut self, value: &T, shared: &mut SharedEncoding) -> OutletStatus {
        let _ = shared;
        self.publish(value)
    }
}

impl<T, F> ValueOutlet<T> for F
where
    F: FnMut(&T) -> OutletStatus + Send,
{
    fn publish(&mut self, value: &T) -> OutletStatus {
        self(value)
    }
}

/// A subscriber to a map lane: the latest operation per key after each event.
///
/// Closures `FnMut(MapEvent<K, V>) -> OutletStatus + Send` are outlets.
pub trait MapOutlet<K, V>: Send {
    /// Receives one coalesced operation.
    fn publish(&mut self, event: MapEvent<'_, K, V>) -> OutletStatus;

    /// Like [`publish`](Self::publish), with the Recon forms of the operation's key and value
    /// shared by every outlet of the lane (outlets that need them convert each once for all).
    fn publish_shared(
        &mut self,
        event: MapEvent<'_, K, V>,
        key: &mut SharedEncoding,
        value: &mut SharedEncoding,
    ) -> OutletStatus {
        let _ = (key, value);
        self.publish(event)
    }
}

impl<K, V, F> MapOutlet<K, V> for F
where
    F: for<'a> FnMut(MapEvent<'a, K, V>) -> OutletStatus + Send,
{
    fn publish(&mut self, event: MapEvent<'_, K, V>) -> OutletStatus {
        self(event)
    }
}

/// The outlets of one lane, each with the id of its link (0 for anonymous outlets).
pub(crate) struct Outlets<O: ?Sized> {
    outlets: RefCell<Vec<(u64, Box<O>)>>,
}

impl<O: ?Sized> Default for Outlets<O> {
    fn default() -> Self {
        Outlets {
            outlets: RefCell::new(Vec::new()),
        }
    }
}

impl<O: ?Sized> Outlets<O> {
    /// Adds a subscriber.
    pub(crate) fn add(&self, outlet: Box<O>) {
        self.add_link(0, outlet);
    }

    /// Adds the subscriber of the link `id`.
    pub(crate) fn add_link(&self, id: u64, outlet: Box<O>) {
        self.outlets.borrow_mut().push((id, outlet));
    }

    /// Removes the subscriber of the link `id`; `false` if there is none.
    pub(crate) fn remove_link(&self, id: u64) -> bool {
        let mut outlets = self.outlets.borrow_mut();
        let before = outlets.len();
        outlets.retain(|(link, _)| *link != id);
        outlets.len() != before
    }

    /// Hands the id of each link to `visit`.
    pub(crate) fn ids(&self, visit: &mut dyn FnMut(u64)) {
        for (id, _) in self.outlets.borrow().iter() {
            visit(*id);
        }
    }

    /// Whether nobody listens (then lanes skip the bookkeeping of pending events).
    pub(crate) fn is_empty(&self) -> bool {
        self.outlets.borrow().is_empty()
    }

    /// Hands the pending events to every outlet, dropping the ones that closed.
    pub(crate) fn publish(&self, mut send: impl FnMut(&mut O) -> OutletStatus) {
        self.outlets
            .borrow_mut()
            .retain_mut(|(_, outlet)| send(outlet) == OutletStatus::Open);
    }
}

impl<T> Outlets<dyn ValueOutlet<T>> {
    /// Links a subscriber to a lane without state (command and supply lanes, a `name` of
    /// kind `kind`): a sync is complete at once.
    pub(crate) fn link_stream(
        &self,
        subscriber: super::LinkSubscriber,
        name: &'static str,
        kind: super::ItemKind,
    ) where
        T: Clone + serde::Serialize + Send + 'static,
    {
        let Some(super::link::Parts {
            id,
            typed,
            recon,
            sync,
        }) = subscriber.into_value(name)
        else {
            return;
        };
        recon.lane_kind(kind);
        let link = super::link::ValueLink::new(typed, recon, None);
        link.linked();
        if sync {
            link.synced();
        }
        self.add_link(id, Box::new(link));
    }

    /// Hands each of `values`, in order, to every outlet; `encodings` (reused storage) holds
    /// each value's Recon form, converted once for all outlets.
    pub(crate) fn publish_each<'a>(
        &self,
        values: impl ExactSizeIterator<Item = &'a T> + Clone,
        encodings: &mut Vec<SharedEncoding>,
    ) where
        T: 'a,
    {
        encodings.resize_with(values.len(), SharedEncoding::default);
        self.publish(|outlet| {
            for (value, shared) in values.clone().zip(encodings.iter_mut()) {
                if outlet.publish_shared(value, shared) == OutletStatus::Closed {
                    return OutletStatus::Closed;
                }
            }
            OutletStatus::Open
        });
        encodings.clear();
    }
}
