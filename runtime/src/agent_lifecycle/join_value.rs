//! Join value lanes: a map whose entries are fed by downlinks to value lanes, one per key.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::HandlerContext;
use crate::config::SimpleDownlinkConfig;
use crate::downlink::hosted::ValueDownlinkHandle;
use crate::downlink::{open_value, Address, DynRunner, Outcome, ValueDownlinkHandlers};
use crate::event_handler::{
    ActionContext, AgentMetadata, BoxEventHandler, BoxHandlerAction, EventHandler,
    EventHandlerError, HandlerAction, HandlerActionExt, Modification, OnceHandler, StepResult,
};
use crate::lanes::{
    persistent_cell, AgentItem, CommandPayload, Item, ItemKind, LinkSubscriber, MapCell, MapLane,
    MapLaneEvent, MapLikeItem, MapOutlet, ModificationSink,
};

/// Where a link of a join lane goes: the lane `lane` of the agent at `node`, on `host` (`None`:
/// this process).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LinkAddress {
    /// The host (`ws://..`), or `None` for an agent of this process.
    pub host: Option<String>,
    /// The node URI of the agent.
    pub node: String,
    /// The lane.
    pub lane: String,
}

impl LinkAddress {
    fn to_address(&self) -> Address {
        Address::new(self.host.as_deref(), &self.node, &self.lane)
    }
}

impl fmt::Display for LinkAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Some(host) => write!(f, "{host} {} {}", self.node, self.lane),
            None => write!(f, "{} {}", self.node, self.lane),
        }
    }
}

/// What a join lane does when one of its links closes (`on_unlinked`) or fails (`on_failed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LinkClosedResponse {
    /// Link again, after the downlinks' backoff.
    Retry,
    /// Drop the link and keep the entry as it was (the default).
    #[default]
    Abandon,
    /// Drop the link and remove the entry (a remove event).
    Delete,
}

/// A lane whose entries are the values of value lanes elsewhere (on this host or another), one
/// link per key: each value the lane at the link's address takes becomes the entry of its key.
///
/// Add a link with `HandlerContext::add_downlink(Agent::LANE, key, host, node, lane)` and
/// remove one (and its entry) with `remove_downlink`. Subscribers see a map lane: a sync sends
/// every entry, then updates and removes follow. The lane takes `on_update`/`on_remove`/
/// `on_clear` handlers like a map lane, and a `#[join_value_lifecycle(lane)]` for the life of
/// its links (see [`JoinValueLifecycle`]). It refuses commands: its entries come from its
/// links.
///
/// Its links, not its entries, are persisted: an agent started again on a store opens the
/// links it had, and its entries come back from them.
pub struct JoinValueLane<K, V> {
    entries: MapLane<K, V>,
    /// Where each key links to (persisted).
    cell: MapCell<K, LinkAddress, HashMap<K, LinkAddress>>,
    /// The downlink of each key while it runs.
    open: RefCell<HashMap<K, OpenLink<V>>>,
    /// The lifecycle of the links (`Box<dyn JoinValueLaneLifecycle<K, V, A>>`, for the agent
    /// type `A`), attached when the agent starts.
    lifecycle: RefCell<Option<Box<dyn Any + Send>>>,
}

