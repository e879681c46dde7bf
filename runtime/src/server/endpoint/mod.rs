//! The server's port: WebSocket connections from SwimOS clients (and tidal's own), and HTTP
//! requests to HTTP lanes (see `http.rs`).
//!
//! Every connection starts as HTTP/1.1 (hyper), with keep-alive; a WebSocket handshake on any
//! path turns it into a WARP connection. The `warp0` subprotocol is echoed when offered, and a client that
//! offers none (the Python and JS clients) is accepted too; offering only other subprotocols is
//! refused. Frames are text only, one envelope each: a binary frame, text that is not an
//! envelope, or invalid UTF-8 closes the connection with code 1002 and a reason. Sockets use
//! `TCP_NODELAY`, and the events for a client are written in batches, one frame per envelope,
//! flushed together. A client that stops reading is disconnected after
//! [`EndpointConfig::write_timeout`]; meanwhile its events are coalesced, so its memory stays
//! bounded and other clients are not affected.

mod connection;
mod http;
mod limits;
mod prefixed;
mod uplink;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use std::sync::Mutex;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

pub use limits::Limits;

use super::policy::Policy;
use super::tls::Certificates;
use crate::environment::Environment;
use crate::introspection::Metrics;
use crate::lock::lock;

/// Settings of the WARP endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointConfig {
    /// The largest frame (and message) a client may send, in bytes. Default 1 MiB; larger
    /// frames close the connection with code 1009.
    pub max_frame_size: usize,
    /// How long a write to a client may wait before the client is considered gone (it stopped
    /// reading) and is disconnected. Default 30 s.
    pub write_timeout: Duration,
    /// How long a client may take to send a request's headers (the WebSocket handshake
    /// among them). Default 10 s.
    pub handshake_timeout: Duration,
    /// How long an anonymous WARP connection may take to identify itself with `@auth` when
    /// the policy [requires it](super::Policy::requires_auth); then it is closed (code 1008).
    /// Default 10 s.
    pub auth_timeout: Duration,
    /// The largest body of an HTTP request, in bytes; larger ones get `413`. Default 1 MiB.
    pub max_body_size: usize,
    /// How long an HTTP request waits for its lane's answer before it gets `504`. Default
    /// 10 s. A handler that blocks its worker thread (`std::thread::sleep`, blocking I/O) holds
    /// up every task queued on that worker, the timer of this timeout among them, so the `504`
    /// may come only when the handler is done: run blocking work in
    /// `tokio::task::block_in_place` (or off the agent, with `spawn_blocking` and a command
    /// back), as anywhere in async Rust.
    pub http_timeout: Duration,
    /// How much one peer and one connection may take (see [`Limits`]).
    pub limits: Limits,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            max_frame_size: 1 << 20,
            write_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            auth_timeout: Duration::from_secs(10),
            max_body_size: 1 << 20,
            http_timeout: Duration::from_secs(10),
            limits: Limits::default(),
        }
    }
}

/// What the server's port serves with.
pub(crate) struct Endpoint {
    pub(crate) environment: Arc<dyn Environment>,
    pub(crate) config: EndpointConfig,
    pub(crate) tls: Option<Certificates>,
    pub(crate) policy: Arc<dyn Policy>,
    pub(crate) metrics: Option<Arc<Metrics>>,
    /// Whether the web console is served (the server has introspection).
    pub(crate) console: bool,
}

/// Accepts connections until `shutdown` changes, then waits for them to close.
pub(crate) async fn serve(
    listener: TcpListener,
    endpoint: Endpoint,
    mut shutdown: watch::Receiver<bool>,
    open: Arc<AtomicUsize>,
) {
    let Endpoint {
        environment,
        config,
        tls,
        policy,
        metrics,
        console,
    } = endpoint;
    let mut connections = JoinSet::new();
    let occupancy = limits::Occupancy::default();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // Over a limit: closed at once, before any work.
                    let Some(seat) = occupancy.admit(peer.ip(), &config.limits) else {
                        continue;
                    };
                    let span = tracing::info_span!("connection", %peer);
                    let peer_of = Peer {
                        environment: environment.clone(),
                        config: config.clone(),
                        policy: policy.clone(),
                        metrics: metrics.clone(),
                        console,
                        peer,
                        shutdown: shutdown.clone(),
                    };
                    let task = accept(stream, tls.clone(), peer_of);
                    let open = open.clone();
                    open.fetch_add(1, Ordering::AcqRel);
                    connections.spawn(tracing::Instrument::instrument(
                        async move {
                            task.await;
                            open.fetch_sub(1, Ordering::AcqRel);
                            drop(seat);
                        },
                        span,
                    ));
                }
                Err(err) => tracing::warn!(%err, "accepting a connection failed"),
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// What serving one client needs.
struct Peer {
    environment: Arc<dyn Environment>,
    config: EndpointConfig,
    policy: Arc<dyn Policy>,
    metrics: Option<Arc<Metrics>>,
    console: bool,
    peer: SocketAddr,
    shutdown: watch::Receiver<bool>,
}

