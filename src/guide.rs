//! The guide: tidal from the first agent to a plane of servers, one chapter per module.
//!
//! Every Rust snippet in these chapters is compiled (and, where it needs nothing but the
//! process, run) by `cargo test`, so what you read here works with this version of tidal.
//! The chapters live in `docs/guide/` in the repository, included here.
//!
//! 1. [`agents`]: agents, lanes and lifecycles, and every kind of lane.
//! 2. [`testing`]: testing an agent without a server.
//! 3. [`servers`]: servers, routes, and downlinks between agents.
//! 4. [`persistence`]: state that survives restarts, and what each durability promises.
//! 5. [`security`]: TLS, policies and limits.
//! 6. [`observability`]: introspection, metrics, the web console and logs.
//! 7. [`clients`]: WARP, SwimOS clients, the `tidal` command-line tool and the Rust client.
//! 8. [`clustering`]: one plane across many servers.

#[doc = include_str!("../docs/guide/agents.md")]
pub mod agents {}

#[doc = include_str!("../docs/guide/testing.md")]
pub mod testing {}

#[doc = include_str!("../docs/guide/servers.md")]
pub mod servers {}

#[doc = include_str!("../docs/guide/persistence.md")]
pub mod persistence {}

#[doc = include_str!("../docs/guide/security.md")]
pub mod security {}

#[doc = include_str!("../docs/guide/observability.md")]
pub mod observability {}

#[doc = include_str!("../docs/guide/clients.md")]
pub mod clients {}

#[doc = include_str!("../docs/guide/clustering.md")]
pub mod clustering {}
