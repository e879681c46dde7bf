//! The task of one remote host: connect, link, route frames to links, reconnect.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use std::future::Future;
use std::task::{ready, Poll};

use futures::stream::{SplitSink, SplitStream};
use futures::{FutureExt, SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::{ProtocolError, SubProtocolError};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use super::{HostRequest, RemoteConfig};
use crate::environment::Waits;
use crate::lanes::{Encoded, LinkSubscriber, UnlinkReason};
use crate::recon::{Item, Value};
use crate::warp::{with_rest, write_frame, Envelope, EnvelopeKind};

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Address = (String, String);

/// The links of one host and their state on the wire.
#[derive(Default)]
struct Links {
    by_id: HashMap<u64, (Address, LinkSubscriber)>,
    by_address: HashMap<Address, Vec<u64>>,
    /// Addresses the remote host has confirmed (`@linked`) on the current connection.
    linked: HashSet<Address>,
    /// Addresses a sync was asked for on the current connection.
    sync_requested: HashSet<Address>,
    /// `@unlink`s sent and not yet answered, per address: their `@unlinked` replies concern
    /// the old wire link, not a link made again since.
    unlinking: HashMap<Address, u32>,
    /// Addresses the remote host has synced on the current connection.
    synced: HashSet<Address>,
    /// Links that joined while their address was being synced: they get the cached state
    /// when the sync completes (they may have missed its first events).
    late: HashMap<Address, Vec<u64>>,
    /// The state of addresses being synced or synced, to sync later subscribers locally: one
    /// wire link per address however many downlinks share it.
    cache: HashMap<Address, Cached>,
}

/// The last known state of a remote lane: its latest value, or its entries by key.
#[derive(Default)]
struct Cached {
    last: Option<Value>,
    /// Each key's latest `@update`, by the key's Recon text.
    entries: indexmap::IndexMap<Arc<str>, Value>,
}

impl Cached {
    /// Records an event, read as `operation` if it is a map event.
    fn record(&mut self, body: &Value, operation: Option<&MapOperation>) {
        match operation {
            Some(MapOperation::Update(key, _)) => {
                self.entries.insert(key.text().clone(), body.clone());
            }
            Some(MapOperation::Remove(key)) => {
                self.entries.shift_remove(&**key.text());
            }
            Some(MapOperation::Clear) => self.entries.clear(),
            None => {}
        }
        self.last = Some(body.clone());
    }

    /// Sends the state to one subscriber.
    fn replay(&self, subscriber: &LinkSubscriber) -> Result<(), String> {
        match subscriber {
            LinkSubscriber::Map { .. } => self.entries.values().try_for_each(|body| {
                deliver(
                    subscriber,
                    &Encoded::new(body.clone()),
                    map_operation(body).as_ref(),
                )
            }),
            _ => match &self.last {
                Some(value) => deliver(subscriber, &Encoded::new(value.clone()), None),
                None => Ok(()),
            },
        }
    }
}

impl Links {
    fn add(&mut self, address: Address, subscriber: LinkSubscriber) -> bool {
        let id = subscriber.id();
        let ids = self.by_address.entry(address.clone()).or_default();
        let first = ids.is_empty();
        ids.push(id);
        self.by_id.insert(id, (address, subscriber));
        first
    }

    /// Removes a link; returns its address if no other link uses it.
    fn remove(&mut self, id: u64) -> Option<Address> {
        let (address, _) = self.by_id.remove(&id)?;
        let ids = self.by_address.get_mut(&address)?;
        ids.retain(|other| *other != id);
        if ids.is_empty() {
            self.by_address.remove(&address);
            self.forget(&address);
            Some(address)
        } else {
            None
        }
    }

    fn at(&self, address: &Address) -> impl Iterator<Item = &LinkSubscriber> {
        self.by_address
            .get(address)
            .into_iter()
            .flatten()
            .filter_map(|id| self.by_id.get(id).map(|(_, subscriber)| subscriber))
    }

    /// Ends every link at `address` with `reason`.
    fn unlink_all(&mut self, address: &Address, reason: UnlinkReason) {
        for id in self.by_address.remove(address).unwrap_or_default() {
            if let Some((_, subscriber)) = self.by_id.remove(&id) {
                subscriber.sink().unlinked(reason.clone());
            }
        }
        self.forget(address);
    }

    /// Forgets what the current connection knew of `address`.
    fn forget(&mut self, address: &Address) {
        self.linked.remove(address);
        self.sync_requested.remove(address);
        self.synced.remove(address);
        self.late.remove(address);
        self.cache.remove(address);
    }

    /// An `@unlink` is sent for `address`.
    fn unlink_sent(&mut self, address: &Address) {
        *self.unlinking.entry(address.clone()).or_default() += 1;
    }

    /// Whether an `@unlinked` for `address` answers an `@unlink` of ours (and consumes it).
    fn answers_unlink(&mut self, address: &Address) -> bool {
        match self.unlinking.get_mut(address) {
            Some(count) => {
                *count -= 1;
                if *count == 0 {
                    self.unlinking.remove(address);
                }
                true
            }
            None => false,
        }
    }

    /// The connection is gone: nothing is linked any more.
    fn disconnected(&mut self) {
        self.unlinking.clear();
        self.linked.clear();
        self.sync_requested.clear();
        self.synced.clear();
        self.late.clear();
        self.cache.clear();
    }

    /// The link request for an address: a sync if any of its links wants one.
    fn request(&self, address: &Address) -> EnvelopeKind {
        if self.at(address).any(LinkSubscriber::wants_sync) {
            EnvelopeKind::Sync
        } else {
            EnvelopeKind::Link
        }
    }
}

fn frame(kind: EnvelopeKind, (node, lane): &Address, body: Option<&str>) -> Message {
    let mut out = String::new();
    write_frame(&mut out, kind, node, lane, body);
    Message::text(out)
}

/// Runs the connection to `url` until the pool drops its queue.
pub(crate) async fn run(
    url: String,
    requests: mpsc::UnboundedReceiver<HostRequest>,
    config: RemoteConfig,
) {
    let tls = url
        .starts_with("wss://")
        .then(|| Connector::Rustls(config.tls.client_config()));
    run_with(url, requests, config, |url| connect(url, tls.clone())).await
}

/// Awaits `future` while taking requests as [`offline`] does; `None` when the pool has dropped
/// the queue (the connection task ends).
async fn offline_until<F: Future>(
    future: F,
    requests: &mut mpsc::UnboundedReceiver<HostRequest>,
    links: &mut Links,
    commands: &mut VecDeque<Waiting>,
    config: &RemoteConfig,
) -> Option<F::Output> {
    tokio::pin!(future);
    loop {
        tokio::select! {
            output = &mut future => return Some(output),
            request = requests.recv() => match request {
                Some(request) => offline(request, links, commands, config),
                None => return None,
            },
        }
    }
}

/// [`run`], connecting with `connector`.
pub(crate) async fn run_with<C, F>(
    url: String,
    mut requests: mpsc::UnboundedReceiver<HostRequest>,
    config: RemoteConfig,
    mut connector: C,
) where
    C: FnMut(String) -> F,
    F: Future<Output = Result<Socket, WsError>>,
{
    let mut links = Links::default();
    let mut commands: VecDeque<Waiting> = VecDeque::new();
    let mut attempt = 0u32;
    let mut jitter = Jitter::new(&url);
    loop {
        let connecting = tokio::time::timeout(config.connect_timeout, connector(url.clone()));
        let Some(connected) = offline_until(
            connecting,
            &mut requests,
            &mut links,
            &mut commands,
            &config,
        )
        .await
        else {
            return;
        };
        let connected = connected.unwrap_or_else(|_| {
            Err(tokio_tungstenite::tungstenite::Error::Io(
                std::io::Error::new(std::io::ErrorKind::TimedOut, "connecting timed out"),
            ))
        });
        let socket = match connected {
            Ok(socket) => socket,
            Err(err) => {
                attempt += 1;
                if attempt == 1 {
                    tracing::warn!(%err, "connection failed; retrying with backoff");
                } else {
                    tracing::debug!(%err, attempt, "connection failed again");
                }
                if config.max_attempts.is_some_and(|max| attempt >= max) {
                    let reason = UnlinkReason::Unreachable(format!("{url}: {err}"));
                    for address in links.by_address.keys().cloned().collect::<Vec<_>>() {
                        links.unlink_all(&address, reason.clone());
                    }
                    commands.clear();
                    attempt = 0;
                    // Wait for new work before trying again.
                    match requests.recv().await {
                        Some(request) => offline(request, &mut links, &mut commands, &config),
                        None => return,
                    }
                    continue;
                }
                let delay = jitter.apply(config.delay(attempt));
                let sleep = tokio::time::sleep(delay);
                if offline_until(sleep, &mut requests, &mut links, &mut commands, &config)
                    .await
                    .is_none()
                {
                    return;
                }
                continue;
            }
        };
        attempt = 0;
        match online(socket, &mut requests, &mut links, &mut commands, &config).await {
            Online::Closed => return,
            Online::Idle => {
                tracing::debug!("connection idle; closed until it is needed again");
                match requests.recv().await {
                    Some(request) => offline(request, &mut links, &mut commands, &config),
                    None => return,
                }
            }
            Online::Lost => {
                tracing::debug!("connection lost; reconnecting");
                links.disconnected();
                for (_, subscriber) in links.by_id.values() {
                    subscriber.sink().connection_lost();
                }
            }
        }
    }
}

/// Opens the WebSocket to `url`, offering the `warp0` subprotocol; `tls` secures `wss://`.
/// A server that names no subprotocol in its reply (some WARP servers do not) is connected
/// to again without the offer.
async fn connect(url: String, tls: Option<Connector>) -> Result<Socket, WsError> {
    match handshake(&url, tls.clone(), true).await {
        Err(WsError::Protocol(ProtocolError::SecWebSocketSubProtocolError(
            SubProtocolError::NoSubProtocol,
        ))) => handshake(&url, tls, false).await,
        connected => connected,
    }
}

async fn handshake(
    url: &str,
    tls: Option<Connector>,
    offer_warp0: bool,
) -> Result<Socket, WsError> {
    let mut request = url.into_client_request()?;
    if offer_warp0 {
        request
            .headers_mut()
            .insert("sec-websocket-protocol", HeaderValue::from_static("warp0"));
    }
    let (socket, _) =
        tokio_tungstenite::connect_async_tls_with_config(request, None, true, tls).await?;
    Ok(socket)
}

/// A command waiting for the connection.
struct Waiting {
    address: Address,
    body: Value,
    waits: Waits,
}

/// Records a request while there is no connection.
fn offline(
    request: HostRequest,
    links: &mut Links,
    commands: &mut VecDeque<Waiting>,
    config: &RemoteConfig,
) {
    match request {
        HostRequest::Link {
            node,
            lane,
            subscriber,
        } => {
            links.add((node, lane), subscriber);
        }
        HostRequest::Unlink { id } => {
            links.remove(id);
        }
        HostRequest::Command {
            node,
            lane,
            body,
            waits,
        } => {
            let address = (node, lane);
            if waits == Waits::Latest {
                commands.retain(|w| !(w.waits == Waits::Latest && w.address == address));
            }
            if commands.len() >= config.max_queued_commands.max(1) {
                commands.pop_front();
                tracing::warn!(
                    "too many commands waiting for the connection; the oldest was dropped"
                );
            }
            commands.push_back(Waiting {
                address,
                body,
                waits,
            });
        }
    }
}

enum Online {
    /// The pool dropped the queue: the task ends.
    Closed,
    /// The connection failed: reconnect.
    Lost,
    /// Nothing used the connection for [`RemoteConfig::idle_timeout`]: it was closed.
    Idle,
}

/// What waits to be written to the socket.
enum Outgoing {
    /// A link, sync or unlink frame (made again for every connection).
    Frame(Message),
    /// A command: if the connection fails before the socket takes it, it waits for the next.
    Command(Waiting),
}

/// Sends what `out` holds as far as the socket takes it, then flushes. Dropping it part-way
/// loses nothing: an item leaves `out` only when the socket has taken it.
fn send_pending<'a>(
    sink: &'a mut SplitSink<Socket, Message>,
    out: &'a mut VecDeque<Outgoing>,
) -> impl Future<Output = Result<(), WsError>> + 'a {
    futures::future::poll_fn(move |cx| {
        while !out.is_empty() {
            if let Err(err) = ready!(sink.poll_ready_unpin(cx)) {
                return Poll::Ready(Err(err));
            }
            let message = match out.pop_front() {
                Some(Outgoing::Frame(message)) => message,
                Some(Outgoing::Command(waiting)) => command_frame(&waiting.address, &waiting.body),
                None => break,
            };
            sink.start_send_unpin(message)?;
        }
        sink.poll_flush_unpin(cx)
    })
}