async fn accept(stream: TcpStream, tls: Option<Certificates>, peer: Peer) {
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!(%err, "could not set TCP_NODELAY");
    }
    let Some(tls) = tls else {
        return serve_http(stream, peer).await;
    };
    let handshake = tls.acceptor().accept(stream);
    match tokio::time::timeout(peer.config.handshake_timeout, handshake).await {
        Ok(Ok(stream)) => serve_http(stream, peer).await,
        // A plain-text client on a TLS port, or a bad handshake: the client sees the
        // connection closed, and nothing else is affected.
        Ok(Err(err)) => tracing::debug!(%err, "TLS handshake failed"),
        Err(_) => tracing::debug!("TLS handshake timed out"),
    }
}

/// Serves HTTP/1.1 on `stream` until it closes, or until a WebSocket upgrade turns it into a
/// WARP connection.
async fn serve_http<S>(stream: S, peer: Peer)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Peer {
        environment,
        config,
        policy,
        metrics,
        console,
        peer,
        mut shutdown,
    } = peer;
    let service = http::Service {
        environment: environment.clone(),
        config: config.clone(),
        policy: policy.clone(),
        metrics: metrics.clone(),
        console,
        peer,
        shutdown: shutdown.clone(),
        upgrade: Arc::new(Mutex::new(None)),
    };
    let upgrade = service.upgrade.clone();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(config.handshake_timeout)
        .max_buf_size(config.limits.max_header_size.max(8192));
    let connection = builder
        .serve_connection(
            TokioIo::new(stream),
            hyper::service::service_fn(move |request| service.clone().call(request)),
        )
        .with_upgrades();
    tokio::pin!(connection);
    let served = tokio::select! {
        served = connection.as_mut() => served,
        _ = shutdown.changed() => {
            connection.as_mut().graceful_shutdown();
            connection.as_mut().await
        }
    };
    if let Err(err) = served {
        tracing::debug!(%err, "HTTP connection failed");
        return;
    }
    let Some(http::Upgrade {
        upgrade,
        identity,
        plane,
        kinds,
    }) = lock(&upgrade).take()
    else {
        return;
    };
    // Another member of the plane: what it sends was forwarded already.
    let peer_environment = plane.and_then(|plane| environment.for_peer(&plane));
    let peer = peer_environment.is_some();
    let environment = peer_environment.unwrap_or(environment);
    let upgraded = match upgrade.await {
        Ok(upgraded) => upgraded,
        Err(err) => {
            tracing::debug!(%err, "WebSocket upgrade failed");
            return;
        }
    };
    // WARP reads the socket itself, not through hyper's boxed IO.
    let Ok(parts) = upgraded.downcast::<TokioIo<S>>() else {
        tracing::error!("the upgraded connection is not the accepted socket");
        return;
    };
    let stream = prefixed::Prefixed {
        prefix: parts.read_buf,
        stream: parts.io.into_inner(),
    };
    // A 16 KiB read buffer (grown on demand for larger frames): the library zeroes the whole
    // buffer on each read attempt, and its 128 KiB default made every wake-up costly.
    let websocket = WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .max_message_size(Some(config.max_frame_size))
        .max_frame_size(Some(config.max_frame_size));
    let socket = WebSocketStream::from_raw_socket(stream, Role::Server, Some(websocket)).await;
    let mut access = connection::Access::new(policy, identity, &config.limits);
    // Another member passes the lanes' events on to its own clients: it must know their kinds.
    access.tells_kinds = kinds || peer;
    access.counted = metrics.as_ref().map(|metrics| metrics.host.clone());
    if let Some(metrics) = &metrics {
        metrics.connections_accepted.inc();
        metrics.connections_open.inc();
    }
    let metered = metrics.as_deref();
    connection::run(socket, environment, config, access, metered, shutdown).await;
    if let Some(metrics) = &metrics {
        metrics.connections_open.dec();
    }
}

/// Runs one connection over an in-memory stream with `frames` from the client (see
/// `ServerHandle::run_connection_in_memory`); returns the text frames the server sent.
pub(crate) async fn run_in_memory(
    environment: Arc<dyn Environment>,
    shutdown: watch::Receiver<bool>,
    frames: &[Vec<u8>],
    quiet: Duration,
) -> Vec<String> {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let (client, server) = tokio::io::duplex(64 * 1024);
    let config = EndpointConfig {
        write_timeout: Duration::from_secs(1),
        ..EndpointConfig::default()
    };
    let access = connection::Access::new(Arc::new(super::policy::AllowAll), None, &config.limits);
    let server = async move {
        let socket = WebSocketStream::from_raw_socket(server, Role::Server, None).await;
        connection::run(socket, environment, config, access, None, shutdown).await;
    };
    let client = async move {
        let mut socket = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
        for frame in frames {
            let message = match std::str::from_utf8(frame) {
                Ok(text) => Message::text(text),
                Err(_) => Message::binary(frame.clone()),
            };
            if socket.send(message).await.is_err() {
                break;
            }
        }
        // What the server answers until it closes, or falls quiet.
        let mut received = Vec::new();
        while let Ok(Some(Ok(message))) = tokio::time::timeout(quiet, socket.next()).await {
            if let Message::Text(text) = message {
                received.push(text.as_str().to_owned());
            }
        }
        let _ = socket.close(None).await;
        received
    };
    let ((), received) = futures::join!(server, client);
    received
}
