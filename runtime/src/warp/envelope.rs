//! The envelope model: [`EnvelopeKind`] and [`Envelope`].

use std::fmt;

use crate::recon::Value;

/// The twelve kinds of WARP envelope, named by the envelope's tag (`@link`, `@event`...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EnvelopeKind {
    /// `@link`: client asks to receive the lane's events (no current state).
    Link,
    /// `@sync`: client asks for the lane's current state, then its events.
    Sync,
    /// `@unlink`: client asks to stop a link.
    Unlink,
    /// `@command`: client sends a value to a lane.
    Command,
    /// `@linked`: server confirms a link.
    Linked,
    /// `@synced`: server has sent the whole current state of a lane.
    Synced,
    /// `@unlinked`: server ends a link (body: the reason, e.g. `@nodeNotFound`).
    Unlinked,
    /// `@event`: server sends a lane event to a linked client.
    Event,
    /// `@auth`: client sends credentials to the host (no header).
    Auth,
    /// `@authed`: host accepts credentials (no header).
    Authed,
    /// `@deauth`: client drops its credentials (no header).
    Deauth,
    /// `@deauthed`: host drops a client's credentials (no header).
    Deauthed,
}

impl EnvelopeKind {
    /// Every kind, in declaration order.
    pub const ALL: [EnvelopeKind; 12] = [
        EnvelopeKind::Link,
        EnvelopeKind::Sync,
        EnvelopeKind::Unlink,
        EnvelopeKind::Command,
        EnvelopeKind::Linked,
        EnvelopeKind::Synced,
        EnvelopeKind::Unlinked,
        EnvelopeKind::Event,
        EnvelopeKind::Auth,
        EnvelopeKind::Authed,
        EnvelopeKind::Deauth,
        EnvelopeKind::Deauthed,
    ];

    /// The tag name, without the `@`: `"link"`, `"event"`, `"deauthed"`...
    pub fn tag(self) -> &'static str {
        match self {
            EnvelopeKind::Link => "link",
            EnvelopeKind::Sync => "sync",
            EnvelopeKind::Unlink => "unlink",
            EnvelopeKind::Command => "command",
            EnvelopeKind::Linked => "linked",
            EnvelopeKind::Synced => "synced",
            EnvelopeKind::Unlinked => "unlinked",
            EnvelopeKind::Event => "event",
            EnvelopeKind::Auth => "auth",
            EnvelopeKind::Authed => "authed",
            EnvelopeKind::Deauth => "deauth",
            EnvelopeKind::Deauthed => "deauthed",
        }
    }

    /// The kind whose tag is exactly `tag` (case-sensitive, without the `@`).
    pub fn from_tag(tag: &str) -> Option<EnvelopeKind> {
        Some(match tag {
            "link" => EnvelopeKind::Link,
            "sync" => EnvelopeKind::Sync,
            "unlink" => EnvelopeKind::Unlink,
            "command" => EnvelopeKind::Command,
            "linked" => EnvelopeKind::Linked,
            "synced" => EnvelopeKind::Synced,
            "unlinked" => EnvelopeKind::Unlinked,
            "event" => EnvelopeKind::Event,
            "auth" => EnvelopeKind::Auth,
            "authed" => EnvelopeKind::Authed,
            "deauth" => EnvelopeKind::Deauth,
            "deauthed" => EnvelopeKind::Deauthed,
            _ => return None,
        })
    }

    /// Whether this kind is addressed to the host rather than to a lane (`auth`,
    /// `authed`, `deauth`, `deauthed`): it has no header, so no node and no lane.
    pub fn is_host_addressed(self) -> bool {
        matches!(
            self,
            EnvelopeKind::Auth
                | EnvelopeKind::Authed
                | EnvelopeKind::Deauth
                | EnvelopeKind::Deauthed
        )
    }

    /// Whether the header of this kind may carry `prio` and `rate` (`link`, `sync` and
    /// `linked` only).
    pub fn takes_prio_and_rate(self) -> bool {
        matches!(
            self,
            EnvelopeKind::Link | EnvelopeKind::Sync | EnvelopeKind::Linked
        )
    }
}

impl fmt::Display for EnvelopeKind {
    /// The tag name, without the `@`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

/// One WARP envelope.
///
/// `Display` prints it exactly as [`write_envelope`](super::write_envelope) does.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The kind (the tag).
    pub kind: EnvelopeKind,
    /// The node URI, as written (not decoded or normalised); empty for the
    /// host-addressed kinds.
    pub node: String,
    /// The lane URI; empty for the host-addressed kinds.
    pub lane: String,
    /// The `prio` slot, if present (only `link`, `sync` and `linked` have one).
    pub prio: Option<f32>,
    /// The `rate` slot, if present (only `link`, `sync` and `linked` have one).
    pub rate: Option<f32>,
    /// The body, [`Value::Absent`] when the envelope has none.
    pub body: Value,
}

impl Envelope {
    /// An envelope with the given kind and addresses, no `prio` or `rate`, and no body.
    ///
    /// For the host-addressed kinds pass empty `node` and `lane` (see
    /// [`Envelope::host`]).
    pub fn new(kind: EnvelopeKind, node: impl Into<String>, lane: impl Into<String>) -> Self {
        Envelope {
            kind,
            node: node.into(),
            lane: lane.into(),
            prio: None,
            rate: None,
            body: Value::Absent,
        }
    }

    /// A host-addressed envelope (`auth`, `authed`, `deauth`, `deauthed`) with a body.
    pub fn host(kind: EnvelopeKind, body: Value) -> Self {
        Envelope::new(kind, "", "").with_body(body)
    }

    /// Builder: sets the body.
    pub fn with_body(mut self, body: Value) -> Self {
        self.body = body;
        self
    }

    /// Builder: sets the `prio` slot (written only for `link`, `sync` and `linked`).
    pub fn with_prio(mut self, prio: f32) -> Self {
        self.prio = Some(prio);
        self
    }

    /// Builder: sets the `rate` slot (written only for `link`, `sync` and `linked`).
    pub fn with_rate(mut self, rate: f32) -> Self {
        self.rate = Some(rate);
        self
    }
}

impl fmt::Display for Envelope {
    /// The wire form, as written by [`write_envelope`](super::write_envelope).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        super::write::write_envelope_to(f, self)
    }
}
