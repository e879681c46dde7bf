//! Demand-map lanes: entries computed on demand by the lifecycle's `#[keys]` and
//! `#[on_cue_key]` handlers.

use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::hash::Hash;

use indexmap::IndexMap;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::item::{refuses_commands, stateless_item};
use super::link::{MapLink, Parts, Syncing};
use super::{AgentItem, ItemKind, LinkSubscriber, MapEvent, MapOutlet, Outlets, SharedEncoding};

/// A map lane with no state of its own: the lifecycle computes its entries when asked.
///
/// `HandlerContext::cue_key(lane, key)` runs the `#[on_cue_key]` handler for `key`, which
/// completes with `Some(value)` (subscribers receive an update) or `None` (a remove). A
/// subscriber that asks for a sync gets, for it alone, an update for every key the `#[keys]`
/// handler lists (computed by `#[on_cue_key]`), then `synced`. Nothing is persisted.
///
/// ```
/// use tidal_runtime::lanes::{DemandMapLane, Item};
///
/// let lane: DemandMapLane<String, i64> = DemandMapLane::create(0, ());
/// # let _ = lane;
/// ```
pub struct DemandMapLane<K, V> {
    id: u64,
    /// Keys cued for every subscriber, not computed yet.
    cued: RefCell<Vec<K>>,
    /// The operations computed for every subscriber (`None`: a remove), sent at the flush.
    pending: RefCell<IndexMap<K, Option<V>>>,
    outlets: Outlets<dyn MapOutlet<K, V>>,
    /// Links waiting for their sync.
    syncing: Syncing<MapLink<K, V>>,
}

impl<K, V> DemandMapLane<K, V> {
    /// A lane with the given id.
    pub fn new(id: u64) -> Self {
        DemandMapLane {
            id,
            cued: RefCell::new(Vec::new()),
            pending: RefCell::new(IndexMap::new()),
            outlets: Outlets::default(),
            syncing: Syncing::default(),
        }
    }

    /// Adds a subscriber that receives every entry computed after a cue.
    pub fn subscribe(&self, outlet: impl MapOutlet<K, V> + 'static) {
        self.outlets.add(Box::new(outlet));
    }
}

impl<K, V> fmt::Debug for DemandMapLane<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DemandMapLane")
            .field("id", &self.id)
            .finish()
    }
}

/// Demand-map lanes: what `#[keys]`/`#[on_cue_key]` handlers and `HandlerContext::cue_key`
/// work with.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a demand-map lane",
    label = "expected a `DemandMapLane<K, V>` here",
    note = "`#[keys]`, `#[on_cue_key]` and `HandlerContext::cue_key` work with demand-map lanes; demand lanes take `#[on_cue]` and `cue`"
)]
pub trait DemandMapLikeItem: AgentItem {
    /// The type of the keys.
    type Key: Clone;
    /// The type of the values.
    type Value;

    /// Asks for the entry of `key` to be computed and sent to every subscriber (the caller
    /// reports the modification that runs `on_cue_key`).
    fn cue_key(&self, key: Self::Key);

    /// The keys cued since the last call, in order.
    fn take_cued(&self) -> Vec<Self::Key>;

    /// The entry `on_cue_key` computed after a cue (`None`: there is none), for every
    /// subscriber.
    fn deliver(&self, key: Self::Key, value: Option<Self::Value>);

    /// Whether links wait for a sync (the lifecycle then lists the keys).
    fn is_syncing(&self) -> bool;

    /// One entry of the sync, for the links waiting for it (`None`s are skipped).
    fn deliver_sync(&self, key: &Self::Key, value: Option<&Self::Value>);

    /// The sync is complete: the waiting links hear `synced` and join the subscribers.
    fn finish_sync(&self);
}

impl<K, V> DemandMapLikeItem for DemandMapLane<K, V>
where
    K: Eq + Hash + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    type Key = K;
    type Value = V;

    fn cue_key(&self, key: K) {
        self.cued.borrow_mut().push(key);
    }

    fn take_cued(&self) -> Vec<K> {
        std::mem::take(&mut *self.cued.borrow_mut())
    }

    fn deliver(&self, key: K, value: Option<V>) {
        if !self.outlets.is_empty() {
            self.pending.borrow_mut().insert(key, value);
        }
    }

    fn is_syncing(&self) -> bool {
        !self.syncing.is_empty()
    }

    fn deliver_sync(&self, key: &K, value: Option<&V>) {
        let Some(value) = value else {
            return;
        };
        let (mut shared_key, mut shared_value) =
            (SharedEncoding::default(), SharedEncoding::default());
        self.syncing.retain(|link| {
            link.send_shared(
                MapEvent::Update(key, value),
                &mut shared_key,
                &mut shared_value,
            )
        });
    }

    fn finish_sync(&self) {
        self.syncing.finish(|id, link| {
            link.synced();
            self.outlets.add_link(id, Box::new(link));
        });
    }
}

stateless_item!(impl[K, V] DemandMapLane<K, V>: DemandMapLane where K: Eq + Hash + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static);

impl<K, V> AgentItem for DemandMapLane<K, V>
where
    K: Eq + Hash + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    fn id(&self) -> u64 {
        self.id
    }

    refuses_commands!(
        "a demand-map lane takes no commands: its entries are computed by `on_cue_key`"
    );

    fn flush(&self) {
        self.cued.borrow_mut().clear();
        let mut pending = self.pending.borrow_mut();
        for (key, value) in pending.drain(..) {
            let event = match &value {
                Some(value) => MapEvent::Update(&key, value),
                None => MapEvent::Remove(&key),
            };
            let (mut shared_key, mut shared_value) =
                (SharedEncoding::default(), SharedEncoding::default());
            self.outlets
                .publish(|outlet| outlet.publish_shared(event, &mut shared_key, &mut shared_value));
        }
        // Links whose sync listed nothing (the lifecycle has no `#[keys]`) are synced empty.
        self.finish_sync();
    }

    fn link(&self, subscriber: LinkSubscriber) {
        let Some(Parts {
            id,
            typed,
            recon,
            sync,
        }) = subscriber.into_map("demand-map lane")
        else {
            return;
        };
        recon.lane_kind(ItemKind::DemandMapLane);
        let link = MapLink::new(typed, recon);
        link.linked();
        if sync {
            self.syncing.push(id, link);
        } else {
            self.outlets.add_link(id, Box::new(link));
        }
    }

    fn awaits_cue(&self) -> bool {
        self.is_syncing()
    }

    fn unlink(&self, id: u64) -> bool {
        self.outlets.remove_link(id) || self.syncing.remove(id)
    }

    fn links(&self, visit: &mut dyn FnMut(u64)) {
        self.outlets.ids(visit);
        self.syncing.ids(visit);
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
