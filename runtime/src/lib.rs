//! The runtime of tidal: event handlers, lanes, lifecycles and the agent task.
//!
//! Users depend on the `tidal` facade, which re-exports this crate under stable paths
//! (`tidal::agent::...`). See the facade's documentation for the big picture.
//!
//! # Layers
//!
//! The modules form layers; each uses only the layers below it, so the folder tree reads like
//! the architecture. A unit test (`layering.rs`) fails the build's tests when a module imports
//! one of its own layer or above.
//!
//! ```text
//!  testing                          a kit to run agents and lifecycles without a server
//!  server   client                  listeners, routing, registry, a plane's stand-ins; the
//!                                   plain-program client
//!  remote                           outgoing WARP connections, one per host
//!  agent_model                      the agent core, its outbox (Effects), task and runner
//!  agent_lifecycle                  HandlerContext, lifecycle traits, downlink builders
//!  downlink                         downlink state machines, slots, handles
//!  environment                      the routing hub: agents by node URI, other hosts
//!  introspection                    meta nodes (swim:meta:...): addresses, feeds, pulses
//!  stores                           value and map stores (private state)
//!  lanes    state                   lane types, links and events; State/History
//!  event_handler                    HandlerAction, ActionContext, combinators
//!  config                           agent, downlink and server configuration
//!  warp     vocabulary              WARP envelopes and map bodies; ids, Modification,
//!                                   EventHandlerError, UnlinkReason, command payloads
//!  cluster                          placement (shards, rendezvous), membership, leases, the
//!                                   shard keeper
//!  store                            persistence: the Store trait, in-memory, fjall, PostgreSQL
//!  recon    lock                    the Recon value model, parser, printers and serde
//! ```
//!
//! `agent_lifecycle` sits below `agent_model`: the agent task runs lifecycles (so it uses
//! their trait), while `HandlerContext` and the lifecycle traits need nothing of the task.
//!
//! Where a lower layer needs a service of a higher one, it defines a trait that the higher
//! layer implements: `event_handler::Outbox` (the agent task's outbox, in `agent_model`),
//! `environment::RemoteHosts` (the connection pool, in `remote`), and the downlink handler
//! traits (the lifecycles built in `agent_lifecycle`).

#![forbid(unsafe_code)]
#![warn(missing_docs)]
// On docs.rs, items behind a cargo feature say which.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod agent_lifecycle;
pub mod agent_model;
pub mod client;
pub mod cluster;
pub mod config;
pub mod downlink;
pub(crate) mod environment;
pub mod event_handler;
pub mod introspection;
pub mod lanes;
mod lock;
pub mod recon;
pub mod remote;
pub mod server;
pub mod state;
pub mod store;
pub mod stores;
pub mod testing;
pub(crate) mod vocabulary;
pub mod warp;

#[cfg(test)]
mod layering;
