//! Security on real connections on 127.0.0.1: TLS on the server's port (`wss://` for WARP and
//! tidal's own downlinks, `https://` for HTTP lanes), certificates replaced while the server
//! runs, clients that speak plain text to a TLS port, or TLS to a plain one; and policies:
//! tokens on the upgrade and in `@auth`, forbidden lanes, read-only anonymous clients.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tidal::client::Client;
use tidal::prelude::*;
use tidal::remote::{RemoteConfig, TlsConfig};
use tidal::server::{
    Action, AllowAll, Anonymous, BearerTokens, EndpointConfig, Identity, Limits, Policy,
    PolicyFuture, ServerError, ServerTlsConfig, ServerTlsError,
};
use tokio::task::JoinHandle;
use tokio_rustls::rustls;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::Connector;

/// A WARP client connection.
type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const CA: &[u8] = include_bytes!("tls/ca.pem");
const CHAIN: &[u8] = include_bytes!("tls/server.pem");
const KEY: &[u8] = include_bytes!("tls/server.key");

/// A gauge, over WARP and HTTP.
#[projections]
#[derive(AgentLaneModel)]
pub struct Gauge {
    level: ValueLane<i64>,
    secret: ValueLane<i64>,
    api: HttpLane<i64>,
    /// Who sent the last `sign` command.
    signed_by: ValueLane<String>,
    sign: CommandLane<()>,
}

#[derive(Clone)]
pub struct GaugeLifecycle;

#[lifecycle(Gauge)]
impl GaugeLifecycle {
    #[on_command(sign)]
    fn sign(&self, context: HandlerContext<Gauge>, _: &()) -> impl EventHandler<Gauge> {
        context.sender().and_then(move |sender| {
            let name = sender.map_or("anonymous".to_owned(), |s| s.name().to_owned());
            context.set_value(Gauge::SIGNED_BY, name)
        })
    }

    #[on_get(api)]
    fn get(
        &self,
        context: HandlerContext<Gauge>,
        _: HttpRequestContext,
    ) -> impl HandlerAction<Gauge, Completion = Response<i64>> {
        context.get_value(Gauge::LEVEL).map(Response::ok)
    }
}

struct Running {
    server: ServerHandle,
    task: JoinHandle<Result<(), ServerError>>,
    port: u16,
}

async fn serve(tls: Option<ServerTlsConfig>) -> Running {
    serve_with(tls, AllowAll).await
}

async fn serve_with(tls: Option<ServerTlsConfig>, policy: impl Policy) -> Running {
    serve_limited(tls, policy, Limits::default()).await
}

async fn serve_limited(
    tls: Option<ServerTlsConfig>,
    policy: impl Policy,
    limits: Limits,
) -> Running {
    serve_configured(tls, policy, move |endpoint| endpoint.limits = limits).await
}

async fn serve_configured(
    tls: Option<ServerTlsConfig>,
    policy: impl Policy,
    configure: impl FnOnce(&mut EndpointConfig),
) -> Running {
    let mut builder = ServerBuilder::with_plane_name("secure")
        .with_policy(policy)
        .set_bind_addr("127.0.0.1:0")
        .add_route(
            "/gauge/:id".parse().unwrap(),
            AgentModel::new(Gauge::default, GaugeLifecycle),
        )
        .update_config(|config| {
            config.endpoint.handshake_timeout = Duration::from_secs(2);
            configure(&mut config.endpoint);
        });
    if let Some(tls) = tls {
        builder = builder.with_tls(tls);
    }
    let (task, server) = builder.build().await.unwrap().run();
    let task = tokio::spawn(task);
    let port = server.bound_addr().unwrap().port();
    Running { server, task, port }
}

impl Running {
    async fn stop(self) {
        self.server.stop();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the server stops")
            .unwrap()
            .unwrap();
    }
}

/// A TLS client configuration trusting only the certificates of `ca` (PEM).
fn trusting(ca: &[u8]) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for certificate in rustls::pki_types::CertificateDer::pem_slice_iter(ca) {
        roots.add(certificate.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// `GET` over HTTPS (trusting `ca`): the status and body, or why it failed.
async fn https_get(port: u16, ca: &[u8], path: &str) -> Result<(u16, String), String> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|err| err.to_string())?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(trusting(ca))
        .connect(name, tcp)
        .await
        .map_err(|err| err.to_string())?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|err| err.to_string())?;
    tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header("host", "localhost")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender
        .send_request(request)
        .await
        .map_err(|err| err.to_string())?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Opens a WARP connection over `wss://` (trusting `ca`) and syncs `node`'s `level`: the
