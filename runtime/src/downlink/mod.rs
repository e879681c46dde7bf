//! Downlinks hosted by an agent: links from the agent to lanes of other agents.
//!
//! A downlink opened with `HandlerContext::value_downlink_builder` (or `map_`, `event_`) lives
//! inside the opening agent's task. Its lane writes into a slot that coalesces what
//! arrives; the agent task takes it all when the downlink is ready and runs the downlink's
//! handlers, in the order linked → synced → events → unlinked, like any other event.

mod driver;
mod event;
mod handlers;
mod map;
mod outbox;
pub(crate) mod slot;
mod value;

mod handle;

pub(crate) use driver::{HostedDownlink, Next};
pub(crate) use event::open_event;
pub use handlers::DynRunner;
pub(crate) use handlers::{
    Address, EventDownlinkHandlers, MapDownlinkHandlers, Outcome, ValueDownlinkHandlers,
};
pub(crate) use map::open_map;
pub(crate) use outbox::DownlinkOutbox;
pub(crate) use value::open_value;

/// Handles to hosted downlinks (the paths SwimOS users know).
pub mod hosted {
    pub use super::handle::{
        DownlinkError, DownlinkStatus, EventDownlinkHandle, MapDownlinkHandle, ValueDownlinkHandle,
    };
}
