//! A WARP load generator: a tidal server in-process, driven over real WebSocket connections on
//! 127.0.0.1 by tokio-tungstenite clients, next to a bare WebSocket baseline in the same run.
//!
//! Run: `cargo bench --bench warp_load` (the measurements take about 10 s on 2 cores, so the
//! counts of the issue are used unscaled: `C` = 200,000, `F` = 100, `U` = 10,000, `N` = 10,000,
//! `R` = 5,000, 5 runs each; scenario 5 uses 1,000 followers and 1,000 updates; see [`FULL`]). Without `--bench` (as
//! `cargo test --benches` runs it) it does a smoke run with tiny counts whose figures mean
//! nothing. `WARP_LOAD_SCENARIOS=1,4` runs only the scenarios listed (e.g. under a profiler).
//!
//! # Set-up
//!
//! The server (tidal, and the baseline servers) runs on its own multi-thread tokio runtime with
//! **one** worker thread; the load generator runs on another runtime with one worker. On a
//! 2-core machine each side gets a core. Every scenario runs [`Counts::runs`] times against
//! tidal and against the baseline, alternating; each figure is printed as `median [min–max]`
//! over the runs, next to the baseline's, their ratio (`tidal/baseline` of the medians: above 1
//! is worse for times and latencies, below 1 is worse for rates), and the anchor's figure. Rows
//! counting events show how much each server coalesced; their ratio is not a score. The load
//! average at start is printed because other work on the machine widens the spread.
//!
//! The **baseline** is a WebSocket server written here with tokio-tungstenite that does the
//! minimum for each scenario and parses nothing: a frame starting with `@link` or `@sync`
//! subscribes the connection (answered with `@linked`); any other text frame is, depending on
//! the scenario, counted and published to the subscribers as the latest value (scenario 1, a
//! `watch` channel: coalescing like a value lane), broadcast to every subscriber (scenario 2, a
//! `broadcast` channel; a lagging subscriber skips the oldest frames), or echoed (scenario 4).
//! Its sockets use `TCP_NODELAY`, like tidal's, and tungstenite's default configuration, like
//! tidal's. The clients are the same code for both servers: they only look at the integer at the
//! end of each frame. They use a 16 KiB read buffer (see [`CLIENT_READ_BUFFER`]).
//!
//! The **anchor** figures are fixed numbers: SwimOS (swim-rust 0.1.1) on this kind of machine,
//! from `shared/reference/warp.md` and the issue. Scenario 1 can also measure a real SwimOS
//! server side by side: start one with
//! `"$(bash scripts/swimos-server.sh --release)" 9101` (the agent of `interop/swimos-server`,
//! whose `/source/:id` agents have the value lane `value`) and run the bench with
//! `WARP_LOAD_SWIMOS=127.0.0.1:9101`. Its figures are printed under the table, with the ratio
//! tidal/SwimOS; SwimOS runs in its own process with its own runtime, so the set-up is not
//! the same as tidal's (one worker thread), and the ratio is a rough one.
//!
//! # Scenarios
//!
//! 1. **Command throughput into one value lane.** A watcher connection `@link`s to `/unit/t`
//!    lane `value`; another connection sends `C` frames `@command(node:"/unit/t",lane:value) <i>`
//!    as fast as it can (fed into the socket, flushed every `BATCH` frames). The clock runs from
//!    the first command until the watcher sees the event carrying the last value. Read
//!    `commands/s` (higher is better). The watcher's event count shows how much the lane
//!    coalesced; `events out of order` counts values that went backwards and must be 0.
//! 2. **Fan-out.** `F` connections each `@link` to `/unit/f` lane `value`; then one more
//!    connection sends `U` commands to it. Read the time until every client has seen the last
//!    value, the events actually delivered (summed over clients; coalescing for clients that
//!    fall behind is allowed, so this is at most `F × U`) and delivered events per second.
//! 3. **Sync of `N` distinct agents.** One connection sends `@sync(node:"/unit/s<i>",lane:value)`
//!    for `N` new node URIs (pipelined) and counts the `@synced` replies. Read the total time
//!    (activation and sync) and the growth of this process's resident set (`VmRSS`, measured
//!    before connecting and after the last `@synced`, with the links still open) per agent. The
//!    client keeps only a counter, so the growth is the server's, give or take the process's
//!    allocator noise. Each run uses fresh agents, and keeps its connection until all runs are
//!    done (so later runs cannot reuse memory freed by closed links). No baseline: a bare
//!    WebSocket server has no agents.
//! 4. **Round-trip latency.** One connection `@link`s to `/unit/r` lane `value`, then `R` times
//!    sends a command with a new value and waits for its event (after `WARM_UP` untimed ones).
//!    Read p50, p99 and max in µs (lower is better). It is measured on a connection with
//!    `TCP_NODELAY` set on the client side, and again on a fresh connection without it: the
//!    second must show no ~40 ms delayed-ACK stalls (the row `stalls >= 20 ms` counts them).
//! 5. **Remote fan-out, agent to agent across two servers.** Server A (listening) runs
//!    `/unit/f`; server B (not listening) runs 1,000 [`Follower`] agents, each opening in
//!    `on_start` a value downlink to `/unit/f` lane `value` on A's host. B's connection pool
//!    carries them all over one WebSocket (asserted: A has exactly 1 connection once they are
//!    synced). Read the start-up (from the first `start_agent` until every follower's
//!    `on_synced` ran), then, for `U` commands sent to A by a WARP client (flushed every
//!    `BATCH`), the time until every follower's `on_event` has seen the last value and the
//!    events delivered to `on_event` (summed; coalescing is expected, at most `F × U`). Each
//!    run uses fresh servers. The baseline here is not the bare WebSocket server but the
//!    **local** case: the same followers on A itself with `host = None` (the same code path
//!    minus the network); the ratio column is remote/local. Both A and B run on the server
//!    runtime, so both cases have one core for the servers. The last row counts tasks still
//!    alive on the server runtime after both servers stopped, minus those alive before the run
//!    (a leaked connection task would show there; -1 is a task of an earlier scenario ending
//!    meanwhile). Scenario 3's 50,000 agents stay alive, and after it the absolute times here
//!    are 2-3x longer in both cases (mostly glibc `malloc` on the fragmented heap; the ratio
//!    holds): `WARP_LOAD_SCENARIOS=5` measures it alone.
//!
//! Every wait has a timeout whose message says what was awaited; the bench never sleeps.