/// The connection failed: the commands not yet written wait for the next one, in order.
fn lost(out: &mut VecDeque<Outgoing>, commands: &mut VecDeque<Waiting>) -> Online {
    for outgoing in out.drain(..) {
        if let Outgoing::Command(waiting) = outgoing {
            commands.push_back(waiting);
        }
    }
    Online::Lost
}

/// Handles the messages that have already arrived, up to [`READ_BATCH`] (so that writes get
/// their turn); `Some(Online::Lost)` when the connection is over.
fn receive_ready(
    stream: &mut SplitStream<Socket>,
    links: &mut Links,
    out: &mut VecDeque<Outgoing>,
) -> Option<Online> {
    for _ in 0..READ_BATCH {
        let message = stream.next().now_or_never()?;
        if let Some(online) = receive(message, links, out) {
            return Some(online);
        }
    }
    None
}

/// Handles a message from the host; `Some(Online::Lost)` when the connection is over.
fn receive(
    message: Option<Result<Message, WsError>>,
    links: &mut Links,
    out: &mut VecDeque<Outgoing>,
) -> Option<Online> {
    match message {
        Some(Ok(Message::Text(text))) => match Envelope::parse(&text) {
            Ok(envelope) => {
                for address in dispatch(envelope, links) {
                    links.unlink_sent(&address);
                    out.push_back(Outgoing::Frame(frame(EnvelopeKind::Unlink, &address, None)));
                }
            }
            Err(err) => tracing::warn!(%err, "bad envelope from the remote host ignored"),
        },
        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Some(Online::Lost),
        // Answered at once: the host may be checking that we are still there.
        Some(Ok(Message::Ping(payload))) => out.push_back(Outgoing::Frame(Message::Pong(payload))),
        Some(Ok(_)) => {}
    }
    None
}

