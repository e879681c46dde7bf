//! `ServerBuilder`: a server's routes, settings, store and plane, then `build()`.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;

use super::endpoint::EndpointConfig;
use super::plane::{ClusterConfig, Keeping, Plane};
use super::policy::{AllowAll, Policy};
use super::registry::{AgentFactory, Observers, Registry, Route};
use super::route::RoutePattern;
use super::serving::Server;
use super::tls::{Certificates, ServerTlsConfig};
use crate::agent_lifecycle::AgentLifecycle;

use crate::agent_model::{AgentLaneModel, AgentModel};
use crate::cluster::{ClusterError, Member};
use crate::config::AgentConfig;
use crate::introspection::{HostMeta, IntrospectionConfig, Metrics, META_SAMPLES};
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
#[must_use = "a builder does nothing until `build()` is awaited"]
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
    /// every agent of the plane through any member. See the guide's clustering chapter.
    ///
    /// All members must use the same plane name, routes and shard count. The server must be
    /// bound to an address (or `config` must advertise one), and given no other store.
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
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
    /// store writes. The guide's observability chapter lists them.
    pub fn enable_metrics(mut self) -> Self {
        self.config.metrics = true;
        self
    }

    /// Serves TLS on the bind address: `wss://` for WARP and `https://` for HTTP lanes, with
    /// this certificate chain and key (TLS 1.2 and 1.3). Replace them while the server runs
    /// with [`ServerHandle::reload_tls`](super::ServerHandle::reload_tls). Plain-text clients are refused (their connection is
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
    /// [`ServerHandle::bound_addr`](super::ServerHandle::bound_addr)).
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