use std::fmt::Display;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{Sink, SinkExt, Stream, StreamExt};
use tidal::agent::{
    agent_lifecycle::HandlerContext,
    agent_model::downlink::hosted::ValueDownlinkHandle,
    agent_model::AgentModel,
    config::SimpleDownlinkConfig,
    event_handler::{EventHandler, HandlerActionExt},
    lanes::{CommandLane, MapLane, ValueLane},
    lifecycle, projections,
    state::State,
    AgentLaneModel,
};
use tidal::route::RoutePattern;
use tidal::server::{ServerBuilder, ServerError, ServerHandle};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::{Handle, Runtime};
use tokio::sync::{broadcast, watch, Notify};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

/// The agent at `/unit/:id`, as in `tests/warp.rs`.
#[projections]
#[derive(AgentLaneModel)]
pub struct Unit {
    /// Set by commands; the lane every scenario uses.
    value: ValueLane<i32>,
    /// `add n` puts `k<n> -> n` here.
    map: MapLane<String, i32>,
    /// `add n` sets `value` and `map["k<n>"]` to `n`.
    add: CommandLane<i32>,
}

/// The lifecycle of [`Unit`].
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
    }
}

/// How much work each scenario does.
#[derive(Clone, Copy, Debug)]
struct Counts {
    /// Scenario 1: commands sent.
    commands: i32,
    /// Scenario 2: linked clients.
    fanout_clients: usize,
    /// Scenario 2: updates sent.
    fanout_updates: i32,
    /// Scenario 3: agents synced per run.
    agents: i32,
    /// Scenario 4: timed round trips per connection.
    round_trips: usize,
    /// Scenario 5: follower agents, each with a value downlink to one lane.
    followers: usize,
    /// Scenario 5: updates sent to the followed lane.
    follower_updates: i32,
    /// Repetitions of every scenario.
    runs: usize,
}

/// The counts of the issue.
const FULL: Counts = Counts {
    commands: 200_000,
    fanout_clients: 100,
    fanout_updates: 10_000,
    agents: 10_000,
    round_trips: 5_000,
    followers: 1_000,
    follower_updates: 1_000,
    runs: 5,
};

/// Without `--bench`: just check that everything works.
const SMOKE: Counts = Counts {
    commands: 2_000,
    fanout_clients: 5,
    fanout_updates: 100,
    agents: 100,
    round_trips: 100,
    followers: 20,
    follower_updates: 50,
    runs: 1,
};

/// Commands fed into the socket between flushes.
const BATCH: i32 = 256;
/// Untimed round trips before the timed ones.
const WARM_UP: usize = 200;
/// A round trip at least this long counts as a stall (delayed ACK is ~40 ms).
const STALL: Duration = Duration::from_millis(20);

/// The clients' read buffer. tungstenite zeroes the whole read buffer (128 KiB by default)
/// before every read attempt, even one that finds nothing, which would make the load generator
/// spend much of its core in `memset`; the servers keep the default.
const CLIENT_READ_BUFFER: usize = 16 * 1024;

/// Time limits of the waits.
const CONNECT_LIMIT: Duration = Duration::from_secs(10);
const REPLY_LIMIT: Duration = Duration::from_secs(10);
const SCENARIO_LIMIT: Duration = Duration::from_secs(120);

type Client = WebSocketStream<TcpStream>;

/// The SwimOS server to measure in scenario 1 too, from `WARP_LOAD_SWIMOS` (`host:port`).
fn swimos() -> Option<SocketAddr> {
    let addr = std::env::var("WARP_LOAD_SWIMOS").ok()?;
    Some(
        addr.parse()
            .expect("WARP_LOAD_SWIMOS is an address like 127.0.0.1:9101"),
    )
}

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let counts = if full { FULL } else { SMOKE };
    let started = Instant::now();
    let server_rt = runtime("server");
    let client_rt = runtime("load");

    let (tidal, tidal_addr) = server_rt.block_on(async {
        let server = ServerBuilder::with_plane_name("warp-load")
            .set_bind_addr("127.0.0.1:0".parse().unwrap())
            .add_route(
                RoutePattern::parse_str("/unit/:id").unwrap(),
                AgentModel::new(Unit::default, UnitLifecycle),
            )
            .build()
            .await
            .expect("the tidal server builds");
        let (task, handle) = server.run();
        let task = tokio::spawn(task);
        let addr = handle.bound_addr().await.expect("the server is bound");
        ((handle, task), addr)
    });
    let baseline = server_rt.block_on(async {
        Baselines {
            coalesce: baseline_server(Mode::Coalesce).await,
            broadcast: baseline_server(Mode::Broadcast).await,
            echo: baseline_server(Mode::Echo).await,
        }
    });

    println!("WARP load: tidal vs a bare tokio-tungstenite WebSocket server, on 127.0.0.1");
    println!(
        "server runtime: 1 worker thread; load generator runtime: 1 worker thread; {} cores; \
         load average at start: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    if full {
        println!("counts as in the issue (not scaled down): {counts:?}");
    } else {
        println!(
            "SMOKE RUN (no --bench flag): counts scaled down to {counts:?}; figures meaningless"
        );
    }
    println!(
        "each figure: median [min–max] over {} runs; ratio = tidal median / baseline median; \
         anchor = SwimOS 0.1.1 figures quoted from warp.md/the issue (fixed, NOT measured here)",
        counts.runs
    );

    let server_handle = server_rt.handle().clone();
    client_rt
        .block_on(async move {
            tokio::spawn(run_all(counts, tidal_addr, baseline, server_handle)).await
        })
        .expect("the scenarios ran (see the panic message above)");

    let (handle, task) = tidal;
    handle.stop();
    let stopped = server_rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .is_ok()
    });
    if !stopped {
        println!("note: the tidal server did not stop within 60 s");
    }
    println!("total wall time: {:.1} s", started.elapsed().as_secs_f64());
}

