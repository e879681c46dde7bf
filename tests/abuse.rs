//! A server under attack, on real sockets on 127.0.0.1: thousands of connections opened and
//! dropped, upgrades left half-sent (slow-loris), a flood of links and one of commands, each
//! from its own loopback address. Meanwhile a well-behaved client on 127.0.0.1 keeps sending
//! commands and waiting for their events: its round trips stay within a bound, and once the
//! abuse stops, the process's live heap (counted by this binary's allocator) returns to near
//! where it was.
//!
//! This test has its own binary so that nothing else allocates while it counts.

// The heap is counted by a global allocator of this binary, which only `unsafe` can write.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{FutureExt, SinkExt, StreamExt};
use tidal::prelude::*;
use tidal::server::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

/// The system allocator, counting the bytes live.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to `System` with the same arguments; the counter has no
// effect on the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The bytes live on the heap now.
fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// The resident set size of this process, in bytes (for the report).
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// A meter: its `level` is what the well-behaved client drives, `noise` what the command
/// flood hits, `still` what the link flood syncs over and over.
#[projections]
#[derive(AgentLaneModel)]
pub struct Meter {
    level: ValueLane<i64>,
    noise: ValueLane<i64>,
    still: ValueLane<i64>,
}

#[derive(Clone)]
pub struct MeterLifecycle;

#[lifecycle(Meter)]
impl MeterLifecycle {}

type Socket = tokio_tungstenite::WebSocketStream<TcpStream>;

/// A TCP connection to the server from the loopback address `from`.
async fn connect_from(from: [u8; 4], server: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((from, 0)))?;
    socket.connect(server).await
}

/// A WARP connection from the loopback address `from`.
async fn warp_from(from: [u8; 4], server: SocketAddr) -> Option<Socket> {
    let tcp = connect_from(from, server).await.ok()?;
    let url = format!("ws://{server}/");
    tokio_tungstenite::client_async(url, tcp)
        .await
        .ok()
        .map(|(socket, _)| socket)
}

/// The next text frame, within 5 s.
async fn next_text(socket: &mut Socket) -> String {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a frame within 5 s")
            .expect("open")
            .expect("a frame");
        if let Message::Text(text) = message {
            return text.as_str().to_owned();
        }
    }
}