/// A running link of a join lane.
struct OpenLink<V> {
    /// Tells this link's events from those of an earlier link of the same key.
    id: u64,
    /// Dropping it stops the downlink.
    _handle: ValueDownlinkHandle<V>,
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
            cell: MapCell::new(HashMap::new()),
            open: RefCell::new(HashMap::new()),
            lifecycle: RefCell::new(None),
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
        self.cell.read(HashMap::clone)
    }

    /// Runs `f` on the lifecycle of the links, if one is attached.
    fn with_lifecycle<A: 'static, R>(
        &self,
        f: impl FnOnce(&mut dyn JoinValueLaneLifecycle<K, V, A>) -> R,
    ) -> Option<R> {
        let mut lifecycle = self.lifecycle.borrow_mut();
        let lifecycle = lifecycle
            .as_mut()?
            .downcast_mut::<Box<dyn JoinValueLaneLifecycle<K, V, A>>>()?;
        Some(f(lifecycle.as_mut()))
    }

    /// Whether `id` is the running link of `key`.
    fn is_current(&self, key: &K, id: u64) -> bool {
        self.open
            .borrow()
            .get(key)
            .is_some_and(|link| link.id == id)
    }

    /// Opens the downlink of `key` to `address` (replacing one that runs).
    fn open_link<A: 'static>(
        &self,
        context: &mut ActionContext<A>,
        lane: fn(&A) -> &Self,
        key: K,
        address: LinkAddress,
    ) {
        let id = crate::lanes::next_link_id();
        let config = SimpleDownlinkConfig {
            events_when_not_synced: true,
            terminate_on_unlinked: false,
        };
        let handlers = JoinLink::<A, K, V> {
            lane,
            key: key.clone(),
            address: address.clone(),
            id,
        };
        let handle = open_value(context, address.to_address(), config, handlers);
        self.open.borrow_mut().insert(
            key,
            OpenLink {
                id,
                _handle: handle,
            },
        );
    }

    /// Stops the link of `key` and forgets it (the entry stays).
    fn drop_link(&self, key: &K) {
        self.open.borrow_mut().remove(key);
        self.cell.remove(key);
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for JoinValueLane<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinValueLane")
            .field("links", &self.cell)
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

impl<K, V> AgentItem for JoinValueLane<K, V>
where
    K: Eq + Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    fn id(&self) -> u64 {
        self.entries.id()
    }

    fn apply_command(
        &self,
        _: CommandPayload,
        _: &mut dyn ModificationSink,
    ) -> Result<(), EventHandlerError> {
        Err(EventHandlerError::BadCommand(
            "a join value lane takes no commands: its entries come from its links".to_owned(),
        ))
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

    fn has_subscribers(&self) -> bool {
        self.entries.has_subscribers()
    }

    persistent_cell!();

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Join value lanes: what `#[join_value_lifecycle]` works with.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a join value lane",
    label = "expected a `JoinValueLane<K, V>` here",
    note = "`#[join_value_lifecycle]`, `add_downlink` and `remove_downlink` work with join value lanes"
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
        *self.lifecycle.borrow_mut() = Some(Box::new(boxed));
    }
}

/// A join value lane is read like a map lane, and takes `on_update`/`on_remove`/`on_clear`.
impl<K, V> MapLikeItem for JoinValueLane<K, V>
where
    K: Eq + Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
{
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
}

/// The lifecycle of a join value lane's links: what runs when a link is made, synced, closed
/// or failed. Build one with [`JoinValueContext::builder`].
#[diagnostic::on_unimplemented(
    message = "a `#[join_value_lifecycle]` for a `JoinValueLane<{K}, {V}>` returns the lifecycle of its links, but this one returns `{Self}`",
    label = "expected `impl JoinValueLaneLifecycle<{K}, {V}, {A}>` from the `#[join_value_lifecycle]` of this lane",
    note = "take `context: JoinValueContext<{A}, {K}, {V}>` and return `context.builder().on_linked(..).done()`"
)]
pub trait JoinValueLaneLifecycle<K, V, A>: Send + 'static {
    /// The handler for the link of `key` to `remote` being made.
    fn on_linked(&mut self, key: &K, remote: &LinkAddress) -> Option<BoxEventHandler<'static, A>>;

    /// The handler for the link of `key` having received the remote lane's value.
    fn on_synced(
        &mut self,
        key: &K,
        remote: &LinkAddress,
        value: Option<&V>,
    ) -> Option<BoxEventHandler<'static, A>>;

    /// The handler for the link of `key` being closed: it says what becomes of the link.
    fn on_unlinked(
        &mut self,
        key: &K,
        remote: &LinkAddress,
    ) -> Option<BoxHandlerAction<'static, A, LinkClosedResponse>>;

    /// The handler for the link of `key` having failed: it says what becomes of the link.
    fn on_failed(
        &mut self,
        key: &K,
        remote: &LinkAddress,
    ) -> Option<BoxHandlerAction<'static, A, LinkClosedResponse>>;
}

/// What a `#[join_value_lifecycle(lane)]` method receives: builds the lifecycle of the lane's
/// links.
///
/// ```
/// use tidal_runtime::agent_lifecycle::{
///     JoinValueContext, JoinValueLaneLifecycle, LinkClosedResponse,
/// };
/// use tidal_runtime::event_handler::HandlerActionExt;
///
/// struct Building;
///
/// fn rooms(context: JoinValueContext<Building, String, f64>) -> impl JoinValueLaneLifecycle<String, f64, Building> {
///     context
///         .builder()
///         .on_linked(|context, room, remote| {
///             let remote = remote.to_string();
///             context.effect(move || println!("{room} linked to {remote}"))
///         })
///         .on_failed(|context, _, _| context.value(LinkClosedResponse::Delete))
///         .done()
/// }
/// ```
pub struct JoinValueContext<A, K, V> {
    _types: std::marker::PhantomData<fn(&A, K, V)>,
}

