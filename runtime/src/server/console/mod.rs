//! The web console: one page, embedded in the binary, served at `GET /console` by a server with
//! introspection. It speaks WARP to the same server from the browser: the running agents (from
//! `swim:meta:host` `nodes`, with a filter), a chosen agent's lanes with their live values,
//! maps as live tables, forms that send commands (Recon or JSON), and live plots of the host's
//! and the agent's pulses. It reconnects when the server comes back, and says when it is
//! disconnected. Nothing is fetched from anywhere else.

/// The page.
pub(crate) const PAGE: &str = include_str!("console.html");
