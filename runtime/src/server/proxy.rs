//! The stand-in for a node's agent on a member of a plane: every request for the node goes
//! through it, in order, to where the agent runs now: this server's agent, or the member that
//! owns the node (over the one connection per host of the remote pool, which shares one
//! upstream link per lane among all local subscribers).
//!
//! A link made through the stand-in survives moves of its agent: its sinks are watched, and
//! when the agent moves (the owner answers `@unlinked@moved`, the local agent stops because its
//! shard went elsewhere, or the owner leaves or dies and placement names another member), the
//! stand-in links again where the agent is now, with the same sync request: the subscriber
//! sees a resync, never an unlink. A request waits while its node has no usable owner (a shard
//! being claimed), up to twice the lease.
//!
//! A stand-in for requests from another member (`forward` off) never sends a link on: if the
//! node is placed elsewhere, the link ends with [`UnlinkReason::Moved`] and the member that
//! sent it links where its own view says. Commands go on once (the connection is marked as
//! coming from a member, so the next member serves or drops them: no request loops).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use tokio::sync::mpsc;

use super::plane::{Owner, Plane};
use super::registry::Registry;
use crate::environment::{post_unlink, Environment, Mailbox, Request, Waits};
use crate::lanes::UnlinkReason;
use crate::lanes::{Encoded, ItemKind, LinkSink, LinkSubscriber, ReconMapSink, ReconValueSink};
use crate::vocabulary::StatusCode;

/// How many requests wait for the stand-in (as for an agent's inbox).
const INBOX: usize = 1024;

/// Where a request for the node goes.
pub(crate) enum Target {
    /// To the node's agent on this server.
    Here(Mailbox),
    /// To the member at this address.
    There(String),
}

/// What a watched link tells its stand-in.
enum Note {
    /// The agent moved: link again where it is now.
    Relink(u64),
    /// The link ended for good: forget it.
    Ended(u64),
}

/// Starts the stand-in for `node` on the member whose plane is `plane`: with `forward`,
/// requests go wherever the node's agent runs; without (requests another member forwarded),
/// only to this server's agent.
pub(crate) fn spawn(
    registry: Weak<Registry>,
    plane: Arc<Plane>,
    node: String,
    forward: bool,
) -> Mailbox {
    let (mailbox, requests) = mpsc::channel(INBOX);
    let (notes, noted) = mpsc::unbounded_channel();
    let stand_in = StandIn {
        registry,
        plane,
        node,
        forward,
        links: HashMap::new(),
        notes,
        mailbox: mailbox.downgrade(),
    };
    tokio::spawn(stand_in.run(requests, noted));
    mailbox
}

/// A link made through the stand-in: what it takes to make it again elsewhere.
struct Forwarded {
    lane: String,
    /// Where it is linked: a member's address, or `None` for this server's agent.
    host: Option<String>,
    sync: bool,
    kind: Kind,
    watched: Arc<Watched>,
}

/// The kind of subscriber a link was asked for.
#[derive(Clone, Copy)]
enum Kind {
    Value,
    Map,
    Untyped,
}

impl Forwarded {
    /// The request that makes the link (again).
    fn subscriber(&self) -> LinkSubscriber {
        let (id, sync) = (self.watched.id, self.sync);
        // The typed fast path of a local lane would go around the watch: links through a
        // stand-in take Recon.
        match self.kind {
            Kind::Value => LinkSubscriber::Value {
                id,
                typed: Box::new(()),
                recon: self.watched.clone(),
                sync,
            },
            Kind::Map => LinkSubscriber::Map {
                id,
                typed: Box::new(()),
                recon: self.watched.clone(),
                sync,
            },
            Kind::Untyped => LinkSubscriber::Untyped {
                id,
                value: self.watched.clone(),
                map: self.watched.clone(),
                sync,
            },
        }
    }
}

struct StandIn {
    registry: Weak<Registry>,
    plane: Arc<Plane>,
    node: String,
    forward: bool,
    links: HashMap<u64, Forwarded>,
    notes: mpsc::UnboundedSender<Note>,
    /// Its own inbox, to take itself out of the registry (and not a successor).
    mailbox: mpsc::WeakSender<Request>,
}