fn runtime(name: &str) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(name)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// The addresses of the baseline servers, one per scenario with a baseline.
#[derive(Clone, Copy)]
struct Baselines {
    coalesce: SocketAddr,
    broadcast: SocketAddr,
    echo: SocketAddr,
}

async fn run_all(counts: Counts, tidal: SocketAddr, baseline: Baselines, server: Handle) {
    let only = std::env::var("WARP_LOAD_SCENARIOS").unwrap_or_default();
    let selected = |n: &str| only.is_empty() || only.split(',').any(|s| s.trim() == n);
    if selected("1") {
        scenario_commands(counts, tidal, baseline.coalesce).await;
    }
    if selected("2") {
        scenario_fanout(counts, tidal, baseline.broadcast).await;
    }
    if selected("3") {
        scenario_sync(counts, tidal).await;
    }
    if selected("4") {
        scenario_latency(counts, tidal, baseline.echo).await;
    }
    if selected("5") {
        scenario_remote_fanout(counts, &server).await;
    }
}

// ----------------------------------------------------------------------------------------------
// Scenarios
// ----------------------------------------------------------------------------------------------

/// Scenario 1: commands into one value lane, until a linked watcher sees the last one.
async fn scenario_commands(counts: Counts, tidal: SocketAddr, baseline: SocketAddr) {
    let c = counts.commands;
    println!();
    println!(
        "== 1. command throughput into one value lane: {c} commands, pipelined (flush every \
         {BATCH}), until a linked watcher sees the last value =="
    );
    let mut rates = [Samples::default(), Samples::default()];
    let mut seconds = [Samples::default(), Samples::default()];
    let mut events = [Samples::default(), Samples::default()];
    let mut backwards = [Samples::default(), Samples::default()];
    for run in 0..counts.runs {
        for (side, addr) in [tidal, baseline].into_iter().enumerate() {
            let base = run as i32 * c;
            let (elapsed, seen) = within(
                SCENARIO_LIMIT,
                format!("scenario 1 ({}, run {run})", SIDES[side]),
                command_throughput(addr, "/unit/t", base, c),
            )
            .await;
            rates[side].push(c as f64 / elapsed.as_secs_f64());
            seconds[side].push(elapsed.as_secs_f64());
            events[side].push(seen.events as f64);
            backwards[side].push(seen.backwards as f64);
        }
    }
    header();
    row(
        "commands/s (higher is better)",
        &rates,
        Show::Rate,
        "~104k/s",
    );
    row("time to the last value", &seconds, Show::Seconds, "n/a");
    row("events seen by the watcher", &events, Show::Count, "n/a");
    row(
        "events out of order (must be 0)",
        &backwards,
        Show::Count,
        "n/a",
    );
    if let Some(swimos) = swimos() {
        let mut swimos_rates = Samples::default();
        for run in 0..counts.runs {
            let base = run as i32 * c;
            let (elapsed, _) = within(
                SCENARIO_LIMIT,
                format!("scenario 1 (SwimOS at {swimos}, run {run})"),
                command_throughput(swimos, "/source/t", base, c),
            )
            .await;
            swimos_rates.push(c as f64 / elapsed.as_secs_f64());
        }
        let ratio = rates[0].median().unwrap_or(0.0) / swimos_rates.median().unwrap_or(1.0);
        println!(
            "  measured SwimOS 0.1.1 at {swimos} (node /source/t): {} commands/s; \
             tidal/SwimOS {ratio:.2}x (higher is better for tidal)",
            swimos_rates.show(Show::Rate)
        );
    }
}

