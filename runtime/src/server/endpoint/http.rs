//! The HTTP side of the server's port: each connection is HTTP/1.1 (keep-alive), its requests
//! go to HTTP lanes, and a WebSocket upgrade turns it into a WARP connection.
//!
//! An HTTP lane is at `http://host:port/<node>?lane=<name>` (the path is the node URI, in its
//! canonical form, see `canonical_node_uri`). The request starts the agent if needed, like a
//! link. Errors get the status a client expects, with the reason as text: `404` for no agent
//! at the path, no `lane` parameter, no such lane or not an HTTP lane; `405` (with `Allow`) for
//! a method the lane has no handler for; `415` for a body that is neither Recon nor JSON; `400` for one that does not
//! decode; `413` for one over [`EndpointConfig::max_body_size`]; `504` when the agent does not
//! answer within [`EndpointConfig::http_timeout`] (a gateway's word for it: the server relays
//! to the agent, and the client may try again); `503` while the server stops; `500` when the
//! handler failed.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::upgrade::OnUpgrade;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use super::EndpointConfig;
use crate::environment::{Environment, Request};
use crate::introspection::Metrics;
use crate::lock::lock;
use crate::server::policy::{Action, Admission, ConnectRequest, Identity, Policy};
use crate::vocabulary::{
    BodyFormat, HeaderValue, HttpExchange, HttpRequestContext, HttpResponse, Method, StatusCode,
};

/// The body of every response.
pub(super) type Body = Full<Bytes>;

/// A WebSocket handshake that was answered `101`.
pub(super) struct Upgrade {
    pub(super) upgrade: OnUpgrade,
    /// Who the policy admitted.
    pub(super) identity: Option<Identity>,
    /// The plane the client said it is a member of (another server of the plane).
    pub(super) plane: Option<String>,
    /// Whether the client asked to be told the kind of each lane it links to (tidal's own
    /// clients do).
    pub(super) kinds: bool,
}

/// What one connection's requests need.
#[derive(Clone)]
pub(super) struct Service {
    pub(super) environment: Arc<dyn Environment>,
    pub(super) config: EndpointConfig,
    pub(super) policy: Arc<dyn Policy>,
    /// The server's metrics, served at `GET /metrics`, if it has them.
    pub(super) metrics: Option<Arc<Metrics>>,
    /// Whether the web console is served at `GET /console` (with introspection).
    pub(super) console: bool,
    pub(super) peer: SocketAddr,
    pub(super) shutdown: watch::Receiver<bool>,
    /// The upgrade of a WebSocket handshake, taken by the connection once hyper is done.
    pub(super) upgrade: Arc<Mutex<Option<Upgrade>>>,
}

