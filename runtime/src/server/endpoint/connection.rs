//! One WARP client connection: envelopes in, link events and replies out.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use futures::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use super::limits::{CommandRate, Limits};
use super::uplink::UplinkPending;
use super::EndpointConfig;
use crate::downlink::{Notifier, Slot};
use crate::environment::{post_command, send_link, send_unlink, Environment, Mailbox};
use crate::introspection::{clip, HostMeta, Metrics, RefusalLog, Rejection, LOG_INTERVAL};
use crate::lanes::{next_link_id, CommandPayload, ItemKind, LinkSubscriber, UnlinkReason};
use crate::recon::Value;
use crate::server::policy::{Action, Identity, Policy};
// The policy judges the node a request reaches, in its one spelling (frames back to the
// client keep the client's).
use crate::vocabulary::canonical_node_uri;
use crate::warp::{write_frame, Envelope, EnvelopeKind, EnvelopeRef};

/// A client's link to one lane.
struct ClientLink {
    node: String,
    lane: String,
    /// Whether it was made with `@sync` (the action the policy allowed).
    sync: bool,
    slot: Arc<Slot<UplinkPending>>,
    linked_sent: bool,
}

/// The links of one connection and where their events are announced.
struct Links {
    /// Whether the client is told the kinds of lanes (see [`Access::tells_kinds`]).
    tells_kinds: bool,
    environment: Arc<dyn Environment>,
    ready: mpsc::UnboundedSender<u64>,
    by_id: HashMap<u64, ClientLink>,
    by_address: HashMap<(String, String), u64>,
    /// The inboxes of the agents this connection sent commands to (so that a stream of
    /// commands does not look each one up in the server's registry).
    inboxes: HashMap<String, Mailbox>,
    /// The last of them.
    last_inbox: Option<(String, Mailbox)>,
}

impl Links {
    /// `@link` (sync = false) or `@sync` (sync = true).
    fn link(&mut self, node: String, lane: String, sync: bool) {
        let address = (node, lane);
        let mut linked_sent = false;
        if let Some(id) = self.by_address.get(&address).copied() {
            if !sync {
                return; // Already linked: nothing to do.
            }
            // A sync on a linked lane sends the state again, without a second `@linked`.
            if let Some(old) = self.by_id.remove(&id) {
                linked_sent = old.linked_sent;
                self.close(&old, id);
            }
        }
        let (node, lane) = address;
        let id = next_link_id();
        let slot = Arc::new(Slot::new(Notifier::new(id, self.ready.clone())));
        let subscriber = LinkSubscriber::Untyped {
            id,
            value: slot.clone(),
            map: slot.clone(),
            sync,
        };
        send_link(
            Some(self.environment.as_ref()),
            None,
            &node,
            &lane,
            subscriber,
        );
        self.by_address.insert((node.clone(), lane.clone()), id);
        self.by_id.insert(
            id,
            ClientLink {
                node,
                lane,
                sync,
                slot,
                linked_sent,
            },
        );
    }

    /// `@unlink`: closes the link and confirms, or says the node does not exist.
    fn unlink(&mut self, node: String, lane: String, out: &mut Vec<String>) {
        if let Some(id) = self.by_address.remove(&(node, lane)) {
            if let Some(link) = self.by_id.remove(&id) {
                self.close(&link, id);
                out.push(frame(
                    EnvelopeKind::Unlinked,
                    &link.node,
                    &link.lane,
                    Some("\"Link closed.\""),
                ));
            }
        }
    }

    /// The connection's identity changed: every link the policy no longer allows for the new
    /// identity ends with `@unlinked(..)@forbidden`, and nothing more of its lane is sent.
    fn reauthorize(&mut self, access: &mut Access, out: &mut Vec<String>) {
        let forbidden: Vec<u64> = self
            .by_id
            .iter()
            .filter(|(_, link)| {
                let action = if link.sync {
                    Action::Sync
                } else {
                    Action::Link
                };
                !access.allows(action, &canonical_node_uri(&link.node), &link.lane)
            })
            .map(|(id, _)| *id)
            .collect();
        let body = UnlinkReason::Forbidden.wire_body();
        for id in forbidden {
            if let Some(link) = self.forget(id) {
                self.close(&link, id);
                out.push(frame(
                    EnvelopeKind::Unlinked,
                    &link.node,
                    &link.lane,
                    Some(&body),
                ));
            }
        }
    }

