//! Why a link ended, and whether that is final.

use std::fmt;

/// Why a link ended. Every subscriber told that its link closed is told why. The reasons fall
/// in two groups, which decide what join lanes do with their stored links (see
/// `LinkClosedResponse`):
///
/// | reason | when | final? | wire (`@unlinked` body) |
/// |---|---|---|---|
/// | [`Closed`](UnlinkReason::Closed) | either side closed the link | yes | `"Link closed."` |
/// | [`AgentStopped`](UnlinkReason::AgentStopped) | the agent stopped on its own (`AgentRef::stop`, a failure) | yes | text |
/// | [`ServerStopping`](UnlinkReason::ServerStopping) | the agent's server stops | no | `@stopping` |
/// | [`Moved`](UnlinkReason::Moved) | the agent now runs on another member of the plane | no | `@moved` |
/// | [`Unreachable`](UnlinkReason::Unreachable) | the host or the plane's owner could not be reached | no | `@unreachable("why")` |
/// | [`NodeNotFound`](UnlinkReason::NodeNotFound) | no route serves the node | yes | `@nodeNotFound` |
/// | [`LaneNotFound`](UnlinkReason::LaneNotFound) | the agent has no such lane | yes | `@laneNotFound` |
/// | [`Forbidden`](UnlinkReason::Forbidden) | the server's policy refuses the link (also when an identity changes) | yes | `@forbidden` |
/// | [`KindMismatch`](UnlinkReason::KindMismatch), [`BadValue`](UnlinkReason::BadValue) | the lane does not fit the subscriber | yes | text |
/// | [`Overflow`](UnlinkReason::Overflow) | the subscriber fell behind a lane that drops nothing | yes | text |
///
/// A close that is not final says nothing about the link itself: the same link works again
/// once the server is back, the move is over or the host answers. Agents are passivated only
/// when nothing links to them and they link to nothing, so passivation closes no link.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnlinkReason {
    /// The link was closed normally (by either side).
    Closed,
    /// The agent holding the lane stopped on its own: it was asked to (`AgentRef::stop`), or a
    /// handler failed and its policy stops it.
    AgentStopped,
    /// The agent holding the lane stopped because its server stops (a graceful shutdown). The
    /// link works again when the server is back.
    ServerStopping,
    /// The agent now runs on another server of the plane (its shard moved). A member that
    /// forwarded the link links again to the new owner; only a client connected straight to
    /// the old owner sees it (`@unlinked` with the tag `@moved`), and may link again.
    Moved,
    /// No agent serves the node URI.
    NodeNotFound,
    /// The agent has no lane of that name.
    LaneNotFound,
    /// The server's policy does not let the subscriber's identity link to the lane (refused
    /// at once, or withdrawn when the connection's identity changed).
    Forbidden,
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
    /// Whether the link failed on this side (the lane does not fit the subscriber, or the host
    /// could not be reached) rather than being closed or refused by the lane's server, as
    /// SwimOS has it. Downlinks and join lanes run `on_failed` for failures and `on_unlinked`
    /// for the others (an unknown node or lane, a refusal: `@unlinked` on the wire).
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            UnlinkReason::KindMismatch { .. }
                | UnlinkReason::BadValue(_)
                | UnlinkReason::Unreachable(_)
                | UnlinkReason::Overflow { .. }
        )
    }

    /// Whether the close says something about the link itself. Closes that are not final (the
    /// server stops, the agent moves, the host is unreachable) end the link for now only: join
    /// lanes keep such links in their store whatever their lifecycle answers.
    ///
    /// ```
    /// use tidal_runtime::lanes::UnlinkReason;
    ///
    /// assert!(!UnlinkReason::ServerStopping.is_final());
    /// assert!(UnlinkReason::NodeNotFound.is_final());
    /// ```
    pub fn is_final(&self) -> bool {
        !matches!(
            self,
            UnlinkReason::ServerStopping | UnlinkReason::Moved | UnlinkReason::Unreachable(_)
        )
    }

    /// The reason an `@unlinked` body from a peer gives: the tags of the table in the
    /// [`UnlinkReason`] docs; anything else is [`Closed`](UnlinkReason::Closed).
    pub fn from_tag(tag: Option<&str>) -> Self {
        match tag {
            Some("nodeNotFound") => UnlinkReason::NodeNotFound,
            Some("laneNotFound") => UnlinkReason::LaneNotFound,
            Some("moved") => UnlinkReason::Moved,
            Some("stopping") => UnlinkReason::ServerStopping,
            Some("forbidden") => UnlinkReason::Forbidden,
            Some("unreachable") => UnlinkReason::Unreachable(String::new()),
            _ => UnlinkReason::Closed,
        }
    }

    /// The body of the `@unlinked` envelope that tells a peer this reason.
    pub fn wire_body(&self) -> String {
        match self {
            UnlinkReason::NodeNotFound => "@nodeNotFound".to_owned(),
            UnlinkReason::LaneNotFound => "@laneNotFound".to_owned(),
            UnlinkReason::Moved => "@moved".to_owned(),
            UnlinkReason::ServerStopping => "@stopping".to_owned(),
            UnlinkReason::Forbidden => "@forbidden".to_owned(),
            UnlinkReason::Unreachable(why) => {
                format!("@unreachable({})", crate::recon::Value::text(why.as_str()))
            }
            UnlinkReason::Closed => "\"Link closed.\"".to_owned(),
            other => crate::recon::Value::Text(other.to_string()).to_string(),
        }
    }
}

impl fmt::Display for UnlinkReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnlinkReason::Closed => f.write_str("link closed"),
            UnlinkReason::AgentStopped => f.write_str("the agent stopped"),
            UnlinkReason::ServerStopping => f.write_str("the agent's server is stopping"),
            UnlinkReason::Forbidden => f.write_str("access to the lane is forbidden"),
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

#[cfg(test)]
mod tests {
    use super::UnlinkReason;
    use crate::recon::parse;

    #[test]
    fn the_reasons_a_peer_can_act_on_come_back_from_the_wire_as_they_went() {
        for reason in [
            UnlinkReason::NodeNotFound,
            UnlinkReason::LaneNotFound,
            UnlinkReason::Moved,
            UnlinkReason::ServerStopping,
            UnlinkReason::Forbidden,
            UnlinkReason::Unreachable(String::new()),
            UnlinkReason::Closed,
        ] {
            let body = parse(&reason.wire_body()).unwrap();
            assert_eq!(UnlinkReason::from_tag(body.tag()), reason);
            // A close that is not final stays not final across the wire.
            assert_eq!(
                UnlinkReason::from_tag(body.tag()).is_final(),
                reason.is_final()
            );
        }
        let body = UnlinkReason::Unreachable("no member owns /c/1".into()).wire_body();
        assert_eq!(body, r#"@unreachable("no member owns /c/1")"#);
    }
}
