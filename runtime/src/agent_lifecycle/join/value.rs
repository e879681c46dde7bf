//! Join value lanes: a map whose entry per key is fed by a downlink to a value lane.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::lifecycle::JoinValueLaneLifecycle;
use super::links::Links;
use super::step::{run_step, JoinLane, LinkEvent, LinkLifecycle, LinkStep, Op, Ops, Reaction};
use super::LinkAddress;
use crate::agent_lifecycle::HandlerContext;
use crate::config::SimpleDownlinkConfig;
use crate::downlink::{open_value, DynRunner, Outcome, ValueDownlinkHandlers};
use crate::event_handler::{
    ActionContext, BoxEventHandler, EventHandler, EventHandlerError, HandlerActionExt,
    Modification, OnceHandler, StepResult,
};
use crate::lanes::{
    AgentItem, CommandPayload, Item, ItemKind, LinkSubscriber, MapLane, MapLaneEvent, MapLikeItem,
    MapOutlet, ModificationSink, UnlinkReason,
};

/// A lane whose entries are the values of value lanes elsewhere (on this host or another), one
/// link per key: each value the lane at the link's address takes becomes the entry of its key.
///
/// Add a link with `HandlerContext::add_downlink(Agent::LANE, key, host, node, lane)` and
/// remove one (and its entry) with `remove_downlink`. Subscribers see a map lane: a sync sends
/// every entry, then updates and removes follow. The lane takes `on_update`/`on_remove`/
/// `on_clear` handlers like a map lane, and a `#[join_value_lifecycle(lane)]` for the life of
/// its links (see [`JoinValueContext`](super::JoinValueContext)). It refuses commands: its
/// entries come from its links.
///
/// Its links, not its entries, are persisted: an agent started again on a store opens the
/// links it had, and its entries come back from them.
pub struct JoinValueLane<K, V> {
    entries: MapLane<K, V>,
    links: Links<K>,
}

impl<K, V> JoinValueLane<K, V>
where
    K: Eq + Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    /// A lane with the given id and no links.
    pub fn new(id: u64) -> Self {
        JoinValueLane {
            entries: MapLane::new(id, HashMap::new()),
            links: Links::new(),
        }
    }

    /// A copy of the entry for `key`.
    pub fn get(&self, key: &K) -> Option<V> {
        self.entries.read_map(|map| map.get(key).cloned())
    }

    /// Adds a subscriber that receives every change of the entries.
    pub fn subscribe(&self, outlet: impl MapOutlet<K, V> + 'static) {
        self.entries.subscribe(outlet);
    }

    /// Where each key links to.
    pub fn links(&self) -> HashMap<K, LinkAddress> {
        self.links.addresses()
    }

    /// Opens the downlink of `key` to `address` (replacing one that runs).
    fn open_link<A: 'static>(
        &self,
        context: &mut ActionContext<A>,
        lane: fn(&A) -> &Self,
        key: K,
        address: LinkAddress,
    ) {
        let id = Links::<K>::next_id();
        let handlers = ValueLink {
            lane,
            key: key.clone(),
            address: address.clone(),
            id,
        };
        let handle = open_value(context, address.to_address(), LINK_CONFIG, handlers);
        self.links.opened(key, id, Box::new(handle));
    }
}

/// How the downlinks of join lanes behave: every value counts, and they link again after an
/// unlink until the lifecycle says otherwise.
pub(super) const LINK_CONFIG: SimpleDownlinkConfig = SimpleDownlinkConfig {
    events_when_not_synced: true,
    terminate_on_unlinked: false,
};

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for JoinValueLane<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinValueLane")
            .field("links", &self.links.cell)
            .finish_non_exhaustive()
    }
}

