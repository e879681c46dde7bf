//! The online loop: one task reads frames, takes requests and writes, with none of them
//! holding up the others; it watches for a host that stops reading or falls silent.

use std::collections::VecDeque;
use std::future::Future;
use std::task::{ready, Poll};
use std::time::Duration;

use futures::stream::{SplitSink, SplitStream};
use futures::{FutureExt, SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::links::Links;
use super::offline::Waiting;
use super::routing::{announce_linked, dispatch};
use super::{frame, Address, Socket};
use crate::lanes::UnlinkReason;
use crate::recon::Value;
use crate::remote::{HostRequest, RemoteConfig};
use crate::warp::{Envelope, EnvelopeKind};

pub(super) enum Online {
    /// The pool dropped the queue: the task ends.
    Closed,
    /// The connection failed: reconnect.
    Lost,
    /// Nothing used the connection for [`RemoteConfig::idle_timeout`]: it was closed.
    Idle,
}

/// What waits to be written to the socket.
pub(super) enum Outgoing {
    /// A link, sync or unlink frame (made again for every connection).
    Frame(Message),
    /// A command: if the connection fails before the socket takes it, it waits for the next.
    Command(Waiting),
}

/// Sends what `out` holds as far as the socket takes it, then flushes. Dropping it part-way
/// loses nothing: an item leaves `out` only when the socket has taken it.
pub(super) fn send_pending<'a>(
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
pub(super) fn lost(out: &mut VecDeque<Outgoing>, commands: &mut VecDeque<Waiting>) -> Online {
    for outgoing in out.drain(..) {
        if let Outgoing::Command(waiting) = outgoing {
            commands.push_back(waiting);
        }
    }
    Online::Lost
}

/// Handles the messages that have already arrived, up to [`READ_BATCH`] (so that writes get
/// their turn); `Some(Online::Lost)` when the connection is over.
pub(super) fn receive_ready(
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
pub(super) fn receive(
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

pub(super) async fn online(
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
pub(super) struct WriteWatch {
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
pub(super) const READ_BATCH: usize = 256;

/// How many requests the connection takes at once before it looks at the socket again.
pub(super) const REQUEST_BATCH: usize = 256;

/// Closes the socket, waiting at most a second for a host that does not read.
pub(super) async fn close(sink: &mut SplitSink<Socket, Message>) {
    let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
}

/// Takes a request on a live connection, queueing the frames it needs in `out`; whether it
/// queued a command.
pub(super) fn take_request(
    request: HostRequest,
    links: &mut Links,
    out: &mut VecDeque<Outgoing>,
) -> bool {
    match request {
        HostRequest::Link {
            node,
            lane,
            subscriber,
        } => {
            let address = (node, lane);
            let sync = subscriber.wants_sync();
            if let Some(kind) = links.linked.get(&address) {
                announce_linked(&subscriber, *kind);
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

pub(super) fn command_frame(address: &Address, body: &Value) -> Message {
    // An empty body prints as nothing, which `write_frame` leaves out.
    frame(EnvelopeKind::Command, address, Some(&body.to_string()))
}
