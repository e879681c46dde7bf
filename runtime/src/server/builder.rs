//! `ServerBuilder`, `Server` and `ServerHandle`.

use std::fmt;
use std::future::Future;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use super::endpoint::{self, EndpointConfig};
use super::plane::{ClusterConfig, Keeping, Plane};
use super::policy::{AllowAll, Policy};
use super::registry::{AgentFactory, Observers, Registry, Route};
use super::route::RoutePattern;
use super::tls::{Certificates, ServerTlsConfig, ServerTlsError};
use crate::agent_lifecycle::AgentLifecycle;
use serde::Serialize;

use crate::agent_model::{AgentLaneModel, AgentModel, AgentRef};
use crate::cluster::{run_keeper, ClusterError, Member};
use crate::config::AgentConfig;
use crate::environment::Waits;
use crate::environment::{send_command, Environment};
use crate::introspection::{HostMeta, IntrospectionConfig, Metrics, META_SAMPLES};
use crate::lanes::{CommandPayload, UnlinkReason};
use crate::remote::RemoteConfig;
use crate::store::io::StoreIo;
use crate::store::{FjallStore, InMemoryStore, Store, StoreConfig, StoreError};

/// Settings of a server.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The settings of every agent the server starts.
    pub agent: AgentConfig,
    /// The settings of the WARP endpoint.
    pub endpoint: EndpointConfig,
    /// How connections to other hosts (remote downlinks and commands) retry.
    pub remote: RemoteConfig,
    /// How the store of [`ServerBuilder::with_store_dir`] writes (its durability).
    pub store: StoreConfig,
    /// Introspection: `None` (the default) serves no meta nodes and costs nothing.
    pub introspection: Option<IntrospectionConfig>,
    /// Whether `GET /metrics` serves Prometheus metrics (default `false`: nothing is
    /// counted).
    pub metrics: bool,
}

