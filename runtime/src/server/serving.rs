//! A built server: [`Server`], which runs it, and [`ServerHandle`], which controls it while
//! it runs.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use super::endpoint::{self, EndpointConfig};
use super::plane::Keeping;
use super::policy::Policy;
use super::registry::Registry;
use super::tls::{Certificates, ServerTlsConfig, ServerTlsError};
use serde::Serialize;

use crate::agent_model::{AgentLaneModel, AgentRef};
use crate::cluster::run_keeper;
use crate::environment::Waits;
use crate::environment::{send_command, Environment};
use crate::introspection::{HostMeta, Metrics};
use crate::lanes::{CommandPayload, UnlinkReason};

/// Why a server stopped with an error, or could not do what its handle asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// No route matches the node URI.
    #[error("no agent route matches `{0}`")]
    NodeNotFound(String),
    /// The server is stopping or has stopped.
    #[error("the server has stopped")]
    Stopped,
    /// The node's route serves another type of agent than the one asked for.
    #[error("`{node}` is served by agents of type `{served}`, not `{asked}`")]
    WrongAgentType {
        /// The node URI.
        node: String,
        /// The agent type asked for.
        asked: &'static str,
        /// The agent type the route serves.
        served: &'static str,
    },
}

/// A server, built and ready to [`run`](Server::run).
#[must_use = "a server serves nothing until it runs: call `run()` or `run_until()` and await its task"]
pub struct Server {
    pub(super) plane: String,
    pub(super) listener: Option<TcpListener>,
    pub(super) tls: Option<Certificates>,
    pub(super) policy: Arc<dyn Policy>,
    pub(super) bound: Option<SocketAddr>,
    pub(super) endpoint: EndpointConfig,
    pub(super) registry: Arc<Registry>,
    /// The host's meta node, if the server serves introspection.
    pub(super) meta: Option<Arc<HostMeta>>,
    pub(super) metrics: Option<Arc<Metrics>>,
    /// The plane, if the server is a member of one.
    pub(super) keeping: Option<Keeping>,
}

impl Server {
    /// The name of the server's plane.
    pub fn plane_name(&self) -> &str {
        &self.plane
    }

    /// Runs the server: returns the task to await (or spawn) and a handle to control it.
    ///
    /// The task runs until [`ServerHandle::stop`] is called on the handle or one of its
    /// clones; then client connections are closed (code 1001), every agent runs its `on_stop`,
    /// and the task ends. Dropping the handles does not stop the server (as with tokio's
    /// `JoinHandle`): a server whose handles are all gone runs until its task is dropped. To
    /// stop on a signal, see [`run_until`](Self::run_until).
    ///
    /// # Errors
    /// The task ends with a [`ServerError`] only if the server fails as a whole; today it always
    /// ends with `Ok(())` once stopped.
    ///
    /// # Examples
    ///
    /// ```
    /// # use tidal_runtime::server::ServerBuilder;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = ServerBuilder::with_plane_name("example").build().await?;
    /// let (task, handle) = server.run();
    /// let running = tokio::spawn(task);
    /// // ... use the server ...
    /// handle.stop();
    /// running.await??;
    /// # Ok(())
    /// # }
    /// ```
    pub fn run(
        self,
    ) -> (
        impl Future<Output = Result<(), ServerError>> + Send + 'static,
        ServerHandle,
    ) {
        self.run_until(std::future::pending())
    }

