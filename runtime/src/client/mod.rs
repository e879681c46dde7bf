//! A client for plain Rust programs: downlinks and commands to WARP servers, without an agent.
//!
//! The client runs the same downlinks as agents do (same state machines, same handles, same
//! connection pool: one WebSocket per host, reconnection with backoff), hosted by a hidden agent
//! of its own; the closures you register run in that agent's task.
//!
//! ```no_run
//! use tidal_runtime::client::Client;
//!
//! # async fn run() -> Result<(), tidal_runtime::client::ClientError> {
//! let client = Client::new();
//! let mut temperature = client
//!     .value_downlink::<f64>("ws://127.0.0.1:9001", "/rooms/kitchen", "temperature")
//!     .on_event(|t| println!("temperature: {t}"))
//!     .open()
//!     .await?;
//! client.command("ws://127.0.0.1:9001", "/rooms/kitchen", "temperature", 21.5).await?;
//! println!("last seen: {:?}", temperature.get());
//! temperature.stop();
//! # Ok(())
//! # }
//! ```
//!
//! # Why `open().await` here and `done()` in agents
//!
//! Both kinds of builder take the same handlers and give the same handles; they differ only in
//! how they end, because of where the code runs. In an agent, handlers never await: a
//! lifecycle's `value_downlink_builder(..)...done()` is an event handler that the agent task
//! runs, completing with the handle (the SwimOS name and shape). A plain program has no agent
//! task of its own, so a client builder ends with `open()`, a future that runs that same
//! handler in the client's hidden agent and resolves to the handle.

mod raw;
mod views;

pub(crate) use raw::RawSink;
pub use raw::{RawEvent, RawLink};
pub use views::{ClientEventDownlink, ClientMapDownlink, ClientValueDownlink};

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::agent_lifecycle::{AgentLifecycle, HandlerContext};
use crate::agent_model::{AgentLaneModel, AgentModel, AgentRef, Hosting};
use crate::config::{AgentConfig, MapDownlinkConfig, SimpleDownlinkConfig};
use crate::environment::{send_command, Environment, Mailbox};
use crate::environment::{RemoteHosts, Waits};
use crate::lanes::{AgentItem, CommandPayload, ItemSpec, UnlinkReason};
use crate::remote::{RemoteConfig, RemotePool};

/// Why the client could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The client has stopped (it was dropped, or its runtime is shutting down).
    #[error("the client has stopped")]
    Stopped,
    /// The command could not be sent to the host: `reason` (the error's source) says why, for
    /// instance a host that is not a `ws://` or `warp://` URL, or a value that does not convert
    /// to Recon.
    #[error("cannot send to {host}: {reason}")]
    Unreachable {
        /// The host, as given.
        host: String,
        /// Why.
        #[source]
        reason: UnlinkReason,
    },
}

/// The hidden agent hosting a client's downlinks: it has no lanes.
pub(crate) struct ClientAgent;

impl AgentLaneModel for ClientAgent {
    const ITEMS: &'static [ItemSpec] = &[];

    fn item(&self, _: u64) -> Option<&dyn AgentItem> {
        None
    }

    fn item_id(_: &str) -> Option<u64> {
        None
    }
}

/// The client agent's lifecycle: it only hosts downlinks.
#[derive(Clone, Copy)]
struct ClientLifecycle;

impl AgentLifecycle<ClientAgent> for ClientLifecycle {}

/// What the client's agent can reach: remote hosts only.
pub(crate) struct ClientEnvironment {
    remote: RemotePool,
}

impl Environment for ClientEnvironment {
    fn resolve(&self, node: &str) -> Result<Mailbox, UnlinkReason> {
        Err(UnlinkReason::Unreachable(format!(
            "{node}: a client reaches agents on hosts only; give the host"
        )))
    }

    fn resolve_running(&self, _: &str) -> Option<Mailbox> {
        None
    }

    fn serves(&self, _: &str) -> bool {
        false
    }

    fn remote(&self) -> Option<&dyn RemoteHosts> {
        Some(&self.remote)
    }
}

/// A client: open downlinks to lanes on WARP servers and send them commands.
///
/// It runs on the current tokio runtime. Dropping it stops its downlinks.
///
/// # Examples
///
/// ```no_run
/// # async fn run() -> Result<(), tidal_runtime::client::ClientError> {
/// let client = tidal_runtime::client::Client::new();
/// client.command("ws://127.0.0.1:9001", "/unit/a", "add", 5).await?;
/// # Ok(())
/// # }
/// ```
pub struct Client {
    agent: AgentRef<ClientAgent>,
    environment: Arc<ClientEnvironment>,
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

impl Client {
    /// A client with the default reconnection settings.
    ///
    /// # Panics
    /// Outside a tokio runtime: the client's agent is a task on the current runtime.
    pub fn new() -> Self {
        Client::with_config(RemoteConfig::default())
    }

