//! The shared vocabulary of the runtime: the few types every layer above speaks.
//!
//! Item kinds and specs, the [`Modification`] a step reports, the [`EventHandlerError`] a
//! handler fails with, the [`UnlinkReason`] a link ends with, and the [`CommandPayload`] a lane
//! is sent. They live at the bottom of the module graph so that event handlers, lanes,
//! downlinks and the agent task can all use them without using each other. Users meet them
//! through the modules that use them (`event_handler::EventHandlerError`,
//! `lanes::UnlinkReason`, ...).

mod command;
mod error;
mod http;
mod identity;
mod item;
mod node_uri;
mod unlink;

pub(crate) use command::OutgoingCommand;
pub use command::{CommandPayload, TypedCommand};
pub use error::EventHandlerError;
pub use http::{
    BodyFormat, HeaderMap, HeaderName, HeaderValue, HttpExchange, HttpRequestContext, HttpResponse,
    Method, Response, StatusCode, UnitResponse, Uri,
};
pub use identity::Identity;
pub use item::{ItemKind, ItemSpec, Modification};
pub use node_uri::canonical_node_uri;
pub use unlink::UnlinkReason;
