//! Downlinks hosted by an agent: links from the agent to lanes of other agents.
//!
//! A downlink opened with `HandlerContext::value_downlink_builder` (or `map_`, `event_`) lives
//! inside the opening agent's task. Its lane writes into a slot that coalesces what
//! arrives; the agent task takes it all when the downlink is ready and runs the downlink's
//! handlers, in the order linked → synced → events → unlinked, like any other event.

mod driver;
mod event;
pub(crate) mod lifecycle;
mod map;
mod outbox;
pub(crate) mod slot;
mod value;

pub(crate) use driver::{HostedDownlink, Next};
pub use event::{EventDownlinkBuilder, EventDownlinkLifecycle, StatelessEventDownlinkBuilder};
pub use lifecycle::{DynRunner, LifecycleState, Shared};
pub use map::{MapDownlinkBuilder, MapDownlinkLifecycle, StatelessMapDownlinkBuilder};
pub(crate) use outbox::DownlinkOutbox;
pub use value::{StatelessValueDownlinkBuilder, ValueDownlinkBuilder, ValueDownlinkLifecycle};

mod handle;

/// Handles to hosted downlinks (the paths SwimOS users know).
pub mod hosted {
    pub use super::handle::{
        DownlinkError, DownlinkStatus, EventDownlinkHandle, MapDownlinkHandle, ValueDownlinkHandle,
    };
}