    /// A client whose connections retry as `config` says.
    ///
    /// # Panics
    /// Outside a tokio runtime, as [`Client::new`].
    pub fn with_config(config: RemoteConfig) -> Self {
        let environment = Arc::new(ClientEnvironment {
            remote: RemotePool::new(config),
        });
        let model = AgentModel::new(|| ClientAgent, ClientLifecycle);
        let shared: Arc<dyn Environment> = environment.clone();
        let (mailbox, uri, _task) = model.start(
            "client".to_owned(),
            HashMap::new(),
            AgentConfig::default(),
            Hosting {
                environment: Some(shared),
                store: None,
                meta: None,
                after: None,
            },
        );
        Client {
            agent: AgentRef::new(uri, mailbox),
            environment,
        }
    }

    /// Starts building a downlink to the value lane `lane` of `node` on `host`.
    pub fn value_downlink<T>(&self, host: &str, node: &str, lane: &str) -> ClientValueDownlink<T>
    where
        T: Clone + Serialize + DeserializeOwned + Send + 'static,
    {
        let builder = HandlerContext::<ClientAgent>::default().value_downlink_builder(
            Some(host),
            node,
            lane,
            SimpleDownlinkConfig::default(),
        );
        ClientValueDownlink::new(self.agent.clone(), builder)
    }

    /// Starts building a downlink to the map lane `lane` of `node` on `host`.
    pub fn map_downlink<K, V>(&self, host: &str, node: &str, lane: &str) -> ClientMapDownlink<K, V>
    where
        K: Eq + Hash + Clone + Serialize + DeserializeOwned + Send + 'static,
        V: Clone + Serialize + DeserializeOwned + Send + 'static,
    {
        let builder = HandlerContext::<ClientAgent>::default().map_downlink_builder(
            Some(host),
            node,
            lane,
            MapDownlinkConfig::default(),
        );
        ClientMapDownlink::new(self.agent.clone(), builder)
    }

    /// Starts building a downlink receiving every event of the lane `lane` of `node` on `host`.
    pub fn event_downlink<T>(&self, host: &str, node: &str, lane: &str) -> ClientEventDownlink<T>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let builder = HandlerContext::<ClientAgent>::default().event_downlink_builder(
            Some(host),
            node,
            lane,
            SimpleDownlinkConfig::default(),
        );
        ClientEventDownlink::new(self.agent.clone(), builder)
    }

    /// Sends a command given in Recon form (for tools that do not know the lane's type).
    ///
    /// # Errors
    /// As [`command`](Self::command).
    pub async fn command_recon(
        &self,
        host: &str,
        node: &str,
        lane: &str,
        body: crate::recon::Value,
    ) -> Result<(), ClientError> {
        self.send(host, node, lane, CommandPayload::Recon(body))
            .await
    }

    /// Links to the lane `lane` of `node` on `host` whatever its type, receiving its events as
    /// Recon values (with its state first if `sync`).
    pub fn raw_link(&self, host: &str, node: &str, lane: &str, sync: bool) -> RawLink {
        RawLink::open(&self.environment, host, node, lane, sync)
    }

    /// Sends `value` as a command to the lane `lane` of `node` on `host` (queued while the
    /// connection is down).
    ///
    /// # Errors
    /// [`ClientError::Unreachable`] if `host` is not a usable URL or the value does not convert
    /// to Recon. A host that cannot be reached is not an error here: the command waits for the
    /// connection (see the `remote` module for what waits and for how long).
    pub async fn command<T>(
        &self,
        host: &str,
        node: &str,
        lane: &str,
        value: T,
    ) -> Result<(), ClientError>
    where
        T: Serialize + Send + 'static,
    {
        self.send(host, node, lane, CommandPayload::typed(value))
            .await
    }

    async fn send(
        &self,
        host: &str,
        node: &str,
        lane: &str,
        payload: CommandPayload,
    ) -> Result<(), ClientError> {
        send_command(
            self.environment.as_ref(),
            Some(host),
            node,
            lane,
            payload,
            Waits::Every,
        )
        .await
        .map_err(|reason| ClientError::Unreachable {
            host: host.to_owned(),
            reason,
        })
    }
}