impl StandIn {
    async fn run(
        mut self,
        mut requests: mpsc::Receiver<Request>,
        mut noted: mpsc::UnboundedReceiver<Note>,
    ) {
        let mut changes = self.plane.changes();
        // A stand-in with no links that gets no request for three leases ends.
        let idle_for = self.plane.keeper.lease * 3;
        let idle = tokio::time::sleep(idle_for);
        tokio::pin!(idle);
        loop {
            tokio::select! {
                request = requests.recv() => {
                    let Some(request) = request else { break };
                    let Some(registry) = self.registry.upgrade() else {
                        refuse(&self.node, request, UnlinkReason::AgentStopped);
                        break;
                    };
                    if !self.request(request, &registry).await {
                        break;
                    }
                    idle.as_mut().reset(tokio::time::Instant::now() + idle_for);
                }
                () = idle.as_mut(), if self.links.is_empty() => {
                    // Nothing links through it and nothing came for a while: it goes, and the
                    // next request for the node starts another. What was sent before it
                    // closed is still handled.
                    let Some(registry) = self.registry.upgrade() else { break };
                    tracing::debug!(node = %self.node, "the stand-in is idle: it ends");
                    registry.forget_stand_in(&self.node, self.forward, &self.mailbox);
                    requests.close();
                    while let Some(request) = requests.recv().await {
                        if !self.request(request, &registry).await {
                            break;
                        }
                    }
                    break;
                }
                Some(note) = noted.recv() => {
                    let Some(registry) = self.registry.upgrade() else { break };
                    match note {
                        Note::Relink(id) => self.relink(id, &registry).await,
                        Note::Ended(id) => {
                            self.links.remove(&id);
                        }
                    }
                }
                Ok(()) = changes.changed(), if self.forward && !self.links.is_empty() => {
                    let Some(registry) = self.registry.upgrade() else { break };
                    self.follow_owner(&registry).await;
                }
            }
        }
    }

    /// Handles one request; `false` to stop.
    async fn request(&mut self, request: Request, registry: &Registry) -> bool {
        match request {
            Request::Stop(_) => return false,
            Request::Unlink { lane, link } => match self.links.remove(&link) {
                Some(Forwarded { host: None, .. }) => {
                    if let Some(agent) = registry.resolve_running(&self.node) {
                        post_unlink(&agent, Request::Unlink { lane, link });
                    }
                }
                Some(Forwarded {
                    host: Some(host), ..
                }) => {
                    if let Some(pool) = registry.remote() {
                        pool.unlink(&host, link);
                    }
                }
                None => {}
            },
            Request::Link { lane, subscriber } => {
                let (id, sync, kind, watched) = self.watch(subscriber);
                let link = Forwarded {
                    lane,
                    host: None,
                    sync,
                    kind,
                    watched,
                };
                self.links.insert(id, link);
                self.link(id, None, false, registry).await;
            }
            request => match registry.target(&self.node).await {
                Ok(target) => self.send(request, target, registry).await,
                Err(reason) => refuse(&self.node, request, reason),
            },
        }
        true
    }

    /// Takes a link request apart, with its sinks watched.
    fn watch(&self, subscriber: LinkSubscriber) -> (u64, bool, Kind, Arc<Watched>) {
        let watched = |id, value, map| {
            Arc::new(Watched {
                id,
                value,
                map,
                forward: self.forward,
                node: self.node.clone(),
                plane: self.plane.clone(),
                losses: AtomicU64::new(0),
                notes: self.notes.clone(),
            })
        };
        match subscriber {
            LinkSubscriber::Value {
                id, recon, sync, ..
            } => (id, sync, Kind::Value, watched(id, Some(recon), None)),
            LinkSubscriber::Map {
                id, recon, sync, ..
            } => (id, sync, Kind::Map, watched(id, None, Some(recon))),
            LinkSubscriber::Untyped {
                id,
                value,
                map,
                sync,
            } => (id, sync, Kind::Untyped, watched(id, Some(value), Some(map))),
        }
    }