    /// Runs the server until `shutdown` completes (or [`ServerHandle::stop`] is called), then
    /// stops it gracefully as [`run`](Self::run) describes: the convention of axum's
    /// `with_graceful_shutdown`.
    ///
    /// # Errors
    /// As [`run`](Self::run).
    ///
    /// # Examples
    ///
    /// ```
    /// # use tidal_runtime::server::ServerBuilder;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = ServerBuilder::with_plane_name("example").build().await?;
    /// // In a program, the signal is typically `tokio::signal::ctrl_c()`.
    /// let (signal, shutdown) = tokio::sync::oneshot::channel::<()>();
    /// let (task, _handle) = server.run_until(async {
    ///     let _ = shutdown.await;
    /// });
    /// let running = tokio::spawn(task);
    /// signal.send(()).unwrap();
    /// running.await??; // The server has stopped.
    /// # Ok(())
    /// # }
    /// ```
    pub fn run_until<F>(
        self,
        shutdown: F,
    ) -> (
        impl Future<Output = Result<(), ServerError>> + Send + 'static,
        ServerHandle,
    )
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = watch::channel(false);
        let stop = Arc::new(stop);
        let connections = Arc::new(AtomicUsize::new(0));
        let handle = ServerHandle {
            registry: self.registry.clone(),
            stop: stop.clone(),
            bound: self.bound,
            connections: connections.clone(),
            tls: self.tls.clone(),
        };
        let registry = self.registry;
        let (listener, config, tls, policy) = (self.listener, self.endpoint, self.tls, self.policy);
        let (meta, mut pulse_stop, metrics) = (self.meta, stopped.clone(), self.metrics);
        let keeping = self.keeping;
        let console = meta.is_some();
        let task = async move {
            let environment: Arc<dyn Environment> = registry.clone();
            let mut signal = stopped.clone();
            let trigger = async move {
                tokio::select! {
                    // A handle stopped the server.
                    _ = signal.wait_for(|stop| *stop) => {}
                    () = shutdown => {
                        stop.send_replace(true);
                    }
                }
            };
            let endpoint = async {
                if let Some(listener) = listener {
                    let accepts = endpoint::serve(
                        listener,
                        endpoint::Endpoint {
                            environment,
                            config,
                            tls,
                            policy,
                            metrics,
                            console,
                        },
                        stopped,
                        connections,
                    );
                    accepts.await;
                }
            };
            // The endpoint ends once the server is stopped, closing its connections first
            // (code 1001), so that clients see a server going away (and reconnect later)
            // rather than each of their links being unlinked; then the agents stop.
            // The host's pulse, until the server stops.
            let pulses = async move {
                let Some(meta) = meta else {
                    return;
                };
                let mut interval = tokio::time::interval(meta.interval());
                interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = interval.tick() => meta.tick(),
                        _ = pulse_stop.wait_for(|stop| *stop) => break,
                    }
                }
            };
            // A member of a plane keeps its shards while it serves; once its agents have
            // stopped (their state stored), it hands every shard off and leaves the plane.
            let (keeper_stop, keeper_stopped) = watch::channel(());
            let (events, mut changes) = tokio::sync::mpsc::unbounded_channel();
            let keeper = async {
                let Some(Keeping { plane, engine }) = keeping else {
                    return;
                };
                let member = plane.member.clone();
                let keeper = run_keeper(
                    plane.keeper.clone(),
                    member,
                    engine,
                    plane.held.clone(),
                    events,
                    keeper_stopped,
                );
                if let Err(err) = keeper.await {
                    tracing::error!(%err, "the shard keeper failed: this member holds no shards");
                }
            };
            let following = async {
                while let Some(change) = changes.recv().await {
                    registry.shard_event(change).await;
                }
            };
            let serving = async {
                futures::join!(trigger, endpoint, pulses);
                registry.stop_all().await;
                drop(keeper_stop);
            };
            futures::join!(serving, keeper, following);
            Ok(())
        };
        (task, handle)
    }
}

/// Controls a running server; clone it freely. Dropping it does not stop the server: call
/// [`stop`](Self::stop) (or run the server with [`Server::run_until`]).
#[derive(Clone)]
pub struct ServerHandle {
    registry: Arc<Registry>,
    stop: Arc<watch::Sender<bool>>,
    bound: Option<SocketAddr>,
    connections: Arc<AtomicUsize>,
    tls: Option<Certificates>,
}

impl ServerHandle {
    /// Presents `tls` (a new certificate chain and key) to the connections made from now on;
    /// connections already open keep theirs. Read new PEM files with
    /// [`ServerTlsConfig::from_pem_files`] first: a certificate that does not load never
    /// reaches the server.
    ///
    /// # Errors
    /// [`ServerTlsError::NotTls`] if the server was built without TLS.
    pub fn reload_tls(&self, tls: ServerTlsConfig) -> Result<(), ServerTlsError> {
        let certificates = self.tls.as_ref().ok_or(ServerTlsError::NotTls)?;
        certificates.replace(tls);
        Ok(())
    }

