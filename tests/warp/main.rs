//! The WARP endpoint over real WebSocket connections on 127.0.0.1: the semantics of
//! `shared/reference/warp.md` sections 3 and 7, and bad input of every kind; and, in `python`,
//! the same server driven by the real SwimOS Python client.

mod introspection;
mod lane_kinds;
mod python;

use std::collections::HashMap;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tidal::agent::{
    agent_lifecycle::HandlerContext,
    agent_model::AgentModel,
    event_handler::{EventHandler, HandlerAction, HandlerActionExt},
    lanes::{
        CommandLane, DemandLane, DemandMapLane, JoinValueLane, MapLane, SupplyLane, ValueLane,
    },
    lifecycle, projections, AgentLaneModel,
};
use tidal::route::RoutePattern;
use tidal::server::{ServerBuilder, ServerError, ServerHandle};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The agent of the reference's examples.
#[projections]
#[derive(AgentLaneModel)]
pub struct Unit {
    value: ValueLane<i32>,
    map: MapLane<String, i32>,
    add: CommandLane<i32>,
    text: ValueLane<String>,
    /// `value` times ten, computed on demand (cued by `add`).
    tenfold: DemandLane<i32>,
    /// The entries of `map`, doubled, computed on demand (cued by `add` and removals).
    doubled: DemandMapLane<String, i32>,
    /// Every number added, in order.
    added: SupplyLane<i32>,
    /// The `value` lanes of the units named by `join`, by name.
    joined: JoinValueLane<String, i32>,
    /// Joins `/unit/<name>`'s `value` lane into `joined`.
    join: CommandLane<String>,
    /// Denied to everyone by the server's policy ([`NoForbidden`]).
    forbidden: ValueLane<i32>,
}

/// The policy of the test server: nobody may touch the lane `forbidden`.
struct NoForbidden;

impl tidal::server::Policy for NoForbidden {
    fn authorize(
        &self,
        _: Option<&tidal::server::Identity>,
        _: &tidal::server::Action,
        _: &str,
        lane: &str,
    ) -> bool {
        lane != "forbidden"
    }
}

#[derive(Clone)]
pub struct UnitLifecycle;

#[lifecycle(Unit)]
impl UnitLifecycle {
    #[on_command(add)]
    fn add(&self, context: HandlerContext<Unit>, n: &i32) -> impl EventHandler<Unit> {
        let n = *n;
        context
            .update(Unit::MAP, format!("k{n}"), n)
            .followed_by(context.set_value(Unit::VALUE, n))
            .followed_by(context.cue(Unit::TENFOLD))
            .followed_by(context.cue_key(Unit::DOUBLED, format!("k{n}")))
            .followed_by(context.supply(Unit::ADDED, n))
    }

    #[on_command(join)]
    fn join(&self, context: HandlerContext<Unit>, name: &String) -> impl EventHandler<Unit> {
        context.add_downlink(
            Unit::JOINED,
            name.clone(),
            None,
            &format!("/unit/{name}"),
            "value",
        )
    }

    #[on_remove(map)]
    fn removed(
        &self,
        context: HandlerContext<Unit>,
        _: &HashMap<String, i32>,
        key: String,
        _: i32,
    ) -> impl EventHandler<Unit> {
        context.cue_key(Unit::DOUBLED, key)
    }

    #[on_cue(tenfold)]
    fn tenfold(&self, context: HandlerContext<Unit>) -> impl HandlerAction<Unit, Completion = i32> {
        context.get_value(Unit::VALUE).map(|value| value * 10)
    }

    #[keys(doubled)]
    fn keys(
        &self,
        context: HandlerContext<Unit>,
    ) -> impl HandlerAction<Unit, Completion = Vec<String>> {
        context.with_map(Unit::MAP, |map| map.keys().cloned().collect())
    }

    #[on_cue_key(doubled)]
    fn doubled(
        &self,
        context: HandlerContext<Unit>,
        key: String,
    ) -> impl HandlerAction<Unit, Completion = Option<i32>> {
        context
            .get_entry(Unit::MAP, key)
            .map(|entry| entry.map(|n| n * 2))
    }
}