    /// Takes the link `id` out of the connection's tables.
    fn forget(&mut self, id: u64) -> Option<ClientLink> {
        let link = self.by_id.remove(&id)?;
        let address = (link.node.clone(), link.lane.clone());
        if self.by_address.get(&address) == Some(&id) {
            self.by_address.remove(&address);
        }
        Some(link)
    }

    fn close(&self, link: &ClientLink, id: u64) {
        link.slot.close();
        send_unlink(
            Some(self.environment.as_ref()),
            None,
            &link.node,
            &link.lane,
            id,
        );
    }

    /// Writes the frames for what the link `id` has received.
    fn render(&mut self, id: u64, out: &mut Vec<String>) {
        let Some(link) = self.by_id.get_mut(&id) else {
            return;
        };
        let mut pending = link.slot.take();
        let (node, lane) = (&link.node, &link.lane);
        if pending.link.linked && !link.linked_sent {
            link.linked_sent = true;
            let kind = pending.kind.and_then(ItemKind::lane_type);
            let body = kind
                .filter(|_| self.tells_kinds)
                .map(|kind| format!("@kind({kind})"));
            out.push(frame(EnvelopeKind::Linked, node, lane, body.as_deref()));
        }
        if pending.lost > 0 {
            tracing::warn!(%node, %lane, lost = pending.lost, "client fell behind; oldest command events dropped");
        }
        if pending.cleared {
            out.push(frame(EnvelopeKind::Event, node, lane, Some("@clear")));
        }
        for body in pending.events.drain(..) {
            out.push(frame(EnvelopeKind::Event, node, lane, Some(&body)));
        }
        for (_, body) in pending.ops.drain(..) {
            out.push(frame(EnvelopeKind::Event, node, lane, Some(&body)));
        }
        if pending.link.synced {
            out.push(frame(EnvelopeKind::Synced, node, lane, None));
        }
        if let Some(reason) = pending.link.unlinked.take() {
            let body = reason.wire_body();
            out.push(frame(EnvelopeKind::Unlinked, node, lane, Some(&body)));
            link.slot.close();
            self.forget(id);
        }
    }

    /// The inbox of the agent at `node` (started if needed), from the connection's own cache
    /// while that agent runs.
    fn inbox(
        &mut self,
        environment: &dyn Environment,
        node: &str,
    ) -> Result<&Mailbox, UnlinkReason> {
        /// Past this many agents, the cache starts again (a client commanding agent after
        /// agent must not grow it without bound).
        const MOST: usize = 1024;
        // A stream of commands to one agent is the common case: it is checked first.
        let hit =
            matches!(&self.last_inbox, Some((last, inbox)) if last == node && !inbox.is_closed());
        if !hit {
            let fresh = self
                .inboxes
                .get(node)
                .filter(|inbox| !inbox.is_closed())
                .cloned();
            let inbox = match fresh {
                Some(inbox) => inbox,
                None => {
                    let inbox = environment.resolve(node)?;
                    if self.inboxes.len() >= MOST {
                        self.inboxes.clear();
                    }
                    self.inboxes.insert(node.to_owned(), inbox.clone());
                    inbox
                }
            };
            self.last_inbox = Some((node.to_owned(), inbox));
        }
        match &self.last_inbox {
            Some((_, inbox)) => Ok(inbox),
            None => Err(UnlinkReason::AgentStopped),
        }
    }

    /// The connection is over: every link is closed at its lane.
    fn close_all(&mut self) {
        for (id, link) in std::mem::take(&mut self.by_id) {
            self.close(&link, id);
        }
        self.by_address.clear();
    }
}

