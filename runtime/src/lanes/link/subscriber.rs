//! Link requests: the subscriber a lane is asked to attach, with the sinks it offers.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use super::{LinkSink, ReconMapSink, ReconValueSink};
use crate::vocabulary::UnlinkReason;

/// The parts of a link request of the kind a lane expected.
pub(crate) struct Parts<S: ?Sized> {
    pub(crate) id: u64,
    pub(crate) typed: Box<dyn Any + Send>,
    pub(crate) recon: Arc<S>,
    pub(crate) sync: bool,
}

/// A new, process-wide unique link id (0 is never used).
pub fn next_link_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A request to link to a lane.
pub enum LinkSubscriber {
    /// To a value lane (state and changes) or a command lane (commands).
    Value {
        /// The link's id, to unlink it later (see [`next_link_id`]).
        id: u64,
        /// `Arc<dyn ValueSink<T>>` for the subscriber's `T`, used when it is the lane's type.
        typed: Box<dyn Any + Send>,
        /// The same subscriber, taking Recon values.
        recon: Arc<dyn ReconValueSink>,
        /// Whether to send the lane's state first (`@sync` rather than `@link`).
        sync: bool,
    },
    /// To a lane of any kind, with Recon values (e.g. for a remote client, which does not know
    /// the kind of the lane it links to).
    Untyped {
        /// The link's id, to unlink it later.
        id: u64,
        /// Receives the events of value and command lanes.
        value: Arc<dyn ReconValueSink>,
        /// Receives the events of map lanes (usually the same object as `value`).
        map: Arc<dyn ReconMapSink>,
        /// Whether to send the lane's state first.
        sync: bool,
    },
    /// To a map lane.
    Map {
        /// The link's id, to unlink it later.
        id: u64,
        /// `Arc<dyn MapSink<K, V>>` for the subscriber's `K` and `V`.
        typed: Box<dyn Any + Send>,
        /// The same subscriber, taking Recon keys and values.
        recon: Arc<dyn ReconMapSink>,
        /// Whether to send the lane's entries first.
        sync: bool,
    },
}

impl LinkSubscriber {
    /// Tells the subscriber that the link failed before it was made.
    pub fn refuse(self, reason: UnlinkReason) {
        self.sink().unlinked(reason);
    }

    /// The link's id.
    pub fn id(&self) -> u64 {
        match self {
            LinkSubscriber::Value { id, .. }
            | LinkSubscriber::Map { id, .. }
            | LinkSubscriber::Untyped { id, .. } => *id,
        }
    }

    /// Whether the subscriber asked for the lane's state first.
    pub fn wants_sync(&self) -> bool {
        match self {
            LinkSubscriber::Value { sync, .. }
            | LinkSubscriber::Map { sync, .. }
            | LinkSubscriber::Untyped { sync, .. } => *sync,
        }
    }

    /// The subscriber's link notifications.
    pub fn sink(&self) -> &dyn LinkSink {
        match self {
            LinkSubscriber::Value { recon, .. } => recon.as_ref(),
            LinkSubscriber::Map { recon, .. } => recon.as_ref(),
            LinkSubscriber::Untyped { value, .. } => value.as_ref(),
        }
    }

    /// The kind of lane the subscriber expects, for error messages.
    fn expected(&self) -> &'static str {
        match self {
            LinkSubscriber::Value { .. } => "value or command lane",
            LinkSubscriber::Map { .. } => "map lane",
            LinkSubscriber::Untyped { .. } => "lane",
        }
    }

    /// The parts of a value subscriber; any other is refused (the lane is a `lane`).
    pub(crate) fn into_value(self, lane: &'static str) -> Option<Parts<dyn ReconValueSink>> {
        match self {
            LinkSubscriber::Value {
                id,
                typed,
                recon,
                sync,
            } => Some(Parts {
                id,
                typed,
                recon,
                sync,
            }),
            LinkSubscriber::Untyped {
                id, value, sync, ..
            } => Some(Parts {
                id,
                typed: Box::new(()),
                recon: value,
                sync,
            }),
            other => other.refuse_kind(lane),
        }
    }

    /// The parts of a map subscriber; any other is refused (the lane is a `lane`).
    pub(crate) fn into_map(self, lane: &'static str) -> Option<Parts<dyn ReconMapSink>> {
        match self {
            LinkSubscriber::Map {
                id,
                typed,
                recon,
                sync,
            } => Some(Parts {
                id,
                typed,
                recon,
                sync,
            }),
            LinkSubscriber::Untyped { id, map, sync, .. } => Some(Parts {
                id,
                typed: Box::new(()),
                recon: map,
                sync,
            }),
            other => other.refuse_kind(lane),
        }
    }

    fn refuse_kind<T>(self, lane: &'static str) -> Option<T> {
        let expected = self.expected();
        self.refuse(UnlinkReason::KindMismatch { lane, expected });
        None
    }
}

impl fmt::Debug for LinkSubscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LinkSubscriber({})", self.expected())
    }
}
