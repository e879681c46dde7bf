//! The state every map item shares, lane or store: the map, its last change and its journal
//! for the store, and the traits that handlers and the runtime see it through.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{BuildHasher, Hash};

use indexmap::IndexSet;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::lanes::AgentItem;
use crate::store::codec::{self, EncodeError};
use crate::store::{Change, ItemState, RestoreError};
use crate::warp::MapMessage;

/// One coalesced operation as a map lane's subscribers see it.
#[derive(Debug, PartialEq, Eq)]
pub enum MapEvent<'a, K, V> {
    /// The entry for the key now has this value.
    Update(&'a K, &'a V),
    /// The entry for the key is gone.
    Remove(&'a K),
    /// Every entry is gone (operations on keys after it follow).
    Clear,
}

impl<K, V> Clone for MapEvent<'_, K, V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K, V> Copy for MapEvent<'_, K, V> {}

impl<K: Clone, V: Clone> MapEvent<'_, K, V> {
    /// The operation as an owned [`MapMessage`].
    pub fn to_message(&self) -> MapMessage<K, V> {
        match *self {
            MapEvent::Update(key, value) => MapMessage::Update {
                key: key.clone(),
                value: value.clone(),
            },
            MapEvent::Remove(key) => MapMessage::Remove { key: key.clone() },
            MapEvent::Clear => MapMessage::Clear,
        }
    }
}

/// The last change made to a map item, as its lifecycle handlers receive it.
#[derive(Debug)]
pub enum MapLaneEvent<K, V, M> {
    /// `key` was inserted or replaced; the previous value, if any.
    Update(K, Option<V>),
    /// `key` was removed; its value.
    Remove(K, V),
    /// The map was cleared; its contents before.
    Clear(M),
}

/// The map types that can back a map lane or store: `HashMap` (the default) and `BTreeMap`.
pub trait MapBacking<K, V>: Default + Send + 'static {
    /// The value for `key`.
    fn get(&self, key: &K) -> Option<&V>;
    /// Inserts or replaces, returning the previous value.
    fn insert(&mut self, key: K, value: V) -> Option<V>;
    /// Removes, returning the value.
    fn remove(&mut self, key: &K) -> Option<V>;
    /// The number of entries.
    fn len(&self) -> usize;
    /// Whether there are no entries.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The entries, in the map's own order.
    fn entries<'a>(&'a self) -> impl Iterator<Item = (&'a K, &'a V)>
    where
        K: 'a,
        V: 'a;
    /// The keys in ascending order (used by take and drop).
    fn ordered_keys(&self) -> Vec<K>
    where
        K: Ord + Clone;
}

impl<K, V, S> MapBacking<K, V> for HashMap<K, V, S>
where
    K: Eq + Hash + Send + 'static,
    V: Send + 'static,
    S: BuildHasher + Default + Send + 'static,
{
    fn get(&self, key: &K) -> Option<&V> {
        HashMap::get(self, key)
    }
    fn insert(&mut self, key: K, value: V) -> Option<V> {
        HashMap::insert(self, key, value)
    }
    fn remove(&mut self, key: &K) -> Option<V> {
        HashMap::remove(self, key)
    }
    fn len(&self) -> usize {
        HashMap::len(self)
    }
    fn entries<'a>(&'a self) -> impl Iterator<Item = (&'a K, &'a V)>
    where
        K: 'a,
        V: 'a,
    {
        self.iter()
    }
    fn ordered_keys(&self) -> Vec<K>
    where
        K: Ord + Clone,
    {
        let mut keys: Vec<K> = self.keys().cloned().collect();
        keys.sort_unstable();
        keys
    }
}

impl<K, V> MapBacking<K, V> for BTreeMap<K, V>
where
    K: Ord + Send + 'static,
    V: Send + 'static,
{
    fn get(&self, key: &K) -> Option<&V> {
        BTreeMap::get(self, key)
    }
    fn insert(&mut self, key: K, value: V) -> Option<V> {
        BTreeMap::insert(self, key, value)
    }
    fn remove(&mut self, key: &K) -> Option<V> {
        BTreeMap::remove(self, key)
    }
    fn len(&self) -> usize {
        BTreeMap::len(self)
    }
    fn entries<'a>(&'a self) -> impl Iterator<Item = (&'a K, &'a V)>
    where
        K: 'a,
        V: 'a,
    {
        self.iter()
    }
    fn ordered_keys(&self) -> Vec<K>
    where
        K: Ord + Clone,
    {
        self.keys().cloned().collect()
    }
}

/// The state shared by map lanes and map stores: the map and its last change.
pub(crate) struct MapCell<K, V, M> {
    map: RefCell<M>,
    event: RefCell<Option<MapLaneEvent<K, V, M>>>,
    /// What changed since the store last took the changes (`None`: not persisted).
    journal: RefCell<Option<Journal<K>>>,
}

/// The keys of a map changed since the store last looked, after a clear if there was one.
struct Journal<K> {
    cleared: bool,
    keys: IndexSet<K>,
}

