//! A kit to run agents deterministically in tests, without a server.
//!
//! [`AgentHarness`] owns one agent instance and drives it on the test's own task, through the
//! same code the agent task uses: commands, handlers, lane triggers, the error policy and the
//! flushing of events to subscribers. Nothing runs unless the test asks, so each assertion sees
//! a settled agent. Time is tokio's: run the test with a paused clock
//! (`#[tokio::test(start_paused = true)]`) and [`AgentHarness::advance`] moves it.
//!
//! ```
//! use std::time::Duration;
//! use tidal_runtime::agent_lifecycle::{AgentLifecycle, HandlerContext, HandlerRunner};
//! use tidal_runtime::agent_model::AgentLaneModel;
//! use tidal_runtime::event_handler::{EventHandlerError, HandlerActionExt};
//! use tidal_runtime::lanes::{AgentItem, Item, ItemKind, ItemSpec, ValueLane};
//! use tidal_runtime::testing::AgentHarness;
//!
//! // What `#[derive(AgentLaneModel)]` and `#[lifecycle]` write for you:
//! struct Clock {
//!     ticks: ValueLane<u32>,
//! }
//! impl AgentLaneModel for Clock {
//!     const ITEMS: &'static [ItemSpec] = &[ItemSpec {
//!         id: 0, name: "ticks", field: "ticks", kind: ItemKind::ValueLane, transient: false,
//!         reset_on_decode_error: false,
//!     }];
//!     fn item(&self, id: u64) -> Option<&dyn AgentItem> {
//!         (id == 0).then_some(&self.ticks as &dyn AgentItem)
//!     }
//!     fn item_id(name: &str) -> Option<u64> {
//!         (name == "ticks").then_some(0)
//!     }
//! }
//! struct Ticker;
//! impl AgentLifecycle<Clock> for Ticker {
//!     fn run_start<R: HandlerRunner<Clock>>(&self, runner: &mut R) -> Result<(), EventHandlerError> {
//!         let context = HandlerContext::<Clock>::default();
//!         let ticks: fn(&Clock) -> &ValueLane<u32> = |clock| &clock.ticks;
//!         runner.run(context.schedule_repeatedly(Duration::from_secs(1), move || {
//!             Some(context.transform_value(ticks, |n| n + 1))
//!         }))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let mut harness = AgentHarness::new(Clock { ticks: ValueLane::create(0, 0) }, Ticker);
//! let ticks = harness.record(|clock: &Clock| &clock.ticks);
//! harness.start().unwrap();
//! harness.advance(Duration::from_millis(3500)).await;
//! assert_eq!(harness.value(|clock: &Clock| &clock.ticks), 3);
//! assert_eq!(ticks.take(), vec![1, 2, 3]);
//! # }
//! ```

mod recording;

pub use recording::{Recordable, Recording};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::agent_lifecycle::{
    join_link_event, join_map_link_event, AgentLifecycle, HandlerContext, JoinLinkEvent,
    JoinMapLane, JoinMapLinkEvent, JoinValueLane,
};
use crate::agent_model::{AgentCore, AgentLaneModel, HandlerFailure, Hosting};
use crate::client::{RawEvent, RawSink};
use crate::config::AgentConfig;
use crate::environment::Request;
use crate::event_handler::EventHandler;
use crate::lanes::{
    AgentItem, BodyFormat, CommandPayload, CommandTarget, HeaderMap, HttpExchange,
    HttpRequestContext, HttpResponse, MapLikeItem, Method, StatusCode, Uri, ValueLikeItem,
};
use crate::store::io::StoreIo;
use crate::store::Store;
use crate::vocabulary::Identity;