impl<K, V> Item for JoinValueLane<K, V>
where
    K: Eq + Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    type Init = ();
    const KIND: ItemKind = ItemKind::JoinValueLane;

    fn create(id: u64, _: ()) -> Self {
        JoinValueLane::new(id)
    }

    /// Opens the links restored from the store.
    fn on_start<A: 'static>(lane: fn(&A) -> &Self) -> Option<BoxEventHandler<'static, A>> {
        Some(Box::new(OnceHandler::new(
            move |context: &mut ActionContext<A>, _, agent: &A| {
                let item = lane(agent);
                for (key, address) in item.links() {
                    item.open_link(context, lane, key, address);
                }
                StepResult::done(())
            },
        )))
    }
}

/// The `AgentItem` methods every join lane shares: a map lane for subscribers and handlers,
/// its links for the store, no commands.
macro_rules! join_lane_item {
    ($what:literal) => {
        fn id(&self) -> u64 {
            self.entries.id()
        }

        fn apply_command(
            &self,
            _: CommandPayload,
            _: &mut dyn ModificationSink,
        ) -> Result<(), EventHandlerError> {
            Err(EventHandlerError::BadCommand(format!(
                "a {} takes no commands: its entries come from its links",
                $what
            )))
        }

        fn flush(&self) {
            self.entries.flush();
        }

        fn link(&self, subscriber: LinkSubscriber) {
            self.entries.link(subscriber);
        }

        fn unlink(&self, id: u64) -> bool {
            self.entries.unlink(id)
        }

        fn links(&self, visit: &mut dyn FnMut(u64)) {
            self.entries.links(visit);
        }

        fn journal(&self) {
            self.links.cell.journal();
        }

        fn take_changes(
            &self,
            out: &mut dyn FnMut($crate::store::Change),
        ) -> Result<(), $crate::store::codec::EncodeError> {
            self.links.cell.take_changes(out)
        }

        fn restore(
            &self,
            state: &$crate::store::ItemState,
        ) -> Result<(), $crate::store::RestoreError> {
            self.links.cell.restore(state)
        }

        fn rewrite(&self) {
            self.links.cell.rewrite();
        }

        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    };
}

pub(super) use join_lane_item;

impl<K, V> AgentItem for JoinValueLane<K, V>
where
    K: Eq + Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    join_lane_item!("join value lane");
}

/// A join lane is read like a map lane, and takes `on_update`/`on_remove`/`on_clear`.
macro_rules! join_lane_map {
    () => {
        type Key = K;
        type Value = V;
        type Map = HashMap<K, V>;

        fn read_map<R>(&self, f: impl FnOnce(&HashMap<K, V>) -> R) -> R {
            self.entries.read_map(f)
        }

        fn update(&self, key: K, value: V) {
            self.entries.update(key, value);
        }

        fn remove(&self, key: &K) -> bool {
            self.entries.remove(key)
        }

        fn clear(&self) {
            self.entries.clear();
        }

        fn with_event<R>(
            &self,
            f: impl FnOnce(&HashMap<K, V>, MapLaneEvent<K, V, HashMap<K, V>>) -> R,
        ) -> Option<R> {
            self.entries.with_event(f)
        }
    };
}

pub(super) use join_lane_map;

impl<K, V> MapLikeItem for JoinValueLane<K, V>
where
    K: Eq + Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    join_lane_map!();
}

impl<K, V> JoinLane for JoinValueLane<K, V>
where
    K: Eq + Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    type LinkKey = K;
    type Key = K;
    type Value = V;
    type Data = V;

    fn links(&self) -> &Links<K> {
        &self.links
    }

    fn entries(&self) -> &MapLane<K, V> {
        &self.entries
    }

    fn data(&self, key: &K, value: V) -> Ops<K, V> {
        Ops::One(Op::Update(key.clone(), value))
    }

    fn disown(&self, key: &K) -> Vec<K> {
        vec![key.clone()]
    }

    fn react<A: 'static>(
        &self,
        key: &K,
        remote: &LinkAddress,
        event: LinkLifecycle<'_>,
    ) -> Option<Reaction<A>> {
        let value = matches!(event, LinkLifecycle::Synced).then(|| self.get(key));
        self.links
            .with_lifecycle(
                |lifecycle: &mut Box<dyn JoinValueLaneLifecycle<K, V, A>>| match event {
                    LinkLifecycle::Linked => lifecycle.on_linked(key, remote).map(Reaction::Run),
                    LinkLifecycle::Synced => lifecycle
                        .on_synced(key, remote, value.flatten().as_ref())
                        .map(Reaction::Run),
                    LinkLifecycle::Unlinked(reason) => lifecycle
                        .on_unlinked(key, remote, reason)
                        .map(Reaction::Respond),
                    LinkLifecycle::Failed(reason) => lifecycle
                        .on_failed(key, remote, reason)
                        .map(Reaction::Respond),
                },
            )
            .flatten()
    }
}