impl<A, K, V> Default for JoinValueContext<A, K, V> {
    fn default() -> Self {
        JoinValueContext {
            _types: std::marker::PhantomData,
        }
    }
}

impl<A, K, V> super::dispatch::ContextOf<A> for JoinValueContext<A, K, V> {
    fn fresh() -> Self {
        JoinValueContext::default()
    }
}

impl<A: 'static, K: 'static, V: 'static> JoinValueContext<A, K, V> {
    /// A lifecycle with no handlers: links closed or failed are abandoned (their entries stay).
    pub fn builder(&self) -> JoinValueLifecycle<A, K, V> {
        JoinValueLifecycle::default()
    }
}

/// A handler of a join lane's link events (`on_linked`, `on_unlinked`, `on_failed`), erased:
/// it builds the handler that runs, of type `H`.
type LinkHandler<A, K, H> = Box<dyn FnMut(HandlerContext<A>, K, &LinkAddress) -> H + Send>;

/// The `on_synced` handler of a join value lane's links, erased.
type SyncedHandler<A, K, V> = Box<
    dyn FnMut(HandlerContext<A>, K, &LinkAddress, Option<&V>) -> BoxEventHandler<'static, A> + Send,
>;

/// The lifecycle of a join value lane's links, built handler by handler (see
/// [`JoinValueContext`]).
pub struct JoinValueLifecycle<A, K, V> {
    on_linked: Option<LinkHandler<A, K, BoxEventHandler<'static, A>>>,
    on_synced: Option<SyncedHandler<A, K, V>>,
    on_unlinked: Option<LinkHandler<A, K, BoxHandlerAction<'static, A, LinkClosedResponse>>>,
    on_failed: Option<LinkHandler<A, K, BoxHandlerAction<'static, A, LinkClosedResponse>>>,
}

impl<A, K, V> Default for JoinValueLifecycle<A, K, V> {
    fn default() -> Self {
        JoinValueLifecycle {
            on_linked: None,
            on_synced: None,
            on_unlinked: None,
            on_failed: None,
        }
    }
}

impl<A: 'static, K: 'static, V: 'static> JoinValueLifecycle<A, K, V> {
    /// Runs when the link of a key is made: `f(context, key, remote)`.
    pub fn on_linked<F, H>(mut self, mut f: F) -> Self
    where
        F: FnMut(HandlerContext<A>, K, &LinkAddress) -> H + Send + 'static,
        H: EventHandler<A> + Send + 'static,
    {
        self.on_linked = Some(Box::new(move |context, key, remote| {
            Box::new(f(context, key, remote))
        }));
        self
    }

    /// Runs when the link of a key has the remote lane's value: `f(context, key, remote,
    /// value)`.
    pub fn on_synced<F, H>(mut self, mut f: F) -> Self
    where
        F: FnMut(HandlerContext<A>, K, &LinkAddress, Option<&V>) -> H + Send + 'static,
        H: EventHandler<A> + Send + 'static,
    {
        self.on_synced = Some(Box::new(move |context, key, remote, value| {
            Box::new(f(context, key, remote, value))
        }));
        self
    }

    /// Runs when the link of a key is closed (also when its node or lane does not exist), and
    /// says what becomes of the link: `f(context, key, remote)`.
    pub fn on_unlinked<F, H>(mut self, mut f: F) -> Self
    where
        F: FnMut(HandlerContext<A>, K, &LinkAddress) -> H + Send + 'static,
        H: HandlerAction<A, Completion = LinkClosedResponse> + Send + 'static,
    {
        self.on_unlinked = Some(Box::new(move |context, key, remote| {
            f(context, key, remote).boxed()
        }));
        self
    }

    /// Runs when the link of a key fails (its lane's values do not fit, or it is not a value
    /// lane), and says what becomes of the link: `f(context, key, remote)`.
    pub fn on_failed<F, H>(mut self, mut f: F) -> Self
    where
        F: FnMut(HandlerContext<A>, K, &LinkAddress) -> H + Send + 'static,
        H: HandlerAction<A, Completion = LinkClosedResponse> + Send + 'static,
    {
        self.on_failed = Some(Box::new(move |context, key, remote| {
            f(context, key, remote).boxed()
        }));
        self
    }

    /// The lifecycle, as built.
    pub fn done(self) -> Self {
        self
    }
}

