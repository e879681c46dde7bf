//! Recording what lanes publish.

use std::hash::Hash;

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::lanes::{
    CommandLane, MapBacking, MapEvent, MapLane, MapMessage, OutletStatus, ValueLane,
};
use crate::lock::lock;

/// The events a lane published, collected for a test (see `AgentHarness::record`).
pub struct Recording<E> {
    events: Arc<Mutex<Vec<E>>>,
}

impl<E> Clone for Recording<E> {
    fn clone(&self) -> Self {
        Recording {
            events: self.events.clone(),
        }
    }
}

impl<E> Default for Recording<E> {
    fn default() -> Self {
        Recording {
            events: Arc::new(Mutex::new(Vec::new())),
        }
    }
}

impl<E> Recording<E> {
    fn events(&self) -> MutexGuard<'_, Vec<E>> {
        lock(&self.events)
    }

    /// Adds an event.
    pub fn push(&self, event: E) {
        self.events().push(event);
    }

    /// The events recorded so far, which are then forgotten.
    pub fn take(&self) -> Vec<E> {
        std::mem::take(&mut *self.events())
    }

    /// How many events are recorded.
    pub fn len(&self) -> usize {
        self.events().len()
    }

    /// Whether no event is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Lanes whose published events can be recorded.
pub trait Recordable {
    /// What one published event is recorded as.
    type Event: Send + 'static;

    /// Subscribes `recording` to the lane.
    fn record_into(&self, recording: Recording<Self::Event>);
}

/// Records each value published.
impl<T> Recordable for ValueLane<T>
where
    T: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    type Event = T;

    fn record_into(&self, recording: Recording<T>) {
        self.subscribe(move |value: &T| {
            recording.push(value.clone());
            OutletStatus::Open
        });
    }
}

/// Records each command published.
impl<T> Recordable for CommandLane<T>
where
    T: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    type Event = T;

    fn record_into(&self, recording: Recording<T>) {
        self.subscribe(move |value: &T| {
            recording.push(value.clone());
            OutletStatus::Open
        });
    }
}

/// Records each coalesced operation published, as a `MapMessage`.
impl<K, V, M> Recordable for MapLane<K, V, M>
where
    K: Eq + Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
    M: MapBacking<K, V>,
{
    type Event = MapMessage<K, V>;

    fn record_into(&self, recording: Recording<MapMessage<K, V>>) {
        self.subscribe(move |event: MapEvent<'_, K, V>| {
            recording.push(event.to_message());
            OutletStatus::Open
        });
    }
}
