//! Meta node URIs, as SwimOS Java writes them (`swim:meta:host`, `swim:meta:node/<node>`,
//! `swim:meta:node/<node>/lane/<lane>`, with the node URI percent-encoded), and the
//! `swimos:meta:` prefix of swim-rust for the same nodes.

use crate::vocabulary::UnlinkReason;

/// The prefixes of meta node URIs.
const PREFIXES: [&str; 2] = ["swim:meta:", "swimos:meta:"];

/// What a meta node is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MetaNode {
    /// The server (`swim:meta:host`).
    Host,
    /// A running agent (`swim:meta:node/<node>`).
    Node(String),
    /// A lane of a running agent (`swim:meta:node/<node>/lane/<lane>`).
    Lane {
        /// The agent's node URI.
        node: String,
        /// The lane's name.
        lane: String,
    },
}

/// The severity of a log lane's entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    /// The agent failed (a handler failure that stops it, or a panic).
    Fail,
}

impl LogLevel {
    /// Every level, in the order of [`index`](Self::index).
    pub(crate) const ALL: [LogLevel; 6] = [
        LogLevel::Trace,
        LogLevel::Debug,
        LogLevel::Info,
        LogLevel::Warn,
        LogLevel::Error,
        LogLevel::Fail,
    ];

    /// The level's position in [`ALL`](Self::ALL).
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The name of the level's lane.
    pub(crate) fn lane(self) -> &'static str {
        match self {
            LogLevel::Trace => "traceLog",
            LogLevel::Debug => "debugLog",
            LogLevel::Info => "infoLog",
            LogLevel::Warn => "warnLog",
            LogLevel::Error => "errorLog",
            LogLevel::Fail => "failLog",
        }
    }
}

/// A lane of a meta node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetaLane {
    /// The host's running agents (a map by node URI).
    Nodes,
    /// Figures of the host, node or lane, published at most once per pulse interval.
    Pulse,
    /// A node's lanes and their kinds (a map by lane name).
    Lanes,
    /// A lane's subscribers (a map by link).
    Uplinks,
    /// A node's log entries of one level.
    Log(LogLevel),
}

/// A lane of a meta node: what a meta link is to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MetaAddress {
    pub(crate) node: MetaNode,
    pub(crate) lane: MetaLane,
    /// The host's `nodes?q=<text>`: only the nodes whose URI contains the text.
    pub(crate) query: Option<String>,
}

/// Whether `node` is a meta node URI (it is then never routed to an agent of the user's).
pub(crate) fn is_meta(node: &str) -> bool {
    PREFIXES.iter().any(|prefix| node.starts_with(prefix))
}

/// The meta address of `lane` of the meta node `node`.
///
/// # Errors
/// [`UnlinkReason::NodeNotFound`] if `node` is not a meta node of a known shape;
/// [`UnlinkReason::LaneNotFound`] if that meta node has no such lane.
pub(crate) fn parse(node: &str, lane: &str) -> Result<MetaAddress, UnlinkReason> {
    let rest = PREFIXES
        .iter()
        .find_map(|prefix| node.strip_prefix(prefix))
        .ok_or(UnlinkReason::NodeNotFound)?;
    let node = if rest == "host" {
        MetaNode::Host
    } else if let Some(path) = rest.strip_prefix("node/") {
        match path.split_once("/lane/") {
            Some((node, lane)) => MetaNode::Lane {
                node: decode(node)?,
                lane: decode(lane)?,
            },
            None => MetaNode::Node(decode(path)?),
        }
    } else {
        return Err(UnlinkReason::NodeNotFound);
    };
    let lane = match (&node, lane) {
        (MetaNode::Host, "nodes") => MetaLane::Nodes,
        (MetaNode::Host, lane) if lane.starts_with("nodes?q=") => {
            let query = decode(&lane["nodes?q=".len()..]).unwrap_or_default();
            return Ok(MetaAddress {
                node,
                lane: MetaLane::Nodes,
                query: Some(query),
            });
        }
        (MetaNode::Node(_), "lanes") => MetaLane::Lanes,
        (MetaNode::Lane { .. }, "uplinks") => MetaLane::Uplinks,
        (_, "pulse") => MetaLane::Pulse,
        (MetaNode::Node(_), log) => LogLevel::ALL
            .into_iter()
            .find(|level| level.lane() == log)
            .map(MetaLane::Log)
            .ok_or(UnlinkReason::LaneNotFound)?,
        _ => return Err(UnlinkReason::LaneNotFound),
    };
    Ok(MetaAddress {
        node,
        lane,
        query: None,
    })
}