/// Why a server could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerBuilderError {
    /// Two routes match some node URI in common.
    #[error("the routes `{first}` and `{second}` overlap: some node URI matches both")]
    AmbiguousRoutes {
        /// The first route.
        first: String,
        /// The second route.
        second: String,
    },
    /// The bind address given to [`ServerBuilder::set_bind_addr`] is not an address.
    #[error("{addr} is not a socket address: {source}")]
    Address {
        /// The address as given.
        addr: String,
        /// Why it did not resolve.
        #[source]
        source: std::io::Error,
    },
    /// A route takes node URIs of the server's meta nodes (introspection is enabled).
    #[error("the route `{route}` matches `{meta}`, a meta node of introspection; give it a path that starts with `/`")]
    MetaRoute {
        /// The route.
        route: String,
        /// A meta node URI it matches.
        meta: &'static str,
    },
    /// The store could not be opened.
    #[error("cannot open the store: {0}")]
    Store(#[source] StoreError),
    /// The plane's database could not be reached, or this server could not register in it.
    #[error("cannot join the plane: {0}")]
    Cluster(#[source] ClusterError),
    /// A member of a plane was given a store or no address: its agents keep their state in
    /// the plane's database, and the other members must be able to reach it.
    #[error("{0}")]
    ClusterConfig(&'static str),
    /// The server could not listen on its address.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

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
}

/// Builds a [`Server`]: routes, settings, then [`build`](ServerBuilder::build).
///
/// # Examples
///
/// ```
/// use tidal_runtime::server::ServerBuilder;
/// # use tidal_runtime::agent_model::{AgentLaneModel, AgentModel};
/// # use tidal_runtime::agent_lifecycle::AgentLifecycle;
/// # use tidal_runtime::lanes::{AgentItem, ItemSpec};
/// # #[derive(Default)] struct Room;
/// # impl AgentLaneModel for Room {
/// #     const ITEMS: &'static [ItemSpec] = &[];
/// #     fn item(&self, _: u64) -> Option<&dyn AgentItem> { None }
/// #     fn item_id(_: &str) -> Option<u64> { None }
/// # }
/// # #[derive(Clone)] struct RoomLifecycle;
/// # impl AgentLifecycle<Room> for RoomLifecycle {}
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = ServerBuilder::with_plane_name("building")
///     .set_bind_addr("127.0.0.1:0")
///     .add_route("/rooms/:id".parse()?, AgentModel::new(Room::default, RoomLifecycle))
///     .update_config(|config| config.remote.max_attempts = Some(5))
///     .build()
///     .await?;
/// let (task, handle) = server.run();
/// println!("listening on {:?}", handle.bound_addr());
/// # drop(task);
/// # Ok(())
/// # }
/// ```
pub struct ServerBuilder {
    plane: String,
    bind: Option<Result<Vec<SocketAddr>, ServerBuilderError>>,
    store: Option<StoreChoice>,
    routes: Vec<Route>,
    config: ServerConfig,
    tls: Option<ServerTlsConfig>,
    policy: Arc<dyn Policy>,
    cluster: Option<ClusterConfig>,
}

/// Where a server's agents keep their state.
enum StoreChoice {
    /// The embedded store in this directory.
    Dir(PathBuf),
    /// Any store.
    Given(Arc<dyn Store>),
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder::with_plane_name("tidal")
    }
}

impl ServerBuilder {
    /// A builder for a server (a "plane") of this name.
    pub fn with_plane_name(name: &str) -> Self {
        ServerBuilder {
            plane: name.to_owned(),
            bind: None,
            store: None,
            routes: Vec::new(),
            config: ServerConfig::default(),
            tls: None,
            policy: Arc::new(AllowAll),
            cluster: None,
        }
    }

    /// Makes the server a member of a plane of servers that share the PostgreSQL database of
    /// `config`: it registers there, runs the agents of the shards it holds (their state in
    /// that database, every write fenced by the shard's lease), and forwards links, syncs and
    /// commands for every other node to the member that owns it. Clients and agents reach
    /// every agent of the plane through any member. See the README's "Clustering".
    ///
    /// All members must use the same plane name, routes and shard count. The server must be
    /// bound to an address (or `config` must advertise one), and given no other store.
    #[cfg(feature = "postgres")]
    pub fn with_cluster(mut self, config: ClusterConfig) -> Self {
        self.cluster = Some(config);
        self
    }

    /// Decides who may connect and what each client may do (see [`Policy`]): links, syncs,
    /// commands and HTTP requests are checked against it, and `@auth` envelopes go to it.
    /// Without one, everyone may do everything ([`AllowAll`]).
    pub fn with_policy(mut self, policy: impl Policy) -> Self {
        self.policy = Arc::new(policy);
        self
    }

    /// Serves the meta nodes of introspection (`swim:meta:host`, `swim:meta:node/<node>`,
    /// `swim:meta:node/<node>/lane/<lane>`), as SwimOS does, with pulses every second
    /// (change it in [`ServerConfig::introspection`] with
    /// [`update_config`](Self::update_config)), and the web console at `GET /console` on the
    /// server's port. See [`crate::introspection`].
    ///
    /// ```
    /// # use tidal_runtime::server::ServerBuilder;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = ServerBuilder::with_plane_name("watched")
    ///     .set_bind_addr("127.0.0.1:0")
    ///     .enable_introspection()
    ///     .enable_metrics()
    ///     .build()
    ///     .await?;
    /// # let _ = server;
    /// # Ok(())
    /// # }
    /// ```
    pub fn enable_introspection(mut self) -> Self {
        self.config
            .introspection
            .get_or_insert_with(IntrospectionConfig::default);
        self
    }

    /// Serves Prometheus metrics at `GET /metrics` on the server's port (the OpenMetrics text
    /// format): agents, connections, links, events, commands, bytes, remote connections and
    /// store writes. See the README's list.
    pub fn enable_metrics(mut self) -> Self {
        self.config.metrics = true;
        self
    }

    /// Serves TLS on the bind address: `wss://` for WARP and `https://` for HTTP lanes, with
    /// this certificate chain and key (TLS 1.2 and 1.3). Replace them while the server runs
    /// with [`ServerHandle::reload_tls`]. Plain-text clients are refused (their connection is
    /// closed after the failed handshake).
    pub fn with_tls(mut self, tls: ServerTlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The address the server will listen on for WARP connections: anything
    /// [`ToSocketAddrs`] takes, such as `"127.0.0.1:9001"`, `("0.0.0.0", 9001)` or a
    /// [`SocketAddr`]. A host name is resolved now, with the system's (blocking) resolver, as
    /// `std::net::TcpListener::bind` does; the server listens on the first of its addresses
    /// that it can bind. Port 0 picks a free port (see
    /// [`ServerHandle::bound_addr`]).
    ///
    /// An address that does not resolve fails [`build`](Self::build) with
    /// [`ServerBuilderError::Address`].
    pub fn set_bind_addr(mut self, addr: impl ToSocketAddrs + fmt::Debug) -> Self {
        let described = format!("{addr:?}");
        let resolved = match addr.to_socket_addrs() {
            Ok(addrs) => {
                let addrs: Vec<SocketAddr> = addrs.collect();
                if addrs.is_empty() {
                    Err(ServerBuilderError::Address {
                        addr: described,
                        source: std::io::Error::new(
                            std::io::ErrorKind::InvalidInput,
                            "the address resolved to nothing",
                        ),
                    })
                } else {
                    Ok(addrs)
                }
            }
            Err(source) => Err(ServerBuilderError::Address {
                addr: described,
                source,
            }),
        };
        self.bind = Some(resolved);
        self
    }

    /// Serves the node URIs matching `pattern` with instances of `agent`.
    pub fn add_route<A, L>(mut self, pattern: RoutePattern, agent: AgentModel<A, L>) -> Self
    where
        A: AgentLaneModel,
        L: AgentLifecycle<A>,
    {
        let factory: Arc<dyn AgentFactory> = Arc::new(agent);
        self.routes.push(Route { pattern, factory });
        self
    }

    /// Keeps every agent's state in the embedded on-disk store (fjall) in `path`, created if
    /// missing: agents get their persistent lanes and stores back when they start again, after
    /// a restart or a passivation. How it writes is [`ServerConfig::store`] (group commit every
    /// 5 ms by default; see [`Durability`](crate::store::Durability) for what a crash can
    /// lose). Without a store, agents keep their state in memory only.
    pub fn with_store_dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.store = Some(StoreChoice::Dir(path.into()));
        self
    }

    /// Keeps every agent's state in memory, across passivation but not across a restart of
    /// the process (tests, demos).
    pub fn with_in_memory_store(self) -> Self {
        self.with_store(InMemoryStore::new())
    }

    /// Keeps every agent's state in `store`, any [`Store`] backend.
    pub fn with_store(mut self, store: impl Store) -> Self {
        self.store = Some(StoreChoice::Given(Arc::new(store)));
        self
    }

    /// Changes the server's settings.
    pub fn update_config(mut self, f: impl FnOnce(&mut ServerConfig)) -> Self {
        f(&mut self.config);
        self
    }

    /// Checks the routes, binds the listener (if a bind address was set) and builds the
    /// server.
    ///
    /// # Errors
    /// [`ServerBuilderError::AmbiguousRoutes`] if two routes match a node URI in common,
    /// [`ServerBuilderError::Address`] if the bind address did not resolve, and
    /// [`ServerBuilderError::Bind`] (with the I/O error as its source) if the server cannot
    /// listen there.
    pub async fn build(self) -> Result<Server, ServerBuilderError> {
        for (i, first) in self.routes.iter().enumerate() {
            if let Some(second) = self.routes[i + 1..]
                .iter()
                .find(|other| other.pattern.overlaps(&first.pattern))
            {
                return Err(ServerBuilderError::AmbiguousRoutes {
                    first: first.pattern.to_string(),
                    second: second.pattern.to_string(),
                });
            }
        }
        if self.config.introspection.is_some() {
            for route in &self.routes {
                if let Some(meta) = META_SAMPLES
                    .into_iter()
                    .find(|meta| route.pattern.match_uri(meta).is_some())
                {
                    return Err(ServerBuilderError::MetaRoute {
                        route: route.pattern.to_string(),
                        meta,
                    });
                }
            }
        }
        let listener = match self.bind {
            Some(addrs) => Some(bind(&addrs?).await?),
            None => None,
        };
        let store: Option<Arc<dyn Store>> = match self.store {
            None => None,
            Some(StoreChoice::Given(store)) => Some(store),
            Some(StoreChoice::Dir(path)) => {
                let config = self.config.store.clone();
                // Opening replays the journal: file work, off the runtime's threads.
                let opened = tokio::task::spawn_blocking(move || FjallStore::open(path, config))
                    .await
                    .map_err(|err| {
                        ServerBuilderError::Store(StoreError::Open {
                            path: String::new(),
                            source: Box::new(err),
                        })
                    })?;
                Some(Arc::new(opened.map_err(ServerBuilderError::Store)?))
            }
        };
        let bound = listener.as_ref().and_then(|l| l.local_addr().ok());
        // Introspection and metrics share the agents' counts.
        let introspection = self.config.introspection.is_some();
        let meta = (introspection || self.config.metrics).then(|| {
            let config = self.config.introspection.unwrap_or_default();
            HostMeta::new(config.pulse_interval, introspection)
        });
        let metrics = match &meta {
            Some(host) if self.config.metrics => Some(Metrics::new(host.clone())),
            _ => None,
        };
        let mut remote = self.config.remote;
        let (keeping, store) = match self.cluster {
            None => (None, store),
            Some(_) if store.is_some() => {
                return Err(ServerBuilderError::ClusterConfig(
                    "a member of a plane keeps its agents' state in the plane's database: give it no store",
                ))
            }
            Some(cluster) => {
                let address = match (&cluster.advertise, bound) {
                    (Some(address), _) => address.clone(),
                    (None, Some(bound)) => format!("ws://{bound}"),
                    (None, None) => {
                        return Err(ServerBuilderError::ClusterConfig(
                            "a member of a plane needs a bind address, or an advertised address",
                        ))
                    }
                };
                let member = Member {
                    id: cluster.member_id.clone(),
                    address,
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                };
                let plane = Arc::new(Plane::new(self.plane.clone(), member, cluster.keeper.clone()));
                let (keeping, store) = join_plane(&cluster, plane, self.config.store.clone()).await?;
                remote.plane = Some(self.plane.clone());
                (Some(keeping), Some(store))
            }
        };
        // Store calls run on a thread of the store's own, never on the runtime's workers.
        let store = match store {
            Some(store) => {
                let observer = metrics
                    .as_ref()
                    .map(|metrics| metrics.store_observer(store.backend()));
                Some(StoreIo::start(store, observer).map_err(ServerBuilderError::Store)?)
            }
            None => None,
        };
        Ok(Server {
            meta: meta.clone().filter(|_| introspection),
            metrics: metrics.clone(),
            plane: self.plane,
            listener,
            tls: self.tls.map(Certificates::new),
            policy: self.policy,
            bound,
            endpoint: self.config.endpoint,
            registry: Registry::new(
                self.routes,
                self.config.agent,
                remote,
                store,
                Observers {
                    meta,
                    introspection,
                    metrics,
                },
                keeping.as_ref().map(|keeping| keeping.plane.clone()),
            ),
            keeping,
        })
    }
}

/// Connects a member to its plane's database (membership and leases, and the fenced store of
/// its agents) and registers it.
#[cfg(feature = "postgres")]
async fn join_plane(
    cluster: &ClusterConfig,
    plane: Arc<Plane>,
    store: StoreConfig,
) -> Result<(Keeping, Arc<dyn Store>), ServerBuilderError> {
    use crate::cluster::{Membership, PostgresCluster};
    use crate::store::PostgresStore;

    let engine = PostgresCluster::connect(&cluster.database)
        .await
        .map_err(ServerBuilderError::Cluster)?;
    // Registering now makes a bad database or URL fail here, not in the keeper's first tick.
    engine
        .register(&plane.member)
        .await
        .map_err(ServerBuilderError::Cluster)?;
    let (url, fence) = (cluster.database.clone(), Arc::new(plane.held.clone()));
    let store =
        tokio::task::spawn_blocking(move || PostgresStore::connect_fenced(&url, store, fence))
            .await
            .map_err(|err| {
                ServerBuilderError::Store(StoreError::Open {
                    path: String::new(),
                    source: Box::new(err),
                })
            })?
            .map_err(ServerBuilderError::Store)?;
    let engine = Arc::new(engine);
    Ok((Keeping { plane, engine }, Arc::new(store)))
}

/// Without the `postgres` feature no builder has a cluster configuration.
#[cfg(not(feature = "postgres"))]
async fn join_plane(
    _: &ClusterConfig,
    _: Arc<Plane>,
    _: StoreConfig,
) -> Result<(Keeping, Arc<dyn Store>), ServerBuilderError> {
    Err(ServerBuilderError::ClusterConfig(
        "clustering needs the cargo feature `postgres`",
    ))
}

/// Listens on the first of `addrs` (never empty) that can be bound.
async fn bind(addrs: &[SocketAddr]) -> Result<TcpListener, ServerBuilderError> {
    let mut last = None;
    for addr in addrs {
        match TcpListener::bind(addr).await {
            Ok(listener) => return Ok(listener),
            Err(source) => {
                last = Some(ServerBuilderError::Bind {
                    addr: *addr,
                    source,
                })
            }
        }
    }
    Err(last.unwrap_or_else(|| ServerBuilderError::Address {
        addr: "[]".to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address to bind"),
    }))
}

/// A server, built and ready to [`run`](Server::run).
pub struct Server {
    plane: String,
    listener: Option<TcpListener>,
    tls: Option<Certificates>,
    policy: Arc<dyn Policy>,
    bound: Option<SocketAddr>,
    endpoint: EndpointConfig,
    registry: Arc<Registry>,
    /// The host's meta node, if the server serves introspection.
    meta: Option<Arc<HostMeta>>,
    metrics: Option<Arc<Metrics>>,
    /// The plane, if the server is a member of one.
    keeping: Option<Keeping>,
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
    /// `A` must be the agent type of the route that serves `uri`; a handler sent to an agent of
    /// another type is logged and dropped.
    ///
    /// # Errors
    /// [`ServerError::NodeNotFound`] if no route serves `uri`, [`ServerError::Stopped`] if the
    /// server is stopping.
    ///
    /// # Panics
    /// Outside a tokio runtime, if the agent must be started.
    pub fn agent_ref<A: AgentLaneModel>(&self, uri: &str) -> Result<AgentRef<A>, ServerError> {
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