/// Runs one agent instance under the test's control (see the [module docs](self)).
///
/// # Examples
///
/// ```
/// use tidal_runtime::agent_lifecycle::AgentLifecycle;
/// use tidal_runtime::agent_model::AgentLaneModel;
/// use tidal_runtime::lanes::{AgentItem, ItemSpec};
/// use tidal_runtime::testing::AgentHarness;
/// # #[derive(Default)] struct Empty;
/// # impl AgentLaneModel for Empty {
/// #     const ITEMS: &'static [ItemSpec] = &[];
/// #     fn item(&self, _: u64) -> Option<&dyn AgentItem> { None }
/// #     fn item_id(_: &str) -> Option<u64> { None }
/// # }
/// struct Quiet;
/// impl AgentLifecycle<Empty> for Quiet {}
///
/// let mut harness = AgentHarness::new(Empty, Quiet);
/// harness.start().unwrap();
/// harness.stop().unwrap();
/// ```
pub struct AgentHarness<A, L> {
    core: AgentCore<A, L>,
    ready: tokio::sync::mpsc::UnboundedReceiver<u64>,
    failures: Vec<HandlerFailure>,
    stopped: bool,
}

/// Configures an [`AgentHarness`] before it is created.
#[must_use = "a harness builder does nothing until `build()`"]
pub struct HarnessBuilder<A, L> {
    agent: A,
    lifecycle: L,
    uri: String,
    parameters: HashMap<String, String>,
    config: AgentConfig,
    store: Option<Arc<dyn Store>>,
}

impl<A, L> HarnessBuilder<A, L>
where
    A: AgentLaneModel,
    L: AgentLifecycle<A>,
{
    /// The node URI the agent sees (default `/agent`).
    pub fn uri(mut self, uri: impl Into<String>) -> Self {
        self.uri = uri.into();
        self
    }

    /// A route parameter the agent sees (as if routed by a pattern such as `/rooms/:id`).
    pub fn parameter(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.parameters.insert(name.into(), value.into());
        self
    }

    /// The agent's configuration.
    pub fn config(mut self, config: AgentConfig) -> Self {
        self.config = config;
        self
    }

    /// Keeps the agent's state in `store`: [`AgentHarness::start`] restores it (as a server
    /// does), and each event saves its changes. Share one store between harnesses (an
    /// [`InMemoryStore`](crate::store::InMemoryStore), say) to test what a restart restores.
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Creates the harness (the agent is not started yet: see [`AgentHarness::start`]).
    pub fn build(self) -> AgentHarness<A, L> {
        let (ready_tx, ready) = tokio::sync::mpsc::unbounded_channel();
        AgentHarness {
            core: AgentCore::new(
                self.agent,
                self.lifecycle,
                self.uri,
                self.parameters,
                self.config,
                Hosting {
                    environment: None,
                    store: self.store.map(StoreIo::inline),
                    meta: None,
                    after: None,
                },
                ready_tx,
            ),
            ready,
            failures: Vec::new(),
            stopped: false,
        }
    }
}