fn frame(kind: EnvelopeKind, node: &str, lane: &str, body: Option<&str>) -> String {
    let mut out = String::with_capacity(node.len() + lane.len() + body.map_or(0, str::len) + 32);
    write_frame(&mut out, kind, node, lane, body);
    out
}

fn close_frame(code: CloseCode, reason: &'static str) -> Option<CloseFrame> {
    Some(CloseFrame {
        code,
        reason: reason.into(),
    })
}

/// What a connection may do: the server's policy, and who the client is (`None`: anonymous).
pub(crate) struct Access {
    pub(crate) policy: Arc<dyn Policy>,
    pub(crate) identity: Option<Identity>,
    /// The connection's command rate.
    rate: CommandRate,
    limits: Limits,
    /// Whether the client is told the kind of each lane it links to (`@linked(..)@kind(map)`,
    /// tidal's own): another member of the plane, so that its own clients get the lane's events
    /// as they would from this server, or a tidal client that asked.
    pub(crate) tells_kinds: bool,
    /// Where what the client sent and the server refused is counted (the server's metrics).
    pub(crate) counted: Option<Arc<HostMeta>>,
    /// Lets lines about what the client sent and the server refused through, one per
    /// interval.
    refused_log: RefusalLog,
}

impl Access {
    pub(crate) fn new(
        policy: Arc<dyn Policy>,
        identity: Option<Identity>,
        limits: &Limits,
    ) -> Self {
        Access {
            policy,
            identity,
            rate: CommandRate::new(limits.commands_per_second),
            limits: limits.clone(),
            tells_kinds: false,
            counted: None,
            refused_log: RefusalLog::default(),
        }
    }

    /// When the client's identity expires, if it does.
    fn expiry(&self) -> Option<SystemTime> {
        self.identity.as_ref()?.expiry()
    }

    /// Whether the client may do `action` on the lane; counts (and logs, once) a refusal.
    fn allows(&mut self, action: Action, node: &str, lane: &str) -> bool {
        if self
            .policy
            .authorize(self.identity.as_ref(), &action, node, lane)
        {
            return true;
        }
        if let Some(suppressed) = self.refused(Rejection::Denied) {
            let identity = self.identity.as_ref().map(Identity::name);
            let (node, lane) = (clip(node), clip(lane));
            tracing::info!(?identity, ?action, %node, %lane, suppressed, "the policy denied a request; later ones are counted, one line per {LOG_INTERVAL:?}");
        }
        false
    }

    /// Counts something the client sent that the server refused; `Some(held back)` when a
    /// line about it may be logged now (one per interval per connection).
    fn refused(&mut self, rejection: Rejection) -> Option<u64> {
        if let Some(host) = &self.counted {
            host.rejections.count(rejection);
        }
        self.refused_log.admit(rejection)
    }
}

