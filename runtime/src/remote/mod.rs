//! Outgoing connections: downlinks and commands to lanes on other hosts, over WARP.
//!
//! Every downlink and command to the same host, from every agent of the process, shares one
//! WebSocket to that host. A failed connection is retried with jittered exponential backoff
//! ([`RemoteConfig`]); this is not an unlink, so downlinks do not run `on_unlinked`. When the
//! connection is back, every live link is linked (and synced) again, and the downlinks run
//! `on_linked`/`on_synced` again.
//!
//! # Writes while the connection is down
//! Nothing written while the connection is down is lost, within one bound:
//! - A value downlink's writes (`handle.set`): the latest one per remote lane waits, and
//!   replaces any earlier one still waiting.
//! - A map downlink's operations (`update`, `remove`, `clear`) and commands
//!   (`send_command`, `Client::command`): all wait, in order.
//! - At most [`RemoteConfig::max_queued_commands`] writes wait per host (1,024 by default);
//!   past that, the oldest is dropped, with a warning in the log.
//!
//! Once the connection is back, the links are made again first, then the waiting writes are
//! sent in the order they were made. Before writing, the connection reads what the host has
//! sent, so a host that has gone away is noticed first; writes the socket has not taken when
//! the connection fails wait for the next one. A write is sent at most once: one the socket
//! took just before the connection failed may be lost, as WARP has no acknowledgements.
//!
//! Host strings are `ws://host:port`, `wss://host:port` (TLS, see [`TlsConfig`]), or the
//! WARP aliases `warp://` (for `ws://`) and `warps://` (for `wss://`). A connection no link
//! has used for [`RemoteConfig::idle_timeout`] is closed, and opened again when needed. A
//! host that stops reading does not stop its events arriving; once the writes to it have made
//! no progress for [`RemoteConfig::write_timeout`], the connection counts as lost. A host that
//! sends nothing is pinged (see [`RemoteConfig::keepalive`]); one that does not answer, for
//! example because it vanished without closing the connection, counts as lost too.

mod connection;
mod tls;

pub use tls::{TlsConfig, TlsError};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::environment::{RemoteHosts, Waits};
use crate::introspection::Metrics;
use crate::lanes::{CommandPayload, LinkSubscriber, UnlinkReason};
use crate::lock::lock;
use crate::recon::Value;

/// How outgoing connections retry.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RemoteConfig {
    /// The delay before the first retry. Default 100 ms.
    pub initial_delay: Duration,
    /// How much the delay grows with each failed attempt. Default 2.
    pub factor: f64,
    /// The longest delay. Default 5 s.
    pub max_delay: Duration,
    /// Give up after this many failed attempts in a row (the links then fail, running
    /// `on_failed`). Default `None`: retry forever.
    pub max_attempts: Option<u32>,
    /// How many commands may wait for a connection; older ones are dropped first. Default
    /// 1024.
    pub max_queued_commands: usize,
    /// How long one attempt to connect (TCP, TLS and WebSocket handshakes) may take. Default
    /// 10 s.
    pub connect_timeout: Duration,
    /// How long a connection with no links and nothing to send stays open. Default 60 s.
    pub idle_timeout: Duration,
    /// How long the host may leave our writes waiting (it stopped reading) before the
    /// connection counts as lost and is made again. Default 30 s.
    pub write_timeout: Duration,
    /// How often the host's silence is checked: a host that has sent nothing for one such
    /// period is pinged, and if it still sends nothing for another, the connection counts as
    /// lost (a host that vanished without closing it) and is made again. Default 30 s.
    pub keepalive: Duration,
    /// Which certificates `wss://` hosts may present. Default: the built-in Mozilla roots.
    pub tls: TlsConfig,
    /// The bearer token presented to each host (`Authorization: Bearer ..` on the upgrade),
    /// by host URL as [`with_bearer_token`](Self::with_bearer_token) normalised it.
    bearer_tokens: HashMap<String, String>,
    /// The plane of which this process's server is a member, presented to every host (a
    /// server of the same plane then never forwards what this one sends it).
    pub(crate) plane: Option<String>,
}

/// The header with which a member of a plane tells another member that it is one (its value
/// is the plane's name): requests arriving on such a connection were forwarded already, so
/// the receiving member serves them itself and never forwards them again.
pub(crate) const PLANE_HEADER: &str = "x-tidal-plane";