/// One run of scenario 1; returns the time to the last value and the events the watcher saw.
async fn command_throughput(addr: SocketAddr, node: &str, base: i32, c: i32) -> (Duration, Seen) {
    let mut watcher = connect(addr, true).await;
    link(&mut watcher, node).await;
    let mut sender = connect(addr, true).await;
    let last = i64::from(base + c);
    let start = Instant::now();
    let send = async {
        for i in 1..=c {
            let text = format!(r#"@command(node:"{node}",lane:value) {}"#, base + i);
            feed(&mut sender, text).await;
            if i % BATCH == 0 {
                flush(&mut sender).await;
            }
        }
        flush(&mut sender).await;
    };
    let watch = async {
        let mut seen = Seen::default();
        loop {
            let text = next_text(&mut watcher, "the watcher's events").await;
            if let Some(value) = body_int(&text) {
                seen.record(value);
                if value == last {
                    return (start.elapsed(), seen);
                }
            }
        }
    };
    let ((), result) = tokio::join!(send, watch);
    result
}

/// Scenario 2: fan-out of one value lane to many connections.
async fn scenario_fanout(counts: Counts, tidal: SocketAddr, baseline: SocketAddr) {
    let (f, u) = (counts.fanout_clients, counts.fanout_updates);
    println!();
    println!(
        "== 2. fan-out: {f} connections linked to one value lane, {u} updates sent from one more \
         connection; at most {} events can be delivered ==",
        f as u64 * u as u64
    );
    let mut seconds = [Samples::default(), Samples::default()];
    let mut delivered = [Samples::default(), Samples::default()];
    let mut rates = [Samples::default(), Samples::default()];
    let mut fewest = [Samples::default(), Samples::default()];
    let mut backwards = [Samples::default(), Samples::default()];
    for run in 0..counts.runs {
        for (side, addr) in [tidal, baseline].into_iter().enumerate() {
            let base = run as i32 * u;
            let (elapsed, per_client) = within(
                SCENARIO_LIMIT,
                format!("scenario 2 ({}, run {run})", SIDES[side]),
                fanout(addr, "/unit/f", f, base, u),
            )
            .await;
            let total: u64 = per_client.iter().map(|seen| seen.events).sum();
            seconds[side].push(elapsed.as_secs_f64());
            delivered[side].push(total as f64);
            rates[side].push(total as f64 / elapsed.as_secs_f64());
            let least = per_client.iter().map(|seen| seen.events).min();
            fewest[side].push(least.unwrap_or(0) as f64);
            backwards[side].push(per_client.iter().map(|seen| seen.backwards).sum::<u64>() as f64);
        }
    }
    header();
    row(
        "time until every client has the last value",
        &seconds,
        Show::Seconds,
        "~2.6 s",
    );
    row(
        "events delivered (all clients)",
        &delivered,
        Show::Count,
        "~1M",
    );
    row("events delivered/s", &rates, Show::Rate, "~380k/s");
    row(
        "events at the client that got fewest",
        &fewest,
        Show::Count,
        "n/a",
    );
    row(
        "events out of order (must be 0)",
        &backwards,
        Show::Count,
        "n/a",
    );
}

/// One run of scenario 2; returns the time until the last client saw the last value, and the
/// events each client received.
async fn fanout(
    addr: SocketAddr,
    node: &'static str,
    clients: usize,
    base: i32,
    updates: i32,
) -> (Duration, Vec<Seen>) {
    let mut sockets = Vec::with_capacity(clients);
    for _ in 0..clients {
        let mut socket = connect(addr, true).await;
        send(&mut socket, format!(r#"@link(node:"{node}",lane:value)"#)).await;
        sockets.push(socket);
    }
    for socket in &mut sockets {
        wait_linked(socket).await;
    }
    let last = i64::from(base + updates);
    let start = Instant::now();
    let readers: Vec<_> = sockets
        .into_iter()
        .map(|mut socket| {
            tokio::spawn(async move {
                let mut seen = Seen::default();
                loop {
                    let text = next_text(&mut socket, "fan-out events").await;
                    if let Some(value) = body_int(&text) {
                        seen.record(value);
                        if value == last {
                            return (Instant::now(), seen);
                        }
                    }
                }
            })
        })
        .collect();
    let mut sender = connect(addr, true).await;
    for i in 1..=updates {
        feed(
            &mut sender,
            format!(r#"@command(node:"{node}",lane:value) {}"#, base + i),
        )
        .await;
        if i % BATCH == 0 {
            flush(&mut sender).await;
        }
    }
    flush(&mut sender).await;
    let mut latest = start;
    let mut per_client = Vec::with_capacity(clients);
    for reader in readers {
        let (at, seen) = reader.await.expect("a fan-out reader panicked");
        latest = latest.max(at);
        per_client.push(seen);
    }
    (latest - start, per_client)
}

/// Scenario 3: `@sync` of many distinct agents over one connection.
async fn scenario_sync(counts: Counts, tidal: SocketAddr) {
    let n = counts.agents;
    println!();
    println!(
        "== 3. sync of {n} distinct agents (new ones each run) over one connection, pipelined; \
         RSS = this whole process (server + client, client keeps a counter) =="
    );
    let mut seconds = Samples::default();
    let mut rates = Samples::default();
    let mut per_agent = Samples::default();
    let mut kept = Vec::new();
    for run in 0..counts.runs {
        let before = vm_rss_kib();
        let (elapsed, socket) = within(
            SCENARIO_LIMIT,
            format!("scenario 3 (run {run}): {n} @synced replies"),
            sync_agents(tidal, run as i32 * n, n),
        )
        .await;
        let after = vm_rss_kib();
        kept.push(socket);
        seconds.push(elapsed.as_secs_f64());
        rates.push(n as f64 / elapsed.as_secs_f64());
        per_agent.push((after as f64 - before as f64) / n as f64);
    }
    header();
    let none = Samples::default();
    row(
        "time to activate and sync all",
        &[seconds, none.clone()],
        Show::Seconds,
        "~3.3 s",
    );
    row(
        "agents synced/s",
        &[rates, none.clone()],
        Show::Rate,
        "~3.0k/s (derived)",
    );
    row(
        "RSS growth per synced agent",
        &[per_agent, none],
        Show::KiB,
        "~232 KB",
    );
    println!("  (baseline n/a: a bare WebSocket server has no agents)");
    drop(kept);
}

/// One run of scenario 3: syncs `/unit/s<first>`.. and returns the time to the last `@synced`
/// and the still open connection.
async fn sync_agents(addr: SocketAddr, first: i32, n: i32) -> (Duration, Client) {
    let socket = connect(addr, true).await;
    let (mut sink, mut stream) = socket.split();
    let start = Instant::now();
    let send = async {
        for i in 0..n {
            let text = format!(r#"@sync(node:"/unit/s{}",lane:value)"#, first + i);
            feed(&mut sink, text).await;
            if (i + 1) % BATCH == 0 {
                flush(&mut sink).await;
            }
        }
        flush(&mut sink).await;
    };
    let count = async {
        let mut synced = 0;
        while synced < n {
            if next_text(&mut stream, "@synced replies")
                .await
                .starts_with("@synced")
            {
                synced += 1;
            }
        }
        start.elapsed()
    };
    let ((), elapsed) = tokio::join!(send, count);
    let socket = sink
        .reunite(stream)
        .expect("the halves of one socket reunite");
    (elapsed, socket)
}

/// Scenario 4: round trips command -> event, with and without `TCP_NODELAY` on the client.
async fn scenario_latency(counts: Counts, tidal: SocketAddr, baseline: SocketAddr) {
    let r = counts.round_trips;
    println!();
    println!(
        "== 4. round-trip latency: {r} times (after {WARM_UP} untimed) send a command to a linked \
         value lane, wait for its event =="
    );
    let mut next_base = 0i32;
    for nodelay in [true, false] {
        let mut p50 = [Samples::default(), Samples::default()];
        let mut p99 = [Samples::default(), Samples::default()];
        let mut max = [Samples::default(), Samples::default()];
        let mut stalls = [Samples::default(), Samples::default()];
        for run in 0..counts.runs {
            for (side, addr) in [tidal, baseline].into_iter().enumerate() {
                let mut times = within(
                    SCENARIO_LIMIT,
                    format!("scenario 4 ({}, nodelay {nodelay}, run {run})", SIDES[side]),
                    round_trips(addr, "/unit/r", nodelay, next_base, r),
                )
                .await;
                next_base += (r + WARM_UP) as i32;
                times.sort_unstable();
                let micros = |d: Duration| d.as_secs_f64() * 1e6;
                p50[side].push(micros(percentile(&times, 0.50)));
                p99[side].push(micros(percentile(&times, 0.99)));
                max[side].push(micros(*times.last().expect("round trips")));
                stalls[side].push(times.iter().filter(|t| **t >= STALL).count() as f64);
            }
        }
        println!();
        println!(
            "  client socket {} TCP_NODELAY (server side always sets it)",
            if nodelay { "WITH" } else { "WITHOUT" }
        );
        header();
        row("p50 (lower is better)", &p50, Show::Micros, "~140 µs");
        row("p99", &p99, Show::Micros, "~210-460 µs");
        row("max", &max, Show::Micros, "n/a");
        row(
            &format!("stalls >= {} ms (of {r})", STALL.as_millis()),
            &stalls,
            Show::Count,
            "n/a",
        );
    }
}

/// One run of scenario 4: the timed round trips.
async fn round_trips(
    addr: SocketAddr,
    node: &str,
    nodelay: bool,
    base: i32,
    n: usize,
) -> Vec<Duration> {
    let mut socket = connect(addr, nodelay).await;
    link(&mut socket, node).await;
    let mut times = Vec::with_capacity(n);
    for i in 0..(WARM_UP + n) {
        let value = base + i as i32 + 1;
        let start = Instant::now();
        send(
            &mut socket,
            format!(r#"@command(node:"{node}",lane:value) {value}"#),
        )
        .await;
        within(
            REPLY_LIMIT,
            format!("the event for round trip {i} (value {value})"),
            async {
                while body_int(&next_text(&mut socket, "round-trip events").await)
                    != Some(i64::from(value))
                {}
            },
        )
        .await;
        if i >= WARM_UP {
            times.push(start.elapsed());
        }
    }
    times
}

/// Scenario 5: the node every follower links to (on server A).
const FOLLOWED: &str = "/unit/f";
/// Scenario 5: how long the followers may take to sync, or to see the last value.
const FOLLOW_LIMIT: Duration = Duration::from_secs(30);
/// Scenario 5: how long a server may take to stop.
const STOP_LIMIT: Duration = Duration::from_secs(30);

/// Scenario 5: an agent following `/unit/f` lane `value` through a value downlink.
#[projections]
#[derive(AgentLaneModel)]
pub struct Follower {
    /// The latest value its downlink delivered.
    seen: ValueLane<i32>,
}

/// The lifecycle of [`Follower`].
pub struct FollowerLifecycle {
    /// The host of the followed lane (`ws://...`); `None`: this server.
    host: Option<String>,
    tally: Arc<Tally>,
    /// The downlink's handle (dropping it would stop the downlink).
    handle: State<Follower, Option<ValueDownlinkHandle<i32>>>,
}

#[lifecycle(Follower)]
impl FollowerLifecycle {
    #[on_start]
    fn start(&self, context: HandlerContext<Follower>) -> impl EventHandler<Follower> + '_ {
        let (on_synced, on_event) = (self.tally.clone(), self.tally.clone());
        context
            .value_downlink_builder::<i32>(
                self.host.as_deref(),
                FOLLOWED,
                "value",
                SimpleDownlinkConfig::default(),
            )
            .on_synced(move |context, _| {
                let tally = on_synced.clone();
                context.effect(move || tally.count(&tally.synced))
            })
            .on_event(move |context, value| {
                let (value, tally) = (*value, on_event.clone());
                context.get_value(Follower::SEEN).and_then(move |previous| {
                    context
                        .set_value(Follower::SEEN, value)
                        .followed_by(context.effect(move || tally.event(previous, value)))
                })
            })
            .done()
            .and_then(move |handle| self.handle.set(Some(handle)))
    }
}

/// What the followers of one run of scenario 5 saw, counted by all of them.
struct Tally {
    followers: usize,
    /// The last value sent to the followed lane.
    last: i32,
    /// `on_synced` calls: one per follower (more if a downlink had to sync again).
    synced: AtomicUsize,
    /// Followers that have seen `last`.
    reached: AtomicUsize,
    /// `on_event` calls.
    events: AtomicU64,
    /// Events whose value was not above the follower's previous one (must stay 0).
    backwards: AtomicU64,
    /// Woken when `synced` or `reached` gets to `followers`.
    complete: Notify,
}

impl Tally {
    fn new(followers: usize, last: i32) -> Self {
        Tally {
            followers,
            last,
            synced: AtomicUsize::new(0),
            reached: AtomicUsize::new(0),
            events: AtomicU64::new(0),
            backwards: AtomicU64::new(0),
            complete: Notify::new(),
        }
    }

    /// Counts one follower in `counter`; the last one wakes the waiter.
    fn count(&self, counter: &AtomicUsize) {
        if counter.fetch_add(1, Ordering::AcqRel) + 1 == self.followers {
            self.complete.notify_one();
        }
    }

    fn event(&self, previous: i32, value: i32) {
        self.events.fetch_add(1, Ordering::Relaxed);
        if value <= previous {
            self.backwards.fetch_add(1, Ordering::Relaxed);
        }
        if value == self.last {
            self.count(&self.reached);
        }
    }

    /// Waits until every follower is counted in `counter` (woken by the last one, no polling).
    async fn wait_all(&self, counter: &AtomicUsize, what: &str) {
        let all = async {
            while counter.load(Ordering::Acquire) < self.followers {
                self.complete.notified().await;
            }
        };
        if tokio::time::timeout(FOLLOW_LIMIT, all).await.is_err() {
            panic!(
                "timed out after {FOLLOW_LIMIT:?} waiting for {what}: {} of {} followers got there",
                counter.load(Ordering::Acquire),
                self.followers
            );
        }
    }
}

/// The follower agents, following `/unit/f` on `host` (`None`: on their own server).
fn follower_model(
    host: Option<String>,
    tally: Arc<Tally>,
) -> AgentModel<Follower, FollowerLifecycle> {
    AgentModel::from_fn(Follower::default, move || FollowerLifecycle {
        host: host.clone(),
        tally: tally.clone(),
        handle: State::default(),
    })
}

/// A tidal server of scenario 5, running on the server runtime.
struct Serving {
    handle: Arc<ServerHandle>,
    task: JoinHandle<Result<(), ServerError>>,
}

impl Serving {
    /// Builds and runs a server on the server runtime.
    async fn start(server: &Handle, builder: ServerBuilder) -> Serving {
        let (handle, task) = server
            .spawn(async move {
                let server = builder.build().await.expect("a scenario 5 server builds");
                let (task, handle) = server.run();
                (handle, tokio::spawn(task))
            })
            .await
            .expect("building a scenario 5 server panicked");
        Serving {
            handle: Arc::new(handle),
            task,
        }
    }

    /// Starts the agent `node` (on the server runtime, where its task must run).
    async fn start_agents(&self, server: &Handle, nodes: Vec<String>) {
        let handle = self.handle.clone();
        let count = nodes.len();
        let starting = server.spawn(async move {
            for node in nodes {
                handle
                    .start_agent(&node)
                    .await
                    .unwrap_or_else(|err| panic!("cannot start {node}: {err}"));
            }
        });
        within(REPLY_LIMIT, format!("{count} agents to start"), starting)
            .await
            .expect("starting the agents panicked");
    }

    async fn stop(self, name: &str) {
        self.handle.stop();
        within(STOP_LIMIT, format!("server {name} to stop"), self.task)
            .await
            .unwrap_or_else(|err| panic!("server {name} panicked: {err}"))
            .unwrap_or_else(|err| panic!("server {name} failed: {err}"));
    }
}

/// The figures of one run of scenario 5.
struct FollowRun {
    startup: Duration,
    update: Duration,
    events: u64,
    backwards: u64,
    /// `on_synced` calls beyond one per follower.
    resyncs: u64,
    /// WARP connections open at server A once the followers are synced.
    connections: usize,
    /// Tasks still alive on the server runtime after both servers stopped, beyond those
    /// alive before the run.
    tasks_left: i64,
}

/// Scenario 5: remote fan-out, agent to agent across two servers, against the same followers
/// on the followed lane's own server.
async fn scenario_remote_fanout(counts: Counts, server: &Handle) {
    let (f, u) = (counts.followers, counts.follower_updates);
    println!();
    println!(
        "== 5. remote fan-out, agent to agent: {f} follower agents on server B, each with a value \
         downlink to {FOLLOWED} lane value on server A (all over one WebSocket); {u} updates sent \
         to A by a WARP client; at most {} events. Compared with the same followers on A itself \
         (host None: same code path minus the network). A and B share the server runtime's \
         worker ==",
        f as u64 * u as u64
    );
    const KINDS: [&str; 2] = ["remote", "local"];
    let mut startup = [Samples::default(), Samples::default()];
    let mut rates = [Samples::default(), Samples::default()];
    let mut update = [Samples::default(), Samples::default()];
    let mut events = [Samples::default(), Samples::default()];
    let mut event_rates = [Samples::default(), Samples::default()];
    let mut backwards = [Samples::default(), Samples::default()];
    let mut resyncs = [Samples::default(), Samples::default()];
    let mut connections = [Samples::default(), Samples::default()];
    let mut tasks_left = [Samples::default(), Samples::default()];
    for run in 0..counts.runs {
        for (side, remote) in [true, false].into_iter().enumerate() {
            let result = within(
                SCENARIO_LIMIT,
                format!("scenario 5 ({}, run {run})", KINDS[side]),
                follow(server, remote, f, u),
            )
            .await;
            startup[side].push(result.startup.as_secs_f64());
            rates[side].push(f as f64 / result.startup.as_secs_f64());
            update[side].push(result.update.as_secs_f64());
            events[side].push(result.events as f64);
            event_rates[side].push(result.events as f64 / result.update.as_secs_f64());
            backwards[side].push(result.backwards as f64);
            resyncs[side].push(result.resyncs as f64);
            connections[side].push(result.connections as f64);
            tasks_left[side].push(result.tasks_left as f64);
        }
    }
    header_with("remote (B -> A)", "local (on A)", "remote/local");
    row(
        "start-up: all followers linked and synced",
        &startup,
        Show::Millis,
        "n/a",
    );
    row("followers synced/s", &rates, Show::Rate, "n/a");
    row(
        "time until every follower has the last value",
        &update,
        Show::Millis,
        "n/a",
    );
    row(
        "events delivered to on_event (all followers)",
        &events,
        Show::Count,
        "n/a",
    );
    row("on_event calls/s", &event_rates, Show::Rate, "n/a");
    row(
        "events out of order (must be 0)",
        &backwards,
        Show::Count,
        "n/a",
    );
    row(
        "extra on_synced calls (must be 0)",
        &resyncs,
        Show::Count,
        "n/a",
    );
    row(
        "WARP connections at A after start-up (1 | 0)",
        &connections,
        Show::Count,
        "n/a",
    );
    row(
        "server-runtime tasks left after stop",
        &tasks_left,
        Show::Count,
        "n/a",
    );
}

/// One run of scenario 5, with fresh servers: the followers on B linking to A (`remote`) or
/// on A itself.
async fn follow(server: &Handle, remote: bool, followers: usize, updates: i32) -> FollowRun {
    let tasks_before = server.metrics().num_alive_tasks();
    let tally = Arc::new(Tally::new(followers, updates));
    let mut a = ServerBuilder::with_plane_name("follow-a")
        .set_bind_addr("127.0.0.1:0".parse().unwrap())
        .add_route(
            RoutePattern::parse_str("/unit/:id").unwrap(),
            AgentModel::new(Unit::default, UnitLifecycle),
        );
    if !remote {
        a = a.add_route(
            RoutePattern::parse_str("/follower/:id").unwrap(),
            follower_model(None, tally.clone()),
        );
    }
    let a = Serving::start(server, a).await;
    let addr = a.handle.bound_addr().await.expect("server A is bound");
    let b = if remote {
        let b = ServerBuilder::with_plane_name("follow-b").add_route(
            RoutePattern::parse_str("/follower/:id").unwrap(),
            follower_model(Some(format!("ws://{addr}")), tally.clone()),
        );
        Some(Serving::start(server, b).await)
    } else {
        None
    };
    // The followed agent runs before the clock starts, in both cases.
    a.start_agents(server, vec![FOLLOWED.to_owned()]).await;

    let start = Instant::now();
    let nodes = (0..followers).map(|i| format!("/follower/{i}")).collect();
    b.as_ref().unwrap_or(&a).start_agents(server, nodes).await;
    tally
        .wait_all(&tally.synced, "the followers to link and sync")
        .await;
    let startup = start.elapsed();
    let connections = a.handle.open_connections();
    assert_eq!(
        connections,
        usize::from(remote),
        "WARP connections open at server A once the {followers} followers are synced \
         (remote: {remote})"
    );

    let mut sender = connect(addr, true).await;
    let start = Instant::now();
    for i in 1..=updates {
        feed(
            &mut sender,
            format!(r#"@command(node:"{FOLLOWED}",lane:value) {i}"#),
        )
        .await;
        if i % BATCH == 0 {
            flush(&mut sender).await;
        }
    }
    flush(&mut sender).await;
    tally
        .wait_all(
            &tally.reached,
            &format!("every follower to see the last value ({updates})"),
        )
        .await;
    let update = start.elapsed();

    drop(sender);
    if let Some(b) = b {
        b.stop("B").await;
    }
    a.stop("A").await;
    FollowRun {
        startup,
        update,
        events: tally.events.load(Ordering::Acquire),
        backwards: tally.backwards.load(Ordering::Acquire),
        resyncs: (tally.synced.load(Ordering::Acquire) - followers) as u64,
        connections,
        tasks_left: server.metrics().num_alive_tasks() as i64 - tasks_before as i64,
    }
}

// ----------------------------------------------------------------------------------------------
// The baseline server
// ----------------------------------------------------------------------------------------------

/// What a baseline server does with a text frame that is not a link.
#[derive(Clone, Copy)]
enum Mode {
    /// Scenario 1: count it and publish it as the latest value to the subscribers.
    Coalesce,
    /// Scenario 2: send it to every subscriber.
    Broadcast,
    /// Scenario 4: send it back.
    Echo,
}

/// State shared by the connections of one baseline server.
struct Shared {
    mode: Mode,
    /// Text frames received that were not links.
    received: AtomicU64,
    latest: watch::Sender<Utf8Bytes>,
    all: broadcast::Sender<Utf8Bytes>,
}

/// Starts a baseline server on the current runtime; returns its address.
async fn baseline_server(mode: Mode) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("the baseline binds");
    let addr = listener.local_addr().expect("a bound address");
    let shared = Arc::new(Shared {
        mode,
        received: AtomicU64::new(0),
        latest: watch::channel(Utf8Bytes::from_static("")).0,
        all: broadcast::channel(1024).0,
    });
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(baseline_connection(stream, shared.clone()));
        }
    });
    addr
}

/// A subscription of a baseline connection.
enum Subscription {
    None,
    Latest(watch::Receiver<Utf8Bytes>),
    All(broadcast::Receiver<Utf8Bytes>),
}

async fn baseline_connection(stream: TcpStream, shared: Arc<Shared>) {
    let Ok(socket) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (mut sink, mut stream) = socket.split();
    let mut subscription = Subscription::None;
    loop {
        let result: Result<(), WsError> = tokio::select! {
            message = stream.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    if text.starts_with("@link") || text.starts_with("@sync") {
                        subscription = match shared.mode {
                            Mode::Coalesce => Subscription::Latest(shared.latest.subscribe()),
                            Mode::Broadcast => Subscription::All(shared.all.subscribe()),
                            Mode::Echo => Subscription::None,
                        };
                        sink.send(Message::text("@linked")).await
                    } else {
                        shared.received.fetch_add(1, Ordering::Relaxed);
                        match shared.mode {
                            Mode::Coalesce => {
                                shared.latest.send_replace(text);
                                Ok(())
                            }
                            Mode::Broadcast => {
                                let _ = shared.all.send(text);
                                Ok(())
                            }
                            Mode::Echo => sink.send(Message::Text(text)).await,
                        }
                    }
                }
                Some(Ok(_)) => Ok(()),
                None | Some(Err(_)) => break,
            },
            out = subscribed(&mut subscription) => match out {
                Some(text) => write_all_ready(&mut sink, &mut subscription, text).await,
                None => break,
            },
        };
        if result.is_err() {
            break;
        }
    }
}

