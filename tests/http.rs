//! HTTP lanes over real connections on 127.0.0.1, with hyper's HTTP/1.1 client: every method,
//! Recon and JSON bodies, keep-alive, and each error status a client should get, while the
//! same port keeps serving WARP.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, StatusCode};
use hyper_util::rt::TokioIo;
use tidal::prelude::*;
use tidal::server::ServerError;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// A shop whose stock level is reachable over HTTP.
#[projections]
#[derive(AgentLaneModel)]
pub struct Shop {
    level: ValueLane<i64>,
    /// `GET` the level, `POST` adds to it, `PUT` sets it, `DELETE` resets it.
    stock: SimpleHttpLane<i64>,
    /// Only `GET`: the shop's name, from its node URI and the query.
    name: HttpLane<String>,
    /// Takes longer to answer than the server waits.
    slow: HttpLane<i64>,
    /// Its handler fails.
    broken: HttpLane<i64>,
}

#[derive(Clone, Default)]
pub struct ShopLifecycle {
    /// Holds the `slow` lane's answer until the test opens it.
    gate: Arc<Gate>,
}

/// A gate a handler waits at until it opens.
#[derive(Default)]
pub struct Gate {
    open: std::sync::Mutex<bool>,
    opened: std::sync::Condvar,
}

impl Gate {
    fn wait(&self) {
        let open = self.open.lock().unwrap();
        drop(self.opened.wait_while(open, |open| !*open).unwrap());
    }

    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

#[lifecycle(Shop)]
impl ShopLifecycle {
    #[on_get(stock)]
    fn get_stock(
        &self,
        context: HandlerContext<Shop>,
        _: HttpRequestContext,
    ) -> impl HandlerAction<Shop, Completion = Response<i64>> {
        context.get_value(Shop::LEVEL).map(Response::ok)
    }

    #[on_post(stock)]
    fn add_stock(
        &self,
        context: HandlerContext<Shop>,
        _: HttpRequestContext,
        n: i64,
    ) -> impl HandlerAction<Shop, Completion = UnitResponse> {
        context
            .transform_value(Shop::LEVEL, move |level| level + n)
            .followed_by(context.value(UnitResponse::default()))
    }

    #[on_put(stock)]
    fn set_stock(
        &self,
        context: HandlerContext<Shop>,
        _: HttpRequestContext,
        n: i64,
    ) -> impl HandlerAction<Shop, Completion = UnitResponse> {
        context
            .set_value(Shop::LEVEL, n)
            .followed_by(context.value(UnitResponse::default()))
    }

    #[on_delete(stock)]
    fn reset_stock(
        &self,
        context: HandlerContext<Shop>,
        _: HttpRequestContext,
    ) -> impl HandlerAction<Shop, Completion = UnitResponse> {
        let response = Response::ok(())
            .with_status(StatusCode::NO_CONTENT)
            .with_header("x-reset", "yes");
        context
            .set_value(Shop::LEVEL, 0)
            .followed_by(context.value(response))
    }

    #[on_get(name)]
    fn name(
        &self,
        context: HandlerContext<Shop>,
        request: HttpRequestContext,
    ) -> impl HandlerAction<Shop, Completion = Response<String>> {
        let greeting = request.query_param("greeting").unwrap_or_default();
        context
            .get_agent_uri()
            .map(move |uri| Response::ok(format!("{greeting}{uri}")))
    }

    #[on_get(slow)]
    fn slow(
        &self,
        context: HandlerContext<Shop>,
        _: HttpRequestContext,
    ) -> impl HandlerAction<Shop, Completion = Response<i64>> {
        // Blocks until the test has seen the timeout. Blocking code in a handler goes in
        // `block_in_place`, which hands the worker's other tasks to another thread: a handler
        // that blocks its worker outright holds up whatever else waits on that worker, the
        // server's timeout among them.
        let gate = self.gate.clone();
        context.effect(move || {
            tokio::task::block_in_place(|| gate.wait());
            Response::ok(0)
        })
    }

