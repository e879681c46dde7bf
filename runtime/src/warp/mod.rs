//! WARP: the envelope protocol that SwimOS servers and clients speak over WebSocket.
//!
//! Every WebSocket text frame carries one *envelope*: a Recon record whose first
//! attribute names the [`EnvelopeKind`] and whose argument is the *header*, followed by
//! an optional *body* (any Recon value):
//!
//! ```text
//! @kind(node:"/node/uri",lane:lane_uri[,prio:p][,rate:r]) body
//! ```
//!
//! * Lane-addressed kinds (`link`, `sync`, `unlink`, `command`, `linked`, `synced`,
//!   `unlinked`, `event`) carry the named slots `node:` and `lane:`, in any order; `link`,
//!   `sync` and `linked` may also carry the numbers `prio:` and `rate:`.
//! * Host-addressed kinds (`auth`, `authed`, `deauth`, `deauthed`) have no header:
//!   `@auth @openId("jwt")`. Their [`Envelope::node`] and [`Envelope::lane`] are empty.
//!
//! [`Envelope::parse`] reads every spelling that the real clients send (quoted or bare
//! URIs, spaces or none, the body glued to the header or after a space), and refuses
//! what swim-rust refuses (positional headers, unknown or duplicate slots, `prio` on
//! kinds that do not take it) with an [`EnvelopeError`] that says what was wrong.
//! [`write_envelope`] and [`write_frame`] write the compact form of swim-rust:
//! no spaces in the header, the node always quoted, the lane bare when it is an
//! identifier, and one space before a body that does not start with `@`.
//!
//! ```
//! use tidal_runtime::recon::Value;
//! use tidal_runtime::warp::{write_frame, Envelope, EnvelopeKind};
//!
//! // What the Python client sends: no space before the body.
//! let env = Envelope::parse("@command(node:\"/unit/a\",lane:add)5").unwrap();
//! assert_eq!(env.kind, EnvelopeKind::Command);
//! assert_eq!((env.node.as_str(), env.lane.as_str()), ("/unit/a", "add"));
//! assert_eq!(env.body, Value::Int(5));
//!
//! // What the server replies: a lane event, its body encoded once and shared.
//! let body = "@update(key:k5) 5";
//! let mut frame = String::new();
//! write_frame(&mut frame, EnvelopeKind::Event, "/unit/a", "map", Some(body));
//! assert_eq!(frame, "@event(node:\"/unit/a\",lane:map)@update(key:k5) 5");
//!
//! // Envelopes print the same way.
//! let synced = Envelope::new(EnvelopeKind::Synced, "/unit/a", "my lane");
//! assert_eq!(synced.to_string(), "@synced(node:\"/unit/a\",lane:\"my lane\")");
//! ```
//!
//! See `warp.md` (the protocol as observed against swim-rust 0.1.1 and its clients) for
//! the life cycle of links and the meaning of each kind; map lane bodies
//! (`@update(key:k) v`, ...) are converted by
//! [`map_message_to_value`] and [`map_message_from_value`].

mod envelope;
mod error;
mod map_body;
mod parse;
mod scan;
mod write;

#[cfg(test)]
mod tests;

pub use envelope::{Envelope, EnvelopeKind};
pub(crate) use error::describe_value;
pub use error::EnvelopeError;
pub(crate) use map_body::with_rest;
pub use map_body::{
    map_event_body, map_message_from_recon, map_message_from_value, map_message_to_value,
    map_remove_value, map_update_value, MapBodyError, MapMessage,
};
pub use scan::EnvelopeRef;
pub use write::{write_envelope, write_frame};