struct Running {
    server: ServerHandle,
    task: JoinHandle<Result<(), ServerError>>,
    addr: std::net::SocketAddr,
    url: String,
}

async fn serve() -> Running {
    serve_with(|_| {}).await
}

async fn serve_with(configure: impl FnOnce(&mut tidal::server::ServerConfig)) -> Running {
    serve_built(|builder| builder.update_config(configure)).await
}

/// The test server, with whatever `build` adds to its builder (a store, metrics).
async fn serve_built(build: impl FnOnce(ServerBuilder) -> ServerBuilder) -> Running {
    let builder = ServerBuilder::with_plane_name("warp")
        .set_bind_addr("127.0.0.1:0")
        .with_policy(NoForbidden)
        .add_route(
            RoutePattern::parse_str("/unit/:id").unwrap(),
            AgentModel::new(Unit::default, UnitLifecycle),
        );
    let server = build(builder).build().await.unwrap();
    let (task, server) = server.run();
    let task = tokio::spawn(task);
    let addr = server.bound_addr().expect("bound");
    Running {
        server,
        task,
        addr,
        url: format!("ws://{addr}/"),
    }
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

struct Client {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    async fn connect(url: &str) -> Client {
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connects");
        Client { socket }
    }

    /// A client whose socket buffers few bytes (the kernel would otherwise grow the buffer to
    /// tens of megabytes, hiding that the client does not read).
    async fn connect_small(url: &str) -> Client {
        let addr = url
            .trim_start_matches("ws://")
            .trim_end_matches('/')
            .parse()
            .expect("a ws://ip:port URL");
        let tcp = tokio::net::TcpSocket::new_v4().unwrap();
        tcp.set_recv_buffer_size(16 * 1024).unwrap();
        let stream = tcp.connect(addr).await.expect("connects");
        let (socket, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream))
            .await
            .expect("upgrades");
        Client { socket }
    }

    async fn send(&mut self, text: &str) {
        self.socket.send(Message::text(text)).await.expect("sends");
    }

    /// The next text frame (at most 5 s away).
    async fn recv(&mut self) -> String {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(5), self.socket.next())
                .await
                .expect("a frame within 5 s")
                .expect("the connection is open")
                .expect("a valid frame");
            match message {
                Message::Text(text) => return text.as_str().to_owned(),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    async fn expect(&mut self, expected: &[&str]) {
        for line in expected {
            assert_eq!(self.recv().await, *line);
        }
    }

    /// Waits for the server to close the connection; returns the close code and reason.
    async fn closed(&mut self) -> (CloseCode, String) {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(5), self.socket.next())
                .await
                .expect("closed within 5 s");
            match message {
                Some(Ok(Message::Close(Some(frame)))) => {
                    return (frame.code, frame.reason.as_str().to_owned())
                }
                Some(Ok(Message::Close(None))) | None => return (CloseCode::Status, String::new()),
                Some(Ok(_)) => continue,
                Some(Err(err)) => panic!("error instead of a close frame: {err}"),
            }
        }
    }
}

