//! Map lanes: an observable map, with events per key.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::Hash;

use indexmap::IndexSet;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::item::{apply_payload, persistent_cell};
use super::link::{MapLink, Parts, SharedEncoding};
use super::{
    AgentItem, CommandPayload, CommandTarget, Item, ItemKind, LinkSubscriber, MapOutlet,
    ModificationSink, Outlets,
};
use crate::event_handler::{EventHandlerError, Modification};
use crate::recon::Value;
use crate::warp::MapMessage;

mod state;

pub(crate) use state::MapCell;
pub use state::{MapBacking, MapEvent, MapLaneEvent, MapLikeItem};

/// Keys changed since the last flush (only tracked while somebody subscribes).
struct PendingKeys<K> {
    cleared: bool,
    keys: IndexSet<K>,
    /// The Recon forms of each key's key and value, shared by the outlets during a flush (kept
    /// between flushes, empty, so that a flush does not allocate it again).
    encodings: Vec<(SharedEncoding, SharedEncoding)>,
}

/// A lane holding a map from `K` to `V`, backed by `M` (`HashMap` by default).
///
/// Changes run the lane's `on_update`, `on_remove` or `on_clear` handler. After each event,
/// subscribers receive the latest operation for each key that changed, so a slow subscriber
/// never sees more than one pending operation per key.
pub struct MapLane<K, V, M = HashMap<K, V>> {
    id: u64,
    cell: MapCell<K, V, M>,
    dirty: Cell<bool>,
    pending: RefCell<PendingKeys<K>>,
    outlets: Outlets<dyn MapOutlet<K, V>>,
}

/// A map lane whose entries are kept (and synced) in key order.
pub type OrderedMapLane<K, V> = MapLane<K, V, BTreeMap<K, V>>;

impl<K, V, M> MapLane<K, V, M>
where
    K: Eq + Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
    M: MapBacking<K, V>,
{
    /// A lane with the given id and initial contents.
    pub fn new(id: u64, map: M) -> Self {
        MapLane {
            id,
            cell: MapCell::new(map),
            dirty: Cell::new(false),
            pending: RefCell::new(PendingKeys {
                cleared: false,
                keys: IndexSet::new(),
                encodings: Vec::new(),
            }),
            outlets: Outlets::default(),
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

    /// Adds a subscriber that receives the latest operation per key after every event.
    pub fn subscribe(&self, outlet: impl MapOutlet<K, V> + 'static) {
        self.outlets.add(Box::new(outlet));
    }

    fn touched(&self, key: Option<&K>) {
        if self.outlets.is_empty() {
            return;
        }
        self.dirty.set(true);
        let mut pending = self.pending.borrow_mut();
        match key {
            Some(key) => {
                if !pending.keys.contains(key) {
                    pending.keys.insert(key.clone());
                }
            }
            None => {
                pending.cleared = true;
                pending.keys.clear();
            }
        }
    }
}

impl<K, V, M: fmt::Debug> fmt::Debug for MapLane<K, V, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapLane")
            .field("id", &self.id)
            .field("map", &self.cell)
            .finish()
    }
}

impl<K, V, M> Item for MapLane<K, V, M>
where
    K: Eq + Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
    M: MapBacking<K, V>,
{
    type Init = M;
    const KIND: ItemKind = ItemKind::MapLane;

    fn create(id: u64, init: M) -> Self {
        MapLane::new(id, init)
    }
}

