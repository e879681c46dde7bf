//! The load generator's client helpers: connections, frames, and what a client saw.

use std::fmt::Display;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use futures::{Sink, SinkExt, Stream, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

use crate::{Client, CLIENT_READ_BUFFER, CONNECT_LIMIT, REPLY_LIMIT};

/// Panics with a message saying what was awaited if `future` takes longer than `limit`.
pub(crate) async fn within<T>(
    limit: Duration,
    what: impl Display,
    future: impl Future<Output = T>,
) -> T {
    match tokio::time::timeout(limit, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {limit:?} waiting for {what}"),
    }
}

/// A WebSocket connection to `addr`, with or without `TCP_NODELAY` on the client socket.
pub(crate) async fn connect(addr: SocketAddr, nodelay: bool) -> Client {
    within(CONNECT_LIMIT, format!("a connection to {addr}"), async {
        let stream = TcpStream::connect(addr)
            .await
            .unwrap_or_else(|err| panic!("cannot connect to {addr}: {err}"));
        stream.set_nodelay(nodelay).expect("TCP_NODELAY can be set");
        let config = WebSocketConfig::default().read_buffer_size(CLIENT_READ_BUFFER);
        let mut request = format!("ws://{addr}/")
            .into_client_request()
            .expect("a WebSocket URL");
        if crate::swimos::is_swimos(addr) {
            // SwimOS 0.1.1 refuses clients that do not offer `warp0`; the baseline servers
            // name no subprotocol, which a client offering one refuses.
            request
                .headers_mut()
                .insert("sec-websocket-protocol", HeaderValue::from_static("warp0"));
        }
        let (socket, _) =
            tokio_tungstenite::client_async_with_config(request, stream, Some(config))
                .await
                .unwrap_or_else(|err| panic!("WebSocket handshake with {addr} failed: {err}"));
        socket
    })
    .await
}

/// Sends `@link` for `node` lane `value` and waits for `@linked`.
pub(crate) async fn link(socket: &mut Client, node: &str) {
    send(socket, format!(r#"@link(node:"{node}",lane:value)"#)).await;
    wait_linked(socket).await;
}

pub(crate) async fn wait_linked(socket: &mut Client) {
    within(REPLY_LIMIT, "@linked", async {
        while !next_text(socket, "@linked").await.starts_with("@linked") {}
    })
    .await;
}

pub(crate) async fn send<S>(sink: &mut S, text: String)
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    sink.send(Message::text(text))
        .await
        .unwrap_or_else(|err| panic!("sending a frame failed: {err}"));
}

pub(crate) async fn feed<S>(sink: &mut S, text: String)
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    sink.feed(Message::text(text))
        .await
        .unwrap_or_else(|err| panic!("sending a frame failed: {err}"));
}

pub(crate) async fn flush<S>(sink: &mut S)
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    sink.flush()
        .await
        .unwrap_or_else(|err| panic!("flushing frames failed: {err}"));
}

/// The next text frame (callers bound the wait); panics if the connection ends.
pub(crate) async fn next_text<S>(stream: &mut S, what: &str) -> Utf8Bytes
where
    S: Stream<Item = Result<Message, WsError>> + Unpin,
{
    loop {
        match stream.next().await {
            Some(Ok(Message::Text(text))) => return text,
            Some(Ok(Message::Close(frame))) => {
                panic!("the server closed the connection ({frame:?}) while we waited for {what}")
            }
            Some(Ok(_)) => continue,
            Some(Err(err)) => panic!("the connection failed while we waited for {what}: {err}"),
            None => panic!("the connection ended while we waited for {what}"),
        }
    }
}

/// What a client saw of a lane: how many events, and how many of them went backwards (a lane
/// keeps the order of its events, and coalescing only skips values, so that must stay 0).
#[derive(Default, Clone, Copy)]
pub(crate) struct Seen {
    pub(crate) events: u64,
    pub(crate) backwards: u64,
    previous: Option<i64>,
}

impl Seen {
    pub(crate) fn record(&mut self, value: i64) {
        self.events += 1;
        if self.previous.is_some_and(|previous| value <= previous) {
            self.backwards += 1;
        }
        self.previous = Some(value);
    }
}

/// The integer at the end of a frame (`@event(...) 5` or the baseline's echoed `@command(...) 5`).
pub(crate) fn body_int(text: &str) -> Option<i64> {
    text.rsplit_once(' ')?.1.parse().ok()
}

/// This process's resident set, in KiB.
pub(crate) fn vm_rss_kib() -> u64 {
    rss_kib_of("self")
}

/// The resident set of process `pid` (or `"self"`), in KiB, from `/proc/<pid>/status`.
pub(crate) fn rss_kib_of(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|err| panic!("/proc/{pid}/status: {err}"));
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line")
}