/// Runs a connection until the client leaves, misbehaves, stops reading, or the server stops.
pub(crate) async fn run<S>(
    socket: WebSocketStream<S>,
    environment: Arc<dyn Environment>,
    config: EndpointConfig,
    mut access: Access,
    metrics: Option<&Metrics>,
    mut shutdown: watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (ready, mut ready_events) = mpsc::unbounded_channel();
    let mut links = Links {
        tells_kinds: access.tells_kinds,
        environment: environment.clone(),
        ready,
        by_id: HashMap::new(),
        by_address: HashMap::new(),
        inboxes: HashMap::new(),
        last_inbox: None,
    };
    let (mut sink, mut stream) = socket.split();
    let mut out: Vec<String> = Vec::new();
    // An anonymous client the policy requires to authenticate has until the deadline to do
    // it; an identity that expires is dropped at its expiry (one timer for both).
    let mut awaiting_auth = access.identity.is_none() && access.policy.requires_auth();
    let deadline = tokio::time::sleep(config.auth_timeout);
    tokio::pin!(deadline);
    let mut expiry = access.expiry();
    if let Some(at) = expiry {
        deadline.as_mut().reset(instant_of(at));
    }
    let close = loop {
        let mut flush = false;
        tokio::select! {
            biased;
            _ = shutdown.changed() => break close_frame(CloseCode::Away, "Server is stopping."),
            () = &mut deadline, if awaiting_auth || expiry.is_some() => {
                if awaiting_auth {
                    tracing::info!(timeout = ?config.auth_timeout, "a client did not authenticate in time; closing its connection");
                    break close_frame(CloseCode::Policy, "Authentication required.");
                }
                tracing::debug!("the client's identity expired");
                access.identity = None;
                expiry = None;
                out.push(frame(EnvelopeKind::Deauthed, "", "", None));
                links.reauthorize(&mut access, &mut out);
            }
            message = stream.next() => match message {
                None | Some(Ok(Message::Close(_))) => break None,
                Some(Err(err)) => break close_for(&err),
                Some(Ok(Message::Text(text))) => {
                    if let Some(metrics) = metrics {
                        metrics.bytes_received.inc_by(text.len() as u64);
                    }
                    match Envelope::scan(&text) {
                        Ok(envelope) => {
                            if let Err(close) = handle(envelope, &mut links, environment.as_ref(), &mut access, &mut out).await {
                                break close;
                            }
                            awaiting_auth &= access.identity.is_none();
                            if access.expiry() != expiry {
                                expiry = access.expiry();
                                if let Some(at) = expiry {
                                    deadline.as_mut().reset(instant_of(at));
                                }
                            }
                        }
                        Err(err) => {
                            tracing::debug!(%err, "bad envelope; closing the connection");
                            break close_frame(CloseCode::Protocol, "Expected a valid Warp envelope.");
                        }
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    break close_frame(CloseCode::Protocol, "Expected string data.");
                }
                // The pong is queued by the WebSocket layer; flushing sends it.
                Some(Ok(Message::Ping(_))) => flush = true,
                Some(Ok(_)) => {}
            },
            Some(id) = ready_events.recv() => {
                links.render(id, &mut out);
                while let Ok(id) = ready_events.try_recv() {
                    links.render(id, &mut out);
                }
            }
        }
        if out.is_empty() && !flush {
            continue;
        }
        if let Some(metrics) = metrics {
            let bytes: usize = out.iter().map(String::len).sum();
            metrics.bytes_sent.inc_by(bytes as u64);
        }
        let write = async {
            for text in out.drain(..) {
                sink.feed(Message::text(text)).await?;
            }
            sink.flush().await
        };
        match tokio::time::timeout(config.write_timeout, write).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::debug!(%err, "client connection failed");
                break None;
            }
            Err(_) => {
                if let Some(metrics) = metrics {
                    metrics.slow_clients.inc();
                }
                tracing::warn!("client stopped reading; disconnecting it");
                break None;
            }
        }
    };
    links.close_all();
    if let Some(frame) = close {
        let closing = async {
            sink.send(Message::Close(Some(frame))).await?;
            sink.close().await
        };
        let _ = tokio::time::timeout(config.write_timeout, closing).await;
    }
}

/// The point of the runtime's clock at `time` of the system's.
fn instant_of(time: SystemTime) -> Instant {
    Instant::now() + time.duration_since(SystemTime::now()).unwrap_or_default()
}

/// The close frame for a failed read, if the connection is still usable to send one.
fn close_for(err: &WsError) -> Option<CloseFrame> {
    match err {
        WsError::Utf8(_) => close_frame(CloseCode::Protocol, "Invalid encoding."),
        WsError::Capacity(_) => close_frame(CloseCode::Size, "Frame too large."),
        WsError::Protocol(_) => close_frame(CloseCode::Protocol, "Protocol error."),
        _ => None,
    }
}

