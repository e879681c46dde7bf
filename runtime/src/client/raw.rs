//! Raw links: a lane's events as Recon values, whatever its type (for tools such as the CLI).

use std::sync::Arc;

use tokio::sync::mpsc;

use super::ClientEnvironment;
use crate::environment::RemoteHosts;
use crate::lanes::{
    next_link_id, Encoded, ItemKind, LinkSink, LinkSubscriber, ReconMapSink, ReconValueSink,
    UnlinkReason,
};
use crate::recon::Value;
use crate::warp::map_event_body;

/// What a raw link reports.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RawEvent {
    /// The kind of the lane, before `Linked`, when the host says (a tidal server does; a SwimOS
    /// server does not).
    Kind(ItemKind),
    /// The link is established.
    Linked,
    /// One event (for a map lane, the operation: `@update(key:K) V`, `@remove(key:K)`, ...).
    Event(Value),
    /// The lane's state has been sent in full.
    Synced,
    /// The link is over.
    Unlinked(UnlinkReason),
}

/// Forwards a link's events to a channel.
pub(crate) struct RawSink {
    events: mpsc::UnboundedSender<RawEvent>,
}

impl RawSink {
    /// A subscriber to any lane whose events arrive on the returned channel.
    pub(crate) fn subscriber(sync: bool) -> (LinkSubscriber, mpsc::UnboundedReceiver<RawEvent>) {
        let (tx, events) = mpsc::unbounded_channel();
        let sink = Arc::new(RawSink { events: tx });
        let subscriber = LinkSubscriber::Untyped {
            id: next_link_id(),
            value: sink.clone(),
            map: sink,
            sync,
        };
        (subscriber, events)
    }
}

impl LinkSink for RawSink {
    fn lane_kind(&self, kind: ItemKind) {
        let _ = self.events.send(RawEvent::Kind(kind));
    }

    fn linked(&self) {
        let _ = self.events.send(RawEvent::Linked);
    }

    fn synced(&self) {
        let _ = self.events.send(RawEvent::Synced);
    }

    fn unlinked(&self, reason: UnlinkReason) {
        let _ = self.events.send(RawEvent::Unlinked(reason));
    }

    fn is_closed(&self) -> bool {
        self.events.is_closed()
    }
}

impl ReconValueSink for RawSink {
    fn event_recon(&self, value: &Encoded) -> Result<(), String> {
        let _ = self.events.send(RawEvent::Event(value.value().clone()));
        Ok(())
    }
}

impl ReconMapSink for RawSink {
    fn update_recon(&self, key: &Encoded, value: &Encoded) -> Result<(), String> {
        let body = map_event_body(key.value(), Some(value.value()));
        let _ = self.events.send(RawEvent::Event(body));
        Ok(())
    }

    fn remove_recon(&self, key: &Encoded) -> Result<(), String> {
        let _ = self
            .events
            .send(RawEvent::Event(map_event_body(key.value(), None)));
        Ok(())
    }

    fn clear(&self) {
        let _ = self.events.send(RawEvent::Event(Value::of_attr("clear")));
    }
}

/// A raw link to a remote lane: receive its events with [`RawLink::next`]. Dropping it unlinks.
pub struct RawLink {
    events: mpsc::UnboundedReceiver<RawEvent>,
    host: String,
    id: u64,
    environment: Arc<ClientEnvironment>,
}

impl RawLink {
    pub(crate) fn open(
        environment: &Arc<ClientEnvironment>,
        host: &str,
        node: &str,
        lane: &str,
        sync: bool,
    ) -> Self {
        let (subscriber, events) = RawSink::subscriber(sync);
        let id = subscriber.id();
        environment.remote.link(host, node, lane, subscriber);
        RawLink {
            events,
            host: host.to_owned(),
            id,
            environment: environment.clone(),
        }
    }

    /// The next event; `None` once the link is over and its events are all read.
    pub async fn next(&mut self) -> Option<RawEvent> {
        self.events.recv().await
    }
}

impl Drop for RawLink {
    fn drop(&mut self) {
        self.environment.remote.unlink(&self.host, self.id);
    }
}
