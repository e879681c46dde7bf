//! Lanes: the typed, observable state of an agent.
//!
//! An agent is a struct whose fields are lanes (visible to other agents and clients) and stores
//! (private state, see [`crate::stores`]). Lanes use interior mutability, so handlers change them
//! through `&Agent` inside the agent's single task; nothing in an agent needs `Sync` or a lock.
//!
//! | lane | state | lifecycle events | what subscribers see |
//! |---|---|---|---|
//! | [`ValueLane<T>`] | one `T` | `on_event(&T)`, then `on_set(&T, Option<T>)` | the latest value after each event (coalesced) |
//! | [`MapLane<K, V>`] | a map (`HashMap`, or `BTreeMap` for [`OrderedMapLane`]) | `on_update`, `on_remove`, `on_clear` | the latest operation per key |
//! | [`CommandLane<T>`] | none | `on_command(&T)` | every command, up to a bound |
//! | [`DemandLane<T>`] | none: computed by `on_cue` when cued | `on_cue` | each computed value; a sync computes one for the subscriber |
//! | [`DemandMapLane<K, V>`] | none: computed by `on_cue_key` per cued key | `keys`, `on_cue_key(K)` | each computed entry; a sync computes every key `keys` lists |
//! | [`HttpLane<Get, Post, Put>`] | none | `on_get`, `on_post`, `on_put`, `on_delete` | nothing: it answers HTTP requests |
//! | [`SupplyLane<T>`] | none | none | every supplied value, in order; a subscriber that falls [`SUPPLY_QUEUE_BOUND`] behind is unlinked |
//!
//! Value types are serde types: `Serialize + DeserializeOwned + Send + 'static`; `Clone` is only
//! needed by operations that copy a value out (such as `HandlerContext::get_value`).

mod command;
mod demand;
mod demand_map;
mod http;
mod item;
mod link;
mod map;
mod outlet;
mod supply;
mod value;

pub use crate::vocabulary::{
    BodyFormat, CommandPayload, HeaderMap, HeaderName, HeaderValue, HttpExchange,
    HttpRequestContext, HttpResponse, ItemKind, ItemSpec, Method, Response, StatusCode,
    TypedCommand, UnitResponse, UnlinkReason, Uri,
};
pub use crate::warp::MapMessage;
pub use command::{CommandLane, CommandLikeItem};
pub use demand::{DemandLane, DemandLikeItem};
pub use demand_map::{DemandMapLane, DemandMapLikeItem};
pub use http::{HttpLane, HttpLikeItem, SimpleHttpLane};
pub(crate) use item::persistent_cell;
pub use item::{AgentItem, CommandTarget, Item, ModificationSink};
/// How subscribers attach to lanes: the runtime's own business (downlinks, uplinks, remote
/// links), so not part of the public API.
pub(crate) use link::{
    agent_gone, closing_because, next_link_id, Encoded, Latest, LatestSink, LinkSink,
    LinkSubscriber, MapSink, ReconMapSink, ReconValueSink, SharedEncoding, ValueSink,
};
pub(crate) use map::MapCell;
pub use map::{MapBacking, MapEvent, MapLane, MapLaneEvent, MapLikeItem, OrderedMapLane};
pub(crate) use outlet::Outlets;
pub use outlet::{MapOutlet, OutletStatus, ValueOutlet};
pub use supply::{SupplyLane, SupplyLikeItem, SUPPLY_QUEUE_BOUND};
pub(crate) use value::ValueCell;
pub use value::{ValueLane, ValueLikeItem};

#[cfg(test)]
mod tests;