impl Service {
    /// Answers one request.
    pub(super) async fn call<B>(
        self,
        mut request: hyper::Request<B>,
    ) -> Result<hyper::Response<Body>, Infallible>
    where
        B: hyper::body::Body,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let admission = {
            let connect = ConnectRequest {
                peer: self.peer,
                uri: request.uri(),
                headers: request.headers(),
            };
            self.policy.admit(&connect).await
        };
        let identity = match admission {
            // An identity past its expiry is no identity: whoever presents it must sign in
            // again, also on a connection kept alive.
            Admission::Allow(Some(identity)) if identity.is_expired() => {
                return Ok(self.refuse(StatusCode::UNAUTHORIZED, "the identity expired".into()));
            }
            Admission::Allow(identity) => identity,
            Admission::Refuse(status, reason) => return Ok(self.refuse(status, reason)),
        };
        if is_upgrade(&request) {
            let response = match handshake(&request) {
                Ok(response) => {
                    let headers = request.headers();
                    let plane = headers
                        .get(crate::remote::PLANE_HEADER)
                        .and_then(|plane| plane.to_str().ok())
                        .map(str::to_owned);
                    let kinds = headers.contains_key(crate::remote::KINDS_HEADER);
                    *lock(&self.upgrade) = Some(Upgrade {
                        upgrade: hyper::upgrade::on(&mut request),
                        identity,
                        plane,
                        kinds,
                    });
                    response
                }
                Err(response) => response,
            };
            return Ok(response);
        }
        let response = if *self.shutdown.borrow() {
            HttpResponse::error(StatusCode::SERVICE_UNAVAILABLE, "the server is stopping")
        } else if let Some(metrics) = self
            .metrics
            .as_ref()
            .filter(|_| is_get(&request, "/metrics"))
        {
            return Ok(text_response(
                metrics.encode(),
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            ));
        } else if self.console && is_get(&request, "/console") {
            return Ok(text_response(
                crate::server::console::PAGE.to_owned(),
                "text/html; charset=utf-8",
            ));
        } else {
            self.to_lane(request, identity.as_ref()).await
        };
        Ok(into_hyper(response))
    }

    /// The answer to a request the policy refuses: a `401` says how to authenticate
    /// (`WWW-Authenticate`, from [`Policy::challenge`]).
    fn refuse(&self, status: StatusCode, reason: String) -> hyper::Response<Body> {
        tracing::debug!(peer = %self.peer, %status, %reason, "request refused by the policy");
        let mut response = into_hyper(error(status, reason));
        if status == StatusCode::UNAUTHORIZED {
            if let Ok(challenge) = HeaderValue::from_str(&self.policy.challenge()) {
                response
                    .headers_mut()
                    .insert(http::header::WWW_AUTHENTICATE, challenge);
            }
        }
        response
    }

    /// Takes the request to its HTTP lane and waits for the answer.
    async fn to_lane<B>(
        &self,
        request: hyper::Request<B>,
        identity: Option<&Identity>,
    ) -> HttpResponse
    where
        B: hyper::body::Body,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let (parts, body) = request.into_parts();
        // The path is the node URI, in its one spelling (`%2F` stays: one segment).
        let node = crate::vocabulary::canonical_node_uri(parts.uri.path()).into_owned();
        let context = HttpRequestContext::new(parts.method, parts.uri, parts.headers);
        let Some(lane) = context.query_param("lane") else {
            return error(
                StatusCode::NOT_FOUND,
                "no lane: address an HTTP lane as /<node>?lane=<name>",
            );
        };
        if !self.environment.serves(&node) {
            return error(StatusCode::NOT_FOUND, format!("no agent at `{node}`"));
        }
        let action = Action::Http(context.method().clone());
        if !self.policy.authorize(identity, &action, &node, &lane) {
            return error(StatusCode::FORBIDDEN, "the policy forbids this request");
        }
        let header = |name| {
            context
                .headers()
                .get(name)
                .and_then(|value: &HeaderValue| value.to_str().ok())
        };
        let Some(body_format) = BodyFormat::from_content_type(header(http::header::CONTENT_TYPE))
        else {
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "bodies are Recon (application/x-recon) or JSON (application/json)",
            );
        };
        let response_format = BodyFormat::from_accept(header(http::header::ACCEPT));
        let limit = self.config.max_body_size;
        let too_large = || {
            error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than {limit} bytes"),
            )
        };
        let declared = header(http::header::CONTENT_LENGTH).and_then(|n| n.parse::<usize>().ok());
        if declared.is_some_and(|length| length > limit) {
            return too_large();
        }
        let body = match Limited::new(body, limit).collect().await {
            Ok(body) => body.to_bytes().to_vec(),
            Err(err) if err.is::<http_body_util::LengthLimitError>() => return too_large(),
            Err(err) => return error(StatusCode::BAD_REQUEST, format!("reading the body: {err}")),
        };
        let (exchange, answer) = HttpExchange::new(context, body, body_format, response_format);
        let mailbox = match self.environment.resolve(&node) {
            Ok(mailbox) => mailbox,
            Err(reason) => return error(StatusCode::NOT_FOUND, reason.to_string()),
        };
        let exchange = Box::new(exchange);
        let sent = mailbox.send(Request::Http { lane, exchange }).await;
        if sent.is_err() {
            return error(StatusCode::SERVICE_UNAVAILABLE, "the agent stopped");
        }
        match tokio::time::timeout(self.config.http_timeout, answer).await {
            Ok(Ok(response)) => response,
            Ok(Err(_)) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the agent did not answer: its handler failed, or it stopped",
            ),
            Err(_) => error(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "the agent did not answer within {:?}",
                    self.config.http_timeout
                ),
            ),
        }
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> HttpResponse {
    HttpResponse::error(status, message)
}

fn into_hyper(response: HttpResponse) -> hyper::Response<Body> {
    let mut out = hyper::Response::new(Full::new(Bytes::from(response.body)));
    *out.status_mut() = response.status;
    *out.headers_mut() = response.headers;
    out
}

/// Whether the request asks to become a WebSocket.
fn is_upgrade<B>(request: &hyper::Request<B>) -> bool {
    request
        .headers()
        .get(http::header::UPGRADE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("websocket"))
}

