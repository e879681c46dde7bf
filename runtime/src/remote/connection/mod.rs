//! The task of one remote host: connect, link, route frames to links, reconnect.
//!
//! | file | concern |
//! |---|---|
//! | `links.rs` | the link table and its cached state |
//! | `dial.rs` | the WebSocket handshake, retry jitter |
//! | `offline.rs` | requests while the connection is down |
//! | `online.rs` | the loop of a live connection |
//! | `routing.rs` | frames from the host to the links |

mod dial;
mod links;
mod offline;
mod online;
mod routing;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use self::dial::{connect, Headers, Jitter};
use self::links::Links;
use self::offline::{offline, Waiting};
use self::online::{online, Online};
use super::{HostRequest, RemoteConfig};
use crate::introspection::Metrics;
use crate::lanes::UnlinkReason;
use crate::warp::{write_frame, EnvelopeKind};

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;
/// A remote lane: its node and lane.
type Address = (String, String);

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
    metrics: Option<Arc<Metrics>>,
) {
    let tls = url
        .starts_with("wss://")
        .then(|| Connector::Rustls(config.tls.client_config()));
    let headers = Headers {
        token: config.bearer_token(&url).map(str::to_owned),
        plane: config.plane.clone(),
    };
    run_with(url, requests, config, metrics.as_deref(), |url| {
        connect(url, tls.clone(), headers.clone())
    })
    .await
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

/// Waits, with no connection, for a request that needs one (a link or a command); unlinks
/// meanwhile only forget their links, so that dropping the handle of a failed downlink does not
/// dial the host again. `false` when the pool has dropped the queue.
async fn wait_for_work(
    requests: &mut mpsc::UnboundedReceiver<HostRequest>,
    links: &mut Links,
    commands: &mut VecDeque<Waiting>,
    config: &RemoteConfig,
) -> bool {
    loop {
        match requests.recv().await {
            Some(HostRequest::Unlink { id }) => {
                links.remove(id);
            }
            Some(request) => {
                offline(request, links, commands, config);
                return true;
            }
            None => return false,
        }
    }
}

/// [`run`], connecting with `connector`.
pub(crate) async fn run_with<C, F>(
    url: String,
    mut requests: mpsc::UnboundedReceiver<HostRequest>,
    config: RemoteConfig,
    metrics: Option<&Metrics>,
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
        if let Some(metrics) = metrics {
            metrics.remote_attempts.inc();
            metrics.remote_connecting.inc();
        }
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
        if let Some(metrics) = metrics {
            metrics.remote_connecting.dec();
        }
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
                    if !wait_for_work(&mut requests, &mut links, &mut commands, &config).await {
                        return;
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
        if let Some(metrics) = metrics {
            metrics.remote_connected.inc();
        }
        let outcome = online(socket, &mut requests, &mut links, &mut commands, &config).await;
        if let Some(metrics) = metrics {
            metrics.remote_connected.dec();
        }
        match outcome {
            Online::Closed => return,
            Online::Idle => {
                tracing::debug!("connection idle; closed until it is needed again");
                if !wait_for_work(&mut requests, &mut links, &mut commands, &config).await {
                    return;
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
