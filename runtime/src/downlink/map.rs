//! Map downlinks: a local copy of a map lane.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::driver::{keep_first, open, Kind};
use super::handle::MapDownlinkHandle;
use super::lifecycle::{call_handler, downlink_lifecycle, DynRunner, LifecycleState, Outcome};
use super::slot::{MapPending, Slot};
use crate::config::MapDownlinkConfig;
use crate::event_handler::{ActionContext, HandlerAction, OnceHandler, StepResult};
use crate::lanes::{LinkSubscriber, MapSink, ReconMapSink, UnlinkReason};
use crate::lock::lock;

downlink_lifecycle! {
    /// The handlers of a map downlink (see [`MapDownlinkBuilder`]).
    lifecycle MapDownlinkLifecycle;
    /// Builds a map downlink: register handlers, then `done()` opens it (see
    /// `HandlerContext::map_downlink_builder`).
    builder MapDownlinkBuilder(MapDownlinkConfig);
    types <K, V>;
    /// Runs when the link to the lane is established.
    on_linked();
    /// Runs when the downlink has received every entry of the lane, with the whole map.
    on_synced(map: &HashMap<K, V>);
    /// Runs when an entry is inserted or replaced: the map, the key, the previous value and
    /// the new one (the same order as a map lane's `on_update`).
    on_update(map: &HashMap<K, V>, key: K, previous: Option<V>, value: &V);
    /// Runs when an entry is removed: the map, the key and the removed value.
    on_remove(map: &HashMap<K, V>, key: K, removed: V);
    /// Runs when the lane is cleared, with the map as it was.
    on_clear(before: HashMap<K, V>);
    /// Runs when the link is closed (also when the node or lane does not exist).
    on_unlinked();
    /// Runs when the link fails: an entry does not fit `K` and `V`, or the lane is not a map
    /// lane.
    on_failed();
}

/// A map downlink builder without shared state.
pub type StatelessMapDownlinkBuilder<A, K, V> = MapDownlinkBuilder<A, K, V, ()>;

/// The state of a map downlink inside its agent.
pub(crate) struct MapKind<A, K, V, St: LifecycleState> {
    pub(crate) lifecycle: MapDownlinkLifecycle<A, K, V, St>,
    pub(crate) map: HashMap<K, V>,
    pub(crate) last: Arc<Mutex<HashMap<K, V>>>,
    /// After a lost connection, until the new sync completes: the keys the new sync has not
    /// (yet) confirmed. Those still here at `@synced` are gone from the remote lane.
    pub(crate) stale: Option<HashSet<K>>,
}

impl<A, K, V, St: LifecycleState> MapKind<A, K, V, St>
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

impl<A, K, V, St> Kind<A> for MapKind<A, K, V, St>
where
    A: 'static,
    K: Eq + Hash + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
    St: LifecycleState,
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
        call_handler!(self.lifecycle, on_linked, runner)
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
                result = call_handler!(self.lifecycle, on_clear, runner, before);
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
                        Some(value) if deliver => {
                            call_handler!(
                                self.lifecycle,
                                on_update,
                                runner,
                                &self.map,
                                key,
                                previous,
                                value
                            )
                        }
                        _ => Ok(()),
                    }
                }
                None => {
                    self.mirror(|map| {
                        map.remove(&key);
                    });
                    match self.map.remove(&key) {
                        Some(removed) if deliver => {
                            call_handler!(
                                self.lifecycle,
                                on_remove,
                                runner,
                                &self.map,
                                key,
                                removed
                            )
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
        call_handler!(self.lifecycle, on_synced, runner, &self.map)
    }

    fn unlinked(&mut self, reason: &UnlinkReason, runner: &mut dyn DynRunner<A>) -> Outcome {
        self.stale = None;
        self.map.clear();
        if reason.is_failure() {
            call_handler!(self.lifecycle, on_failed, runner)
        } else {
            call_handler!(self.lifecycle, on_unlinked, runner)
        }
    }
}

impl<A, K, V, St> MapDownlinkBuilder<A, K, V, St>
where
    A: 'static,
    K: Eq + Hash + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
    St: LifecycleState,
{
    /// A handler that opens the downlink and completes with its handle at once; the link is
    /// made in the background. Keep the handle: dropping it stops the downlink.
    pub fn done(
        self,
    ) -> impl HandlerAction<A, Completion = MapDownlinkHandle<K, V>> + Send + 'static {
        let MapDownlinkBuilder {
            lifecycle,
            address,
            config,
        } = self;
        OnceHandler::new(move |context: &mut ActionContext<A>, _, _: &A| {
            let handle = open(context, address, config.into(), |lifeline, target| {
                let last = Arc::new(Mutex::new(HashMap::new()));
                let handle = MapDownlinkHandle::new(lifeline, last.clone(), target);
                let kind = MapKind {
                    lifecycle,
                    map: HashMap::new(),
                    last,
                    stale: None,
                };
                (kind, handle)
            });
            StepResult::done(handle)
        })
    }
}
