//! Servers: host agents by route, start them on demand, and stop them together.
//!
//! ```
//! use tidal_runtime::server::{RoutePattern, ServerBuilder};
//! # use tidal_runtime::agent_model::{AgentLaneModel, AgentModel};
//! # use tidal_runtime::agent_lifecycle::AgentLifecycle;
//! # use tidal_runtime::lanes::{AgentItem, ItemSpec};
//! # #[derive(Default)] struct Room;
//! # impl AgentLaneModel for Room {
//! #     const ITEMS: &'static [ItemSpec] = &[];
//! #     fn item(&self, _: u64) -> Option<&dyn AgentItem> { None }
//! #     fn item_id(_: &str) -> Option<u64> { None }
//! # }
//! # #[derive(Clone)] struct RoomLifecycle;
//! # impl AgentLifecycle<Room> for RoomLifecycle {}
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = ServerBuilder::with_plane_name("example")
//!     .add_route(RoutePattern::parse_str("/rooms/:id")?, AgentModel::new(Room::default, RoomLifecycle))
//!     .build()
//!     .await?;
//! let (task, handle) = server.run();
//! let running = tokio::spawn(task);
//! handle.start_agent("/rooms/kitchen")?;
//! handle.stop();
//! running.await??;
//! # Ok(())
//! # }
//! ```
//!
//! An agent instance exists per node URI: the first command, link or `start_agent` for a URI
//! that matches a route starts it; it runs until the server stops (or it stops itself, or it
//! passivates when [`AgentConfig::inactive_timeout`](crate::config::AgentConfig) is set). A URI
//! that matches no route gets `NodeNotFound`.

mod builder;
mod console;
mod endpoint;
mod plane;
mod policy;
mod proxy;
mod registry;
mod route;
mod serving;
mod tls;

pub use crate::vocabulary::canonical_node_uri;
pub use builder::{ServerBuilder, ServerBuilderError, ServerConfig};
pub use endpoint::{EndpointConfig, Limits};
pub use plane::ClusterConfig;
pub use policy::{
    Action, Admission, AllowAll, Anonymous, BearerTokens, ConnectRequest, Identity, Policy,
    PolicyFuture, ReadOnlyForAnonymous,
};
pub use route::{RouteError, RoutePattern};
pub use serving::{Server, ServerError, ServerHandle};
pub use tls::{ServerTlsConfig, ServerTlsError};
