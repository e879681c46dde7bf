//! The agent model: an agent's item table, and the task that runs an agent instance.
//!
//! `#[derive(AgentLaneModel)]` implements [`AgentLaneModel`] for a struct of lanes and stores: a
//! table of its items ([`ItemSpec`]) and access to each item by id.
//! [`AgentModel`] pairs an agent factory with a lifecycle (or a lifecycle factory); a server
//! creates one instance per node URI from it.
//!
//! Each instance runs as **one task** that owns the agent and its lifecycle. Commands, timers and
//! completed futures reach it one at a time; each becomes a handler that runs to completion,
//! with the lane handlers it triggers run depth-first, before the next. After each such event the
//! lanes that changed publish to their subscribers.

mod effects;
mod instance;
mod meta;
mod persistence;
mod runner;
mod task;

pub use self::instance::HandlerFailure;
pub(crate) use self::instance::{AgentCore, Finished, Hosting};
pub use task::{AgentRef, SendError};

/// Downlinks hosted by an agent (re-exported here for the paths SwimOS users know:
/// `agent_model::downlink::hosted::ValueDownlinkHandle`).
pub use crate::downlink;

use std::sync::{Arc, Mutex};

use crate::agent_lifecycle::AgentLifecycle;
use crate::config::AgentConfig;
use crate::environment;
use crate::event_handler::BoxEventHandler;
use crate::lanes::{AgentItem, ItemSpec};
use crate::lock::lock;

/// A struct of lanes and stores that an agent is made of. Derive it with
/// `#[derive(AgentLaneModel)]`.
pub trait AgentLaneModel: Send + 'static {
    /// The items, in declaration order; an item's id is its index.
    const ITEMS: &'static [ItemSpec];

    /// The item with the given id.
    fn item(&self, id: u64) -> Option<&dyn AgentItem>;

    /// The id of the item with the given external name (as used on the wire).
    fn item_id(name: &str) -> Option<u64>;

    /// Adds the handlers the items run when the agent starts, after its state is restored and
    /// before `on_init` (see [`Item::on_start`](crate::lanes::Item::on_start)).
    fn item_starts(handlers: &mut Vec<BoxEventHandler<'static, Self>>)
    where
        Self: Sized,
    {
        let _ = handlers;
    }

    /// The description of the item with the given id.
    fn item_spec(id: u64) -> Option<&'static ItemSpec> {
        usize::try_from(id)
            .ok()
            .and_then(|index| Self::ITEMS.get(index))
    }

    /// The id of the lane (not store) with the given external name: what commands and links
    /// may address.
    fn lane_id(name: &str) -> Option<u64> {
        Self::item_id(name)
            .filter(|id| Self::item_spec(*id).is_some_and(|spec| spec.kind.is_lane()))
    }
}

type Factory<T> = Arc<dyn Fn() -> T + Send + Sync>;

/// How to create instances of an agent: its lanes and its lifecycle.
///
/// # Examples
///
/// ```
/// # use tidal_runtime::agent_model::{AgentLaneModel, AgentModel};
/// # use tidal_runtime::agent_lifecycle::AgentLifecycle;
/// # use tidal_runtime::lanes::{AgentItem, ItemSpec};
/// # #[derive(Default)] struct MyAgent;
/// # impl AgentLaneModel for MyAgent {
/// #     const ITEMS: &'static [ItemSpec] = &[];
/// #     fn item(&self, _: u64) -> Option<&dyn AgentItem> { None }
/// #     fn item_id(_: &str) -> Option<u64> { None }
/// # }
/// # #[derive(Clone)] struct MyLifecycle;
/// # impl AgentLifecycle<MyAgent> for MyLifecycle {}
/// // The lifecycle is cloned for each instance:
/// let model = AgentModel::new(MyAgent::default, MyLifecycle);
/// // Or built afresh for each instance (no `Clone` needed):
/// let model = AgentModel::from_fn(MyAgent::default, || MyLifecycle);
/// ```
pub struct AgentModel<A, L> {
    agent_factory: Factory<A>,
    lifecycle_factory: Factory<L>,
}

impl<A, L> Clone for AgentModel<A, L> {
    fn clone(&self) -> Self {
        AgentModel {
            agent_factory: self.agent_factory.clone(),
            lifecycle_factory: self.lifecycle_factory.clone(),
        }
    }
}

impl<A, L> AgentModel<A, L>
where
    A: AgentLaneModel,
    L: AgentLifecycle<A>,
{
    /// A model whose instances each get a clone of `lifecycle`.
    ///
    /// The lifecycle needs `Clone + Send`, not `Sync`: a lifecycle holding
    /// [`State`](crate::state::State) works.
    pub fn new<F>(agent_factory: F, lifecycle: L) -> Self
    where
        F: Fn() -> A + Send + Sync + 'static,
        L: Clone,
    {
        let template = Mutex::new(lifecycle);
        Self::from_fn(agent_factory, move || lock(&template).clone())
    }

    /// A model whose instances each get a lifecycle from `lifecycle_factory`.
    pub fn from_fn<F, G>(agent_factory: F, lifecycle_factory: G) -> Self
    where
        F: Fn() -> A + Send + Sync + 'static,
        G: Fn() -> L + Send + Sync + 'static,
    {
        AgentModel {
            agent_factory: Arc::new(agent_factory),
            lifecycle_factory: Arc::new(lifecycle_factory),
        }
    }

    /// Starts an instance for the node `uri` as a task on the current tokio runtime.
    ///
    /// `parameters` are the route parameters (`id` for `/example/:id`). The returned
    /// [`AgentRef`] sends commands to the instance; the task ends when the agent stops.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn spawn(
        &self,
        uri: impl Into<String>,
        parameters: std::collections::HashMap<String, String>,
        config: AgentConfig,
    ) -> (AgentRef<A>, tokio::task::JoinHandle<()>) {
        let (mailbox, uri, handle) = self.start(uri.into(), parameters, config, Hosting::default());
        (AgentRef::new(uri, mailbox), handle)
    }

    /// Starts an instance in an environment (a server's registry), keeping its state in
    /// `store` if there is one.
    pub(crate) fn start(
        &self,
        uri: String,
        parameters: std::collections::HashMap<String, String>,
        config: AgentConfig,
        hosting: Hosting,
    ) -> (environment::Mailbox, Arc<str>, tokio::task::JoinHandle<()>) {
        let (ready_tx, ready_rx) = tokio::sync::mpsc::unbounded_channel();
        let core = AgentCore::new(
            (self.agent_factory)(),
            (self.lifecycle_factory)(),
            uri,
            parameters,
            config,
            hosting,
            ready_tx,
        );
        task::spawn(core, ready_rx)
    }
}
