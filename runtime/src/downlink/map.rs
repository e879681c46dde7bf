//! Map downlinks: a local copy of a map lane.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::driver::{keep_first, open, Kind};
use super::handle::MapDownlinkHandle;
use super::handlers::{Address, DynRunner, MapDownlinkHandlers, Outcome};
use super::slot::{MapPending, Slot};
use crate::config::SimpleDownlinkConfig;
use crate::event_handler::ActionContext;
use crate::lanes::{LinkSubscriber, MapSink, ReconMapSink, UnlinkReason};
use crate::lock::lock;

/// The state of a map downlink inside its agent.
struct MapKind<K, V, H> {
    lifecycle: H,
    map: HashMap<K, V>,
    last: Arc<Mutex<HashMap<K, V>>>,
    /// After a lost connection, until the new sync completes: the keys the new sync has not
    /// (yet) confirmed. Those still here at `@synced` are gone from the remote lane.
    stale: Option<HashSet<K>>,
}

impl<K, V, H> MapKind<K, V, H>
where
    K: Eq + Hash + Clone,
    V: Clone,
{
    fn mirror(&self, f: impl FnOnce(&mut HashMap<K, V>)) {
        f(&mut lock(&self.last));
    }

    /// The new sync has said what `key` is now.
    fn confirmed(&mut self, key: &K) {
        if let Some(stale) = &mut self.stale {
            stale.remove(key);
        }
    }
}

impl<A, K, V, H> Kind<A> for MapKind<K, V, H>
where
    A: 'static,
    K: Eq + Hash + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
    H: MapDownlinkHandlers<A, K, V>,
{
    type Pending = MapPending<K, V>;
    const ALWAYS_DELIVER: bool = false;

    fn subscriber(id: u64, slot: &Arc<Slot<MapPending<K, V>>>) -> LinkSubscriber {
        LinkSubscriber::Map {
            id,
            typed: Box::new(slot.clone() as Arc<dyn MapSink<K, V>>),
            recon: slot.clone() as Arc<dyn ReconMapSink>,
            sync: true,
        }
    }

    fn linked(&mut self, runner: &mut dyn DynRunner<A>) -> Outcome {
        self.lifecycle.on_linked(runner)
    }

    fn apply(
        &mut self,
        pending: &mut MapPending<K, V>,
        deliver: bool,
        runner: &mut dyn DynRunner<A>,
    ) -> Outcome {
        let mut result = Ok(());
        if std::mem::take(&mut pending.cleared) {
            if let Some(stale) = &mut self.stale {
                stale.clear();
            }
            let before = std::mem::take(&mut self.map);
            self.mirror(HashMap::clear);
            if deliver {
                result = self.lifecycle.on_clear(runner, before);
            }
        }
        for (key, op) in pending.ops.drain(..) {
            self.confirmed(&key);
            let outcome = match op {
                Some(value) => {
                    self.mirror(|map| {
                        map.insert(key.clone(), value.clone());
                    });
                    let previous = self.map.insert(key.clone(), value);
                    match self.map.get(&key) {
                        Some(value) if deliver => self
                            .lifecycle
                            .on_update(runner, &self.map, key, previous, value),
                        _ => Ok(()),
                    }
                }
                None => {
                    self.mirror(|map| {
                        map.remove(&key);
                    });
                    match self.map.remove(&key) {
                        Some(removed) if deliver => {
                            self.lifecycle.on_remove(runner, &self.map, key, removed)
                        }
                        _ => Ok(()),
                    }
                }
            };
            keep_first(&mut result, outcome);
        }
        result
    }

    fn connection_lost(&mut self) {
        self.stale = Some(self.map.keys().cloned().collect());
    }

    fn synced(&mut self, runner: &mut dyn DynRunner<A>) -> Outcome {
        // Entries removed from the remote lane while the connection was down go, silently,
        // like the rest of the sync: `on_synced` sees the lane as it is.
        for key in self.stale.take().unwrap_or_default() {
            self.map.remove(&key);
            self.mirror(|map| {
                map.remove(&key);
            });
        }
        self.lifecycle.on_synced(runner, &self.map)
    }

    fn unlinked(&mut self, reason: &UnlinkReason, runner: &mut dyn DynRunner<A>) -> Outcome {
        self.stale = None;
        self.map.clear();
        self.lifecycle.on_closed(runner, reason)
    }
}

/// Opens a map downlink with these handlers in the running agent; it links once the current
/// event is over.
pub(crate) fn open_map<A, K, V, H>(
    context: &mut ActionContext<A>,
    address: Address,
    config: SimpleDownlinkConfig,
    lifecycle: H,
) -> MapDownlinkHandle<K, V>
where
    A: 'static,
    K: Eq + Hash + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
    H: MapDownlinkHandlers<A, K, V>,
{
    open(context, address, config, |lifeline, target| {
        let last = Arc::new(Mutex::new(HashMap::new()));
        let handle = MapDownlinkHandle::new(lifeline, last.clone(), target);
        let kind = MapKind {
            lifecycle,
            map: HashMap::new(),
            last,
            stale: None,
        };
        (kind, handle)
    })
}
