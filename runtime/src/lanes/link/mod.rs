//! Links: how a subscriber (a downlink, or later a remote client) attaches to a lane.
//!
//! A link request carries a [`LinkSubscriber`]. The lane announces `linked`, sends its state
//! when a sync is asked for (`event`s then `synced`), and from then on publishes each change.
//! Where the subscriber wants exactly the lane's type, values travel typed (a clone, no
//! encoding); otherwise they are converted through Recon, and a value that does not fit the
//! subscriber's type fails the link.
//!
//! | file | concern |
//! |---|---|
//! | `encoding.rs` | one event's Recon form, encoded once for every subscriber |
//! | `sink.rs` | what subscribers hear (typed, latest-value, or Recon sinks) |
//! | `subscriber.rs` | link requests ([`LinkSubscriber`]) |
//! | `attached.rs` | a subscriber as its lane keeps it |
//! | `closing.rs` | why links end when their agent goes (the agent task's reason) |
//! | `syncing.rs` | links waiting for a sync their lane computes (demand lanes) |

mod attached;
mod closing;
mod encoding;
mod sink;
mod subscriber;
mod syncing;

pub(crate) use attached::{MapLink, ValueLink};
pub(crate) use closing::{agent_gone, closing_because};
pub use encoding::{Encoded, SharedEncoding};
pub use sink::{Latest, LatestSink, LinkSink, MapSink, ReconMapSink, ReconValueSink, ValueSink};
pub(crate) use subscriber::Parts;
pub use subscriber::{next_link_id, LinkSubscriber};
pub(crate) use syncing::Syncing;