/// The next frame to write to a subscribed connection: the latest value (`Latest`) or the next
/// frame broadcast, skipping what it lagged behind on (`All`). Never ready without a
/// subscription; `None` when the server's channel is gone.
async fn subscribed(subscription: &mut Subscription) -> Option<Utf8Bytes> {
    match subscription {
        Subscription::Latest(receiver) => {
            receiver.changed().await.ok()?;
            Some(receiver.borrow_and_update().clone())
        }
        Subscription::All(receiver) => loop {
            match receiver.recv().await {
                Ok(text) => return Some(text),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        },
        Subscription::None => std::future::pending().await,
    }
}

/// Writes `first` and (broadcast) everything else already sent, then flushes once.
async fn write_all_ready<S>(
    sink: &mut S,
    subscription: &mut Subscription,
    first: Utf8Bytes,
) -> Result<(), WsError>
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    sink.feed(Message::Text(first)).await?;
    if let Subscription::All(receiver) = subscription {
        loop {
            match receiver.try_recv() {
                Ok(text) => sink.feed(Message::Text(text)).await?,
                Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                Err(_) => break,
            }
        }
    }
    sink.flush().await
}

// ----------------------------------------------------------------------------------------------
// Client helpers
// ----------------------------------------------------------------------------------------------

/// Panics with a message saying what was awaited if `future` takes longer than `limit`.
async fn within<T>(limit: Duration, what: impl Display, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {limit:?} waiting for {what}"),
    }
}

