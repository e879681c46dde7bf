//! Why a link ended.

use std::fmt;

/// Why a link ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnlinkReason {
    /// The link was closed normally (by either side).
    Closed,
    /// The agent holding the lane stopped.
    AgentStopped,
    /// The agent now runs on another server of the plane (its shard moved). A member that
    /// forwarded the link links again to the new owner; only a client connected straight to
    /// the old owner sees it (`@unlinked` with the tag `@moved`), and may link again.
    Moved,
    /// No agent serves the node URI.
    NodeNotFound,
    /// The agent has no lane of that name.
    LaneNotFound,
    /// The lane is not of a kind this subscriber can link to (e.g. a map downlink to a value
    /// lane).
    KindMismatch {
        /// The kind of the lane.
        lane: &'static str,
        /// What the subscriber expected.
        expected: &'static str,
    },
    /// A value from the lane could not be converted to the subscriber's type.
    BadValue(String),
    /// The host could not be reached.
    Unreachable(String),
    /// The subscriber fell too far behind a lane that must not drop its events (a supply
    /// lane): it had `bound` events waiting.
    Overflow {
        /// How many events a subscriber may have waiting.
        bound: usize,
    },
}

impl UnlinkReason {
    /// Whether the link failed (as opposed to being closed, or not finding its target).
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            UnlinkReason::KindMismatch { .. }
                | UnlinkReason::BadValue(_)
                | UnlinkReason::Unreachable(_)
                | UnlinkReason::Overflow { .. }
        )
    }
}

impl fmt::Display for UnlinkReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnlinkReason::Closed => f.write_str("link closed"),
            UnlinkReason::AgentStopped => f.write_str("the agent stopped"),
            UnlinkReason::Moved => f.write_str("the agent moved to another server of the plane"),
            UnlinkReason::NodeNotFound => f.write_str("node not found"),
            UnlinkReason::LaneNotFound => f.write_str("lane not found"),
            UnlinkReason::KindMismatch { lane, expected } => {
                write!(f, "the lane is a {lane}, expected a {expected}")
            }
            UnlinkReason::BadValue(reason) => write!(f, "bad value from the lane: {reason}"),
            UnlinkReason::Unreachable(reason) => write!(f, "unreachable: {reason}"),
            UnlinkReason::Overflow { bound } => write!(
                f,
                "the subscriber fell behind: {bound} events were waiting for it, and this lane drops none"
            ),
        }
    }
}

impl std::error::Error for UnlinkReason {}