async fn online(
    socket: Socket,
    requests: &mut mpsc::UnboundedReceiver<HostRequest>,
    links: &mut Links,
    commands: &mut VecDeque<Waiting>,
    config: &RemoteConfig,
) -> Online {
    let (mut sink, mut stream) = socket.split();
    let mut out: VecDeque<Outgoing> = VecDeque::new();
    let addresses: Vec<Address> = links.by_address.keys().cloned().collect();
    for address in addresses {
        let request = links.request(&address);
        if request == EnvelopeKind::Sync {
            links.sync_requested.insert(address.clone());
        }
        out.push_back(Outgoing::Frame(frame(request, &address, None)));
    }
    // Whether `out` holds commands.
    let mut commands_unsent = !commands.is_empty();
    out.extend(commands.drain(..).map(Outgoing::Command));
    // Whether `out` has messages or the socket unflushed ones.
    let mut unsent = true;
    let mut watch = WriteWatch::new(config.write_timeout, out.len(), 0);
    // How many times everything was written: progress the write watch looks for.
    let mut flushes = 0u64;
    let mut last_used = Instant::now();
    // One timer, for the idle timeout while idle, the write watch otherwise. It is reset only
    // when that changes, or when a watch period ends.
    let timer = tokio::time::sleep_until(watch.deadline);
    tokio::pin!(timer);
    // The keep-alive: how many times messages came, as of its last tick, and whether a ping
    // is waiting for its answer.
    let keepalive = tokio::time::sleep(config.keepalive);
    tokio::pin!(keepalive);
    let (mut received, mut heard, mut pinged) = (0u64, 0u64, false);
    loop {
        if unsent && commands_unsent {
            // Read what has already arrived before writing commands: a host that has gone
            // away is noticed before they are written to it (and lost with it). Link frames
            // need not wait: they are made again for the next connection anyway.
            if receive_ready(&mut stream, links, &mut out).is_some() {
                return lost(&mut out, commands);
            }
        }
        let idle = links.by_id.is_empty() && !unsent;
        let deadline = if idle {
            last_used + config.idle_timeout
        } else {
            watch.deadline
        };
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        // Writes are one branch among the others, so that a host that stops reading never
        // stops this task from reading its frames and taking requests.
        tokio::select! {
            sent = send_pending(&mut sink, &mut out), if unsent => match sent {
                Ok(()) => {
                    unsent = false;
                    commands_unsent = false;
                    flushes += 1;
                }
                Err(_) => return lost(&mut out, commands),
            },
            () = &mut timer => {
                if idle {
                    close(&mut sink).await;
                    return Online::Idle;
                }
                if unsent && !watch.moved(out.len(), flushes) {
                    tracing::warn!(
                        timeout = ?config.write_timeout,
                        "the host has stopped reading; reconnecting"
                    );
                    return lost(&mut out, commands);
                }
                watch = WriteWatch::new(config.write_timeout, out.len(), flushes);
            }
            () = &mut keepalive => {
                if received != heard {
                    (heard, pinged) = (received, false);
                } else if !pinged {
                    out.push_back(Outgoing::Frame(Message::Ping(Default::default())));
                    (unsent, pinged) = (true, true);
                } else {
                    tracing::warn!(
                        keepalive = ?config.keepalive,
                        "the host has not answered a ping; reconnecting"
                    );
                    return lost(&mut out, commands);
                }
                keepalive.as_mut().reset(Instant::now() + config.keepalive);
            }
            request = requests.recv() => {
                let Some(request) = request else {
                    close(&mut sink).await;
                    return Online::Closed;
                };
                last_used = Instant::now();
                unsent = true;
                commands_unsent |= take_request(request, links, &mut out);
                // Take what else is queued (up to a bound, so reads get their turn): their
                // frames go out in one write.
                for _ in 1..REQUEST_BATCH {
                    match requests.try_recv() {
                        Ok(request) => commands_unsent |= take_request(request, links, &mut out),
                        Err(_) => break,
                    }
                }
            }
            message = stream.next() => {
                received += 1;
                let before = out.len();
                if receive(message, links, &mut out).is_some() {
                    return lost(&mut out, commands);
                }
                // Take what else has arrived.
                if receive_ready(&mut stream, links, &mut out).is_some() {
                    return lost(&mut out, commands);
                }
                unsent |= out.len() > before;
            }
        }
    }
}

