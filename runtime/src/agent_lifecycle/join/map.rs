//! Join map lanes: a map fed by downlinks to map lanes, one per link; each key belongs to the
//! link that last wrote it.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::Hash;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::lifecycle::JoinMapLaneLifecycle;
use super::links::Links;
use super::step::{run_step, JoinLane, LinkEvent, LinkLifecycle, LinkStep, Op, Ops, Reaction};
use super::value::{injected, join_lane_item, join_lane_map, LINK_CONFIG};
use super::LinkAddress;
use crate::agent_lifecycle::HandlerContext;
use crate::downlink::{open_map, DynRunner, MapDownlinkHandlers, Outcome};
use crate::event_handler::{
    ActionContext, BoxEventHandler, EventHandler, EventHandlerError, Modification, OnceHandler,
    RepeatHandler, StepResult,
};
use crate::lanes::{
    AgentItem, CommandPayload, Item, ItemKind, LinkSubscriber, MapLane, MapLaneEvent, MapLikeItem,
    MapOutlet, ModificationSink, UnlinkReason,
};

/// A lane whose entries come from map lanes elsewhere (on this host or another), one link per
/// link key `L`: each key belongs to the link that last updated it.
///
/// Add a link with `HandlerContext::add_map_downlink(Agent::LANE, link, host, node, lane)`
/// and remove one (and the keys it owns) with `remove_map_downlink`. A remote remove deletes
/// the key if the link owns it; a remote clear (or take, or drop) deletes the keys the link
/// owns. Subscribers see a map lane; the lane takes `on_update`/`on_remove`/`on_clear` like a
/// map lane and a `#[join_map_lifecycle(lane)]` for the life of its links (see
/// [`JoinMapContext`](super::JoinMapContext)). It refuses commands. Its links, not its entries,
/// are persisted: an agent started again on a store opens the links it had.
pub struct JoinMapLane<L, K, V> {
    entries: MapLane<K, V>,
    links: Links<L>,
    /// Which link owns each key: the one that last wrote it.
    owners: RefCell<HashMap<K, L>>,
}

impl<L, K, V> JoinMapLane<L, K, V>
where
    L: Eq + Hash + Clone + Serialize + DeserializeOwned + Send + 'static,
    K: Eq + Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    /// A lane with the given id and no links.
    pub fn new(id: u64) -> Self {
        JoinMapLane {
            entries: MapLane::new(id, HashMap::new()),
            links: Links::new(),
            owners: RefCell::new(HashMap::new()),
        }
    }

    /// A copy of the entry for `key`.
    pub fn get(&self, key: &K) -> Option<V> {
        self.entries.read_map(|map| map.get(key).cloned())
    }

    /// The link that owns `key`.
    pub fn owner(&self, key: &K) -> Option<L> {
        self.owners.borrow().get(key).cloned()
    }

    /// Adds a subscriber that receives every change of the entries.
    pub fn subscribe(&self, outlet: impl MapOutlet<K, V> + 'static) {
        self.entries.subscribe(outlet);
    }

    /// Where each link goes.
    pub fn links(&self) -> HashMap<L, LinkAddress> {
        self.links.addresses()
    }

    /// The keys `link` owns.
    fn owned(&self, link: &L) -> HashSet<K> {
        self.owners
            .borrow()
            .iter()
            .filter(|(_, owner)| *owner == link)
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// Opens the downlink of `link` to `address` (replacing one that runs).
    fn open_link<A: 'static>(
        &self,
        context: &mut ActionContext<A>,
        lane: fn(&A) -> &Self,
        link: L,
        address: LinkAddress,
    ) {
        let id = Links::<L>::next_id();
        let handlers = MapLink {
            lane,
            link: link.clone(),
            address: address.clone(),
            id,
        };
        let handle = open_map(context, address.to_address(), LINK_CONFIG, handlers);
        self.links.opened(link, id, Box::new(handle));
    }
}

impl<L: fmt::Debug, K, V> fmt::Debug for JoinMapLane<L, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinMapLane")
            .field("links", &self.links.cell)
            .finish_non_exhaustive()
    }
}