/// Acts on one envelope from the client; `Err` closes the connection with that frame.
async fn handle(
    envelope: EnvelopeRef<'_>,
    links: &mut Links,
    environment: &dyn Environment,
    access: &mut Access,
    out: &mut Vec<String>,
) -> Result<(), Option<CloseFrame>> {
    let EnvelopeRef {
        kind,
        node,
        lane,
        body,
        ..
    } = envelope;
    match kind {
        EnvelopeKind::Link | EnvelopeKind::Sync => {
            let sync = kind == EnvelopeKind::Sync;
            let action = if sync { Action::Sync } else { Action::Link };
            let refusal = if !access.allows(action, &canonical_node_uri(&node), &lane) {
                Some("@forbidden")
            } else if links.by_id.len() >= access.limits.max_links_per_connection
                && !links
                    .by_address
                    .contains_key(&(node.to_string(), lane.to_string()))
            {
                Some("@tooManyLinks")
            } else {
                None
            };
            match refusal {
                Some(reason) => out.push(frame(EnvelopeKind::Unlinked, &node, &lane, Some(reason))),
                None => links.link(node.into_owned(), lane.into_owned(), sync),
            }
        }
        EnvelopeKind::Unlink => {
            if !links
                .by_address
                .contains_key(&(node.to_string(), lane.to_string()))
                && !environment.serves(&node)
            {
                out.push(frame(
                    EnvelopeKind::Unlinked,
                    &node,
                    &lane,
                    Some("@nodeNotFound"),
                ));
            } else {
                links.unlink(node.into_owned(), lane.into_owned(), out);
            }
        }
        EnvelopeKind::Command => {
            if !access.allows(Action::Command, &canonical_node_uri(&node), &lane) {
                return Ok(());
            }
            if !access.rate.admit() {
                let _ = access.refused(Rejection::RateLimited);
                if access.rate.dropped >= access.limits.max_dropped_commands {
                    tracing::warn!(
                        dropped = access.rate.dropped,
                        "a client floods commands; closing its connection"
                    );
                    return Err(close_frame(CloseCode::Policy, "Too many commands."));
                }
                return Ok(());
            }
            let sender = access.identity.clone();
            let payload = CommandPayload::Recon(body);
            let sent = match links.inbox(environment, &node) {
                Ok(inbox) => post_command(inbox, &lane, payload, sender).await,
                Err(reason) => Err(reason),
            };
            match sent {
                Err(UnlinkReason::NodeNotFound) => {
                    if let Some(suppressed) = access.refused(Rejection::UnknownNode) {
                        let (node, lane) = (clip(&node), clip(&lane));
                        tracing::info!(%node, %lane, suppressed, "a command for a node no route serves was dropped; later ones are counted, one line per {LOG_INTERVAL:?}");
                    }
                }
                Err(reason) => {
                    tracing::debug!(%node, %lane, %reason, "command from a client dropped")
                }
                Ok(()) => {}
            }
        }
        EnvelopeKind::Auth | EnvelopeKind::Deauth if !access.policy.uses_auth() => {
            tracing::debug!("the policy takes no credentials; envelope ignored");
        }
        EnvelopeKind::Auth => {
            access.identity = access.policy.authenticate(&body).await;
            out.push(match &access.identity {
                Some(identity) => {
                    let body = format!("{{name:{}}}", Value::text(identity.name()));
                    frame(EnvelopeKind::Authed, "", "", Some(&body))
                }
                None => frame(EnvelopeKind::Deauthed, "", "", None),
            });
            links.reauthorize(access, out);
        }
        EnvelopeKind::Deauth => {
            access.identity = None;
            out.push(frame(EnvelopeKind::Deauthed, "", "", None));
            links.reauthorize(access, out);
        }
        EnvelopeKind::Authed | EnvelopeKind::Deauthed => {
            return Err(close_frame(
                CloseCode::Protocol,
                "Expected a valid Warp envelope.",
            ));
        }
        EnvelopeKind::Event
        | EnvelopeKind::Linked
        | EnvelopeKind::Synced
        | EnvelopeKind::Unlinked => {
            tracing::debug!(%node, %lane, ?kind, "server-side envelope from a client ignored");
        }
    }
    Ok(())
}