impl<A, K, V> JoinValueLaneLifecycle<K, V, A> for JoinValueLifecycle<A, K, V>
where
    A: 'static,
    K: Clone + Send + 'static,
    V: 'static,
{
    fn on_linked(&mut self, key: &K, remote: &LinkAddress) -> Option<BoxEventHandler<'static, A>> {
        let f = self.on_linked.as_mut()?;
        Some(f(HandlerContext::default(), key.clone(), remote))
    }

    fn on_synced(
        &mut self,
        key: &K,
        remote: &LinkAddress,
        value: Option<&V>,
    ) -> Option<BoxEventHandler<'static, A>> {
        let f = self.on_synced.as_mut()?;
        Some(f(HandlerContext::default(), key.clone(), remote, value))
    }

    fn on_unlinked(
        &mut self,
        key: &K,
        remote: &LinkAddress,
    ) -> Option<BoxHandlerAction<'static, A, LinkClosedResponse>> {
        let f = self.on_unlinked.as_mut()?;
        Some(f(HandlerContext::default(), key.clone(), remote))
    }

    fn on_failed(
        &mut self,
        key: &K,
        remote: &LinkAddress,
    ) -> Option<BoxHandlerAction<'static, A, LinkClosedResponse>> {
        let f = self.on_failed.as_mut()?;
        Some(f(HandlerContext::default(), key.clone(), remote))
    }
}

/// The handlers of one link's downlink: they feed the lane and run its lifecycle.
struct JoinLink<A, K, V> {
    lane: fn(&A) -> &JoinValueLane<K, V>,
    key: K,
    address: LinkAddress,
    id: u64,
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
    /// The link is closed.
    Unlinked,
    /// The link failed.
    Failed,
}

/// A handler that does what the link of `key` does on `event`, as if its downlink had
/// reported it; nothing if `key` has no link. For tests without a network (see
/// `AgentHarness::join_value_event`).
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
    let link = OnceHandler::new(move |_: &mut ActionContext<A>, _, agent: &A| {
        let item = lane(agent);
        let id = item.open.borrow().get(&key).map(|link| link.id);
        let address = item.cell.read(|links| links.get(&key).cloned());
        StepResult::done(id.zip(address).map(|(id, address)| (key, id, address)))
    });
    link.and_then(move |link: Option<(K, u64, LinkAddress)>| {
        link.map(|(key, id, address)| LinkStep {
            lane,
            key,
            address,
            id,
            event: Some(event),
            then: Then::Start,
        })
    })
    .discard()
}

impl<A, K, V> JoinLink<A, K, V>
where
    A: 'static,
    K: Eq + Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    fn run(&self, runner: &mut dyn DynRunner<A>, event: JoinLinkEvent<V>) -> Outcome {
        runner.run_dyn(&mut LinkStep {
            lane: self.lane,
            key: self.key.clone(),
            address: self.address.clone(),
            id: self.id,
            event: Some(event),
            then: Then::Start,
        })
    }
}

impl<A, K, V> ValueDownlinkHandlers<A, V> for JoinLink<A, K, V>
where
    A: 'static,
    K: Eq + Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    fn on_linked(&mut self, runner: &mut dyn DynRunner<A>) -> Outcome {
        self.run(runner, JoinLinkEvent::Linked)
    }

    fn on_synced(&mut self, runner: &mut dyn DynRunner<A>, _: &V) -> Outcome {
        self.run(runner, JoinLinkEvent::Synced)
    }

    fn on_event(&mut self, runner: &mut dyn DynRunner<A>, value: &V) -> Outcome {
        self.run(runner, JoinLinkEvent::Value(value.clone()))
    }

    fn on_set(&mut self, _: &mut dyn DynRunner<A>, _: Option<V>, _: &V) -> Outcome {
        Ok(())
    }

    fn on_unlinked(&mut self, runner: &mut dyn DynRunner<A>) -> Outcome {
        self.run(runner, JoinLinkEvent::Unlinked)
    }

    fn on_failed(&mut self, runner: &mut dyn DynRunner<A>) -> Outcome {
        self.run(runner, JoinLinkEvent::Failed)
    }
}

