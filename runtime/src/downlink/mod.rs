//! Downlinks hosted by an agent: links from the agent to lanes of other agents.
//!
//! A downlink opened with `HandlerContext::value_downlink_builder` (or `map_`, `event_`) lives
//! inside the opening agent's task. Its lane writes into a slot that coalesces what
//! arrives; the agent task takes it all when the downlink is ready and runs the downlink's
//! handlers, in the order linked → synced → events → unlinked, like any other event.
//!
//! The `Slot` (a link subscriber's coalescing mailbox) is the one mechanism of this module
//! that others use: a server's uplinks to WARP clients are slots too.

mod driver;
mod event;
mod handlers;
mod map;
mod outbox;
mod slot;
mod value;

mod handle;

pub(crate) use driver::{HostedDownlink, Next};
pub(crate) use event::open_event;
pub(crate) use handlers::DynRunner;
pub(crate) use handlers::{
    Address, EventDownlinkHandlers, MapDownlinkHandlers, Outcome, ValueDownlinkHandlers,
};
pub(crate) use map::open_map;
pub(crate) use outbox::DownlinkOutbox;
/// The mailbox of a link subscriber, which the server's uplinks use too.
pub(crate) use slot::{LinkEvents, Notifier, Pending, Slot, EVENT_QUEUE_BOUND};
pub(crate) use value::open_value;

/// Handles to hosted downlinks (the paths SwimOS users know).
pub mod hosted {
    pub use super::handle::{
        DownlinkError, DownlinkStatus, EventDownlinkHandle, MapDownlinkHandle, ValueDownlinkHandle,
    };
}