/// The meta node URI of the agent at `node` (`swim:meta:node/%2Funit%2F1` for `/unit/1`).
pub fn meta_node_uri(node: &str) -> String {
    format!(
        "swim:meta:node/{}",
        percent_encoding::utf8_percent_encode(node, percent_encoding::NON_ALPHANUMERIC)
    )
}

/// Percent-decodes a path segment (malformed escapes stay as they are).
fn decode(encoded: &str) -> Result<String, UnlinkReason> {
    match percent_encoding::percent_decode_str(encoded).decode_utf8() {
        Ok(decoded) if !decoded.is_empty() => Ok(decoded.into_owned()),
        _ => Err(UnlinkReason::NodeNotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(uri: &str) -> MetaNode {
        MetaNode::Node(uri.to_owned())
    }

    #[test]
    fn host_node_and_lane_addresses_parse_under_both_prefixes() {
        for prefix in ["swim:meta:", "swimos:meta:"] {
            let host = parse(&format!("{prefix}host"), "nodes").unwrap();
            assert_eq!(host.node, MetaNode::Host);
            assert_eq!(host.lane, MetaLane::Nodes);
            let pulse = parse(&format!("{prefix}node/%2Funit%2F1"), "pulse").unwrap();
            assert_eq!(pulse.node, node("/unit/1"));
            let lane = parse(&format!("{prefix}node/%2funit%2f1/lane/level"), "uplinks").unwrap();
            assert_eq!(
                lane.node,
                MetaNode::Lane {
                    node: "/unit/1".to_owned(),
                    lane: "level".to_owned()
                }
            );
        }
        let search = parse("swim:meta:host", "nodes?q=unit%2F").unwrap();
        assert_eq!(search.lane, MetaLane::Nodes);
        assert_eq!(search.query.as_deref(), Some("unit/"));
        let log = parse("swim:meta:node/%2Funit%2F1", "warnLog").unwrap();
        assert_eq!(log.lane, MetaLane::Log(LogLevel::Warn));
    }

    #[test]
    fn unknown_shapes_and_lanes_are_not_found() {
        assert!(is_meta("swim:meta:anything"));
        assert!(!is_meta("/unit/1"));
        for (uri, lane, reason) in [
            ("swim:meta:mesh", "nodes", UnlinkReason::NodeNotFound),
            ("swim:meta:node/", "pulse", UnlinkReason::NodeNotFound),
            ("swim:meta:node/%FF", "pulse", UnlinkReason::NodeNotFound),
            ("swim:meta:host", "lanes", UnlinkReason::LaneNotFound),
            ("swim:meta:node/%2Fa", "nodes", UnlinkReason::LaneNotFound),
            (
                "swim:meta:node/%2Fa/lane/b",
                "lanes",
                UnlinkReason::LaneNotFound,
            ),
            (
                "swim:meta:node/%2Fa/lane/b",
                "infoLog",
                UnlinkReason::LaneNotFound,
            ),
        ] {
            assert_eq!(parse(uri, lane), Err(reason), "{uri} {lane}");
        }
    }

    #[test]
    fn node_uris_are_encoded_as_java_decodes_them() {
        assert_eq!(meta_node_uri("/unit/1"), "swim:meta:node/%2Funit%2F1");
        let encoded = meta_node_uri("/rooms/ä b");
        assert_eq!(parse(&encoded, "pulse").unwrap().node, node("/rooms/ä b"));
    }
}
