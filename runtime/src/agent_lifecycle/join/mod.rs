//! Join lanes: maps whose entries are fed by downlinks to lanes elsewhere, one link per key.
//!
//! | file | concern |
//! |---|---|
//! | `links.rs` | a join lane's links: where each goes (persisted), its running downlink, the lifecycle |
//! | `step.rs` | what a link event does in the agent: entries changed, the lifecycle run, its answer applied |
//! | `lifecycle.rs` | the lifecycles users build (`context.builder().on_linked(..).done()`) |
//! | `value.rs` | [`JoinValueLane`]: one value lane per key |
//! | `map.rs` | [`JoinMapLane`]: one map lane per link, each key owned by the link that last wrote it |

mod lifecycle;
mod links;
mod map;
mod step;
mod value;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::downlink::Address;

pub use lifecycle::{
    JoinMapContext, JoinMapLaneLifecycle, JoinMapLifecycle, JoinValueContext,
    JoinValueLaneLifecycle, JoinValueLifecycle,
};
pub use map::{join_map_link_event, JoinMapLane, JoinMapLikeItem, JoinMapLinkEvent};
pub use value::{join_link_event, JoinLinkEvent, JoinValueLane, JoinValueLikeItem};

/// Where a link of a join lane goes: the lane `lane` of the agent at `node`, on `host` (`None`:
/// this process).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LinkAddress {
    /// The host (`ws://..`), or `None` for an agent of this process.
    pub host: Option<String>,
    /// The node URI of the agent.
    pub node: String,
    /// The lane.
    pub lane: String,
}

impl LinkAddress {
    pub(crate) fn new(host: Option<&str>, node: &str, lane: &str) -> Self {
        LinkAddress {
            host: host.map(str::to_owned),
            node: node.to_owned(),
            lane: lane.to_owned(),
        }
    }

    pub(crate) fn to_address(&self) -> Address {
        Address::new(self.host.as_deref(), &self.node, &self.lane)
    }
}

impl fmt::Display for LinkAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Some(host) => write!(f, "{host} {} {}", self.node, self.lane),
            None => write!(f, "{} {}", self.node, self.lane),
        }
    }
}

/// What a join lane does when one of its links closes (`on_unlinked`) or fails (`on_failed`).
///
/// `Abandon` and `Delete` forget the link only when the close is final
/// ([`UnlinkReason::is_final`](crate::lanes::UnlinkReason::is_final)). A close that is not
/// final (the joined agent's server stops, the agent moved to another member of a plane, its
/// host cannot be reached) says nothing about the link: it stays in the store and its entries
/// stay as they are, whatever the answer, and it opens again when the agent next starts
/// (`Retry` keeps it running meanwhile). So a graceful restart never loses a link. A link
/// forgotten for a final close is logged at `info` with the reason.
///
/// | reason | final | handler |
/// |---|---|---|
/// | `Closed`, `AgentStopped`, `NodeNotFound`, `LaneNotFound`, `Forbidden` | yes | `on_unlinked` |
/// | `KindMismatch`, `BadValue`, `Overflow` | yes | `on_failed` |
/// | `ServerStopping`, `Moved` | no | `on_unlinked` |
/// | `Unreachable` | no | `on_failed` |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LinkClosedResponse {
    /// Link again, after the downlinks' backoff.
    Retry,
    /// Drop the link and keep its entries as they are (the default).
    #[default]
    Abandon,
    /// Drop the link and remove its entries (remove events).
    Delete,
}