#[tokio::test]
async fn sync_sends_linked_the_state_and_synced() {
    let running = serve().await;
    let mut client = Client::connect(&running.url).await;
    client.send(r#"@sync(node:"/unit/a",lane:value)"#).await;
    client
        .expect(&[
            r#"@linked(node:"/unit/a",lane:value)"#,
            r#"@event(node:"/unit/a",lane:value) 0"#,
            r#"@synced(node:"/unit/a",lane:value)"#,
        ])
        .await;
    running.stop().await;
}

#[tokio::test]
async fn commands_reach_lanes_and_events_reach_every_link() {
    let running = serve().await;
    let mut client = Client::connect(&running.url).await;
    let mut other = Client::connect(&running.url).await;
    client.send(r#"@sync(node:"/unit/a",lane:value)"#).await;
    client.send(r#"@sync(node:"/unit/a",lane:map)"#).await;
    client
        .expect(&[
            r#"@linked(node:"/unit/a",lane:value)"#,
            r#"@event(node:"/unit/a",lane:value) 0"#,
            r#"@synced(node:"/unit/a",lane:value)"#,
            r#"@linked(node:"/unit/a",lane:map)"#,
            r#"@synced(node:"/unit/a",lane:map)"#,
        ])
        .await;
    other.send(r#"@link(node:"/unit/a",lane:value)"#).await;
    other
        .expect(&[r#"@linked(node:"/unit/a",lane:value)"#])
        .await;
    // The Python client's glued body.
    client.send(r#"@command(node:"/unit/a",lane:add)5"#).await;
    client
        .expect(&[
            r#"@event(node:"/unit/a",lane:map)@update(key:k5) 5"#,
            r#"@event(node:"/unit/a",lane:value) 5"#,
        ])
        .await;
    other
        .expect(&[r#"@event(node:"/unit/a",lane:value) 5"#])
        .await;
    // The Rust Commander's spelling; a command to a value lane sets it.
    other
        .send(r#"@command(node: "/unit/a", lane: "value") 42"#)
        .await;
    client
        .expect(&[r#"@event(node:"/unit/a",lane:value) 42"#])
        .await;
    other
        .expect(&[r#"@event(node:"/unit/a",lane:value) 42"#])
        .await;
    running.stop().await;
}

#[tokio::test]
async fn map_lanes_sync_their_entries_and_take_every_operation() {
    let running = serve().await;
    let mut client = Client::connect(&running.url).await;
    for n in [1, 2, 3, 4] {
        client
            .send(&format!(r#"@command(node:"/unit/m",lane:add) {n}"#))
            .await;
    }
    client
        .send(r#"@command(node:"/unit/m",lane:map)@update(key:"x y") 9"#)
        .await;
    client
        .send(r#"@command(node:"/unit/m",lane:map)@remove(key:k1)"#)
        .await;
    client.send(r#"@sync(node:"/unit/m",lane:map)"#).await;
    assert_eq!(client.recv().await, r#"@linked(node:"/unit/m",lane:map)"#);
    let mut entries = Vec::new();
    loop {
        let frame = client.recv().await;
        if frame == r#"@synced(node:"/unit/m",lane:map)"# {
            break;
        }
        entries.push(frame);
    }
    entries.sort();
    assert_eq!(
        entries,
        [
            r#"@event(node:"/unit/m",lane:map)@update(key:"x y") 9"#,
            r#"@event(node:"/unit/m",lane:map)@update(key:k2) 2"#,
            r#"@event(node:"/unit/m",lane:map)@update(key:k3) 3"#,
            r#"@event(node:"/unit/m",lane:map)@update(key:k4) 4"#,
        ]
    );
    // take and drop remove keys in key order, one event each.
    client
        .send(r#"@command(node:"/unit/m",lane:map)@take(3)"#)
        .await;
    client
        .expect(&[r#"@event(node:"/unit/m",lane:map)@remove(key:"x y")"#])
        .await;
    client
        .send(r#"@command(node:"/unit/m",lane:map)@drop(1)"#)
        .await;
    client
        .expect(&[r#"@event(node:"/unit/m",lane:map)@remove(key:k2)"#])
        .await;
    client
        .send(r#"@command(node:"/unit/m",lane:map)@clear"#)
        .await;
    client
        .expect(&[r#"@event(node:"/unit/m",lane:map)@clear"#])
        .await;
    running.stop().await;
}

#[tokio::test]
async fn command_lanes_echo_commands_to_linked_clients() {
    let running = serve().await;
    let mut client = Client::connect(&running.url).await;
    client.send(r#"@link(node:"/unit/c",lane:add)"#).await;
    client
        .expect(&[r#"@linked(node:"/unit/c",lane:add)"#])
        .await;
    for n in [7, 8, 9] {
        client
            .send(&format!(r#"@command(node:"/unit/c",lane:add) {n}"#))
            .await;
    }
    client
        .expect(&[
            r#"@event(node:"/unit/c",lane:add) 7"#,
            r#"@event(node:"/unit/c",lane:add) 8"#,
            r#"@event(node:"/unit/c",lane:add) 9"#,
        ])
        .await;
    // Unlike the reference, a sync on a command lane is answered.
    client.send(r#"@sync(node:"/unit/c2",lane:add)"#).await;
    client
        .expect(&[
            r#"@linked(node:"/unit/c2",lane:add)"#,
            r#"@synced(node:"/unit/c2",lane:add)"#,
        ])
        .await;
    running.stop().await;
}

#[tokio::test]
async fn link_unlink_and_repeated_syncs() {
    let running = serve().await;
    let mut client = Client::connect(&running.url).await;
    // `@link` sends no state.
    client.send(r#"@link(node:"/unit/l",lane:value)"#).await;
    client
        .expect(&[r#"@linked(node:"/unit/l",lane:value)"#])
        .await;
    // A sync on a linked lane: the state again and `@synced`, no second `@linked`.
    client.send(r#"@sync(node:"/unit/l",lane:value)"#).await;
    client.send(r#"@sync(node:"/unit/l",lane:value)"#).await;
    client
        .expect(&[
            r#"@event(node:"/unit/l",lane:value) 0"#,
            r#"@synced(node:"/unit/l",lane:value)"#,
            r#"@event(node:"/unit/l",lane:value) 0"#,
            r#"@synced(node:"/unit/l",lane:value)"#,
        ])
        .await;
    client.send(r#"@unlink(node:"/unit/l",lane:value)"#).await;
    client
        .expect(&[r#"@unlinked(node:"/unit/l",lane:value) "Link closed.""#])
        .await;
    // No more events, and an unlink of a lane that is not linked gets no reply: the next
    // frame is the answer to the next request.
    client
        .send(r#"@command(node:"/unit/l",lane:value) 3"#)
        .await;
    client.send(r#"@unlink(node:"/unit/l",lane:value)"#).await;
    client.send(r#"@sync(node:"/unit/l",lane:value)"#).await;
    client
        .expect(&[
            r#"@linked(node:"/unit/l",lane:value)"#,
            r#"@event(node:"/unit/l",lane:value) 3"#,
            r#"@synced(node:"/unit/l",lane:value)"#,
        ])
        .await;
    running.stop().await;
}

#[tokio::test]
async fn unknown_nodes_and_lanes_are_reported_and_commands_to_them_dropped() {
    let running = serve().await;
    let mut client = Client::connect(&running.url).await;
    client.send(r#"@sync(node:"/nope/x",lane:value)"#).await;
    client
        .expect(&[r#"@unlinked(node:"/nope/x",lane:value)@nodeNotFound"#])
        .await;
    client.send(r#"@sync(node:"/unit/a",lane:nolane)"#).await;
    client
        .expect(&[r#"@unlinked(node:"/unit/a",lane:nolane)@laneNotFound"#])
        .await;
    client.send(r#"@unlink(node:"/nope/x",lane:value)"#).await;
    client
        .expect(&[r#"@unlinked(node:"/nope/x",lane:value)@nodeNotFound"#])
        .await;
    for (node, misses) in [("/unit/a/b", 1), ("unit/x", 1), ("/unit/x/", 1)] {
        client
            .send(&format!(r#"@link(node:"{node}",lane:value)"#))
            .await;
        let expected = format!(r#"@unlinked(node:"{node}",lane:value)@nodeNotFound"#);
        for _ in 0..misses {
            assert_eq!(client.recv().await, expected);
        }
    }
    // Commands to unknown targets, and payloads of the wrong type, are dropped; the
    // connection and the agent keep working.
    client
        .send(r#"@command(node:"/nope/x",lane:value) 1"#)
        .await;
    client
        .send(r#"@command(node:"/unit/a",lane:nolane) 1"#)
        .await;
    client.send(r#"@link(node:"/unit/a",lane:value)"#).await;
    client
        .expect(&[r#"@linked(node:"/unit/a",lane:value)"#])
        .await;
    for bad in ["2.0", r#""str""#, "{5}", "@update(key:k) 1"] {
        client
            .send(&format!(r#"@command(node:"/unit/a",lane:value) {bad}"#))
            .await;
    }
    client
        .send(r#"@command(node:"/unit/a",lane:value) 0x10"#)
        .await;
    client
        .expect(&[r#"@event(node:"/unit/a",lane:value) 16"#])
        .await;
    // Authentication is accepted and ignored.
    client.send(r#"@auth @openId("jwt")"#).await;
    client
        .send(r#"@command(node:"/unit/a",lane:value) 17"#)
        .await;
    client
        .expect(&[r#"@event(node:"/unit/a",lane:value) 17"#])
        .await;
    running.stop().await;
}

#[tokio::test]
async fn bad_frames_close_the_connection_with_1002_and_a_reason() {
    let running = serve().await;
    let cases: Vec<(Message, &str)> = vec![
        (
            Message::text("this is not an envelope"),
            "Expected a valid Warp envelope.",
        ),
        (
            Message::text(r#"@bogus(node:"/unit/a",lane:value)"#),
            "Expected a valid Warp envelope.",
        ),
        (
            Message::text(r#"@link("/unit/a", value)"#),
            "Expected a valid Warp envelope.",
        ),
        (
            Message::text(r#"@command(node:"/unit/a",lane:value,prio:1) 5"#),
            "Expected a valid Warp envelope.",
        ),
        (
            Message::text(r#"@authed"#),
            "Expected a valid Warp envelope.",
        ),
        (Message::binary(vec![1u8, 2, 3]), "Expected string data."),
        (
            Message::Frame(Frame::message(
                vec![0xffu8, 0xfe, 0x40],
                OpCode::Data(Data::Text),
                true,
            )),
            "Invalid encoding.",
        ),
    ];
    for (message, reason) in cases {
        let mut client = Client::connect(&running.url).await;
        client.socket.send(message).await.unwrap();
        assert_eq!(
            client.closed().await,
            (CloseCode::Protocol, reason.to_owned())
        );
    }
    // The server is still there.
    let mut client = Client::connect(&running.url).await;
    client.send(r#"@sync(node:"/unit/a",lane:value)"#).await;
    client
        .expect(&[r#"@linked(node:"/unit/a",lane:value)"#])
        .await;
    running.stop().await;
}

#[tokio::test]
async fn frames_over_the_limit_are_refused() {
    let running = serve_with(|config| config.endpoint.max_frame_size = 1024).await;
    let mut client = Client::connect(&running.url).await;
    let huge = format!(
        r#"@command(node:"/unit/a",lane:text) "{}""#,
        "x".repeat(4096)
    );
    client.send(&huge).await;
    assert_eq!(client.closed().await.0, CloseCode::Size);
    running.stop().await;
}

#[tokio::test]
async fn subprotocols_pings_and_shutdown() {
    let running = serve().await;
    // `warp0` offered: echoed.
    let mut request = running.url.as_str().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "warp0".parse().unwrap());
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(
        response.headers().get("sec-websocket-protocol").unwrap(),
        "warp0"
    );
    // Pings are answered.
    socket
        .send(Message::Ping(b"Heartbeat".to_vec().into()))
        .await
        .unwrap();
    let pong = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .unwrap();
    assert!(matches!(pong, Some(Ok(Message::Pong(payload))) if payload.as_ref() == b"Heartbeat"));
    // Only other subprotocols offered: refused.
    let mut request = format!("{}some/path", running.url)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "mqtt".parse().unwrap());
    assert!(tokio_tungstenite::connect_async(request).await.is_err());
    // Any path, no subprotocol: accepted.
    let mut client = Client::connect(&format!("{}any/path/at/all", running.url)).await;
    client.send(r#"@link(node:"/unit/s",lane:value)"#).await;
    client
        .expect(&[r#"@linked(node:"/unit/s",lane:value)"#])
        .await;
    // Stopping the server closes connections with 1001.
    running.server.stop();
    assert_eq!(
        client.closed().await,
        (CloseCode::Away, "Server is stopping.".to_owned())
    );
    tokio::time::timeout(Duration::from_secs(10), running.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn bad_bind_addresses_fail_the_build_with_their_cause() {
    use std::error::Error as _;
    use tidal::server::ServerBuilderError;

    let error = ServerBuilder::with_plane_name("bad")
        .set_bind_addr("not an address")
        .build()
        .await
        .err()
        .expect("the build fails");
    assert!(
        matches!(error, ServerBuilderError::Address { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("not an address"), "{error}");
    assert!(error.source().is_some());

    // A port in use: the I/O error is the source.
    let running = serve().await;
    let error = ServerBuilder::with_plane_name("taken")
        .set_bind_addr(running.addr)
        .build()
        .await
        .err()
        .expect("the build fails");
    let ServerBuilderError::Bind { addr, source } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(*addr, running.addr);
    assert_eq!(source.kind(), std::io::ErrorKind::AddrInUse);
    running.stop().await;
}

#[tokio::test]
async fn dropping_a_handle_does_not_stop_the_server_but_stop_on_a_clone_does() {
    let running = serve().await;
    let Running {
        server, task, url, ..
    } = running;
    let clone = server.clone();
    drop(server);
    // The server still serves.
    let mut client = Client::connect(&url).await;
    client.send(r#"@sync(node:"/unit/d",lane:value)"#).await;
    client
        .expect(&[
            r#"@linked(node:"/unit/d",lane:value)"#,
            r#"@event(node:"/unit/d",lane:value) 0"#,
            r#"@synced(node:"/unit/d",lane:value)"#,
        ])
        .await;
    clone.command("/unit/d", "add", 7).await.unwrap();
    client
        .expect(&[r#"@event(node:"/unit/d",lane:value) 7"#])
        .await;
    assert!(clone.is_running("/unit/d"));
    clone.stop();
    assert_eq!(client.closed().await.0, CloseCode::Away);
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
}

/// An agent of another type than the server's routes serve.
#[derive(AgentLaneModel)]
pub struct Other {
    value: ValueLane<i32>,
}

/// `agent_ref` checks the type asked for against the route's: a wrong type is an error naming
/// both, not a handle whose handlers would be dropped.
#[tokio::test]
async fn an_agent_ref_of_the_wrong_type_is_refused_with_both_types() {
    let running = serve_with(|_| {}).await;
    assert!(running.server.agent_ref::<Unit>("/unit/typed").is_ok());
    let wrong = running.server.agent_ref::<Other>("/unit/typed").err();
    let Some(ServerError::WrongAgentType {
        node,
        asked,
        served,
    }) = &wrong
    else {
        panic!("{wrong:?}");
    };
    assert_eq!(node, "/unit/typed");
    assert!(
        asked.ends_with("Other") && served.ends_with("Unit"),
        "{wrong:?}"
    );
    assert!(wrong
        .unwrap()
        .to_string()
        .contains("is served by agents of type"));
    assert_eq!(
        running.server.agent_ref::<Unit>("/nowhere").err(),
        Some(ServerError::NodeNotFound("/nowhere".to_owned()))
    );
    running.stop().await;
}

#[tokio::test]
async fn run_until_stops_when_the_shutdown_future_completes() {
    let server = ServerBuilder::with_plane_name("until")
        .set_bind_addr("127.0.0.1:0")
        .add_route(
            RoutePattern::parse_str("/unit/:id").unwrap(),
            AgentModel::new(Unit::default, UnitLifecycle),
        )
        .build()
        .await
        .unwrap();
    let (signal, shutdown) = tokio::sync::oneshot::channel::<()>();
    let (task, handle) = server.run_until(async {
        let _ = shutdown.await;
    });
    let task = tokio::spawn(task);
    let url = format!("ws://{}/", handle.bound_addr().unwrap());
    let mut client = Client::connect(&url).await;
    client.send(r#"@link(node:"/unit/u",lane:value)"#).await;
    client
        .expect(&[r#"@linked(node:"/unit/u",lane:value)"#])
        .await;
    assert!(!task.is_finished());
    signal.send(()).unwrap();
    assert_eq!(client.closed().await.0, CloseCode::Away);
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
    assert!(!handle.is_running("/unit/u"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_disconnected_without_hurting_others() {
    let running =
        serve_with(|config| config.endpoint.write_timeout = Duration::from_millis(300)).await;
    let mut slow = Client::connect_small(&running.url).await;
    slow.send(r#"@link(node:"/unit/big",lane:text)"#).await;
    slow.expect(&[r#"@linked(node:"/unit/big",lane:text)"#])
        .await;
    let mut fast = Client::connect(&running.url).await;
    fast.send(r#"@link(node:"/unit/big",lane:value)"#).await;
    fast.expect(&[r#"@linked(node:"/unit/big",lane:value)"#])
        .await;
    // The slow client never reads again, while big events pile up for it: the server keeps
    // the latest per link and gives up on it after the write timeout. Each big value is set
    // once the fast client saw the one before (values set by commands that reach the agent
    // together are published once), and the fast client sees every one.
    let filler = "y".repeat(60_000);
    let mut sender = Client::connect(&running.url).await;
    for i in 0..400 {
        sender
            .send(&format!(
                r#"@command(node:"/unit/big",lane:text) "{filler}{i}""#
            ))
            .await;
        sender
            .send(&format!(r#"@command(node:"/unit/big",lane:add) {i}"#))
            .await;
        let event = format!(r#"@event(node:"/unit/big",lane:value) {i}"#);
        while fast.recv().await != event {}
    }
    // The slow client was disconnected: its socket ends once the buffered frames are read.
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(Ok(_)) = slow.socket.next().await {}
    })
    .await;
    assert!(ended.is_ok(), "the slow client is disconnected");
    running.stop().await;
}

/// Commands that reach the agent together publish once, but a link or sync among them sees
/// exactly what it would see alone, and a command lane's subscribers see every command.
#[tokio::test]
async fn commands_arriving_together_publish_together_without_changing_what_links_see() {
    let running = serve().await;
    let mut watcher = Client::connect(&running.url).await;
    watcher.send(r#"@link(node:"/unit/burst",lane:add)"#).await;
    watcher
        .expect(&[r#"@linked(node:"/unit/burst",lane:add)"#])
        .await;
    // One write: two commands, a sync of `value` and a link to `add`, two more commands; the
    // agent takes them in as few bursts as they arrive in.
    let mut client = Client::connect(&running.url).await;
    let frames = [
        r#"@command(node:"/unit/burst",lane:add) 1"#,
        r#"@command(node:"/unit/burst",lane:add) 2"#,
        r#"@sync(node:"/unit/burst",lane:value)"#,
        r#"@link(node:"/unit/burst",lane:add)"#,
        r#"@command(node:"/unit/burst",lane:add) 3"#,
        r#"@command(node:"/unit/burst",lane:add) 4"#,
    ];
    for frame in frames {
        client.socket.feed(Message::text(frame)).await.unwrap();
    }
    client.socket.flush().await.unwrap();
    // `value`: the sync's state is the value when the connection writes it (2, 3 or 4), then
    // the later values, each once and in order, up to 4 (a value lane's subscribers may skip to
    // the latest, never see one twice). `add`: the commands after the link, not those before.
    let (mut values, mut synced, mut commands) = (Vec::new(), false, Vec::new());
    while values.last() != Some(&4) || !synced || commands.last() != Some(&4) {
        let frame = client.recv().await;
        if let Some(n) = frame.strip_prefix(r#"@event(node:"/unit/burst",lane:value) "#) {
            let value: i32 = n.parse().unwrap();
            assert!(
                value >= 2,
                "the sync came after the value was 2, not {value}"
            );
            assert!(
                values.last().is_none_or(|last| *last < value),
                "{value} after {values:?}"
            );
            values.push(value);
        } else if let Some(n) = frame.strip_prefix(r#"@event(node:"/unit/burst",lane:add) "#) {
            commands.push(n.parse::<i32>().unwrap());
        } else if frame == r#"@synced(node:"/unit/burst",lane:value)"# {
            assert!(!synced && !values.is_empty(), "{frame} after {values:?}");
            synced = true;
        } else {
            let linked = [
                r#"@linked(node:"/unit/burst",lane:value)"#,
                r#"@linked(node:"/unit/burst",lane:add)"#,
            ];
            assert!(linked.contains(&frame.as_str()), "unexpected {frame}");
        }
    }
    assert_eq!(
        commands,
        [3, 4],
        "the link to `add` sees the commands after it"
    );
    // The earlier subscriber of the command lane saw all four, in order.
    for n in 1..=4 {
        watcher
            .expect(&[&format!(r#"@event(node:"/unit/burst",lane:add) {n}"#)])
            .await;
    }
    running.stop().await;
}

#[tokio::test]
async fn a_connection_runs_in_memory_for_fuzzing() {
    let running = serve().await;
    let frames = [br#"@sync(node:"/unit/m",lane:value)"#.to_vec()];
    let answer = running
        .server
        .run_connection_in_memory(&frames, Duration::from_millis(500))
        .await;
    assert_eq!(
        answer,
        [
            r#"@linked(node:"/unit/m",lane:value)"#,
            r#"@event(node:"/unit/m",lane:value) 0"#,
            r#"@synced(node:"/unit/m",lane:value)"#,
        ]
    );
    running.stop().await;
}

#[tokio::test]
async fn a_bad_frame_in_memory_closes_the_connection_and_the_server_goes_on() {
    let running = serve().await;
    let frames = [b"not an envelope".to_vec(), vec![0xff, 0xfe]];
    assert!(running
        .server
        .run_connection_in_memory(&frames, Duration::from_millis(500))
        .await
        .is_empty());
    let probe = [br#"@sync(node:"/unit/m",lane:value)"#.to_vec()];
    let answer = running
        .server
        .run_connection_in_memory(&probe, Duration::from_millis(500))
        .await;
    assert_eq!(
        answer.last().map(String::as_str),
        Some(r#"@synced(node:"/unit/m",lane:value)"#)
    );
    running.stop().await;
}

/// The bodies of the events a `@sync` of `node`'s `lane` brings, sorted, once it is synced.
async fn synced_events(client: &mut Client, node: &str, lane: &str) -> Vec<String> {
    client
        .send(&format!(r#"@sync(node:"{node}",lane:{lane})"#))
        .await;
    let mut events = Vec::new();
    loop {
        let frame = client.recv().await;
        if frame.starts_with("@synced") {
            events.sort();
            return events;
        }
        let header = format!(r#"@event(node:"{node}",lane:{lane})"#);
        if let Some(body) = frame.strip_prefix(&header) {
            events.push(body.trim().to_owned());
        }
    }
}

#[tokio::test]
async fn every_spelling_of_a_node_reaches_one_agent_and_route_ids_come_back_to_it() {
    let running = serve().await;
    let mut client = Client::connect(&running.url).await;
    let units = RoutePattern::parse_str("/unit/:id").unwrap();
    for (id, spellings) in [
        ("v", ["/unit/%76", "/unit/v"]),
        ("truck 8", ["/unit/truck%208", "/unit/truck 8"]),
        ("a/b", ["/unit/a%2Fb", "/unit/a%2fb"]),
    ] {
        for (n, node) in spellings.iter().enumerate() {
            client
                .send(&format!(r#"@command(node:"{node}",lane:add) {}"#, n + 1))
                .await;
        }
        // The id a route gives back, put into the route again, reaches the same agent.
        let uri = units.node_uri([("id", id)]).unwrap();
        assert_eq!(units.match_uri(&uri).unwrap()["id"], id);
        client
            .send(&format!(r#"@command(node:"{uri}",lane:add) 3"#))
            .await;
        for node in spellings.iter().chain([&uri.as_str()]) {
            assert_eq!(
                synced_events(&mut client, node, "map").await,
                [
                    "@update(key:k1) 1",
                    "@update(key:k2) 2",
                    "@update(key:k3) 3"
                ],
                "{node}"
            );
        }
    }
    assert_eq!(running.server.running_agents(), 3);
    // Outside the server too: the handle's agents are the same ones.
    assert!(running.server.is_running("/unit/%74ruck 8"));
    running.stop().await;
}