/// Watches a connection's writes for a host that stops reading them, one period at a time.
struct WriteWatch {
    /// When the period ends.
    deadline: Instant,
    /// How many items waited to be written when the period started.
    waiting: usize,
    /// How many times everything had been written when the period started.
    flushes: u64,
}

impl WriteWatch {
    fn new(timeout: Duration, waiting: usize, flushes: u64) -> Self {
        WriteWatch {
            deadline: Instant::now() + timeout,
            waiting,
            flushes,
        }
    }

    /// At the end of the period: whether the writes moved on during it.
    fn moved(&self, waiting: usize, flushes: u64) -> bool {
        waiting < self.waiting || flushes != self.flushes
    }
}

/// How many messages that have already arrived are read at once (also before writing
/// commands).
const READ_BATCH: usize = 256;

/// How many requests the connection takes at once before it looks at the socket again.
const REQUEST_BATCH: usize = 256;

/// Closes the socket, waiting at most a second for a host that does not read.
async fn close(sink: &mut SplitSink<Socket, Message>) {
    let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
}

/// Takes a request on a live connection, queueing the frames it needs in `out`; whether it
/// queued a command.
fn take_request(request: HostRequest, links: &mut Links, out: &mut VecDeque<Outgoing>) -> bool {
    match request {
        HostRequest::Link {
            node,
            lane,
            subscriber,
        } => {
            let address = (node, lane);
            let sync = subscriber.wants_sync();
            if links.linked.contains(&address) {
                subscriber.sink().linked();
                // Already synced: the cached state syncs the newcomer, with no traffic.
                if sync && links.synced.contains(&address) {
                    let replayed = match links.cache.get(&address) {
                        Some(cached) => cached.replay(&subscriber),
                        None => Ok(()),
                    };
                    match replayed {
                        Ok(()) => subscriber.sink().synced(),
                        Err(reason) => {
                            subscriber.refuse(UnlinkReason::BadValue(reason));
                            return false;
                        }
                    }
                }
            }
            let id = subscriber.id();
            let first = links.add(address.clone(), subscriber);
            if sync && links.sync_requested.contains(&address) && !links.synced.contains(&address) {
                links.late.entry(address.clone()).or_default().push(id);
            }
            if sync && !links.sync_requested.contains(&address) {
                links.sync_requested.insert(address.clone());
                out.push_back(Outgoing::Frame(frame(EnvelopeKind::Sync, &address, None)));
            } else if first && !sync {
                out.push_back(Outgoing::Frame(frame(EnvelopeKind::Link, &address, None)));
            }
            false
        }
        HostRequest::Unlink { id } => {
            if let Some(address) = links.remove(id) {
                links.unlink_sent(&address);
                out.push_back(Outgoing::Frame(frame(EnvelopeKind::Unlink, &address, None)));
            }
            false
        }
        HostRequest::Command {
            node,
            lane,
            body,
            waits,
        } => {
            out.push_back(Outgoing::Command(Waiting {
                address: (node, lane),
                body,
                waits,
            }));
            true
        }
    }
}

