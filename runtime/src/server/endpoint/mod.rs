//! The WARP endpoint: WebSocket connections from SwimOS clients (and tidal's own).
//!
//! Any path is upgraded. The `warp0` subprotocol is echoed when offered, and a client that
//! offers none (the Python and JS clients) is accepted too; offering only other subprotocols is
//! refused. Frames are text only, one envelope each: a binary frame, text that is not an
//! envelope, or invalid UTF-8 closes the connection with code 1002 and a reason. Sockets use
//! `TCP_NODELAY`, and the events for a client are written in batches, one frame per envelope,
//! flushed together. A client that stops reading is disconnected after
//! [`EndpointConfig::write_timeout`]; meanwhile its events are coalesced, so its memory stays
//! bounded and other clients are not affected.

mod connection;
mod uplink;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::environment::Environment;

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
    /// How long the WebSocket handshake may take. Default 10 s.
    pub handshake_timeout: Duration,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            max_frame_size: 1 << 20,
            write_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// Accepts connections until `shutdown` changes, then waits for them to close.
pub(crate) async fn serve(
    listener: TcpListener,
    environment: Arc<dyn Environment>,
    config: EndpointConfig,
    mut shutdown: watch::Receiver<bool>,
    open: Arc<AtomicUsize>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let span = tracing::info_span!("connection", %peer);
                    let task = accept(stream, environment.clone(), config.clone(), shutdown.clone());
                    let open = open.clone();
                    open.fetch_add(1, Ordering::AcqRel);
                    connections.spawn(tracing::Instrument::instrument(
                        async move {
                            task.await;
                            open.fetch_sub(1, Ordering::AcqRel);
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

async fn accept(
    stream: TcpStream,
    environment: Arc<dyn Environment>,
    config: EndpointConfig,
    shutdown: watch::Receiver<bool>,
) {
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!(%err, "could not set TCP_NODELAY");
    }
    // A 16 KiB read buffer (grown on demand for larger frames): the library zeroes the whole
    // buffer on each read attempt, and its 128 KiB default made every wake-up costly.
    let websocket = WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .max_message_size(Some(config.max_frame_size))
        .max_frame_size(Some(config.max_frame_size));
    let handshake =
        tokio_tungstenite::accept_hdr_async_with_config(stream, negotiate, Some(websocket));
    match tokio::time::timeout(config.handshake_timeout, handshake).await {
        Ok(Ok(socket)) => connection::run(socket, environment, config, shutdown).await,
        Ok(Err(err)) => tracing::debug!(%err, "WebSocket handshake failed"),
        Err(_) => tracing::debug!("WebSocket handshake timed out"),
    }
}

/// Echoes `warp0` when offered; accepts no subprotocol; refuses only other subprotocols.
#[allow(clippy::result_large_err)] // The signature is the WebSocket library's callback.
fn negotiate(request: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
    let offered: Vec<&str> = request
        .headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|protocol| !protocol.is_empty())
        .collect();
    if offered.is_empty() {
        return Ok(response);
    }
    if offered.contains(&"warp0") {
        response
            .headers_mut()
            .insert("sec-websocket-protocol", HeaderValue::from_static("warp0"));
        return Ok(response);
    }
    let mut refusal = ErrorResponse::new(Some("Failed to negotiate warp0 subprotocol".to_owned()));
    *refusal.status_mut() = StatusCode::BAD_REQUEST;
    Err(refusal)
}