    /// Stops the server: every agent runs its `on_stop`, downlinks are unlinked, and the server
    /// task ends.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// The address the server listens on for WARP connections (with the actual port when it
    /// was bound to port 0), or `None` when it has no bind address.
    pub fn bound_addr(&self) -> Option<SocketAddr> {
        self.bound
    }

    /// Starts the agent for `uri` now, rather than when it is first addressed (it returns at
    /// once; the agent's `on_start` runs in its own task).
    ///
    /// # Errors
    /// [`ServerError::NodeNotFound`] if no route serves `uri`, [`ServerError::Stopped`] if the
    /// server is stopping.
    ///
    /// # Panics
    /// Outside a tokio runtime, if the agent must be started (its task is spawned on the
    /// current runtime).
    pub fn start_agent(&self, uri: &str) -> Result<(), ServerError> {
        self.registry
            .resolve(uri)
            .map(|_| ())
            .map_err(|reason| server_error(uri.to_owned(), reason))
    }

    /// Sends `value` as a command to the lane `lane` of the agent at `node` (starting it if
    /// needed), as a client would. A value of another type than the lane's is converted through
    /// Recon; one that does not convert is logged and dropped by the agent. It waits while the
    /// agent's inbox is full.
    ///
    /// # Errors
    /// [`ServerError::NodeNotFound`] if no route serves `node`, [`ServerError::Stopped`] if the
    /// server is stopping or the agent has stopped.
    pub async fn command<T>(&self, node: &str, lane: &str, value: T) -> Result<(), ServerError>
    where
        T: Serialize + Send + 'static,
    {
        send_command(
            self.registry.as_ref(),
            None,
            node,
            lane,
            CommandPayload::typed(value),
            Waits::Every,
        )
        .await
        .map_err(|reason| server_error(node.to_owned(), reason))
    }

    /// A handle to the agent at `uri` (started if needed), to run handlers in it.
    ///
    /// `A` must be the agent type of the route that serves `uri`.
    ///
    /// # Errors
    /// [`ServerError::NodeNotFound`] if no route serves `uri`, [`ServerError::WrongAgentType`]
    /// if its route serves another type of agent, [`ServerError::Stopped`] if the server is
    /// stopping.
    ///
    /// # Panics
    /// Outside a tokio runtime, if the agent must be started.
    pub fn agent_ref<A: AgentLaneModel>(&self, uri: &str) -> Result<AgentRef<A>, ServerError> {
        match self.registry.agent_type(uri) {
            None => return Err(ServerError::NodeNotFound(uri.to_owned())),
            Some((served, name)) if served != std::any::TypeId::of::<A>() => {
                return Err(ServerError::WrongAgentType {
                    node: uri.to_owned(),
                    asked: std::any::type_name::<A>(),
                    served: name,
                })
            }
            Some(_) => {}
        }
        self.registry
            .resolve(uri)
            .map(|mailbox| {
                AgentRef::new(crate::vocabulary::canonical_node_uri(uri).into(), mailbox)
            })
            .map_err(|reason| server_error(uri.to_owned(), reason))
    }

    /// Whether the agent for `uri` is running.
    pub fn is_running(&self, uri: &str) -> bool {
        self.registry.resolve_running(uri).is_some()
    }

    /// Runs one client connection in-process over an in-memory stream, as if a WARP client
    /// had connected (no policy, default limits), sends it `frames` (a frame is text when it is
    /// UTF-8, binary otherwise), reads what the server sends back until it closes the
    /// connection or falls quiet for `quiet`, then closes it; returns the text frames. For fuzz
    /// targets and tests that drive the connection's code without sockets.
    #[doc(hidden)]
    pub async fn run_connection_in_memory(
        &self,
        frames: &[Vec<u8>],
        quiet: std::time::Duration,
    ) -> Vec<String> {
        let environment: Arc<dyn Environment> = self.registry.clone();
        endpoint::run_in_memory(environment, self.stop.subscribe(), frames, quiet).await
    }

    /// How many WARP connections are open.
    pub fn open_connections(&self) -> usize {
        self.connections.load(Ordering::Acquire)
    }

    /// How many agents are running.
    pub fn running_agents(&self) -> usize {
        self.registry.running()
    }
}

fn server_error(uri: String, reason: UnlinkReason) -> ServerError {
    match reason {
        UnlinkReason::NodeNotFound => ServerError::NodeNotFound(uri),
        _ => ServerError::Stopped,
    }
}