fn command_frame(address: &Address, body: &Value) -> Message {
    // An empty body prints as nothing, which `write_frame` leaves out.
    frame(EnvelopeKind::Command, address, Some(&body.to_string()))
}

/// Hands an envelope from the remote host to the links it concerns; returns the addresses
/// whose last link failed (to unlink on the wire).
fn dispatch(envelope: Envelope, links: &mut Links) -> Vec<Address> {
    let address = (envelope.node, envelope.lane);
    if envelope.kind == EnvelopeKind::Unlinked && links.answers_unlink(&address) {
        // The reply to our `@unlink`: links made again since are on a new wire link.
        return Vec::new();
    }
    if !links.by_address.contains_key(&address) {
        // Nothing links there (any more): nothing to record.
        return Vec::new();
    }
    let mut unlink = Vec::new();
    match envelope.kind {
        EnvelopeKind::Linked => {
            if links.linked.insert(address.clone()) {
                links.at(&address).for_each(|s| s.sink().linked());
            }
        }
        EnvelopeKind::Synced => {
            links.synced.insert(address.clone());
            for id in links.late.remove(&address).unwrap_or_default() {
                if let (Some((_, subscriber)), Some(cached)) =
                    (links.by_id.get(&id), links.cache.get(&address))
                {
                    if let Err(reason) = cached.replay(subscriber) {
                        tracing::debug!(%reason, "cached state did not fit a late link");
                    }
                }
            }
            links.at(&address).for_each(|s| s.sink().synced());
        }
        EnvelopeKind::Event => {
            // Read once for the cache and every map link.
            let operation = map_operation(&envelope.body);
            if links.sync_requested.contains(&address) {
                links
                    .cache
                    .entry(address.clone())
                    .or_default()
                    .record(&envelope.body, operation.as_ref());
            }
            let mut failed = Vec::new();
            let event = Encoded::new(envelope.body);
            for subscriber in links.at(&address) {
                if let Err(reason) = deliver(subscriber, &event, operation.as_ref()) {
                    failed.push((subscriber.id(), reason));
                }
            }
            for (id, reason) in failed {
                if let Some((_, subscriber)) = links.by_id.get(&id) {
                    subscriber.sink().unlinked(UnlinkReason::BadValue(reason));
                }
                unlink.extend(links.remove(id));
            }
        }
        EnvelopeKind::Unlinked => {
            let reason = match envelope.body.tag() {
                Some("nodeNotFound") => UnlinkReason::NodeNotFound,
                Some("laneNotFound") => UnlinkReason::LaneNotFound,
                _ => UnlinkReason::Closed,
            };
            links.unlink_all(&address, reason);
        }
        _ => tracing::debug!(kind = %envelope.kind, "envelope from the remote host ignored"),
    }
    unlink
}