impl<L, K, V> Item for JoinMapLane<L, K, V>
where
    L: Eq + Hash + Clone + Serialize + DeserializeOwned + Send + 'static,
    K: Eq + Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    type Init = ();
    const KIND: ItemKind = ItemKind::JoinMapLane;

    fn create(id: u64, _: ()) -> Self {
        JoinMapLane::new(id)
    }

    /// Opens the links restored from the store.
    fn on_start<A: 'static>(lane: fn(&A) -> &Self) -> Option<BoxEventHandler<'static, A>> {
        Some(Box::new(OnceHandler::new(
            move |context: &mut ActionContext<A>, _, agent: &A| {
                let item = lane(agent);
                for (link, address) in item.links() {
                    item.open_link(context, lane, link, address);
                }
                StepResult::done(())
            },
        )))
    }
}

impl<L, K, V> AgentItem for JoinMapLane<L, K, V>
where
    L: Eq + Hash + Clone + Serialize + DeserializeOwned + Send + 'static,
    K: Eq + Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    join_lane_item!("join map lane");
}

impl<L, K, V> MapLikeItem for JoinMapLane<L, K, V>
where
    L: Eq + Hash + Clone + Serialize + DeserializeOwned + Send + 'static,
    K: Eq + Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    join_lane_map!();
}

/// A data event of a link's map downlink.
pub(crate) enum MapData<K, V> {
    Update(K, V),
    Remove(K),
    Clear,
}

impl<L, K, V> JoinLane for JoinMapLane<L, K, V>
where
    L: Eq + Hash + Clone + Serialize + DeserializeOwned + Send + 'static,
    K: Eq + Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    type LinkKey = L;
    type Key = K;
    type Value = V;
    type Data = MapData<K, V>;

    fn links(&self) -> &Links<L> {
        &self.links
    }

    fn entries(&self) -> &MapLane<K, V> {
        &self.entries
    }

    fn data(&self, link: &L, data: MapData<K, V>) -> Ops<K, V> {
        match data {
            MapData::Update(key, value) => {
                self.owners.borrow_mut().insert(key.clone(), link.clone());
                Ops::One(Op::Update(key, value))
            }
            MapData::Remove(key) => {
                let mut owners = self.owners.borrow_mut();
                if owners.get(&key) != Some(link) {
                    return Ops::None;
                }
                owners.remove(&key);
                Ops::One(Op::Remove(key))
            }
            MapData::Clear => Ops::removes(self.disown(link)),
        }
    }

    fn disown(&self, link: &L) -> Vec<K> {
        let mut owned = Vec::new();
        self.owners.borrow_mut().retain(|key, owner| {
            let keep = owner != link;
            if !keep {
                owned.push(key.clone());
            }
            keep
        });
        owned
    }

    fn react<A: 'static>(
        &self,
        link: &L,
        remote: &LinkAddress,
        event: LinkLifecycle<'_>,
    ) -> Option<Reaction<A>> {
        let keys = match event {
            LinkLifecycle::Linked => HashSet::new(),
            _ => self.owned(link),
        };
        self.links
            .with_lifecycle(
                |lifecycle: &mut Box<dyn JoinMapLaneLifecycle<L, K, V, A>>| match event {
                    LinkLifecycle::Linked => lifecycle.on_linked(link, remote).map(Reaction::Run),
                    LinkLifecycle::Synced => {
                        lifecycle.on_synced(link, remote, &keys).map(Reaction::Run)
                    }
                    LinkLifecycle::Unlinked(reason) => lifecycle
                        .on_unlinked(link, remote, reason, &keys)
                        .map(Reaction::Respond),
                    LinkLifecycle::Failed(reason) => lifecycle
                        .on_failed(link, remote, reason, &keys)
                        .map(Reaction::Respond),
                },
            )
            .flatten()
    }
}