/// first frame, or why it failed.
async fn wss_sync(port: u16, ca: &[u8], node: &str) -> Result<String, String> {
    let url = format!("wss://localhost:{port}/");
    let connector = Connector::Rustls(trusting(ca));
    let (mut socket, _) =
        tokio_tungstenite::connect_async_tls_with_config(url, None, false, Some(connector))
            .await
            .map_err(|err| err.to_string())?;
    socket
        .send(Message::text(format!(r#"@sync(node:"{node}",lane:level)"#)))
        .await
        .map_err(|err| err.to_string())?;
    let frame = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .map_err(|_| "no frame within 5 s".to_owned())?
        .ok_or("closed")?
        .map_err(|err| err.to_string())?;
    Ok(frame.into_text().unwrap().as_str().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warp_https_and_tidal_downlinks_share_one_tls_port() {
    let running = serve(Some(ServerTlsConfig::from_pem(CHAIN, KEY).unwrap())).await;
    let port = running.port;
    running
        .server
        .command("/gauge/a", "level", 12i64)
        .await
        .unwrap();
    assert_eq!(
        wss_sync(port, CA, "/gauge/a").await.unwrap(),
        r#"@linked(node:"/gauge/a",lane:level)"#
    );
    assert_eq!(
        https_get(port, CA, "/gauge/a?lane=api").await.unwrap(),
        (200, "12".to_owned())
    );
    // tidal's own client, trusting the test authority.
    let mut config = RemoteConfig::default();
    config.tls = TlsConfig::default().add_root_certificates_pem(CA).unwrap();
    let client = Client::with_config(config);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (synced, events) = (seen.clone(), seen.clone());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let value = client
        .value_downlink::<i64>(&format!("wss://localhost:{port}"), "/gauge/a", "level")
        .on_synced(move |v| {
            synced.lock().unwrap().push(*v);
            let _ = tx.send(());
        })
        .on_event(move |v| events.lock().unwrap().push(*v))
        .open()
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("the downlink syncs over TLS");
    assert_eq!(seen.lock().unwrap().first(), Some(&12));
    value.stop();
    drop(client);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_text_on_a_tls_port_and_tls_on_a_plain_port_fail_cleanly() {
    let secure = serve(Some(ServerTlsConfig::from_pem(CHAIN, KEY).unwrap())).await;
    let plain = serve(None).await;
    // A plain WebSocket client on the TLS port: the handshake fails, the connection closes.
    let refused =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/", secure.port)).await;
    assert!(refused.is_err(), "a plain client reached a TLS port");
    // A TLS client on the plain port: hyper answers its ClientHello with 400 and closes.
    assert!(wss_sync(plain.port, CA, "/gauge/p").await.is_err());
    assert!(https_get(plain.port, CA, "/gauge/p?lane=api")
        .await
        .is_err());
    // A client that does not trust the certificate gets nowhere either.
    let other_ca = include_bytes!("tls/server.pem");
    assert!(https_get(secure.port, other_ca, "/gauge/s?lane=api")
        .await
        .is_err());
    // Both servers go on serving the clients that speak their language.
    assert!(wss_sync(secure.port, CA, "/gauge/s").await.is_ok());
    let (socket, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/", plain.port))
        .await
        .unwrap();
    drop(socket);
    secure.stop().await;
    plain.stop().await;
}

/// A new authority and a certificate for `localhost` it signed: (authority PEM, chain PEM,
/// key PEM).
fn new_authority() -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "tidal reload test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    let certificate = params.signed_by(&key, &ca, &ca_key).unwrap();
    (ca.pem(), certificate.pem(), key.serialize_pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloaded_certificates_serve_new_connections_and_bad_ones_are_refused() {
    let running = serve(Some(ServerTlsConfig::from_pem(CHAIN, KEY).unwrap())).await;
    let port = running.port;
    let (new_ca, new_chain, new_key) = new_authority();
    assert!(https_get(port, new_ca.as_bytes(), "/gauge/r?lane=api")
        .await
        .is_err());
    // Certificates that do not load never reach the server.
    assert!(matches!(
        ServerTlsConfig::from_pem(b"not pem", new_key.as_bytes()),
        Err(ServerTlsError::NoCertificates | ServerTlsError::Pem { .. })
    ));
    assert!(matches!(
        ServerTlsConfig::from_pem(new_chain.as_bytes(), KEY),
        Err(ServerTlsError::Rejected(_))
    ));
    let reloaded = ServerTlsConfig::from_pem(new_chain.as_bytes(), new_key.as_bytes()).unwrap();
    running.server.reload_tls(reloaded).unwrap();
    assert_eq!(
        https_get(port, new_ca.as_bytes(), "/gauge/r?lane=api")
            .await
            .unwrap(),
        (200, "0".to_owned())
    );
    assert!(https_get(port, CA, "/gauge/r?lane=api").await.is_err());
    running.stop().await;
    // A server without TLS has nothing to reload.
    let plain = serve(None).await;
    let tls = ServerTlsConfig::from_pem(CHAIN, KEY).unwrap();
    assert!(matches!(
        plain.server.reload_tls(tls),
        Err(ServerTlsError::NotTls)
    ));
    plain.stop().await;
}

/// A plain WARP connection, with `Authorization: Bearer <token>` if a token is given.
async fn warp(
    port: u16,
    token: Option<&str>,
) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://127.0.0.1:{port}/")
        .into_client_request()
        .unwrap();
    if let Some(token) = token {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
}

/// The status of a refused upgrade.
fn refused_status(error: tokio_tungstenite::tungstenite::Error) -> u16 {
    match error {
        tokio_tungstenite::tungstenite::Error::Http(response) => response.status().as_u16(),
        other => panic!("not an HTTP refusal: {other}"),
    }
}

async fn next_frame(socket: &mut Socket) -> String {
    let frame = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("a frame within 5 s")
        .expect("open")
        .expect("a frame");
    frame.into_text().unwrap().as_str().to_owned()
}

/// Sends one text frame.
async fn send_text(socket: &mut Socket, text: &str) {
    socket.send(Message::text(text)).await.unwrap();
}

/// Sends `@sync` for `lane` of `node` and expects its state to be `value`.
async fn sync(socket: &mut Socket, node: &str, lane: &str, value: &str) {
    socket
        .send(Message::text(format!(
            r#"@sync(node:"{node}",lane:{lane})"#
        )))
        .await
        .unwrap();
    for frame in [
        format!(r#"@linked(node:"{node}",lane:{lane})"#),
        format!(r#"@event(node:"{node}",lane:{lane}) {value}"#),
        format!(r#"@synced(node:"{node}",lane:{lane})"#),
    ] {
        assert_eq!(next_frame(socket).await, frame);
    }
}

async fn expect(socket: &mut Socket, frames: &[&str]) {
    for expected in frames {
        assert_eq!(next_frame(socket).await, *expected);
    }
}

/// The code and reason the server closes `socket` with (frames before it are skipped), or
/// `None` if it ends without a close frame.
async fn close_of(socket: &mut Socket) -> Option<(u16, String)> {
    tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(message) = socket.next().await {
            match message {
                Ok(Message::Close(frame)) => {
                    return frame.map(|f| (u16::from(f.code), f.reason.as_str().to_owned()))
                }
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    })
    .await
    .expect("the connection ends within 5 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_table_refuses_missing_and_unknown_tokens_before_the_websocket_opens() {
    let running = serve_with(None, BearerTokens::new([("good", "alice")])).await;
    let port = running.port;
    let missing = warp(port, None).await.unwrap_err();
    if let tokio_tungstenite::tungstenite::Error::Http(response) = &missing {
        let challenge = response.headers().get("www-authenticate");
        assert_eq!(challenge.unwrap(), r#"Bearer realm="tidal""#);
    }
    assert_eq!(refused_status(missing), 401);
    assert_eq!(
        refused_status(warp(port, Some("bad")).await.unwrap_err()),
        401
    );
    let mut socket = warp(port, Some("good")).await.unwrap();
    send_text(&mut socket, r#"@command(node:"/gauge/t",lane:level) 3"#).await;
    sync(&mut socket, "/gauge/t", "level", "3").await;
    // HTTP lanes are behind the same policy.
    let plain = |token: Option<&str>| {
        let mut request = hyper::Request::get("/gauge/t?lane=api").header("host", "127.0.0.1");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        request.body(Empty::<Bytes>::new()).unwrap()
    };
    for (token, status) in [(None, 401), (Some("good"), 200)] {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .unwrap();
        tokio::spawn(connection);
        let response = sender.send_request(plain(token)).await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{token:?}");
    }
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_clients_read_only_until_they_authenticate_with_auth() {
    let policy = BearerTokens::new([("good", "alice")]).anonymous(Anonymous::ReadOnly);
    let running = serve_with(None, policy).await;
    let mut socket = warp(running.port, None).await.unwrap();
    sync(&mut socket, "/gauge/r", "level", "0").await;
    // Dropped: the lane never takes 5 (its next event is 7, after `@auth`).
    send_text(&mut socket, r#"@command(node:"/gauge/r",lane:level) 5"#).await;
    send_text(&mut socket, r#"@auth "bad""#).await;
    expect(&mut socket, &["@deauthed"]).await;
    send_text(&mut socket, r#"@command(node:"/gauge/r",lane:level) 6"#).await;
    send_text(&mut socket, r#"@auth {token:"good"}"#).await;
    expect(&mut socket, &[r#"@authed {name:alice}"#]).await;
    send_text(&mut socket, r#"@command(node:"/gauge/r",lane:level) 7"#).await;
    expect(&mut socket, &[r#"@event(node:"/gauge/r",lane:level) 7"#]).await;
    // `@deauth` makes the client anonymous again.
    send_text(&mut socket, "@deauth").await;
    expect(&mut socket, &["@deauthed"]).await;
    send_text(&mut socket, r#"@command(node:"/gauge/r",lane:level) 8"#).await;
    send_text(&mut socket, r#"@sync(node:"/gauge/r",lane:level)"#).await;
    expect(
        &mut socket,
        &[
            r#"@event(node:"/gauge/r",lane:level) 7"#,
            r#"@synced(node:"/gauge/r",lane:level)"#,
        ],
    )
    .await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_must_authenticate_is_closed_when_late_and_kept_when_on_time() {
    let policy = BearerTokens::new([("good", "alice")]).anonymous(Anonymous::MustAuthenticate);
    let running = serve_configured(None, policy, |endpoint| {
        endpoint.auth_timeout = Duration::from_millis(500);
    })
    .await;
    let mut prompt = warp(running.port, None).await.unwrap();
    send_text(&mut prompt, r#"@auth "good""#).await;
    expect(&mut prompt, &["@authed {name:alice}"]).await;
    let opened = std::time::Instant::now();
    let mut late = warp(running.port, None).await.unwrap();
    // Until it authenticates, it may do nothing; a wrong token does not count.
    send_text(&mut late, r#"@link(node:"/gauge/a",lane:level)"#).await;
    expect(
        &mut late,
        &[r#"@unlinked(node:"/gauge/a",lane:level)@forbidden"#],
    )
    .await;
    send_text(&mut late, r#"@auth "wrong""#).await;
    expect(&mut late, &["@deauthed"]).await;
    assert_eq!(
        close_of(&mut late).await,
        Some((1008, "Authentication required.".to_owned()))
    );
    assert!(
        opened.elapsed() >= Duration::from_millis(500),
        "not before its time"
    );
    // The prompt client's deadline has passed too: it is still served.
    sync(&mut prompt, "/gauge/a", "level", "0").await;
    running.stop().await;
}

/// Tokens valid for 300 ms from when they are presented; anonymous clients may read.
struct ShortLived;

impl Policy for ShortLived {
    fn uses_auth(&self) -> bool {
        true
    }

    fn authenticate<'a>(
        &'a self,
        credentials: &'a tidal::recon::Value,
    ) -> PolicyFuture<'a, Option<Identity>> {
        let identity = (credentials.as_text() == Some("brief")).then(|| {
            Identity::new("visitor")
                .expires_at(std::time::SystemTime::now() + Duration::from_millis(300))
        });
        Box::pin(std::future::ready(identity))
    }

    fn authorize(&self, identity: Option<&Identity>, action: &Action, _: &str, _: &str) -> bool {
        identity.is_some() || action.is_read()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_identity_is_dropped_with_deauthed_and_its_commands_with_it() {
    let running = serve_with(None, ShortLived).await;
    let mut socket = warp(running.port, None).await.unwrap();
    sync(&mut socket, "/gauge/e", "level", "0").await;
    send_text(&mut socket, r#"@auth "brief""#).await;
    expect(&mut socket, &["@authed {name:visitor}"]).await;
    send_text(&mut socket, r#"@command(node:"/gauge/e",lane:level) 1"#).await;
    expect(&mut socket, &[r#"@event(node:"/gauge/e",lane:level) 1"#]).await;
    // The server says when the identity lapses, unasked.
    expect(&mut socket, &["@deauthed"]).await;
    send_text(&mut socket, r#"@command(node:"/gauge/e",lane:level) 2"#).await;
    send_text(&mut socket, r#"@sync(node:"/gauge/e",lane:level)"#).await;
    expect(
        &mut socket,
        &[
            r#"@event(node:"/gauge/e",lane:level) 1"#,
            r#"@synced(node:"/gauge/e",lane:level)"#,
        ],
    )
    .await;
    running.stop().await;
}

/// Only alice may read the lane `secret`, ask the HTTP lane `api` and touch the node
/// `/gauge/vault`; everyone may read the rest. Tokens (on the upgrade, in `@auth`, on HTTP requests): `alice`, `bob`, `brief` (alice
/// for 300 ms from when it is presented) and `stale` (alice, expired already).
struct AliceOnly;

impl AliceOnly {
    fn identity(token: &str) -> Option<Identity> {
        let now = std::time::SystemTime::now();
        match token {
            "alice" | "bob" => Some(Identity::new(token)),
            "brief" => Some(Identity::new("alice").expires_at(now + Duration::from_millis(300))),
            "stale" => Some(Identity::new("alice").expires_at(now - Duration::from_secs(1))),
            _ => None,
        }
    }
}

impl Policy for AliceOnly {
    fn admit<'a>(
        &'a self,
        request: &'a tidal::server::ConnectRequest<'a>,
    ) -> PolicyFuture<'a, tidal::server::Admission> {
        let identity = request.bearer_token().and_then(Self::identity);
        Box::pin(std::future::ready(tidal::server::Admission::Allow(
            identity,
        )))
    }

    fn uses_auth(&self) -> bool {
        true
    }

    fn authenticate<'a>(
        &'a self,
        credentials: &'a tidal::recon::Value,
    ) -> PolicyFuture<'a, Option<Identity>> {
        Box::pin(std::future::ready(
            credentials.as_text().and_then(Self::identity),
        ))
    }

    fn authorize(&self, identity: Option<&Identity>, _: &Action, node: &str, lane: &str) -> bool {
        let private = matches!(lane, "secret" | "api") || node == "/gauge/vault";
        !private || identity.is_some_and(|who| who.name() == "alice")
    }
}

/// Sets the lanes `secret` and `level` of `node` (in that order: were the secret link still
/// open, its event would come first).
async fn set_both(running: &Running, node: &str, secret: i64, level: i64) {
    running
        .server
        .command(node, "secret", secret)
        .await
        .unwrap();
    running.server.command(node, "level", level).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_are_authorized_again_whenever_the_identity_of_their_connection_changes() {
    let running = serve_with(None, AliceOnly).await;
    let node = "/gauge/i";
    let unlinked = r#"@unlinked(node:"/gauge/i",lane:secret)@forbidden"#;
    let mut socket = warp(running.port, Some("alice")).await.unwrap();
    sync(&mut socket, node, "secret", "0").await;
    sync(&mut socket, node, "level", "0").await;

    // `@auth` as someone else: the secret link ends, and not one event of it follows.
    send_text(&mut socket, r#"@auth "bob""#).await;
    expect(&mut socket, &["@authed {name:bob}", unlinked]).await;
    set_both(&running, node, 1, 1).await;
    expect(&mut socket, &[r#"@event(node:"/gauge/i",lane:level) 1"#]).await;
    // Linking again as bob is refused too.
    send_text(&mut socket, r#"@sync(node:"/gauge/i",lane:secret)"#).await;
    expect(&mut socket, &[unlinked]).await;

    // Back to alice, then `@deauth`.
    send_text(&mut socket, r#"@auth "alice""#).await;
    expect(&mut socket, &["@authed {name:alice}"]).await;
    sync(&mut socket, node, "secret", "1").await;
    send_text(&mut socket, "@deauth").await;
    expect(&mut socket, &["@deauthed", unlinked]).await;
    set_both(&running, node, 2, 2).await;
    expect(&mut socket, &[r#"@event(node:"/gauge/i",lane:level) 2"#]).await;

    // An identity that expires: the server drops it unasked, and the link with it.
    send_text(&mut socket, r#"@auth "brief""#).await;
    expect(&mut socket, &["@authed {name:alice}"]).await;
    sync(&mut socket, node, "secret", "2").await;
    expect(&mut socket, &["@deauthed", unlinked]).await;
    set_both(&running, node, 3, 3).await;
    expect(&mut socket, &[r#"@event(node:"/gauge/i",lane:level) 3"#]).await;

    // A connection opened with a token that expires while it is open: the same.
    let mut brief = warp(running.port, Some("brief")).await.unwrap();
    sync(&mut brief, node, "secret", "3").await;
    expect(&mut brief, &["@deauthed", unlinked]).await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_requests_on_one_kept_alive_connection_are_each_authorized_as_who_sends_them() {
    let running = serve_with(None, AliceOnly).await;
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", running.port))
        .await
        .unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(connection);
    for (token, status) in [
        (Some("alice"), 200),
        (Some("bob"), 403),
        (None, 403),
        (Some("alice"), 200),
        // An identity past its expiry is refused, and told how to sign in again.
        (Some("stale"), 401),
    ] {
        let mut request = hyper::Request::get("/gauge/h?lane=api").header("host", "127.0.0.1");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request.body(Empty::<Bytes>::new()).unwrap();
        sender.ready().await.unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{token:?}");
        let challenge = response.headers().get("www-authenticate");
        if status == 401 {
            assert_eq!(challenge.unwrap(), r#"Bearer realm="tidal""#);
        } else {
            assert!(challenge.is_none(), "{token:?}: {challenge:?}");
        }
        // Read to its end, so that the connection takes the next request.
        response.into_body().collect().await.unwrap();
    }
    // A refused upgrade says how to authenticate too.
    let refused = warp(running.port, Some("stale")).await.unwrap_err();
    match refused {
        tokio_tungstenite::tungstenite::Error::Http(response) => {
            assert_eq!(response.status().as_u16(), 401);
            assert_eq!(
                response.headers().get("www-authenticate").unwrap(),
                r#"Bearer realm="tidal""#
            );
        }
        other => panic!("not an HTTP refusal: {other}"),
    }
    running.stop().await;
}

/// Nobody may touch the lane `secret`.
struct NoSecrets;

impl Policy for NoSecrets {
    fn authorize(&self, _: Option<&Identity>, _: &Action, _: &str, lane: &str) -> bool {
        lane != "secret"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_lane_next_to_an_allowed_one_sends_nothing_and_takes_no_command() {
    let running = serve_with(None, NoSecrets).await;
    running
        .server
        .command("/gauge/f", "secret", 42i64)
        .await
        .unwrap();
    let mut socket = warp(running.port, None).await.unwrap();
    for lane in ["secret", "level"] {
        socket
            .send(Message::text(format!(
                r#"@sync(node:"/gauge/f",lane:{lane})"#
            )))
            .await
            .unwrap();
    }
    expect(
        &mut socket,
        &[
            r#"@unlinked(node:"/gauge/f",lane:secret)@forbidden"#,
            r#"@linked(node:"/gauge/f",lane:level)"#,
            r#"@event(node:"/gauge/f",lane:level) 0"#,
            r#"@synced(node:"/gauge/f",lane:level)"#,
        ],
    )
    .await;
    send_text(&mut socket, r#"@command(node:"/gauge/f",lane:secret) 1"#).await;
    send_text(&mut socket, r#"@command(node:"/gauge/f",lane:level) 2"#).await;
    expect(&mut socket, &[r#"@event(node:"/gauge/f",lane:level) 2"#]).await;
    // The secret lane kept its value: the command to it was dropped.
    let agent: tidal::agent::agent_model::AgentRef<Gauge> =
        running.server.agent_ref("/gauge/f").unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let context = HandlerContext::<Gauge>::default();
    agent
        .run(context.get_value(Gauge::SECRET).and_then(move |secret| {
            context.effect(move || {
                let _ = tx.send(secret);
            })
        }))
        .await
        .unwrap();
    assert_eq!(rx.await.unwrap(), 42);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downlinks_present_their_bearer_token_to_the_host() {
    let running = serve_with(None, BearerTokens::new([("good", "alice")])).await;
    running
        .server
        .command("/gauge/d", "level", 9i64)
        .await
        .unwrap();
    let host = format!("ws://127.0.0.1:{}", running.port);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (synced, failed) = (tx.clone(), tx);
    let with_token = Client::with_config(RemoteConfig::default().with_bearer_token(&host, "good"));
    let value = with_token
        .value_downlink::<i64>(&host, "/gauge/d", "level")
        .on_synced(move |v| {
            let _ = synced.send(format!("synced {v}"));
        })
        .open()
        .await
        .unwrap();
    let next = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
    assert_eq!(next.unwrap().as_deref(), Some("synced 9"));
    value.stop();
    // Without the token, the host refuses the connection: the downlink fails.
    let mut config = RemoteConfig::default();
    config.initial_delay = Duration::from_millis(10);
    config.max_attempts = Some(1);
    let without = Client::with_config(config);
    let _refused = without
        .value_downlink::<i64>(&host, "/gauge/d", "level")
        .on_failed(move || {
            let _ = failed.send("failed".to_owned());
        })
        .open()
        .await
        .unwrap();
    let next = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
    assert_eq!(next.unwrap().as_deref(), Some("failed"));
    drop((with_token, without));
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_see_who_sent_a_command() {
    let running = serve_with(None, BearerTokens::new([("good", "alice")])).await;
    let mut socket = warp(running.port, Some("good")).await.unwrap();
    send_text(&mut socket, r#"@sync(node:"/gauge/s",lane:signed_by)"#).await;
    expect(
        &mut socket,
        &[
            r#"@linked(node:"/gauge/s",lane:signed_by)"#,
            r#"@event(node:"/gauge/s",lane:signed_by) """#,
            r#"@synced(node:"/gauge/s",lane:signed_by)"#,
        ],
    )
    .await;
    send_text(&mut socket, r#"@command(node:"/gauge/s",lane:sign)"#).await;
    expect(
        &mut socket,
        &[r#"@event(node:"/gauge/s",lane:signed_by) alice"#],
    )
    .await;
    running.stop().await;

    // And in the testing kit.
    let mut agent = tidal::testing::AgentHarness::new(Gauge::default(), GaugeLifecycle);
    agent.start().unwrap();
    agent.command(Gauge::SIGN, ()).unwrap();
    assert_eq!(agent.value(Gauge::SIGNED_BY), "anonymous");
    agent
        .command_from(Gauge::SIGN, (), Identity::new("bob"))
        .unwrap();
    assert_eq!(agent.value(Gauge::SIGNED_BY), "bob");
}

fn limits(change: impl FnOnce(&mut Limits)) -> Limits {
    let mut limits = Limits::default();
    change(&mut limits);
    limits
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_per_peer_and_links_per_connection_are_bounded() {
    let bounds = limits(|l| {
        l.max_connections_per_peer = 2;
        l.max_links_per_connection = 2;
    });
    let running = serve_limited(None, AllowAll, bounds).await;
    let port = running.port;
    let mut first = warp(port, None).await.unwrap();
    let second = warp(port, None).await.unwrap();
    assert!(
        warp(port, None).await.is_err(),
        "a third connection from one peer"
    );
    for node in ["/gauge/1", "/gauge/2", "/gauge/3"] {
        first
            .send(Message::text(format!(r#"@link(node:"{node}",lane:level)"#)))
            .await
            .unwrap();
    }
    let mut frames = vec![
        next_frame(&mut first).await,
        next_frame(&mut first).await,
        next_frame(&mut first).await,
    ];
    frames.sort();
    assert_eq!(
        frames,
        [
            r#"@linked(node:"/gauge/1",lane:level)"#,
            r#"@linked(node:"/gauge/2",lane:level)"#,
            r#"@unlinked(node:"/gauge/3",lane:level)@tooManyLinks"#,
        ]
    );
    // A place freed by a closed connection comes back.
    drop(second);
    let reopened = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Ok(socket) = warp(port, None).await {
                return socket;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("a freed place is given again");
    drop(reopened);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_flood_is_cut_down_then_closed_while_others_are_served() {
    let bounds = limits(|l| {
        l.commands_per_second = 20;
        l.max_dropped_commands = 100;
    });
    let running = serve_limited(None, AllowAll, bounds).await;
    let mut watcher = warp(running.port, None).await.unwrap();
    sync(&mut watcher, "/gauge/c", "level", "0").await;
    let mut flood = warp(running.port, None).await.unwrap();
    for n in 1..=1000 {
        let sent = flood
            .send(Message::text(format!(
                r#"@command(node:"/gauge/c",lane:level) {n}"#
            )))
            .await;
        if sent.is_err() {
            break;
        }
    }
    // The flooder is closed with 1008.
    assert_eq!(
        close_of(&mut flood).await,
        Some((1008, "Too many commands.".to_owned()))
    );
    // Only the first commands (about one second's worth) got through.
    let mut last = 0;
    while let Ok(Some(Ok(message))) =
        tokio::time::timeout(Duration::from_millis(300), watcher.next()).await
    {
        let text = message.into_text().unwrap().as_str().to_owned();
        last = text.rsplit(' ').next().unwrap().parse().unwrap();
    }
    assert!((1..=40).contains(&last), "last value through: {last}");
    // The well-behaved client is still served.
    watcher
        .send(Message::text(
            r#"@command(node:"/gauge/c",lane:level) 5000"#,
        ))
        .await
        .unwrap();
    expect(
        &mut watcher,
        &[r#"@event(node:"/gauge/c",lane:level) 5000"#],
    )
    .await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_over_the_limit_is_refused_and_the_server_goes_on() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let bounds = limits(|l| l.max_header_size = 8 * 1024);
    let running = serve_limited(None, AllowAll, bounds).await;
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", running.port))
        .await
        .unwrap();
    let big = "x".repeat(20 * 1024);
    let request = format!("GET /gauge/h?lane=api HTTP/1.1\r\nhost: a\r\nx-big: {big}\r\n\r\n");
    // The server may close before it has read everything: a failed write is fine.
    let _ = tcp.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    // A normal request is still served.
    assert!(
        wss_sync(running.port, CA, "/gauge/h").await.is_err(),
        "no TLS here"
    );
    let mut socket = warp(running.port, None).await.unwrap();
    sync(&mut socket, "/gauge/h", "level", "0").await;
    running.stop().await;
}

/// The policy judges the node a request reaches, however the client spells it: another spelling
/// of a forbidden node is the same forbidden node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_spelling_of_a_forbidden_node_is_forbidden_too() {
    let running = serve_with(None, AliceOnly).await;
    running
        .server
        .command("/gauge/vault", "level", 7i64)
        .await
        .unwrap();
    let mut socket = warp(running.port, Some("bob")).await.unwrap();
    for node in ["/gauge/vault", "/gauge/%76ault", "/gauge/v%61ult"] {
        send_text(&mut socket, &format!(r#"@sync(node:"{node}",lane:level)"#)).await;
        let refused = format!(r#"@unlinked(node:"{node}",lane:level)@forbidden"#);
        expect(&mut socket, &[&refused]).await;
        send_text(
            &mut socket,
            &format!(r#"@command(node:"{node}",lane:level) 1"#),
        )
        .await;
    }
    // Bob's connection has handled his commands once it answers this sync (an allowed node);
    // had any been let through, it would be in the vault's inbox before alice's sync.
    sync(&mut socket, "/gauge/open", "level", "0").await;
    // None of the commands landed: alice still reads 7.
    let mut alice = warp(running.port, Some("alice")).await.unwrap();
    sync(&mut alice, "/gauge/vault", "level", "7").await;
    running.stop().await;
}