impl<K, V, M> AgentItem for MapLane<K, V, M>
where
    K: Eq + Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
    M: MapBacking<K, V>,
{
    fn id(&self) -> u64 {
        self.id
    }

    fn apply_command(
        &self,
        command: CommandPayload,
        sink: &mut dyn ModificationSink,
    ) -> Result<(), EventHandlerError> {
        apply_payload(self, command, sink)
    }

    fn flush(&self) {
        if !self.dirty.replace(false) {
            return;
        }
        let map = self.cell.map();
        let mut pending = self.pending.borrow_mut();
        let PendingKeys {
            cleared,
            keys,
            encodings,
        } = &mut *pending;
        let cleared = std::mem::replace(cleared, false);
        encodings.resize_with(keys.len(), Default::default);
        self.outlets.publish(|outlet| {
            if cleared && outlet.publish(MapEvent::Clear) == super::OutletStatus::Closed {
                return super::OutletStatus::Closed;
            }
            for (key, (shared_key, shared_value)) in keys.iter().zip(encodings.iter_mut()) {
                let event = match map.get(key) {
                    Some(value) => MapEvent::Update(key, value),
                    None => MapEvent::Remove(key),
                };
                if outlet.publish_shared(event, shared_key, shared_value)
                    == super::OutletStatus::Closed
                {
                    return super::OutletStatus::Closed;
                }
            }
            super::OutletStatus::Open
        });
        keys.clear();
        encodings.clear();
    }

    fn links(&self, visit: &mut dyn FnMut(u64)) {
        self.outlets.ids(visit);
    }

    persistent_cell!();

    fn link(&self, subscriber: LinkSubscriber) {
        let Some(Parts {
            id,
            typed,
            recon,
            sync,
        }) = subscriber.into_map("map lane")
        else {
            return;
        };
        recon.lane_kind(ItemKind::MapLane);
        let link = MapLink::new(typed, recon);
        link.linked();
        if sync {
            let complete = self.cell.read(|map| {
                map.entries()
                    .all(|(key, value)| link.send(MapEvent::Update(key, value)))
            });
            if !complete {
                return;
            }
            link.synced();
        }
        self.outlets.add_link(id, Box::new(link));
    }

    fn unlink(&self, id: u64) -> bool {
        self.outlets.remove_link(id)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl<K, V, M> MapLikeItem for MapLane<K, V, M>
where
    K: Eq + Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
    M: MapBacking<K, V>,
{
    type Key = K;
    type Value = V;
    type Map = M;

    fn read_map<R>(&self, f: impl FnOnce(&M) -> R) -> R {
        self.cell.read(f)
    }

    fn update(&self, key: K, value: V) {
        self.touched(Some(&key));
        self.cell.update(key, value);
    }

    fn remove(&self, key: &K) -> bool {
        let removed = self.cell.remove(key);
        if removed {
            self.touched(Some(key));
        }
        removed
    }

    fn clear(&self) {
        self.touched(None);
        self.cell.clear();
    }

    fn with_event<R>(&self, f: impl FnOnce(&M, MapLaneEvent<K, V, M>) -> R) -> Option<R> {
        self.cell.with_event(f)
    }
}

/// Applies a [`MapMessage`] to a map item, reporting each change (take and drop remove one key
/// at a time, so `on_remove` runs for each).
pub(crate) fn apply_map_message<L>(
    item: &L,
    message: MapMessage<L::Key, L::Value>,
    sink: &mut dyn ModificationSink,
) -> Result<(), EventHandlerError>
where
    L: MapLikeItem,
    L::Key: Ord + Clone,
{
    let id = item.id();
    match message {
        MapMessage::Update { key, value } => {
            item.update(key, value);
            sink.modified(Modification::of(id))
        }
        MapMessage::Remove { key } => {
            if item.remove(&key) {
                sink.modified(Modification::of(id))?;
            }
            Ok(())
        }
        MapMessage::Clear => {
            item.clear();
            sink.modified(Modification::of(id))
        }
        MapMessage::Take(n) | MapMessage::Drop(n) => {
            let keys = item.read_map(MapBacking::ordered_keys);
            let n = usize::try_from(n).unwrap_or(usize::MAX).min(keys.len());
            let doomed = if matches!(message, MapMessage::Take(_)) {
                &keys[n..]
            } else {
                &keys[..n]
            };
            for key in doomed {
                if item.remove(key) {
                    sink.modified(Modification::of(id))?;
                }
            }
            Ok(())
        }
    }
}

/// A command to a map lane applies the operation.
impl<K, V, M> CommandTarget for MapLane<K, V, M>
where
    K: Eq + Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
    M: MapBacking<K, V>,
{
    type Command = MapMessage<K, V>;

    /// The WARP form (`@update(key:K) V`, `@remove(key:K)`, `@clear`, `@take(n)`, `@drop(n)`),
    /// or the serde form of `MapMessage`.
    fn decode(value: &Value) -> Result<MapMessage<K, V>, String> {
        crate::warp::map_message_from_value(value).or_else(|warp_error| {
            crate::recon::from_value_ref::<MapMessage<K, V>>(value)
                .map_err(|_| format!("`{value}` is not a map operation: {warp_error}"))
        })
    }

    fn apply(
        &self,
        command: MapMessage<K, V>,
        sink: &mut dyn ModificationSink,
    ) -> Result<(), EventHandlerError> {
        apply_map_message(self, command, sink)
    }
}