/// Delivers an event to one link: a value, or, for map links, the event read as `operation`.
fn deliver(
    subscriber: &LinkSubscriber,
    event: &Encoded,
    operation: Option<&MapOperation>,
) -> Result<(), String> {
    match subscriber {
        LinkSubscriber::Value { recon, .. } => recon.event_recon(event),
        LinkSubscriber::Untyped { value, .. } => value.event_recon(event),
        LinkSubscriber::Map { recon, .. } => match operation {
            Some(MapOperation::Update(key, value)) => recon.update_recon(key, value),
            Some(MapOperation::Remove(key)) => recon.remove_recon(key),
            Some(MapOperation::Clear) => {
                recon.clear();
                Ok(())
            }
            None => Err(format!("`{}` is not a map event", event.value())),
        },
    }
}

/// A map event from the remote host, its key and value ready for every map link.
enum MapOperation {
    Update(Encoded, Encoded),
    Remove(Encoded),
    Clear,
}

/// Reads `@update(key:K) V`, `@remove(key:K)` or `@clear` (keys and values as Recon values).
fn map_operation(body: &Value) -> Option<MapOperation> {
    let Value::Record(record) = body else {
        return None;
    };
    let (head, rest) = record.attrs.split_first()?;
    let key = || match &head.value {
        Value::Record(header) => header.items.iter().find_map(|item| match item {
            Item::Slot(Value::Text(name), key) if name == "key" => Some(Encoded::new(key.clone())),
            _ => None,
        }),
        _ => None,
    };
    match head.name.as_str() {
        "update" => {
            let value = with_rest(rest, &record.items, Value::clone);
            Some(MapOperation::Update(key()?, Encoded::new(value)))
        }
        "remove" => Some(MapOperation::Remove(key()?)),
        "clear" => Some(MapOperation::Clear),
        _ => None,
    }
}