/// The header with which tidal's connections ask a tidal server to say the kind of each lane
/// they link to (`@linked(..)@kind(map)`): a member passes a lane's events on to its own
/// clients as the lane's kind requires, and the client's raw links report it
/// ([`RawEvent::Kind`](crate::client::RawEvent::Kind)). Other servers ignore it.
pub(crate) const KINDS_HEADER: &str = "x-tidal-lane-kinds";

impl Default for RemoteConfig {
    fn default() -> Self {
        RemoteConfig {
            initial_delay: Duration::from_millis(100),
            factor: 2.0,
            max_delay: Duration::from_secs(5),
            max_attempts: None,
            max_queued_commands: 1024,
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(30),
            keepalive: Duration::from_secs(30),
            tls: TlsConfig::default(),
            bearer_tokens: HashMap::new(),
            plane: None,
        }
    }
}

impl RemoteConfig {
    /// Presents `token` to `host` (`ws://..`, `wss://..`, `warp://..` or `warps://..`) as
    /// `Authorization: Bearer <token>` when connecting, for a server whose policy takes bearer
    /// tokens. Send it over `wss://`: over `ws://` anyone on the path can read it.
    pub fn with_bearer_token(mut self, host: &str, token: &str) -> Self {
        let key = websocket_url(host).unwrap_or_else(|_| host.to_owned());
        self.bearer_tokens.insert(key, token.to_owned());
        self
    }

    /// The token presented to the host with this (normalised) URL.
    pub(crate) fn bearer_token(&self, url: &str) -> Option<&str> {
        self.bearer_tokens.get(url).map(String::as_str)
    }

    /// The delay before retry number `attempt` (from 1), before jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(64) as i32;
        let delay = self.initial_delay.as_secs_f64() * self.factor.max(1.0).powi(exponent);
        Duration::from_secs_f64(delay.min(self.max_delay.as_secs_f64()))
    }
}

/// What the task of one host is asked to do.
pub(crate) enum HostRequest {
    Link {
        node: String,
        lane: String,
        subscriber: LinkSubscriber,
    },
    Unlink {
        id: u64,
    },
    Command {
        node: String,
        lane: String,
        body: Value,
        waits: Waits,
    },
}

/// The connections of a process, one per host.
pub(crate) struct RemotePool {
    config: RemoteConfig,
    hosts: Mutex<HashMap<String, mpsc::UnboundedSender<HostRequest>>>,
    /// The server's metrics, if it has them.
    metrics: Option<Arc<Metrics>>,
}

impl RemotePool {
    pub(crate) fn new(config: RemoteConfig) -> Self {
        RemotePool {
            config,
            hosts: Mutex::new(HashMap::new()),
            metrics: None,
        }
    }

    /// The pool of a server with metrics: its connections are counted.
    pub(crate) fn with_metrics(mut self, metrics: Option<Arc<Metrics>>) -> Self {
        self.metrics = metrics;
        self
    }

    /// The queue of the task for `host`, started if needed.
    fn host(&self, host: &str) -> Result<mpsc::UnboundedSender<HostRequest>, UnlinkReason> {
        let url = websocket_url(host)?;
        let mut hosts = lock(&self.hosts);
        if let Some(queue) = hosts.get(&url) {
            if !queue.is_closed() {
                return Ok(queue.clone());
            }
        }
        let (queue, requests) = mpsc::unbounded_channel();
        let span = tracing::info_span!("remote", host = %url);
        tokio::spawn(tracing::Instrument::instrument(
            connection::run(
                url.clone(),
                requests,
                self.config.clone(),
                self.metrics.clone(),
            ),
            span,
        ));
        hosts.insert(url, queue.clone());
        Ok(queue)
    }
}

impl RemoteHosts for RemotePool {
    fn link(&self, host: &str, node: &str, lane: &str, subscriber: LinkSubscriber) {
        let request = HostRequest::Link {
            node: node.to_owned(),
            lane: lane.to_owned(),
            subscriber,
        };
        match self.host(host) {
            Ok(queue) => {
                if let Err(mpsc::error::SendError(HostRequest::Link { subscriber, .. })) =
                    queue.send(request)
                {
                    subscriber.refuse(UnlinkReason::Unreachable(host.to_owned()));
                }
            }
            Err(reason) => {
                if let HostRequest::Link { subscriber, .. } = request {
                    subscriber.refuse(reason);
                }
            }
        }
    }