impl<A, L> AgentHarness<A, L>
where
    A: AgentLaneModel,
    L: AgentLifecycle<A>,
{
    /// A harness for `agent` with `lifecycle`, node URI `/agent` and the default config.
    pub fn new(agent: A, lifecycle: L) -> Self {
        Self::builder(agent, lifecycle).build()
    }

    /// A builder to set the node URI, route parameters and config first.
    pub fn builder(agent: A, lifecycle: L) -> HarnessBuilder<A, L> {
        HarnessBuilder {
            agent,
            lifecycle,
            uri: "/agent".to_owned(),
            parameters: HashMap::new(),
            config: AgentConfig::default(),
            store: None,
        }
    }

    /// Records every event `lane` publishes to its subscribers from now on.
    ///
    /// Call it before [`start`](Self::start) to see what `on_start` publishes.
    pub fn record<I: Recordable>(&self, lane: fn(&A) -> &I) -> Recording<I::Event> {
        let recording = Recording::default();
        lane(self.core.agent()).record_into(recording.clone());
        recording
    }

    /// Links to `lane` as a remote subscriber that asks for a sync, and returns what it
    /// receives up to `synced`: a value or map lane's state, what a demand lane's `on_cue`
    /// (or a demand-map lane's `keys` and `on_cue_key`) computes for it, nothing for a
    /// supply or command lane. The link is closed afterwards.
    ///
    /// # Errors
    /// A [`HandlerFailure`] if a handler that computes the sync fails.
    ///
    /// # Panics
    /// If the lane sends something that is not one of its events, or unlinks the subscriber.
    pub fn sync<I>(&mut self, lane: fn(&A) -> &I) -> Result<Vec<I::Event>, HandlerFailure>
    where
        I: Recordable + AgentItem,
    {
        let id = lane(self.core.agent()).id();
        let name = A::item_spec(id).map_or("", |spec| spec.name).to_owned();
        let (subscriber, mut events) = RawSink::subscriber(true);
        let link = subscriber.id();
        let result = self.core.request(Request::Link {
            lane: name.clone(),
            subscriber,
        });
        self.settle();
        result?;
        let mut synced = Vec::new();
        while let Ok(event) = events.try_recv() {
            match event {
                RawEvent::Linked | RawEvent::Kind(_) => {}
                RawEvent::Event(value) => synced.push(
                    I::decode(&value)
                        .unwrap_or_else(|err| panic!("lane `{name}` synced `{value}`: {err}")),
                ),
                RawEvent::Synced => break,
                RawEvent::Unlinked(reason) => panic!("lane `{name}` unlinked the sync: {reason}"),
            }
        }
        let _ = self.core.request(Request::Unlink { lane: name, link });
        Ok(synced)
    }

    /// Does what the link of `key` of the join value lane `lane` does on `event`, as if its
    /// downlink had reported it (the harness has no network: its downlinks never link): the
    /// entry takes a value, or the link's lifecycle runs. Nothing happens if `key` has no link.
    ///
    /// # Errors
    /// A [`HandlerFailure`] if a handler this runs fails.
    pub fn join_value_event<K, V>(
        &mut self,
        lane: fn(&A) -> &JoinValueLane<K, V>,
        key: K,
        event: JoinLinkEvent<V>,
    ) -> Result<(), HandlerFailure>
    where
        K: Eq + std::hash::Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static,
        V: Clone + Serialize + DeserializeOwned + Send + 'static,
    {
        self.run(join_link_event(lane, key, event))
    }

    /// Does what the link `link` of the join map lane `lane` does on `event`, as if its
    /// downlink had reported it (see [`join_value_event`](Self::join_value_event)).
    ///
    /// # Errors
    /// A [`HandlerFailure`] if a handler this runs fails.
    pub fn join_map_event<J, K, V>(
        &mut self,
        lane: fn(&A) -> &JoinMapLane<J, K, V>,
        link: J,
        event: JoinMapLinkEvent<K, V>,
    ) -> Result<(), HandlerFailure>
    where
        J: Eq + std::hash::Hash + Clone + Serialize + DeserializeOwned + Send + 'static,
        K: Eq + std::hash::Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static,
        V: Clone + Serialize + DeserializeOwned + Send + 'static,
    {
        self.run(join_map_link_event(lane, link, event))
    }

    /// Sends an HTTP request to the HTTP lane `lane`, as the server would (`uri` is its path
    /// and query; `body` is Recon, the default format), and returns its answer (Recon too):
    /// `agent.http(Shop::STOCK, Method::POST, "/shop/1?lane=stock", "5")?.status()`.
    ///
    /// # Errors
    /// A [`HandlerFailure`] if the lane's handler fails (a server answers `500`).
    ///
    /// # Panics
    /// If `uri` is not a valid URI.
    pub fn http<I: AgentItem>(
        &mut self,
        lane: fn(&A) -> &I,
        method: Method,
        uri: &str,
        body: &str,
    ) -> Result<HttpResponse, HandlerFailure> {
        let id = lane(self.core.agent()).id();
        let name = A::item_spec(id).map_or("", |spec| spec.name).to_owned();
        let uri: Uri = uri.parse().expect("a valid URI");
        let context = HttpRequestContext::new(method, uri, HeaderMap::new());
        let (exchange, mut answer) = HttpExchange::new(
            context,
            body.as_bytes().to_vec(),
            BodyFormat::Recon,
            BodyFormat::Recon,
        );
        let result = self.core.request(Request::Http {
            lane: name,
            exchange: Box::new(exchange),
        });
        self.settle();
        result?;
        Ok(answer.try_recv().unwrap_or_else(|_| {
            HttpResponse::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the handler did not answer",
            )
        }))
    }

    /// Runs `on_init`, then `on_start`.
    ///
    /// # Errors
    /// A [`HandlerFailure`] naming the lane, if `on_init`, `on_start` or a handler they
    /// trigger fails.
    pub fn start(&mut self) -> Result<(), HandlerFailure> {
        let loaded = self
            .core
            .store()
            .map(|store| store.load_now(self.core.uri()));
        let result = self.core.start(loaded);
        self.settle();
        result
    }

    /// Sends a command to `lane`, as a client or another agent would.
    ///
    /// # Errors
    /// A [`HandlerFailure`] if the command does not fit the lane, or a handler it triggers
    /// fails.
    pub fn command<I>(
        &mut self,
        lane: fn(&A) -> &I,
        command: I::Command,
    ) -> Result<(), HandlerFailure>
    where
        I: CommandTarget,
    {
        let id = lane(self.core.agent()).id();
        let result = self.core.command(id, CommandPayload::typed(command));
        self.settle();
        result
    }

    /// Sends a command to `lane` from `sender`, as a client identified by a server's policy
    /// would (`HandlerContext::sender` completes with it).
    ///
    /// # Errors
    /// As [`command`](Self::command).
    pub fn command_from<I>(
        &mut self,
        lane: fn(&A) -> &I,
        command: I::Command,
        sender: Identity,
    ) -> Result<(), HandlerFailure>
    where
        I: CommandTarget,
    {
        let id = lane(self.core.agent()).id();
        let result = self
            .core
            .command_from(id, CommandPayload::typed(command), Some(sender));
        self.settle();
        result
    }

    /// Runs `handler` as one event (with every lane handler it triggers).
    ///
    /// # Errors
    /// A [`HandlerFailure`] if `handler`, or a handler it triggers, fails.
    pub fn run<H: EventHandler<A>>(&mut self, handler: H) -> Result<(), HandlerFailure> {
        let result = self.core.run(handler);
        self.settle();
        result
    }

    /// Runs the handler that `f` builds from a [`HandlerContext`], as one event.
    ///
    /// `harness.run_with(|context| context.set_value(Agent::LANE, 5))`
    ///
    /// # Errors
    /// As [`run`](Self::run).
    pub fn run_with<F, H>(&mut self, f: F) -> Result<(), HandlerFailure>
    where
        F: FnOnce(HandlerContext<A>) -> H,
        H: EventHandler<A>,
    {
        self.run(f(HandlerContext::default()))
    }

    /// Sets a value lane or store (its handlers run, as for any set).
    ///
    /// # Errors
    /// A [`HandlerFailure`] if a handler the change triggers fails.
    pub fn set_value<I>(
        &mut self,
        lane: fn(&A) -> &I,
        value: I::Value,
    ) -> Result<(), HandlerFailure>
    where
        I: ValueLikeItem,
    {
        self.run(HandlerContext::default().set_value(lane, value))
    }

    /// The lifecycle (to read state it keeps, such as counters in a test).
    pub fn lifecycle(&self) -> &L {
        self.core.lifecycle()
    }

    /// The agent (to read any lane directly).
    pub fn agent(&self) -> &A {
        self.core.agent()
    }

    /// A copy of the value of a value lane or store.
    pub fn value<I>(&self, lane: fn(&A) -> &I) -> I::Value
    where
        I: ValueLikeItem,
        I::Value: Clone,
    {
        lane(self.core.agent()).read(Clone::clone)
    }

    /// A copy of the map of a map lane or store.
    pub fn map<I>(&self, lane: fn(&A) -> &I) -> I::Map
    where
        I: MapLikeItem,
        I::Map: Clone,
    {
        lane(self.core.agent()).read_map(Clone::clone)
    }

    /// How many suspended futures and timers are pending.
    pub fn pending(&mut self) -> usize {
        self.core.effects().pending()
    }

    /// Runs the handlers of every future, timer and downlink that is ready now (and of those
    /// they make ready in turn). Returns how many ran.
    ///
    /// The harness has no server around it: downlinks it opens are told that their node does
    /// not exist (`on_unlinked` runs).
    pub fn run_ready(&mut self) -> usize {
        let mut count = 0;
        while !self.stopped {
            if let Ok(id) = self.ready.try_recv() {
                count += 1;
                let result = self.core.downlink_ready(id);
                self.record_failure(result);
                continue;
            }
            match self.core.effects().suspended().next().now_or_never() {
                Some(Some(wakeup)) => {
                    count += 1;
                    let result = self.core.wakeup(wakeup);
                    self.record_failure(result);
                }
                _ => break,
            }
        }
        count
    }

    /// Waits for the next future or timer to complete and runs its handler. Returns `false` at
    /// once if nothing is pending. With a paused clock, waiting for a timer advances the clock
    /// to it.
    pub async fn next_wakeup(&mut self) -> bool {
        if self.stopped {
            return false;
        }
        match self.core.effects().suspended().next().await {
            Some(wakeup) => {
                let result = self.core.wakeup(wakeup);
                self.record_failure(result);
                true
            }
            None => false,
        }
    }

    /// Moves the (paused) clock forward by `by`, running every timer and future that completes
    /// on the way, in time order. Returns how many ran.
    pub async fn advance(&mut self, by: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + by;
        let mut count = self.run_ready();
        let sleep = tokio::time::sleep_until(deadline);
        tokio::pin!(sleep);
        while !self.stopped {
            let has_pending = self.core.effects().pending() > 0;
            tokio::select! {
                biased;
                Some(wakeup) = self.core.effects().suspended().next(), if has_pending => {
                    count += 1;
                    let result = self.core.wakeup(wakeup);
                    self.record_failure(result);
                }
                _ = &mut sleep => break,
            }
        }
        count + self.run_ready()
    }

    /// Runs `on_stop` (if the agent has not stopped already).
    ///
    /// # Errors
    /// A [`HandlerFailure`] if `on_stop` fails.
    pub fn stop(&mut self) -> Result<(), HandlerFailure> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        self.core.stop()
    }

    /// Whether the agent has stopped (by [`stop`](Self::stop), a handler's `stop()`, or a failure
    /// under the `Stop` error policy).
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// The failures of handlers run by [`run_ready`](Self::run_ready),
    /// [`next_wakeup`](Self::next_wakeup) and [`advance`](Self::advance) so far, and forgets them.
    pub fn take_failures(&mut self) -> Vec<HandlerFailure> {
        std::mem::take(&mut self.failures)
    }

    fn record_failure(&mut self, result: Result<(), HandlerFailure>) {
        if let Err(failure) = result {
            self.failures.push(failure);
        }
        self.settle();
    }

    /// Runs `on_stop` once the agent has been told to stop, as the agent task does.
    fn settle(&mut self) {
        if self.core.is_stopping() && !self.stopped {
            self.stopped = true;
            if let Err(failure) = self.core.stop() {
                self.failures.push(failure);
            }
        }
    }
}