    #[on_get(broken)]
    fn broken(
        &self,
        context: HandlerContext<Shop>,
        _: HttpRequestContext,
    ) -> impl HandlerAction<Shop, Completion = Response<i64>> {
        context.fail(std::io::Error::other("the till is jammed"))
    }
}

struct Running {
    server: ServerHandle,
    task: JoinHandle<Result<(), ServerError>>,
    addr: std::net::SocketAddr,
    gate: Arc<Gate>,
}

async fn serve() -> Running {
    serve_with(|builder| {
        builder.update_config(|config| {
            config.endpoint.max_body_size = 64;
            config.endpoint.http_timeout = Duration::from_millis(100);
        })
    })
    .await
}

/// The shop server, with whatever `build` adds to its builder.
async fn serve_with(build: impl FnOnce(ServerBuilder) -> ServerBuilder) -> Running {
    let lifecycle = ShopLifecycle::default();
    let gate = lifecycle.gate.clone();
    let builder = ServerBuilder::with_plane_name("http")
        .set_bind_addr("127.0.0.1:0")
        .add_route(
            "/shop/:id".parse().unwrap(),
            AgentModel::new(Shop::default, lifecycle),
        );
    let server = build(builder).build().await.unwrap();
    let (task, server) = server.run();
    let task = tokio::spawn(task);
    let addr = server.bound_addr().unwrap();
    Running {
        server,
        task,
        addr,
        gate,
    }
}

impl Running {
    /// A keep-alive HTTP/1.1 connection.
    async fn connect(&self) -> SendRequest<Full<Bytes>> {
        let stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        sender
    }

    async fn stop(self) {
        self.server.stop();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the server stops")
            .unwrap()
            .unwrap();
    }
}

/// What came back: status, `Content-Type`, `Allow`, and the body as text.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    content_type: Option<String>,
    allow: Option<String>,
    reset: Option<String>,
    body: String,
}

