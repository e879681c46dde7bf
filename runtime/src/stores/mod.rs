//! Stores: private agent state with the same events as lanes, invisible from outside.
//!
//! A [`ValueStore`] behaves like a [`ValueLane`](crate::lanes::ValueLane) and a [`MapStore`] like a
//! [`MapLane`](crate::lanes::MapLane): handlers read and change them through `HandlerContext`, and
//! `on_event`/`on_set` or `on_update`/`on_remove`/`on_clear` run on each change. They cannot be
//! linked or commanded from outside the agent.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::event_handler::EventHandlerError;
use crate::lanes::{
    persistent_cell, AgentItem, CommandPayload, Item, ItemKind, LinkSubscriber, MapBacking,
    MapCell, MapLaneEvent, MapLikeItem, ModificationSink, UnlinkReason, ValueCell, ValueLikeItem,
};

fn refuse_command() -> Result<(), EventHandlerError> {
    Err(EventHandlerError::BadCommand(
        "stores do not accept commands".to_owned(),
    ))
}

/// A private value of type `T` (see the [module docs](self)).
pub struct ValueStore<T> {
    id: u64,
    cell: ValueCell<T>,
}

impl<T> ValueStore<T> {
    /// A store with the given id and initial value.
    pub fn new(id: u64, value: T) -> Self {
        ValueStore {
            id,
            cell: ValueCell::new(value),
        }
    }

    /// Reads the current value without copying it.
    pub fn read<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        self.cell.read(f)
    }

    /// A copy of the current value.
    pub fn get(&self) -> T
    where
        T: Clone,
    {
        self.cell.read(T::clone)
    }
}

impl<T: fmt::Debug> fmt::Debug for ValueStore<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValueStore")
            .field("id", &self.id)
            .field("value", &self.cell)
            .finish()
    }
}

impl<T: Serialize + DeserializeOwned + Send + 'static> Item for ValueStore<T> {
    type Init = T;
    const KIND: ItemKind = ItemKind::ValueStore;

    fn create(id: u64, init: T) -> Self {
        ValueStore::new(id, init)
    }
}

impl<T: Serialize + DeserializeOwned + Send + 'static> AgentItem for ValueStore<T> {
    fn id(&self) -> u64 {
        self.id
    }

    fn apply_command(
        &self,
        _: CommandPayload,
        _: &mut dyn ModificationSink,
    ) -> Result<(), EventHandlerError> {
        refuse_command()
    }

    fn flush(&self) {}

    persistent_cell!();

    fn link(&self, subscriber: LinkSubscriber) {
        subscriber.refuse(UnlinkReason::LaneNotFound);
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl<T: Serialize + DeserializeOwned + Send + 'static> ValueLikeItem for ValueStore<T> {
    type Value = T;

    fn read<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        self.cell.read(f)
    }

    fn set(&self, value: T) {
        self.cell.set(value);
    }

    fn with_event<R>(&self, f: impl FnOnce(&T, Option<T>) -> R) -> R {
        self.cell.with_event(f)
    }
}

/// A private map from `K` to `V`, backed by `M` (see the [module docs](self)).
pub struct MapStore<K, V, M = HashMap<K, V>> {
    id: u64,
    cell: MapCell<K, V, M>,
}

impl<K: Clone + Eq + Hash, V, M: MapBacking<K, V>> MapStore<K, V, M> {
    /// A store with the given id and initial contents.
    pub fn new(id: u64, map: M) -> Self {
        MapStore {
            id,
            cell: MapCell::new(map),
        }
    }

    /// A copy of the value for `key`.
    pub fn get(&self, key: &K) -> Option<V>
    where
        V: Clone,
    {
        self.cell.read(|map| map.get(key).cloned())
    }

    /// Reads the whole map without copying it.
    pub fn read_map<R>(&self, f: impl FnOnce(&M) -> R) -> R {
        self.cell.read(f)
    }
}

impl<K, V, M: fmt::Debug> fmt::Debug for MapStore<K, V, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapStore")
            .field("id", &self.id)
            .field("map", &self.cell)
            .finish()
    }
}

impl<K, V, M> Item for MapStore<K, V, M>
where
    K: Eq + Hash + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Serialize + DeserializeOwned + Send + 'static,
    M: MapBacking<K, V>,
{
    type Init = M;
    const KIND: ItemKind = ItemKind::MapStore;

    fn create(id: u64, init: M) -> Self {
        MapStore::new(id, init)
    }
}

impl<K, V, M> AgentItem for MapStore<K, V, M>
where
    K: Eq + Hash + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Serialize + DeserializeOwned + Send + 'static,
    M: MapBacking<K, V>,
{
    fn id(&self) -> u64 {
        self.id
    }

    fn apply_command(
        &self,
        _: CommandPayload,
        _: &mut dyn ModificationSink,
    ) -> Result<(), EventHandlerError> {
        refuse_command()
    }

    fn flush(&self) {}

    persistent_cell!();

    fn link(&self, subscriber: LinkSubscriber) {
        subscriber.refuse(UnlinkReason::LaneNotFound);
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl<K, V, M> MapLikeItem for MapStore<K, V, M>
where
    K: Eq + Hash + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Serialize + DeserializeOwned + Send + 'static,
    M: MapBacking<K, V>,
{
    type Key = K;
    type Value = V;
    type Map = M;

    fn read_map<R>(&self, f: impl FnOnce(&M) -> R) -> R {
        self.cell.read(f)
    }

    fn update(&self, key: K, value: V) {
        self.cell.update(key, value);
    }

    fn remove(&self, key: &K) -> bool {
        self.cell.remove(key)
    }

    fn clear(&self) {
        self.cell.clear();
    }

    fn with_event<R>(&self, f: impl FnOnce(&M, MapLaneEvent<K, V, M>) -> R) -> Option<R> {
        self.cell.with_event(f)
    }
}