impl<K: Clone + Eq + Hash, V, M: MapBacking<K, V>> MapCell<K, V, M> {
    /// The map, borrowed (for a flush, which reads it while publishing).
    pub(super) fn map(&self) -> std::cell::Ref<'_, M> {
        self.map.borrow()
    }

    pub(crate) fn new(map: M) -> Self {
        MapCell {
            map: RefCell::new(map),
            event: RefCell::new(None),
            journal: RefCell::new(None),
        }
    }

    /// Records changes for the store from now on.
    pub(crate) fn journal(&self) {
        *self.journal.borrow_mut() = Some(Journal {
            cleared: false,
            keys: IndexSet::new(),
        });
    }

    fn record(&self, key: Option<&K>) {
        if let Some(journal) = self.journal.borrow_mut().as_mut() {
            match key {
                Some(key) => {
                    if !journal.keys.contains(key) {
                        journal.keys.insert(key.clone());
                    }
                }
                None => {
                    journal.cleared = true;
                    journal.keys.clear();
                }
            }
        }
    }

    /// The changes since the last call, encoded: a clear first if there was one, then the
    /// latest state of each key that changed.
    pub(crate) fn take_changes(&self, out: &mut dyn FnMut(Change)) -> Result<(), EncodeError>
    where
        K: Serialize,
        V: Serialize,
    {
        let mut journal = self.journal.borrow_mut();
        let Some(journal) = journal.as_mut() else {
            return Ok(());
        };
        if std::mem::take(&mut journal.cleared) {
            out(Change::Clear);
        }
        let map = self.map.borrow();
        // Taken, not drained: clearing a set that once held many keys costs its capacity.
        for key in std::mem::take(&mut journal.keys) {
            let encoded = codec::encode(&key)?;
            out(match map.get(&key) {
                Some(value) => Change::Put {
                    key: encoded,
                    value: codec::encode(value)?,
                },
                None => Change::Remove { key: encoded },
            });
        }
        Ok(())
    }

    /// Inserts the persisted entries, as they were before the restart (no events).
    pub(crate) fn restore(&self, state: &ItemState) -> Result<(), RestoreError>
    where
        K: DeserializeOwned,
        V: DeserializeOwned,
    {
        // Every entry decodes, or the map stays as it was.
        let mut entries = Vec::with_capacity(state.entries.len());
        for (key, value) in &state.entries {
            let key: K = codec::decode(key).map_err(|source| RestoreError {
                type_name: std::any::type_name::<K>(),
                source,
            })?;
            let value: V = codec::decode(value).map_err(|source| RestoreError {
                type_name: std::any::type_name::<V>(),
                source,
            })?;
            entries.push((key, value));
        }
        let mut map = self.map.borrow_mut();
        for (key, value) in entries {
            map.insert(key, value);
        }
        Ok(())
    }

    /// Makes the next [`take_changes`](Self::take_changes) rewrite the whole map: a clear,
    /// then every entry.
    pub(crate) fn rewrite(&self) {
        if let Some(journal) = self.journal.borrow_mut().as_mut() {
            journal.cleared = true;
            journal.keys = self
                .map
                .borrow()
                .entries()
                .map(|(key, _)| key.clone())
                .collect();
        }
    }

    pub(crate) fn read<R>(&self, f: impl FnOnce(&M) -> R) -> R {
        f(&self.map.borrow())
    }

    pub(crate) fn update(&self, key: K, value: V) {
        self.record(Some(&key));
        let previous = self.map.borrow_mut().insert(key.clone(), value);
        *self.event.borrow_mut() = Some(MapLaneEvent::Update(key, previous));
    }

    pub(crate) fn remove(&self, key: &K) -> bool {
        let removed = self.map.borrow_mut().remove(key);
        match removed {
            Some(value) => {
                self.record(Some(key));
                *self.event.borrow_mut() = Some(MapLaneEvent::Remove(key.clone(), value));
                true
            }
            None => false,
        }
    }

    pub(crate) fn clear(&self) {
        self.record(None);
        let before = std::mem::take(&mut *self.map.borrow_mut());
        *self.event.borrow_mut() = Some(MapLaneEvent::Clear(before));
    }

    pub(crate) fn with_event<R>(
        &self,
        f: impl FnOnce(&M, MapLaneEvent<K, V, M>) -> R,
    ) -> Option<R> {
        let event = self.event.borrow_mut().take()?;
        Some(f(&self.map.borrow(), event))
    }
}

impl<K, V, M: fmt::Debug> fmt::Debug for MapCell<K, V, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.map.borrow().fmt(f)
    }
}

/// Map lanes and map stores: what `HandlerContext::{update, remove, clear, ..}` and the
/// `on_update`/`on_remove`/`on_clear` handlers work with.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a map lane or map store",
    label = "expected a `MapLane<K, V>` or `MapStore<K, V>` here",
    note = "`on_update`, `on_remove`, `on_clear`, `update` and `remove` work with map lanes and map stores; value lanes take `on_event`/`on_set` and command lanes `on_command`"
)]
pub trait MapLikeItem: AgentItem {
    /// The key type.
    type Key;
    /// The value type.
    type Value;
    /// The backing map.
    type Map: MapBacking<Self::Key, Self::Value>;

    /// Reads the whole map.
    fn read_map<R>(&self, f: impl FnOnce(&Self::Map) -> R) -> R;
    /// Inserts or replaces an entry (the caller reports the modification).
    fn update(&self, key: Self::Key, value: Self::Value);
    /// Removes an entry; `false` if there was none (then nothing changed).
    fn remove(&self, key: &Self::Key) -> bool;
    /// Removes every entry.
    fn clear(&self);
    /// Takes the last change, to build `on_update`/`on_remove`/`on_clear` handlers.
    fn with_event<R>(
        &self,
        f: impl FnOnce(&Self::Map, MapLaneEvent<Self::Key, Self::Value, Self::Map>) -> R,
    ) -> Option<R>;
}
