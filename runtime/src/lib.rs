//! The runtime of tidal: event handlers, lanes, lifecycles and the agent task.
//!
//! Users depend on the `tidal` facade, which re-exports this crate under stable paths
//! (`tidal::agent::...`). See the facade's documentation for the big picture.

#![warn(missing_docs)]

pub mod agent_lifecycle;
pub mod agent_model;
pub mod client;
pub mod config;
pub mod downlink;
pub(crate) mod environment;
pub mod event_handler;
pub mod lanes;
mod lock;
pub mod recon;
pub mod remote;
pub mod server;
pub mod state;
pub mod stores;
pub mod testing;
pub(crate) mod vocabulary;
pub mod warp;

#[cfg(test)]
mod layering;