    /// Makes the link `id` where the agent runs now; a link that its last host answered
    /// `moved` to (`avoid`) waits for this member's view to change before going there again.
    /// A new link of this server's own clients fails once no member owns its node within the
    /// plane's patience; a link made again after a move (`again`), or forwarded by another
    /// member, waits as long as its subscriber does (the database may be down for a while), so
    /// that a move never ends it.
    async fn link(&mut self, id: u64, avoid: Option<String>, again: bool, registry: &Registry) {
        let again = again || !self.forward;
        let target = loop {
            let target = if self.forward {
                self.forwarded_target(avoid.clone(), registry).await
            } else {
                self.owned_target(registry).await
            };
            let waiting = self
                .links
                .get(&id)
                .is_some_and(|link| !link.watched.is_closed());
            match target {
                Err(UnlinkReason::Unreachable(why)) if again && waiting && !registry.stopping() => {
                    tracing::debug!(node = %self.node, %why, "still no owner; the link waits");
                }
                target => break target,
            }
        };
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        match target {
            Ok(Target::Here(agent)) => {
                link.host = None;
                link.watched
                    .losses
                    .store(self.plane.losses(&self.node), Ordering::Release);
                let request = Request::Link {
                    lane: link.lane.clone(),
                    subscriber: link.subscriber(),
                };
                if let Err(mpsc::error::SendError(request)) = agent.send(request).await {
                    self.links.remove(&id);
                    request.refuse(UnlinkReason::AgentStopped);
                }
            }
            Ok(Target::There(host)) => {
                let Some(pool) = registry.remote() else {
                    if let Some(link) = self.links.remove(&id) {
                        link.watched.end(UnlinkReason::Unreachable(host));
                    }
                    return;
                };
                pool.link(&host, &self.node, &link.lane, link.subscriber());
                link.host = Some(host);
            }
            Err(reason) => {
                if let Some(link) = self.links.remove(&id) {
                    link.watched.end(reason);
                }
            }
        }
    }

    /// Where a link from this server's own clients and agents goes.
    async fn forwarded_target(
        &self,
        avoid: Option<String>,
        registry: &Registry,
    ) -> Result<Target, UnlinkReason> {
        let target = registry.target(&self.node).await?;
        match (&target, avoid) {
            (Target::There(host), Some(avoid)) if *host == avoid => {
                // This member still thinks the node is there: give its view one tick.
                let mut changes = self.plane.changes();
                let tick = self.plane.keeper.tick;
                let _ = tokio::time::timeout(tick, changes.changed()).await;
                registry.target(&self.node).await
            }
            _ => Ok(target),
        }
    }

    /// Where a link from another member goes: only to this server's agent. If this member
    /// sees the node placed elsewhere, the other member is told it moved.
    async fn owned_target(&self, registry: &Registry) -> Result<Target, UnlinkReason> {
        match registry.target(&self.node).await? {
            Target::There(_) => Err(UnlinkReason::Moved),
            here => Ok(here),
        }
    }

    /// The agent of the link `id` moved: link it again where it is now.
    async fn relink(&mut self, id: u64, registry: &Registry) {
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        let avoid = link.host.take();
        if let (Some(host), Some(pool)) = (&avoid, registry.remote()) {
            pool.unlink(host, id);
        }
        tracing::debug!(node = %self.node, lane = %link.lane, from = ?avoid, "the agent moved: linking again");
        self.link(id, avoid, true, registry).await;
    }

    /// The plane changed: links to a member that placement no longer gives the node to (it
    /// left, or died and its lease ran out) go to the new owner.
    async fn follow_owner(&mut self, registry: &Registry) {
        let owner = match self.plane.owner(&self.node) {
            Owner::Here => None,
            Owner::There(address) => Some(address),
            Owner::Unknown => return,
        };
        let stale: Vec<u64> = self
            .links
            .iter()
            .filter(|(_, link)| link.host.is_some() && link.host != owner)
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            self.relink(id, registry).await;
        }
    }

    /// Sends a request other than a link on to `target`.
    async fn send(&self, request: Request, target: Target, registry: &Registry) {
        let node = self.node.as_str();
        match target {
            Target::Here(agent) => {
                if let Err(mpsc::error::SendError(request)) = agent.send(request).await {
                    refuse(node, request, UnlinkReason::AgentStopped);
                }
            }
            Target::There(host) => {
                let Some(pool) = registry.remote() else {
                    return refuse(node, request, UnlinkReason::Unreachable(host));
                };
                tracing::debug!(node, %host, "forwarding");
                match request {
                    Request::Command { lane, payload, .. } => {
                        if let Err(reason) = pool.command(&host, node, &lane, payload, Waits::Every)
                        {
                            tracing::warn!(node, lane, %reason, "a command for another member was dropped");
                        }
                    }
                    Request::Http { exchange, .. } => exchange.fail(
                        StatusCode::MISDIRECTED_REQUEST,
                        format!(
                            "{node} runs on the member at {host}: send its HTTP requests there"
                        ),
                    ),
                    Request::Run(_) => {
                        tracing::error!(node, %host, "a handler for an agent of another member cannot run here; it was dropped");
                    }
                    // Meta links to a stand-in are refused (introspection shows this
                    // server's agents).
                    other => refuse(node, other, UnlinkReason::NodeNotFound),
                }
            }
        }
    }
}

