//! Introspection: the meta nodes of a server, as SwimOS Java names and shapes them, so that
//! SwimOS tools and clients can read them.
//!
//! A server built with `ServerBuilder::enable_introspection` answers links to:
//!
//! | meta node | lanes |
//! |---|---|
//! | `swim:meta:host` | `nodes` (a map of the running agents by node URI), `pulse` |
//! | `swim:meta:node/<node>` | `lanes` (a map of `{laneUri, laneType}`), `pulse`, `traceLog` ... `failLog` |
//! | `swim:meta:node/<node>/lane/<lane>` | `uplinks` (a map of the lane's subscribers), `pulse` |
//!
//! `<node>` is the agent's node URI, percent-encoded ([`meta_node_uri`]); `swimos:meta:`
//! (swim-rust's prefix) names the same nodes. A meta node of an agent that is not running is
//! not found: looking never starts an agent.
//!
//! | file | concern |
//! |---|---|
//! | `address.rs` | meta node URIs and their lanes |
//! | `feed.rs` | the subscribers of one meta lane |
//! | `logs.rs` | log lanes: agents' `tracing` events, by level |
//! | `host.rs` | the host's meta node: running agents, the host's pulse |
//! | `metrics.rs` | Prometheus metrics (`GET /metrics`) |
//! | `pulse.rs` | figures, counters, rates and the pulse records |
//! | `rejections.rs` | client input the server refused: counted, and logged with a throttle |

mod address;
mod feed;
mod host;
mod logs;
mod metrics;
mod pulse;
mod rejections;

pub use address::meta_node_uri;
pub(crate) use address::{is_meta, parse, LogLevel, MetaAddress, MetaLane, MetaNode};
pub(crate) use feed::{MapFeed, ValueFeed};
pub(crate) use host::HostMeta;
pub(crate) use logs::{AgentLogs, LogTap, Logged};
pub(crate) use metrics::Metrics;
pub(crate) use pulse::{Counter, Figures, LinkFigures, NodeCounters, Pulses, Scope};
pub(crate) use rejections::{clip, RefusalLog, Rejection, Rejections, LOG_INTERVAL};

/// Settings of a server's introspection (see `ServerBuilder::enable_introspection`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IntrospectionConfig {
    /// The time between pulses of the host, its nodes and lanes: each is published at most
    /// once per interval, and only when it changed. Default 1 s.
    pub pulse_interval: std::time::Duration,
}

impl Default for IntrospectionConfig {
    fn default() -> Self {
        IntrospectionConfig {
            pulse_interval: std::time::Duration::from_secs(1),
        }
    }
}

/// Node URIs that name meta nodes, to check that no route of the user's takes them.
pub(crate) const META_SAMPLES: [&str; 4] = [
    "swim:meta:host",
    "swim:meta:node/%2Fa",
    "swimos:meta:host",
    "swimos:meta:node/%2Fa",
];

/// The lane kinds as SwimOS Java names them (`laneType`): demand-map and join lanes are `map`.
pub(crate) const LANE_KINDS: [&str; 6] = ["value", "map", "command", "demand", "supply", "http"];

/// The position in [`LANE_KINDS`] of a lane of `kind`; `None` for stores.
pub(crate) fn lane_kind_index(kind: crate::lanes::ItemKind) -> Option<usize> {
    let name = kind.lane_type()?;
    LANE_KINDS.iter().position(|known| *known == name)
}