async fn send(
    client: &mut SendRequest<Full<Bytes>>,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    client.ready().await.unwrap();
    let response = tokio::time::timeout(Duration::from_secs(5), client.send_request(request))
        .await
        .expect("an answer within 5 s")
        .unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
    };
    let (status, content_type, allow, reset) = (
        response.status(),
        header("content-type"),
        header("allow"),
        header("x-reset"),
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        content_type,
        allow,
        reset,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

#[tokio::test]
async fn every_method_reaches_its_handler_over_one_keep_alive_connection() {
    let running = serve().await;
    let mut client = running.connect().await;
    let get = send(&mut client, Method::GET, "/shop/a?lane=stock", &[], "").await;
    assert_eq!((get.status, get.body.as_str()), (StatusCode::OK, "0"));
    assert_eq!(get.content_type.as_deref(), Some("application/x-recon"));
    // A Recon body (no Content-Type: Recon), then a JSON one.
    let post = send(&mut client, Method::POST, "/shop/a?lane=stock", &[], "5").await;
    assert_eq!(post.status, StatusCode::OK);
    let json = [("content-type", "application/json")];
    let post = send(&mut client, Method::POST, "/shop/a?lane=stock", &json, "2").await;
    assert_eq!(post.status, StatusCode::OK);
    let accept_json = [("accept", "application/json")];
    let get = send(
        &mut client,
        Method::GET,
        "/shop/a?lane=stock",
        &accept_json,
        "",
    )
    .await;
    assert_eq!((get.status, get.body.as_str()), (StatusCode::OK, "7"));
    assert_eq!(get.content_type.as_deref(), Some("application/json"));
    // The quality of each format counts, not only the order.
    let prefers_json = [("accept", "application/x-recon;q=0.1, application/json")];
    let get = send(
        &mut client,
        Method::GET,
        "/shop/a?lane=stock",
        &prefers_json,
        "",
    )
    .await;
    assert_eq!(get.content_type.as_deref(), Some("application/json"));
    let put = send(&mut client, Method::PUT, "/shop/a?lane=stock", &[], "40").await;
    assert_eq!(put.status, StatusCode::OK);
    let head = send(&mut client, Method::HEAD, "/shop/a?lane=stock", &[], "").await;
    assert_eq!((head.status, head.body.as_str()), (StatusCode::OK, ""));
    let get = send(&mut client, Method::GET, "/shop/a?lane=stock", &[], "").await;
    assert_eq!(get.body, "40");
    // The handler sets the status and a header.
    let delete = send(&mut client, Method::DELETE, "/shop/a?lane=stock", &[], "").await;
    assert_eq!(delete.status, StatusCode::NO_CONTENT);
    assert_eq!(delete.reset.as_deref(), Some("yes"));
    // The request context: the node URI and a percent-decoded query.
    let name = send(
        &mut client,
        Method::GET,
        "/shop/b?lane=name&greeting=hi%20from+",
        &accept_json,
        "",
    )
    .await;
    assert_eq!(name.body, r#""hi from /shop/b""#);
    running.stop().await;
}

#[tokio::test]
async fn every_spelling_of_a_path_reaches_one_agent_with_its_one_node_uri() {
    let running = serve().await;
    let mut client = running.connect().await;
    for (path, body) in [
        ("/shop/truck%208?lane=stock", "5"),
        ("/shop/%74ruck%208?lane=stock", "2"),
    ] {
        let post = send(&mut client, Method::POST, path, &[], body).await;
        assert_eq!(post.status, StatusCode::OK, "{path}");
    }
    let get = send(
        &mut client,
        Method::GET,
        "/shop/truck%208?lane=stock",
        &[],
        "",
    )
    .await;
    assert_eq!((get.status, get.body.as_str()), (StatusCode::OK, "7"));
    // The agent's URI is the canonical one: the same whichever spelling started it.
    let name = send(
        &mut client,
        Method::GET,
        "/shop/%74ruck%208?lane=name",
        &[],
        "",
    )
    .await;
    assert_eq!(name.body, r#""/shop/truck 8""#);
    assert_eq!(running.server.running_agents(), 1);
    // An escaped `/` stays in its segment: the id of `/shop/a%2Fb` is `a/b`.
    let get = send(&mut client, Method::GET, "/shop/a%2Fb?lane=stock", &[], "").await;
    assert_eq!((get.status, get.body.as_str()), (StatusCode::OK, "0"));
    running.stop().await;
}

/// A request (method, path, headers, body) and the status and reason it gets.
type Case<'a> = (
    Method,
    &'a str,
    &'a [(&'a str, &'a str)],
    &'a str,
    StatusCode,
    &'a str,
);

// A multi-threaded runtime: the slow handler blocks in `block_in_place`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_the_status_a_client_expects_and_the_server_goes_on() {
    let running = serve().await;
    let mut client = running.connect().await;
    let cases: [Case; 9] = [
        (
            Method::GET,
            "/nowhere/1?lane=stock",
            &[],
            "",
            StatusCode::NOT_FOUND,
            "no agent at `/nowhere/1`",
        ),
        (
            Method::GET,
            "/shop/a",
            &[],
            "",
            StatusCode::NOT_FOUND,
            "no lane",
        ),
        (
            Method::GET,
            "/shop/a?lane=nothing",
            &[],
            "",
            StatusCode::NOT_FOUND,
            "no lane `nothing`",
        ),
        (
            Method::GET,
            "/shop/a?lane=level",
            &[],
            "",
            StatusCode::NOT_FOUND,
            "not an HTTP lane",
        ),
        (
            Method::POST,
            "/shop/a?lane=name",
            &[],
            "\"x\"",
            StatusCode::METHOD_NOT_ALLOWED,
            "this lane takes GET, HEAD",
        ),
        (
            Method::POST,
            "/shop/a?lane=stock",
            &[("content-type", "image/png")],
            "5",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Recon",
        ),
        (
            Method::POST,
            "/shop/a?lane=stock",
            &[("content-type", "application/json")],
            "\"five\"",
            StatusCode::BAD_REQUEST,
            "is not a `i64` in JSON",
        ),
        (
            Method::POST,
            "/shop/a?lane=stock",
            &[],
            &"9".repeat(100),
            StatusCode::PAYLOAD_TOO_LARGE,
            "larger than 64 bytes",
        ),
        (
            Method::GET,
            "/shop/a?lane=broken",
            &[],
            "",
            StatusCode::INTERNAL_SERVER_ERROR,
            "handler failed",
        ),
    ];
    for (method, path, headers, body, status, reason) in cases {
        let answer = send(&mut client, method.clone(), path, headers, body).await;
        assert_eq!(answer.status, status, "{method} {path}: {answer:?}");
        assert!(answer.body.contains(reason), "{method} {path}: {answer:?}");
        if status == StatusCode::METHOD_NOT_ALLOWED {
            assert_eq!(answer.allow.as_deref(), Some("GET, HEAD"));
        }
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            // The server may close a connection whose body it did not read.
            client = running.connect().await;
        }
    }
    // An agent that does not answer in time (it answers only once the test saw the 504).
    let slow = send(&mut client, Method::GET, "/shop/a?lane=slow", &[], "").await;
    assert_eq!(slow.status, StatusCode::GATEWAY_TIMEOUT, "{slow:?}");
    // The server is still fine (another agent answers while that one waits).
    let mut client = running.connect().await;
    let get = send(&mut client, Method::GET, "/shop/b?lane=stock", &[], "").await;
    assert_eq!((get.status, get.body.as_str()), (StatusCode::OK, "0"));
    running.gate.open();
    running.stop().await;
}