/// Join value lanes: what `#[join_value_lifecycle]` works with.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a join value lane",
    label = "expected a `JoinValueLane<K, V>` here",
    note = "`#[join_value_lifecycle]`, `add_downlink` and `remove_downlink` work with join value lanes; join map lanes take `#[join_map_lifecycle]` and `add_map_downlink`"
)]
pub trait JoinValueLikeItem: AgentItem {
    /// The type of the keys.
    type Key;
    /// The type of the values.
    type Value;

    /// Gives the lane the lifecycle of its links (the agent does it when it starts).
    fn attach_lifecycle<A: 'static>(
        &self,
        lifecycle: impl JoinValueLaneLifecycle<Self::Key, Self::Value, A>,
    );
}

impl<K, V> JoinValueLikeItem for JoinValueLane<K, V>
where
    K: Eq + Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    type Key = K;
    type Value = V;

    fn attach_lifecycle<A: 'static>(&self, lifecycle: impl JoinValueLaneLifecycle<K, V, A>) {
        let boxed: Box<dyn JoinValueLaneLifecycle<K, V, A>> = Box::new(lifecycle);
        self.links.attach(boxed);
    }
}

/// The handlers of one link's value downlink.
struct ValueLink<A, K, V> {
    lane: fn(&A) -> &JoinValueLane<K, V>,
    key: K,
    address: LinkAddress,
    id: u64,
}

impl<A, K, V> ValueLink<A, K, V>
where
    A: 'static,
    K: Eq + Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    fn run(&self, runner: &mut dyn DynRunner<A>, event: LinkEvent<V>) -> Outcome {
        let step = LinkStep::new(
            self.lane,
            self.key.clone(),
            self.address.clone(),
            self.id,
            event,
        );
        run_step(runner, step)
    }
}

impl<A, K, V> ValueDownlinkHandlers<A, V> for ValueLink<A, K, V>
where
    A: 'static,
    K: Eq + Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    fn on_linked(&mut self, runner: &mut dyn DynRunner<A>) -> Outcome {
        self.run(runner, LinkEvent::Linked)
    }

    fn on_synced(&mut self, runner: &mut dyn DynRunner<A>, _: &V) -> Outcome {
        self.run(runner, LinkEvent::Synced)
    }

    fn on_event(&mut self, runner: &mut dyn DynRunner<A>, value: &V) -> Outcome {
        self.run(runner, LinkEvent::Data(value.clone()))
    }

    fn on_set(&mut self, _: &mut dyn DynRunner<A>, _: Option<V>, _: &V) -> Outcome {
        Ok(())
    }

    fn on_closed(&mut self, runner: &mut dyn DynRunner<A>, reason: &UnlinkReason) -> Outcome {
        self.run(runner, LinkEvent::Closed(reason.clone()))
    }
}

/// What happens to a link of a join value lane, as its downlink reports it (the testing kit
/// injects these without a network: `AgentHarness::join_value_event`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinLinkEvent<V> {
    /// The link is made.
    Linked,
    /// The link has the remote lane's value.
    Synced,
    /// The remote lane has a new value.
    Value(V),
    /// The link is closed, for this reason (`on_failed` runs for failures, `on_unlinked`
    /// otherwise).
    Closed(UnlinkReason),
}