/// The answer to a WebSocket handshake: `101` (echoing `warp0` when offered; a client that
/// offers no subprotocol is accepted too), or `400` with the reason.
#[allow(clippy::result_large_err)] // Either answer is a response.
fn handshake<B>(
    request: &hyper::Request<B>,
) -> Result<hyper::Response<Body>, hyper::Response<Body>> {
    let refuse = |reason: &str| {
        let mut response = into_hyper(HttpResponse::error(StatusCode::BAD_REQUEST, reason));
        *response.status_mut() = StatusCode::BAD_REQUEST;
        response
    };
    let headers = request.headers();
    if request.method() != Method::GET {
        return Err(refuse("a WebSocket handshake is a GET"));
    }
    if headers
        .get(http::header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|version| version != "13")
    {
        return Err(refuse("Sec-WebSocket-Version must be 13"));
    }
    let Some(key) = headers.get(http::header::SEC_WEBSOCKET_KEY) else {
        return Err(refuse("Sec-WebSocket-Key is missing"));
    };
    let offered: Vec<&str> = headers
        .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|protocol| !protocol.is_empty())
        .collect();
    let mut response = hyper::Response::new(Body::default());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let out = response.headers_mut();
    out.insert(
        http::header::CONNECTION,
        HeaderValue::from_static("Upgrade"),
    );
    out.insert(http::header::UPGRADE, HeaderValue::from_static("websocket"));
    let accept = derive_accept_key(key.as_bytes());
    if let Ok(accept) = HeaderValue::try_from(accept) {
        out.insert(http::header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    if offered.contains(&"warp0") {
        out.insert(
            http::header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("warp0"),
        );
    } else if !offered.is_empty() {
        return Err(refuse("Failed to negotiate warp0 subprotocol"));
    }
    Ok(response)
}

/// Whether the request is `GET` (or `HEAD`) of `path`, with no lane.
fn is_get<B>(request: &hyper::Request<B>, path: &str) -> bool {
    (request.method() == Method::GET || request.method() == Method::HEAD)
        && request.uri().path() == path
        && request.uri().query().is_none()
}

/// A `200` with `text` of this content type.
fn text_response(text: String, content_type: &'static str) -> hyper::Response<Body> {
    let mut response = hyper::Response::new(Body::new(Bytes::from(text)));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::environment::{Mailbox, RemoteHosts};
    use crate::lanes::UnlinkReason;

    /// A server with no agents.
    struct Empty;

    impl Environment for Empty {
        fn resolve(&self, _: &str) -> Result<Mailbox, UnlinkReason> {
            Err(UnlinkReason::NodeNotFound)
        }

        fn resolve_running(&self, _: &str) -> Option<Mailbox> {
            None
        }

        fn serves(&self, _: &str) -> bool {
            false
        }

        fn remote(&self) -> Option<&dyn RemoteHosts> {
            None
        }
    }

    fn service(stopping: bool) -> Service {
        let (_, shutdown) = watch::channel(stopping);
        Service {
            environment: Arc::new(Empty),
            config: EndpointConfig::default(),
            policy: Arc::new(crate::server::policy::AllowAll),
            metrics: None,
            console: false,
            peer: "127.0.0.1:1".parse().unwrap(),
            shutdown,
            upgrade: Arc::new(Mutex::new(None)),
        }
    }

    async fn status(service: Service, request: hyper::Request<Full<Bytes>>) -> StatusCode {
        service.call(request).await.unwrap().status()
    }

    fn get(uri: &str) -> hyper::Request<Full<Bytes>> {
        hyper::Request::get(uri).body(Full::default()).unwrap()
    }

    #[tokio::test]
    async fn requests_while_the_server_stops_get_503() {
        let answer = status(service(true), get("/shop/a?lane=stock")).await;
        assert_eq!(answer, StatusCode::SERVICE_UNAVAILABLE);
        let answer = status(service(false), get("/shop/a?lane=stock")).await;
        assert_eq!(answer, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn bad_websocket_handshakes_get_400_and_good_ones_101() {
        let handshake = |version: &str, protocol: Option<&str>| {
            let mut request = hyper::Request::get("/")
                .header("upgrade", "websocket")
                .header("connection", "upgrade")
                .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
                .header("sec-websocket-version", version);
            if let Some(protocol) = protocol {
                request = request.header("sec-websocket-protocol", protocol);
            }
            request.body(Full::default()).unwrap()
        };
        let answer = service(false).call(handshake("13", None)).await.unwrap();
        assert_eq!(answer.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(
            answer.headers()["sec-websocket-accept"],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        let answer = service(false)
            .call(handshake("13", Some("chat, warp0")))
            .await
            .unwrap();
        assert_eq!(answer.headers()["sec-websocket-protocol"], "warp0");
        for (version, protocol) in [("8", None), ("13", Some("chat"))] {
            let answer = status(service(false), handshake(version, protocol)).await;
            assert_eq!(answer, StatusCode::BAD_REQUEST, "{version} {protocol:?}");
        }
    }
}