/// Answers `request` for `node` with `reason`: links are refused, HTTP requests answered
/// `503`, and commands (which have no answer in WARP) logged.
fn refuse(node: &str, request: Request, reason: UnlinkReason) {
    match request {
        Request::Command { lane, .. } => {
            tracing::warn!(node, lane, %reason, "a command was dropped: its node has no owner");
        }
        Request::Http { exchange, .. } => {
            exchange.fail(StatusCode::SERVICE_UNAVAILABLE, reason.to_string());
        }
        other => other.refuse(reason),
    }
}

/// The sinks of a link made through a stand-in, watched for moves of its agent.
struct Watched {
    id: u64,
    value: Option<Arc<dyn ReconValueSink>>,
    map: Option<Arc<dyn ReconMapSink>>,
    /// Whether the stand-in links again (its own clients' links) or tells the other member
    /// (a link that member forwarded).
    forward: bool,
    node: String,
    plane: Arc<Plane>,
    /// The node's shard's losses when it was last linked to this server's agent.
    losses: AtomicU64,
    notes: mpsc::UnboundedSender<Note>,
}

/// Calls a [`LinkSink`] method on the subscriber's sink (its value sink if it has one).
macro_rules! on_sink {
    ($watched:expr, $($call:tt)*) => {
        match (&$watched.value, &$watched.map) {
            (Some(value), _) => value.$($call)*,
            (None, Some(map)) => map.$($call)*,
            (None, None) => Default::default(),
        }
    };
}

impl Watched {
    /// Ends the link for good with `reason`.
    fn end(&self, reason: UnlinkReason) {
        on_sink!(self, unlinked(reason));
    }
}

impl LinkSink for Watched {
    fn lane_kind(&self, kind: ItemKind) {
        on_sink!(self, lane_kind(kind));
    }

    fn linked(&self) {
        on_sink!(self, linked());
    }

    fn synced(&self) {
        on_sink!(self, synced());
    }

    fn unlinked(&self, reason: UnlinkReason) {
        // The owner said so, or the local agent stopped because its shard went elsewhere
        // (it may be back already: a lost shard claimed again at once).
        let moved = match reason {
            UnlinkReason::Moved => true,
            UnlinkReason::AgentStopped => {
                !self.plane.held.holds(&self.node)
                    || self.plane.losses(&self.node) != self.losses.load(Ordering::Acquire)
            }
            _ => false,
        };
        if moved && self.forward && self.notes.send(Note::Relink(self.id)).is_ok() {
            return;
        }
        let _ = self.notes.send(Note::Ended(self.id));
        self.end(if moved { UnlinkReason::Moved } else { reason });
    }

    fn connection_lost(&self) {
        on_sink!(self, connection_lost());
    }

    fn is_closed(&self) -> bool {
        on_sink!(self, is_closed())
    }
}

impl ReconValueSink for Watched {
    fn event_recon(&self, value: &Encoded) -> Result<(), String> {
        match &self.value {
            Some(sink) => sink.event_recon(value),
            None => Err("a map link received a value event".to_owned()),
        }
    }
}

impl ReconMapSink for Watched {
    fn update_recon(&self, key: &Encoded, value: &Encoded) -> Result<(), String> {
        match &self.map {
            Some(sink) => sink.update_recon(key, value),
            None => Err("a value link received a map event".to_owned()),
        }
    }

    fn remove_recon(&self, key: &Encoded) -> Result<(), String> {
        match &self.map {
            Some(sink) => sink.remove_recon(key),
            None => Err("a value link received a map event".to_owned()),
        }
    }

    fn clear(&self) {
        if let Some(sink) = &self.map {
            sink.clear();
        }
    }
}
