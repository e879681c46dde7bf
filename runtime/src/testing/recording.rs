//! Recording what lanes publish.

use std::hash::Hash;

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::agent_lifecycle::{JoinMapLane, JoinValueLane};
use crate::lanes::{
    CommandLane, DemandLane, DemandMapLane, MapBacking, MapEvent, MapLane, MapMessage,
    OutletStatus, SupplyLane, ValueLane,
};
use crate::lock::lock;
use crate::recon::{from_value_ref, Value};
use crate::warp::map_message_from_value;

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

    /// An event in its Recon form (as a remote subscriber receives it), as recorded.
    ///
    /// # Errors
    /// Why the value is not an event of this lane.
    fn decode(value: &Value) -> Result<Self::Event, String>;
}

/// Lanes whose subscribers receive values of type `T`: each value published is recorded.
macro_rules! record_values {
    ($($lane:ident: $what:literal),* $(,)?) => {$(
        #[doc = concat!("Records each ", $what, " published.")]
        impl<T> Recordable for $lane<T>
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

            fn decode(value: &Value) -> Result<T, String> {
                from_value_ref(value).map_err(|err| err.to_string())
            }
        }
    )*};
}

record_values!(
    ValueLane: "value",
    CommandLane: "command",
    DemandLane: "computed value",
    SupplyLane: "supplied value",
);

/// Records each map operation published, as a `MapMessage`.
macro_rules! record_map_operations {
    ($(impl[$($generics:tt)*] $lane:ty where [$($bounds:tt)*];)*) => {$(
        impl<K, V, $($generics)*> Recordable for $lane
        where
            K: Eq + Hash + Clone + Serialize + DeserializeOwned + Send + 'static,
            V: Clone + Serialize + DeserializeOwned + Send + 'static,
            $($bounds)*
        {
            type Event = MapMessage<K, V>;

            fn record_into(&self, recording: Recording<MapMessage<K, V>>) {
                self.subscribe(move |event: MapEvent<'_, K, V>| {
                    recording.push(event.to_message());
                    OutletStatus::Open
                });
            }

            fn decode(value: &Value) -> Result<MapMessage<K, V>, String> {
                map_message_from_value(value).map_err(|err| err.to_string())
            }
        }
    )*};
}

record_map_operations! {
    impl[M] MapLane<K, V, M> where [K: Ord, M: MapBacking<K, V>];
    impl[] DemandMapLane<K, V> where [];
    impl[] JoinValueLane<K, V> where [K: Ord];
    impl[L] JoinMapLane<L, K, V> where [K: Ord, L: Eq + Hash + Clone + Serialize + DeserializeOwned + Send + 'static];
}