/// Join map lanes: what `#[join_map_lifecycle]` works with.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a join map lane",
    label = "expected a `JoinMapLane<L, K, V>` here",
    note = "`#[join_map_lifecycle]`, `add_map_downlink` and `remove_map_downlink` work with join map lanes; join value lanes take `#[join_value_lifecycle]` and `add_downlink`"
)]
pub trait JoinMapLikeItem: AgentItem {
    /// The type of the link keys.
    type Link;
    /// The type of the keys.
    type Key;
    /// The type of the values.
    type Value;

    /// Gives the lane the lifecycle of its links (the agent does it when it starts).
    fn attach_lifecycle<A: 'static>(
        &self,
        lifecycle: impl JoinMapLaneLifecycle<Self::Link, Self::Key, Self::Value, A>,
    );
}

impl<L, K, V> JoinMapLikeItem for JoinMapLane<L, K, V>
where
    L: Eq + Hash + Clone + Serialize + DeserializeOwned + Send + 'static,
    K: Eq + Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    type Link = L;
    type Key = K;
    type Value = V;

    fn attach_lifecycle<A: 'static>(&self, lifecycle: impl JoinMapLaneLifecycle<L, K, V, A>) {
        let boxed: Box<dyn JoinMapLaneLifecycle<L, K, V, A>> = Box::new(lifecycle);
        self.links.attach(boxed);
    }
}

/// The handlers of one link's map downlink.
struct MapLink<A, L, K, V> {
    lane: fn(&A) -> &JoinMapLane<L, K, V>,
    link: L,
    address: LinkAddress,
    id: u64,
}

impl<A, L, K, V> MapLink<A, L, K, V>
where
    A: 'static,
    L: Eq + Hash + Clone + Serialize + DeserializeOwned + Send + 'static,
    K: Eq + Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    fn run(&self, runner: &mut dyn DynRunner<A>, event: LinkEvent<MapData<K, V>>) -> Outcome {
        let step = LinkStep::new(
            self.lane,
            self.link.clone(),
            self.address.clone(),
            self.id,
            event,
        );
        run_step(runner, step)
    }
}

impl<A, L, K, V> MapDownlinkHandlers<A, K, V> for MapLink<A, L, K, V>
where
    A: 'static,
    L: Eq + Hash + Clone + Serialize + DeserializeOwned + Send + 'static,
    K: Eq + Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    fn on_linked(&mut self, runner: &mut dyn DynRunner<A>) -> Outcome {
        self.run(runner, LinkEvent::Linked)
    }

    fn on_synced(&mut self, runner: &mut dyn DynRunner<A>, _: &HashMap<K, V>) -> Outcome {
        self.run(runner, LinkEvent::Synced)
    }

    fn on_update(
        &mut self,
        runner: &mut dyn DynRunner<A>,
        _: &HashMap<K, V>,
        key: K,
        _: Option<V>,
        value: &V,
    ) -> Outcome {
        self.run(runner, LinkEvent::Data(MapData::Update(key, value.clone())))
    }

    fn on_remove(
        &mut self,
        runner: &mut dyn DynRunner<A>,
        _: &HashMap<K, V>,
        key: K,
        _: V,
    ) -> Outcome {
        self.run(runner, LinkEvent::Data(MapData::Remove(key)))
    }

    fn on_clear(&mut self, runner: &mut dyn DynRunner<A>, _: HashMap<K, V>) -> Outcome {
        self.run(runner, LinkEvent::Data(MapData::Clear))
    }

    fn on_closed(&mut self, runner: &mut dyn DynRunner<A>, reason: &UnlinkReason) -> Outcome {
        self.run(runner, LinkEvent::Closed(reason.clone()))
    }
}

/// What happens to a link of a join map lane, as its downlink reports it (the testing kit
/// injects these without a network: `AgentHarness::join_map_event`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinMapLinkEvent<K, V> {
    /// The link is made.
    Linked,
    /// The link has the remote lane's entries.
    Synced,
    /// The remote lane's entry for the key is now the value.
    Update(K, V),
    /// The remote lane's entry for the key is gone.
    Remove(K),
    /// The remote lane was cleared.
    Clear,
    /// The link is closed, for this reason (`on_failed` runs for failures, `on_unlinked`
    /// otherwise).
    Closed(UnlinkReason),
}

