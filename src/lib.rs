//! # tidal
//!
//! Stateful streaming agents for Rust. An agent is a struct of *lanes* (typed, observable state);
//! a *lifecycle* reacts to lane events with event handlers that the runtime steps inside the
//! agent's own task. The macros generate the lane tables and the dispatch of lane events to your
//! handlers, checked at compile time.
//!
//! ```
//! use tidal::prelude::*;
//!
//! #[projections]
//! #[derive(AgentLaneModel)]
//! pub struct CounterAgent {
//!     count: ValueLane<i64>,
//!     add: CommandLane<i64>,
//! }
//!
//! #[derive(Clone)]
//! pub struct CounterLifecycle;
//!
//! #[lifecycle(CounterAgent)]
//! impl CounterLifecycle {
//!     #[on_command(add)]
//!     fn add(&self, context: HandlerContext<CounterAgent>, amount: &i64) -> impl EventHandler<CounterAgent> {
//!         let amount = *amount;
//!         context.transform_value(CounterAgent::COUNT, move |n| n + amount)
//!     }
//!
//!     #[on_event(count)]
//!     fn report(&self, context: HandlerContext<CounterAgent>, value: &i64) -> impl EventHandler<CounterAgent> {
//!         let value = *value;
//!         context.effect(move || println!("count is now {value}"))
//!     }
//! }
//!
//! let mut agent = tidal::testing::AgentHarness::new(CounterAgent::default(), CounterLifecycle);
//! agent.start().unwrap();
//! agent.command(CounterAgent::ADD, 5).unwrap();
//! assert_eq!(agent.value(CounterAgent::COUNT), 5);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]
// On docs.rs, items behind a cargo feature say which.
#![cfg_attr(docsrs, feature(doc_cfg))]

// Generated code names `::tidal`, which must resolve inside this crate too.
extern crate self as tidal;

/// What an agent, its lifecycle and a server need, in one import: `use tidal::prelude::*;`.
///
/// ```
/// use tidal::prelude::*;
///
/// #[projections]
/// #[derive(AgentLaneModel)]
/// pub struct Counter {
///     count: ValueLane<i64>,
///     add: CommandLane<i64>,
/// }
///
/// #[derive(Clone)]
/// pub struct CounterLifecycle;
///
/// #[lifecycle(Counter)]
/// impl CounterLifecycle {
///     #[on_command(add)]
///     fn add(&self, context: HandlerContext<Counter>, n: &i64) -> impl EventHandler<Counter> {
///         let n = *n;
///         context.transform_value(Counter::COUNT, move |count| count + n)
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = ServerBuilder::with_plane_name("example")
///     .add_route("/counter/:id".parse()?, AgentModel::new(Counter::default, CounterLifecycle))
///     .build()
///     .await?;
/// # let _ = server;
/// # Ok(())
/// # }
/// ```
pub mod prelude {
    pub use crate::agent::agent_lifecycle::{
        HandlerContext, JoinMapContext, JoinMapLaneLifecycle, JoinValueContext,
        JoinValueLaneLifecycle, LinkClosedResponse,
    };
    pub use crate::agent::agent_model::downlink::hosted::{
        EventDownlinkHandle, MapDownlinkHandle, ValueDownlinkHandle,
    };
    pub use crate::agent::agent_model::AgentModel;
    pub use crate::agent::config::{AgentConfig, MapDownlinkConfig, SimpleDownlinkConfig};
    pub use crate::agent::event_handler::{EventHandler, HandlerAction, HandlerActionExt};
    pub use crate::agent::lanes::{
        CommandLane, DemandLane, DemandMapLane, HttpLane, HttpRequestContext, JoinMapLane,
        JoinValueLane, MapLane, Response, SimpleHttpLane, SupplyLane, UnitResponse, UnlinkReason,
        ValueLane,
    };
    pub use crate::agent::state::{History, State};
    pub use crate::agent::stores::{MapStore, ValueStore};
    pub use crate::agent::{lifecycle, projections, AgentLaneModel};
    pub use crate::route::RoutePattern;
    pub use crate::server::{Server, ServerBuilder, ServerHandle};
}

/// Everything to define agents: lanes, stores, lifecycles, handlers and the macros.
pub mod agent {
    pub use tidal_macros::{lifecycle, projections, AgentLaneModel};
    pub use tidal_runtime::agent_model::AgentLaneModel;
    pub use tidal_runtime::{agent_lifecycle, agent_model, config, event_handler, state, stores};

    /// Lanes: the typed, observable state of an agent (see the runtime's `lanes` module); the
    /// join lanes, whose entries come from downlinks, are defined with the lifecycles that
    /// feed them.
    pub mod lanes {
        pub use tidal_runtime::agent_lifecycle::{
            JoinLinkEvent, JoinMapLane, JoinMapLikeItem, JoinMapLinkEvent, JoinValueLane,
            JoinValueLikeItem, LinkAddress, LinkClosedResponse,
        };
        pub use tidal_runtime::lanes::*;
    }
}

pub use tidal_runtime::{client, recon, testing};

pub mod guide;

/// The README's snippets, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The WARP protocol, for tools that speak it: envelopes ([`warp::Envelope`]) and the bodies
/// of map lane events and commands ([`warp::map_message_from_recon`]).
pub use tidal_runtime::warp;

/// Servers that host agents: `ServerBuilder`, `Server`, `ServerHandle`.
pub mod server {
    pub use tidal_runtime::server::{
        Action, Admission, AllowAll, Anonymous, BearerTokens, ClusterConfig, ConnectRequest,
        EndpointConfig, Identity, Limits, Policy, PolicyFuture, ReadOnlyForAnonymous, Server,
        ServerBuilder, ServerBuilderError, ServerConfig, ServerError, ServerHandle,
        ServerTlsConfig, ServerTlsError,
    };
}

/// Connections to other hosts: how they retry, and which TLS certificates they trust.
pub mod remote {
    pub use tidal_runtime::remote::{RemoteConfig, TlsConfig, TlsError};
}

/// Introspection: the meta nodes a server serves once built with
/// `ServerBuilder::enable_introspection` (`swim:meta:host`, `swim:meta:node/<node>`, ...).
pub mod introspection {
    pub use tidal_runtime::introspection::{meta_node_uri, IntrospectionConfig};
}

/// Persistence: the `Store` trait, its in-memory and on-disk (fjall) backends, durability.
pub use tidal_runtime::store;

/// The cluster's pieces: placement of agents on shards and servers, membership, shard leases
/// (with the feature `postgres`, on PostgreSQL). A server joins a plane with
/// `ServerBuilder::with_cluster` (see [the guide](guide::clustering)).
pub use tidal_runtime::cluster;

/// Route patterns for node URIs (`/rooms/:id`).
pub mod route {
    pub use tidal_runtime::server::{RouteError, RoutePattern};
}