    fn unlink(&self, host: &str, id: u64) {
        // Only a host with a task has links to close: never start one for an unlink.
        let Ok(url) = websocket_url(host) else {
            return;
        };
        if let Some(queue) = lock(&self.hosts).get(&url) {
            let _ = queue.send(HostRequest::Unlink { id });
        }
    }

    fn command(
        &self,
        host: &str,
        node: &str,
        lane: &str,
        payload: CommandPayload,
        waits: Waits,
    ) -> Result<(), UnlinkReason> {
        let body = match payload {
            CommandPayload::Typed(typed) => typed
                .to_recon()
                .map_err(|err| UnlinkReason::BadValue(err.to_string()))?,
            CommandPayload::Recon(value) => value,
        };
        self.host(host)?
            .send(HostRequest::Command {
                node: node.to_owned(),
                lane: lane.to_owned(),
                body,
                waits,
            })
            .map_err(|_| UnlinkReason::Unreachable(host.to_owned()))
    }
}

/// The WebSocket URL of a host string, normalised so that each host has one key (and one
/// connection): `warp://` is `ws://` and `warps://` is `wss://`, the host is in lower case, the
/// port is explicit (80 or 443 by default) and an empty path is `/`. So `ws://h:1`,
/// `ws://h:1/` and `warp://H:1` are the same host.
fn websocket_url(host: &str) -> Result<String, UnlinkReason> {
    let refuse = |why: &str| UnlinkReason::Unreachable(format!("{host}: {why}"));
    let uri: http::Uri = host
        .parse()
        .map_err(|err| refuse(&format!("not a URL ({err})")))?;
    let scheme = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
        Some("ws" | "warp") => "ws",
        Some("wss" | "warps") => "wss",
        _ => return Err(refuse("expected a ws://, wss://, warp:// or warps:// URL")),
    };
    let authority = uri
        .authority()
        .filter(|authority| !authority.host().is_empty())
        .ok_or_else(|| refuse("the URL names no host"))?;
    if authority.as_str().contains('@') {
        return Err(refuse(
            "user names and passwords in host URLs are not supported",
        ));
    }
    let port = match authority.port_u16() {
        Some(port) => port,
        // Something follows the host, yet it is no port number.
        None if authority.as_str().len() > authority.host().len() => {
            return Err(refuse("the port is not a number from 0 to 65535"))
        }
        None if scheme == "ws" => 80,
        None => 443,
    };
    let path = match uri.path_and_query().map(|path| path.as_str()) {
        None | Some("") => "/",
        Some(path) => path,
    };
    Ok(format!(
        "{scheme}://{}:{port}{path}",
        authority.host().to_ascii_lowercase()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_strings_become_websocket_urls() {
        assert_eq!(
            websocket_url("ws://127.0.0.1:9001").unwrap(),
            "ws://127.0.0.1:9001/"
        );
        assert_eq!(websocket_url("warp://h:1/").unwrap(), "ws://h:1/");
        assert_eq!(websocket_url("wss://h").unwrap(), "wss://h:443/");
        assert_eq!(websocket_url("ws://h").unwrap(), "ws://h:80/");
        assert_eq!(websocket_url("warps://h:9").unwrap(), "wss://h:9/");
        assert_eq!(
            websocket_url("ws://[::1]:9/warp").unwrap(),
            "ws://[::1]:9/warp"
        );
        for bad in [
            "http://h",
            "ws://",
            "h:1",
            "ws://u:p@h:1",
            "ws://h:99999",
            "not a url",
        ] {
            assert!(websocket_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn each_host_has_one_key() {
        let key = websocket_url("ws://h:1").unwrap();
        for same in ["ws://h:1/", "warp://h:1", "WS://H:1", "warp://h:1/"] {
            assert_eq!(websocket_url(same).unwrap(), key, "{same}");
        }
        assert_ne!(websocket_url("wss://h:1").unwrap(), key);
        assert_ne!(websocket_url("ws://h:2").unwrap(), key);
    }

    #[test]
    fn delays_grow_and_are_capped() {
        let config = RemoteConfig::default();
        assert_eq!(config.delay(1), Duration::from_millis(100));
        assert_eq!(config.delay(2), Duration::from_millis(200));
        assert_eq!(config.delay(4), Duration::from_millis(800));
        assert_eq!(config.delay(100), Duration::from_secs(5));
    }
}