impl<K, V> From<JoinMapLinkEvent<K, V>> for LinkEvent<MapData<K, V>> {
    fn from(event: JoinMapLinkEvent<K, V>) -> Self {
        match event {
            JoinMapLinkEvent::Linked => LinkEvent::Linked,
            JoinMapLinkEvent::Synced => LinkEvent::Synced,
            JoinMapLinkEvent::Update(key, value) => LinkEvent::Data(MapData::Update(key, value)),
            JoinMapLinkEvent::Remove(key) => LinkEvent::Data(MapData::Remove(key)),
            JoinMapLinkEvent::Clear => LinkEvent::Data(MapData::Clear),
            JoinMapLinkEvent::Closed(reason) => LinkEvent::Closed(reason),
        }
    }
}

/// A handler that does what the link `link` of the join map lane `lane` does on `event`, as
/// if its downlink had reported it; nothing if `link` has no link running. For tests without
/// a network (see `AgentHarness::join_map_event`).
pub fn join_map_link_event<A, L, K, V>(
    lane: fn(&A) -> &JoinMapLane<L, K, V>,
    link: L,
    event: JoinMapLinkEvent<K, V>,
) -> impl EventHandler<A>
where
    A: 'static,
    L: Eq + Hash + Clone + Serialize + DeserializeOwned + Send + 'static,
    K: Eq + Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    injected(lane, link, event)
}

/// Handlers for join map lanes.
impl<A: 'static> HandlerContext<A> {
    /// Links the join map lane `lane` to the map lane `lane_uri` of the agent at `node` on
    /// `host` (`None`: this process), as the link `link`: each entry it has becomes an entry
    /// of the join lane, owned by the link. Nothing happens if `link` already has a link.
    pub fn add_map_downlink<L, K, V>(
        &self,
        lane: fn(&A) -> &JoinMapLane<L, K, V>,
        link: L,
        host: Option<&str>,
        node: &str,
        lane_uri: &str,
    ) -> impl EventHandler<A> + Send + 'static
    where
        L: Eq + Hash + Clone + Serialize + DeserializeOwned + Send + 'static,
        K: Eq + Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static,
        V: Clone + Serialize + DeserializeOwned + Send + 'static,
    {
        let address = LinkAddress::new(host, node, lane_uri);
        OnceHandler::new(move |context: &mut ActionContext<A>, _, agent: &A| {
            let item = lane(agent);
            if item.links.is_open(&link) {
                return StepResult::done(());
            }
            item.links.record(link.clone(), address.clone());
            item.open_link(context, lane, link, address);
            // Marks the lane changed, so that the store keeps the link.
            StepResult::modified(Modification::no_trigger(item.id()), ())
        })
    }

    /// Stops the link `link` of the join map lane `lane` and removes the keys it owns (a
    /// remove event each). The link's `on_unlinked` does not run.
    pub fn remove_map_downlink<L, K, V>(
        &self,
        lane: fn(&A) -> &JoinMapLane<L, K, V>,
        link: L,
    ) -> impl EventHandler<A> + Send + 'static
    where
        L: Eq + Hash + Clone + Serialize + DeserializeOwned + Send + 'static,
        K: Eq + Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static,
        V: Clone + Serialize + DeserializeOwned + Send + 'static,
    {
        let mut owned: Option<Vec<K>> = None;
        RepeatHandler::new(move |_: &mut ActionContext<A>, _, agent: &A| {
            let item = lane(agent);
            let Some(keys) = owned.as_mut() else {
                item.links.drop_link(&link);
                owned = Some(item.disown(&link));
                // The lane changed (its links), for the store.
                return StepResult::Continue {
                    modified: Some(Modification::no_trigger(item.id())),
                };
            };
            match keys.pop() {
                Some(key) => StepResult::Continue {
                    modified: item.remove(&key).then(|| Modification::of(item.id())),
                },
                None => StepResult::done(()),
            }
        })
    }
}