/// Where a link event's handling is.
enum Then<A> {
    Start,
    /// Running the lifecycle's handler.
    Run(BoxEventHandler<'static, A>),
    /// Running the lifecycle's handler for a closed link, which says what to do.
    Respond(BoxHandlerAction<'static, A, LinkClosedResponse>),
    /// Doing what it said.
    Apply(LinkClosedResponse),
}

/// The handling of one link event, run in the agent.
struct LinkStep<A, K, V> {
    lane: fn(&A) -> &JoinValueLane<K, V>,
    key: K,
    address: LinkAddress,
    id: u64,
    event: Option<JoinLinkEvent<V>>,
    then: Then<A>,
}

impl<A, K, V> HandlerAction<A> for LinkStep<A, K, V>
where
    A: 'static,
    K: Eq + Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    type Completion = ();

    fn step(
        &mut self,
        context: &mut ActionContext<A>,
        meta: AgentMetadata,
        agent: &A,
    ) -> StepResult<()> {
        let lane = (self.lane)(agent);
        match &mut self.then {
            Then::Start => {
                // Events of a link that was removed or replaced since are ignored.
                let (Some(event), true) = (self.event.take(), lane.is_current(&self.key, self.id))
                else {
                    return StepResult::done(());
                };
                let (key, remote) = (&self.key, &self.address);
                self.then = match event {
                    JoinLinkEvent::Value(value) => {
                        lane.update(self.key.clone(), value);
                        return StepResult::modified(Modification::of(lane.id()), ());
                    }
                    JoinLinkEvent::Linked => {
                        match lane.with_lifecycle(|l| l.on_linked(key, remote)).flatten() {
                            Some(handler) => Then::Run(handler),
                            None => return StepResult::done(()),
                        }
                    }
                    JoinLinkEvent::Synced => {
                        let value = lane.get(key);
                        match lane
                            .with_lifecycle(|l| l.on_synced(key, remote, value.as_ref()))
                            .flatten()
                        {
                            Some(handler) => Then::Run(handler),
                            None => return StepResult::done(()),
                        }
                    }
                    event @ (JoinLinkEvent::Unlinked | JoinLinkEvent::Failed) => {
                        let failed = matches!(event, JoinLinkEvent::Failed);
                        let handler = lane
                            .with_lifecycle(|l: &mut dyn JoinValueLaneLifecycle<K, V, A>| {
                                if failed {
                                    l.on_failed(key, remote)
                                } else {
                                    l.on_unlinked(key, remote)
                                }
                            })
                            .flatten();
                        match handler {
                            Some(handler) => Then::Respond(handler),
                            None => Then::Apply(LinkClosedResponse::default()),
                        }
                    }
                };
                StepResult::cont()
            }
            Then::Run(handler) => handler.step(context, meta, agent),
            Then::Respond(handler) => match handler.step(context, meta, agent) {
                StepResult::Continue { modified } => StepResult::Continue { modified },
                StepResult::Fail(error) => StepResult::Fail(error),
                StepResult::Complete { modified, result } => {
                    self.then = Then::Apply(result);
                    StepResult::Continue { modified }
                }
            },
            Then::Apply(response) => {
                let modified = match response {
                    LinkClosedResponse::Retry => None,
                    LinkClosedResponse::Abandon => {
                        lane.drop_link(&self.key);
                        Some(Modification::no_trigger(lane.id()))
                    }
                    LinkClosedResponse::Delete => {
                        lane.drop_link(&self.key);
                        Some(if lane.remove(&self.key) {
                            Modification::of(lane.id())
                        } else {
                            Modification::no_trigger(lane.id())
                        })
                    }
                };
                StepResult::Complete {
                    modified,
                    result: (),
                }
            }
        }
    }
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
        let address = LinkAddress {
            host: host.map(str::to_owned),
            node: node.to_owned(),
            lane: lane_uri.to_owned(),
        };
        OnceHandler::new(move |context: &mut ActionContext<A>, _, agent: &A| {
            let item = lane(agent);
            if item.open.borrow().contains_key(&key) {
                return StepResult::done(());
            }
            item.cell.update(key.clone(), address.clone());
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
            item.drop_link(&key);
            let modification = if item.remove(&key) {
                Modification::of(item.id())
            } else {
                Modification::no_trigger(item.id())
            };
            StepResult::modified(modification, ())
        })
    }
}