/// A WebSocket connection to `addr`, with or without `TCP_NODELAY` on the client socket.
async fn connect(addr: SocketAddr, nodelay: bool) -> Client {
    within(CONNECT_LIMIT, format!("a connection to {addr}"), async {
        let stream = TcpStream::connect(addr)
            .await
            .unwrap_or_else(|err| panic!("cannot connect to {addr}: {err}"));
        stream.set_nodelay(nodelay).expect("TCP_NODELAY can be set");
        let config = WebSocketConfig::default().read_buffer_size(CLIENT_READ_BUFFER);
        let mut request = format!("ws://{addr}/")
            .into_client_request()
            .expect("a WebSocket URL");
        if swimos() == Some(addr) {
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
async fn link(socket: &mut Client, node: &str) {
    send(socket, format!(r#"@link(node:"{node}",lane:value)"#)).await;
    wait_linked(socket).await;
}

async fn wait_linked(socket: &mut Client) {
    within(REPLY_LIMIT, "@linked", async {
        while !next_text(socket, "@linked").await.starts_with("@linked") {}
    })
    .await;
}

async fn send<S>(sink: &mut S, text: String)
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    sink.send(Message::text(text))
        .await
        .unwrap_or_else(|err| panic!("sending a frame failed: {err}"));
}

async fn feed<S>(sink: &mut S, text: String)
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    sink.feed(Message::text(text))
        .await
        .unwrap_or_else(|err| panic!("sending a frame failed: {err}"));
}

async fn flush<S>(sink: &mut S)
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    sink.flush()
        .await
        .unwrap_or_else(|err| panic!("flushing frames failed: {err}"));
}

/// The next text frame (callers bound the wait); panics if the connection ends.
async fn next_text<S>(stream: &mut S, what: &str) -> Utf8Bytes
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
struct Seen {
    events: u64,
    backwards: u64,
    previous: Option<i64>,
}

impl Seen {
    fn record(&mut self, value: i64) {
        self.events += 1;
        if self.previous.is_some_and(|previous| value <= previous) {
            self.backwards += 1;
        }
        self.previous = Some(value);
    }
}

/// The integer at the end of a frame (`@event(...) 5` or the baseline's echoed `@command(...) 5`).
fn body_int(text: &str) -> Option<i64> {
    text.rsplit_once(' ')?.1.parse().ok()
}

/// This process's resident set, in KiB.
fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line")
}

// ----------------------------------------------------------------------------------------------
// Figures
// ----------------------------------------------------------------------------------------------

const SIDES: [&str; 2] = ["tidal", "baseline"];

/// The figures of one metric over the runs.
#[derive(Default, Clone)]
struct Samples(Vec<f64>);

impl Samples {
    fn push(&mut self, value: f64) {
        self.0.push(value);
    }

    fn sorted(&self) -> Vec<f64> {
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        sorted
    }

    fn median(&self) -> Option<f64> {
        let sorted = self.sorted();
        match sorted.len() {
            0 => None,
            n if n % 2 == 1 => Some(sorted[n / 2]),
            n => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
        }
    }

    fn show(&self, unit: Show) -> String {
        let sorted = self.sorted();
        match (self.median(), sorted.first(), sorted.last()) {
            (Some(median), Some(min), Some(max)) => format!(
                "{} [{}–{}]",
                unit.show(median),
                unit.show(*min),
                unit.show(*max)
            ),
            _ => "n/a".to_owned(),
        }
    }
}

/// How a figure is shown.
#[derive(Clone, Copy)]
enum Show {
    Rate,
    Seconds,
    /// Seconds, shown in milliseconds.
    Millis,
    Micros,
    Count,
    KiB,
}

impl Show {
    fn show(self, value: f64) -> String {
        match self {
            Show::Rate if value >= 1e6 => format!("{:.2}M/s", value / 1e6),
            Show::Rate => format!("{:.1}k/s", value / 1e3),
            Show::Seconds => format!("{value:.3} s"),
            Show::Millis => format!("{:.2} ms", value * 1e3),
            Show::Micros => format!("{value:.0} µs"),
            Show::Count => format!("{value:.0}"),
            Show::KiB => format!("{value:.1} KiB"),
        }
    }
}

fn header() {
    header_with("tidal", "baseline", "ratio");
}

/// The column titles: the two sides compared, and their ratio.
fn header_with(first: &str, second: &str, ratio: &str) {
    println!(
        "  {:<44} {:<34} {:<34} {:<8} anchor (SwimOS 0.1.1, fixed)",
        "", first, second, ratio
    );
}

fn row(label: &str, samples: &[Samples; 2], unit: Show, anchor: &str) {
    let ratio = match (samples[0].median(), samples[1].median()) {
        (Some(tidal), Some(baseline)) if baseline != 0.0 => format!("{:.2}x", tidal / baseline),
        _ => "n/a".to_owned(),
    };
    println!(
        "  {:<44} {:<34} {:<34} {:<8} {}",
        label,
        samples[0].show(unit),
        samples[1].show(unit),
        ratio,
        anchor
    );
}

/// The `q` quantile of sorted durations (nearest rank).
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}