/// A small xorshift generator spreading retry delays over [50%, 100%] of their nominal value,
/// so that many clients of a failed host do not all retry at once.
struct Jitter(u64);

impl Jitter {
    fn new(seed: &str) -> Self {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for byte in seed.bytes() {
            state = (state ^ u64::from(byte)).wrapping_mul(0x1000_0000_01B3);
        }
        state ^= std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos().into());
        Jitter(state | 1)
    }

    fn apply(&mut self, delay: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let fraction = 0.5 + (self.0 % 1000) as f64 / 2000.0;
        delay.mul_f64(fraction)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tokio::time::{Duration, Instant};

    use super::*;
    use crate::lanes::{LinkSink, ReconMapSink, ReconValueSink};

    /// Records what a link hears.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>, tokio::sync::Notify);

    impl LinkSink for Recorder {
        fn linked(&self) {
            self.0.lock().unwrap().push("linked".into());
        }
        fn synced(&self) {
            self.0.lock().unwrap().push("synced".into());
        }
        fn unlinked(&self, reason: UnlinkReason) {
            self.0.lock().unwrap().push(format!("unlinked: {reason}"));
            self.1.notify_one();
        }
        fn connection_lost(&self) {
            self.0.lock().unwrap().push("lost".into());
        }
        fn is_closed(&self) -> bool {
            false
        }
    }

    impl ReconValueSink for Recorder {
        fn event_recon(&self, _: &Encoded) -> Result<(), String> {
            Ok(())
        }
    }

    impl ReconMapSink for Recorder {
        fn update_recon(&self, _: &Encoded, _: &Encoded) -> Result<(), String> {
            Ok(())
        }
        fn remove_recon(&self, _: &Encoded) -> Result<(), String> {
            Ok(())
        }
        fn clear(&self) {}
    }

    #[test]
    fn while_offline_value_writes_keep_the_latest_and_other_writes_queue_in_order_bounded() {
        let config = RemoteConfig {
            max_queued_commands: 4,
            ..RemoteConfig::default()
        };
        let mut commands = VecDeque::new();
        let mut write = |lane: &str, body: i32, waits: Waits| {
            let request = HostRequest::Command {
                node: "/n".into(),
                lane: lane.into(),
                body: Value::Int(body.into()),
                waits,
            };
            offline(request, &mut Links::default(), &mut commands, &config);
            commands
                .iter()
                .map(|w| format!("{} {}", w.address.1, w.body))
                .collect::<Vec<_>>()
        };
        write("value", 1, Waits::Latest);
        write("map", 1, Waits::Every);
        write("value", 2, Waits::Latest);
        write("other", 1, Waits::Latest);
        write("map", 2, Waits::Every);
        // One write per value lane, the latest, in the place of its last write.
        let waiting = write("value", 3, Waits::Latest);
        assert_eq!(waiting, ["map 1", "other 1", "map 2", "value 3"]);
        // Past the bound the oldest goes first.
        let waiting = write("map", 3, Waits::Every);
        assert_eq!(waiting, ["other 1", "map 2", "value 3", "map 3"]);
    }

    static ATTEMPTS: Mutex<Vec<Instant>> = Mutex::new(Vec::new());

    fn refused(
        _: String,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Socket, WsError>> + Send>> {
        ATTEMPTS.lock().unwrap().push(Instant::now());
        Box::pin(async {
            Err(WsError::Io(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "refused",
            )))
        })
    }

    #[tokio::test(start_paused = true)]
    async fn failed_connections_back_off_exponentially_with_jitter_then_give_up() {
        let config = RemoteConfig {
            initial_delay: Duration::from_millis(100),
            factor: 2.0,
            max_delay: Duration::from_millis(500),
            max_attempts: Some(6),
            ..RemoteConfig::default()
        };
        let recorder = Arc::new(Recorder::default());
        let (requests, queue) = mpsc::unbounded_channel();
        requests
            .send(HostRequest::Link {
                node: "/a".into(),
                lane: "b".into(),
                subscriber: LinkSubscriber::Untyped {
                    id: 1,
                    value: recorder.clone(),
                    map: recorder.clone(),
                    sync: true,
                },
            })
            .unwrap();
        let task = tokio::spawn(run_with(
            "ws://nowhere".into(),
            queue,
            config.clone(),
            refused,
        ));
        // Waiting lets the paused clock jump from one retry to the next.
        recorder.1.notified().await;
        let attempts = ATTEMPTS.lock().unwrap().clone();
        assert_eq!(attempts.len(), 6);
        for (i, pair) in attempts.windows(2).enumerate() {
            let nominal = config.delay(i as u32 + 1);
            let waited = pair[1] - pair[0];
            assert!(
                waited >= nominal / 2 && waited <= nominal,
                "retry {} after {waited:?}, nominal {nominal:?}",
                i + 1
            );
        }
        // The delays grow, up to the cap: 100, 200, 400, 500, 500 ms (before jitter).
        assert_eq!(config.delay(5), Duration::from_millis(500));
        // Giving up fails the link; a connection failure is never an unlink before that.
        let heard = recorder.0.lock().unwrap().clone();
        assert_eq!(heard.len(), 1, "{heard:?}");
        assert!(heard[0].starts_with("unlinked: unreachable"), "{heard:?}");
        drop(requests);
        task.await.unwrap();
    }
}