#[tokio::test]
async fn the_same_port_serves_warp_and_http() {
    let running = serve().await;
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/", running.addr))
        .await
        .unwrap();
    socket
        .send(Message::text(r#"@sync(node:"/shop/w",lane:level)"#))
        .await
        .unwrap();
    let mut client = running.connect().await;
    let put = send(&mut client, Method::PUT, "/shop/w?lane=stock", &[], "12").await;
    assert_eq!(put.status, StatusCode::OK);
    let mut frames = Vec::new();
    while !frames.iter().any(|f: &String| f.ends_with(" 12")) {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a frame within 5 s")
            .unwrap()
            .unwrap();
        frames.push(message.into_text().unwrap().as_str().to_owned());
    }
    assert_eq!(frames[0], r#"@linked(node:"/shop/w",lane:level)"#);
    running.stop().await;
}

/// A store whose writes wait at a gate until the test opens it (a disk that stalls).
#[derive(Default)]
struct StalledStore {
    inner: tidal::store::InMemoryStore,
    gate: Gate,
}

impl tidal::store::Store for StalledStore {
    fn load(&self, node: &str) -> Result<tidal::store::AgentState, tidal::store::StoreError> {
        self.inner.load(node)
    }

    fn commit(
        &self,
        node: &str,
        changes: &[(&str, tidal::store::Change)],
    ) -> Result<(), tidal::store::StoreError> {
        self.gate.wait();
        self.inner.commit(node, changes)
    }
}

/// Opens the store's gate when dropped: a test that fails leaves no write waiting (the server
/// could not stop).
struct OpenOnDrop(Arc<StalledStore>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.gate.open();
    }
}

/// A `POST` whose handler changes stored state is answered once the change is durable, not
/// before; meanwhile a `GET` of another running agent, which writes nothing, is answered at
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_is_answered_once_its_change_is_stored() {
    let store = Arc::new(StalledStore::default());
    let shared: Arc<dyn tidal::store::Store> = store.clone();
    let running = serve_with(|builder| builder.with_store(shared)).await;
    let store = OpenOnDrop(store);
    let mut reader = running.connect().await;
    let mut writer = running.connect().await;
    // Both agents running (loaded) before the store stalls.
    for node in ["/shop/r", "/shop/w"] {
        let get = send(
            &mut reader,
            Method::GET,
            &format!("{node}?lane=stock"),
            &[],
            "",
        )
        .await;
        assert_eq!(get.body, "0");
    }
    let post = tokio::spawn(async move {
        send(&mut writer, Method::POST, "/shop/w?lane=stock", &[], "5").await
    });
    let mut post = post;
    let early = tokio::time::timeout(Duration::from_millis(300), &mut post).await;
    assert!(
        early.is_err(),
        "answered before the change was stored: {early:?}"
    );
    let get = send(&mut reader, Method::GET, "/shop/r?lane=stock", &[], "").await;
    assert_eq!((get.status, get.body.as_str()), (StatusCode::OK, "0"));
    drop(store);
    let post = post.await.unwrap();
    assert_eq!(post.status, StatusCode::OK);
    let get = send(&mut reader, Method::GET, "/shop/w?lane=stock", &[], "").await;
    assert_eq!(get.body, "5");
    running.stop().await;
}