impl<V> From<JoinLinkEvent<V>> for LinkEvent<V> {
    fn from(event: JoinLinkEvent<V>) -> Self {
        match event {
            JoinLinkEvent::Linked => LinkEvent::Linked,
            JoinLinkEvent::Synced => LinkEvent::Synced,
            JoinLinkEvent::Value(value) => LinkEvent::Data(value),
            JoinLinkEvent::Closed(reason) => LinkEvent::Closed(reason),
        }
    }
}

/// A handler that does what the link `link` of the join lane `lane` does on `event`, as if
/// its downlink had reported it; nothing if `link` has no link running. For tests without a
/// network (see `AgentHarness::join_value_event`).
pub(super) fn injected<A, J>(
    lane: fn(&A) -> &J,
    link: J::LinkKey,
    event: impl Into<LinkEvent<J::Data>> + 'static,
) -> impl EventHandler<A>
where
    A: 'static,
    J: JoinLane,
{
    let current = OnceHandler::new(move |_: &mut ActionContext<A>, _, agent: &A| {
        let current = lane(agent).links().current(&link);
        StepResult::done(current.map(|(id, address)| (link, id, address)))
    });
    current
        .and_then(move |current: Option<(J::LinkKey, u64, LinkAddress)>| {
            current.map(|(link, id, address)| LinkStep::new(lane, link, address, id, event.into()))
        })
        .discard()
}

/// A handler that does what the link of `key` of the join value lane `lane` does on `event`
/// (a handler for tests without a network: see `AgentHarness::join_value_event`).
pub fn join_link_event<A, K, V>(
    lane: fn(&A) -> &JoinValueLane<K, V>,
    key: K,
    event: JoinLinkEvent<V>,
) -> impl EventHandler<A>
where
    A: 'static,
    K: Eq + Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    injected(lane, key, event)
}

/// Handlers for join value lanes.
impl<A: 'static> HandlerContext<A> {
    /// Links the entry `key` of the join value lane `lane` to the value lane `lane_uri` of the
    /// agent at `node` on `host` (`None`: this process): each value it takes becomes the
    /// entry. Nothing happens if `key` already has a link.
    pub fn add_downlink<K, V>(
        &self,
        lane: fn(&A) -> &JoinValueLane<K, V>,
        key: K,
        host: Option<&str>,
        node: &str,
        lane_uri: &str,
    ) -> impl EventHandler<A> + Send + 'static
    where
        K: Eq + Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static,
        V: Clone + Serialize + DeserializeOwned + Send + 'static,
    {
        let address = LinkAddress::new(host, node, lane_uri);
        OnceHandler::new(move |context: &mut ActionContext<A>, _, agent: &A| {
            let item = lane(agent);
            if item.links.is_open(&key) {
                return StepResult::done(());
            }
            item.links.record(key.clone(), address.clone());
            item.open_link(context, lane, key, address);
            // Marks the lane changed, so that the store keeps the link.
            StepResult::modified(Modification::no_trigger(item.id()), ())
        })
    }

    /// Stops the link of the entry `key` of the join value lane `lane` and removes the entry
    /// (a remove event, if there was one). The link's `on_unlinked` does not run.
    pub fn remove_downlink<K, V>(
        &self,
        lane: fn(&A) -> &JoinValueLane<K, V>,
        key: K,
    ) -> impl EventHandler<A> + Send + 'static
    where
        K: Eq + Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static,
        V: Clone + Serialize + DeserializeOwned + Send + 'static,
    {
        OnceHandler::new(move |_: &mut ActionContext<A>, _, agent: &A| {
            let item = lane(agent);
            item.links.drop_link(&key);
            let modification = if item.remove(&key) {
                Modification::of(item.id())
            } else {
                Modification::no_trigger(item.id())
            };
            StepResult::modified(modification, ())
        })
    }
}