/// One command to `level` and the wait for its event: the round trip.
async fn round_trip(socket: &mut Socket, n: i64) -> Duration {
    let started = Instant::now();
    let command = format!(r#"@command(node:"/meter/m",lane:level) {n}"#);
    socket.send(Message::text(command)).await.unwrap();
    let expected = format!(r#"@event(node:"/meter/m",lane:level) {n}"#);
    while next_text(socket).await != expected {}
    started.elapsed()
}

/// The 99th percentile of `samples`.
fn p99(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[(samples.len() * 99 / 100).min(samples.len() - 1)]
}

/// Connections opened and dropped, from 127.0.0.2: a third closed at once, a third after
/// the WebSocket upgrade, a third after a link; 50 at a time.
async fn churn(server: SocketAddr, count: usize) -> usize {
    let mut tasks = JoinSet::new();
    let mut upgraded = 0;
    for n in 0..count {
        if tasks.len() >= 50 {
            upgraded += tasks.join_next().await.unwrap().unwrap();
        }
        tasks.spawn(async move {
            match n % 3 {
                0 => {
                    drop(connect_from([127, 0, 0, 2], server).await);
                    0
                }
                kind => {
                    let Some(mut socket) = warp_from([127, 0, 0, 2], server).await else {
                        return 0;
                    };
                    if kind == 2 {
                        let link = r#"@link(node:"/meter/m",lane:level)"#;
                        let _ = socket.send(Message::text(link)).await;
                    }
                    1
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        upgraded += done.unwrap();
    }
    upgraded
}

/// Upgrades that send half a request head and stall, from 127.0.0.3: returns how many the
/// server took, and checks that every one is closed by the server in bounded time.
async fn half_open(server: SocketAddr, count: usize, within: Duration) -> usize {
    let mut held = Vec::new();
    for _ in 0..count {
        let Ok(mut tcp) = connect_from([127, 0, 0, 3], server).await else {
            continue;
        };
        let head = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n";
        let _ = tcp.write_all(head.as_bytes()).await;
        held.push(tcp);
    }
    let taken = held.len();
    let mut closing = JoinSet::new();
    for mut tcp in held {
        closing.spawn(async move {
            let mut buffer = [0; 1024];
            // End of stream or reset: the server let go of it.
            loop {
                match tokio::time::timeout(within, tcp.read(&mut buffer)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => return true,
                    Ok(Ok(_)) => {}
                    Err(_) => return false,
                }
            }
        });
    }
    while let Some(closed) = closing.join_next().await {
        assert!(
            closed.unwrap(),
            "a stalled upgrade was closed within {within:?}"
        );
    }
    taken
}

/// One connection from 127.0.0.4 that links to unknown lanes and nodes, syncs a real lane
/// over and over, and links past the limit; returns the `@tooManyLinks` answers once every
/// link has had its `@unlinked`.
async fn link_flood(server: SocketAddr, count: usize) -> usize {
    let mut socket = warp_from([127, 0, 0, 4], server).await.expect("connects");
    let mut links = 0;
    for n in 0..count {
        let envelope = match n % 3 {
            0 => format!(r#"@link(node:"/meter/m",lane:"x{n}")"#),
            1 => format!(r#"@link(node:"/nowhere/{n}",lane:level)"#),
            _ => r#"@sync(node:"/meter/m",lane:still)"#.to_owned(),
        };
        links += usize::from(n % 3 != 2);
        socket.feed(Message::text(envelope)).await.unwrap();
    }
    socket.flush().await.unwrap();
    // Every link to an unknown lane or node is answered with `@unlinked`: for not being
    // found, or for being past the limit.
    let (mut unlinked, mut too_many) = (0, 0);
    while unlinked < links {
        let text = next_text(&mut socket).await;
        if text.starts_with("@unlinked") {
            unlinked += 1;
            too_many += usize::from(text.ends_with("@tooManyLinks"));
        }
    }
    too_many
}

/// One connection from 127.0.0.5 that sends commands to `noise` until the server closes it;
/// returns the close code.
async fn command_flood(server: SocketAddr) -> Option<u16> {
    let mut socket = warp_from([127, 0, 0, 5], server).await.expect("connects");
    let mut n = 0u64;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < deadline, "the flood was never cut off");
        for _ in 0..1000 {
            n += 1;
            let command = format!(r#"@command(node:"/meter/m",lane:noise) {n}"#);
            if socket.feed(Message::text(command)).await.is_err() {
                break;
            }
        }
        if socket.flush().await.is_err() {
            break;
        }
        // The close frame may already be waiting.
        if let Some(Some(Ok(Message::Close(frame)))) = socket.next().now_or_never() {
            return frame.map(|f| u16::from(f.code));
        }
    }
    while let Ok(Some(message)) = tokio::time::timeout(Duration::from_secs(5), socket.next()).await
    {
        if let Ok(Message::Close(frame)) = message {
            return frame.map(|f| u16::from(f.code));
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_well_behaved_client_is_served_through_abuse_and_memory_comes_back() {
    const CHURNED: usize = 3_000;
    const HALF_OPEN: usize = 400;
    const LINKS: usize = 5_000;
    let handshake = Duration::from_secs(1);
    let limits = {
        let mut limits = Limits::default();
        limits.max_links_per_connection = 1_000;
        limits.commands_per_second = 10_000;
        limits.max_dropped_commands = 100_000;
        limits
    };
    let (task, server) = ServerBuilder::with_plane_name("abused")
        .set_bind_addr("127.0.0.1:0")
        .add_route(
            "/meter/:id".parse().unwrap(),
            AgentModel::new(Meter::default, MeterLifecycle),
        )
        .update_config(move |config| {
            config.endpoint.handshake_timeout = handshake;
            config.endpoint.limits = limits;
        })
        .build()
        .await
        .unwrap()
        .run();
    let task = tokio::spawn(task);
    let address = server.bound_addr().unwrap();

    // The well-behaved client, and the round trips of a quiet server.
    let mut good = warp_from([127, 0, 0, 1], address).await.unwrap();
    good.send(Message::text(r#"@sync(node:"/meter/m",lane:level)"#))
        .await
        .unwrap();
    assert_eq!(
        next_text(&mut good).await,
        r#"@linked(node:"/meter/m",lane:level)"#
    );
    let mut quiet = Vec::with_capacity(1_000);
    let mut n = 0;
    for _ in 0..1_000 {
        n += 1;
        quiet.push(round_trip(&mut good, n).await);
    }
    // Room for every sample, so that the vector does not grow between the two heap counts.
    let mut busy = Vec::with_capacity(100_000);
    let (heap_before, rss_before) = (live(), rss());

    // The abuse, all at once; the well-behaved client goes on until it is over.
    let over = Arc::new(AtomicBool::new(false));
    let abuse = {
        let over = over.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let (upgraded, taken, too_many, flood_closed) = tokio::join!(
                churn(address, CHURNED),
                half_open(address, HALF_OPEN, handshake + Duration::from_secs(4)),
                link_flood(address, LINKS),
                command_flood(address),
            );
            over.store(true, Ordering::Release);
            (upgraded, taken, too_many, flood_closed, started.elapsed())
        })
    };
    while !over.load(Ordering::Acquire) {
        n += 1;
        busy.push(round_trip(&mut good, n).await);
    }
    let (upgraded, taken, too_many, flood_closed, took) = abuse.await.unwrap();

    // The abusers' connections are gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.open_connections() > 1 {
        assert!(Instant::now() < deadline, "abusive connections linger");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The well-behaved client is still served.
    n += 1;
    round_trip(&mut good, n).await;
    let (heap_after, rss_after) = (live(), rss());

    let (quiet_p99, busy_p99) = (p99(&mut quiet), p99(&mut busy));
    let retained = heap_after - heap_before;
    println!(
        "abuse for {took:?}: {CHURNED} connections churned ({upgraded} upgraded), \
         {taken} half-open upgrades, {LINKS} link envelopes ({too_many} over the limit), \
         a command flood (closed with {flood_closed:?})"
    );
    println!(
        "well-behaved round trips: p99 {quiet_p99:?} quiet, {busy_p99:?} under abuse \
         ({} samples)",
        busy.len()
    );
    println!(
        "heap: {heap_before} B before, {heap_after} B after ({retained:+} B); \
         RSS {} KiB before, {} KiB after",
        rss_before / 1024,
        rss_after / 1024
    );

    assert_eq!(flood_closed, Some(1008), "the command flood is closed");
    assert!(too_many > 0, "links past the limit are refused");
    assert!(
        upgraded > CHURNED / 2,
        "the churned connections were served"
    );
    assert!(
        busy.len() >= 100,
        "the well-behaved client went on: {}",
        busy.len()
    );
    // Measured in a debug build on 2 cores: 25 to 37 ms (0.3 to 0.7 ms quiet).
    assert!(
        busy_p99 < Duration::from_millis(250),
        "round trips under abuse: p99 {busy_p99:?}"
    );
    // Measured: about +8 KB after 3,000 connections; a leak of 350 bytes per connection
    // would fail this.
    assert!(
        retained < 1 << 20,
        "the heap returns to within 1 MiB: {retained:+} B"
    );

    server.stop();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
}
