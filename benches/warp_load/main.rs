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
//! from `shared/reference/warp.md` and the issue. Scenario 8 measures a real SwimOS server side
//! by side instead: `WARP_LOAD_SWIMOS_BIN="$(bash scripts/swimos-server.sh --release)"`.
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
//! 6. **Introspection and metrics, on against off.** Scenarios 1 and 2 against a second tidal
//!    server built with `enable_introspection()` and `enable_metrics()`, alternating with the
//!    plain one; a client watches the host's pulse throughout and `/metrics` is scraped after
//!    each run. The ratio column is on/off.
//!
//! 7. **Scaling** (see [`scaling`]): agents activated and synced at 1,000, 10,000 and 100,000
//!    (each size in a fresh process: the bench runs itself with `WARP_LOAD_CHILD=agents:<n>`);
//!    fan-out to 1, 10, 100 and 1,000 subscribers; map lanes of 10, 1,000 and 100,000 entries
//!    (sync per entry, update per update); the server on 1 worker thread against 2.
//! 8. **Side by side with SwimOS** (see [`swimos`]; only with `WARP_LOAD_SWIMOS_BIN`): scenarios
//!    1 to 4 against tidal and a real SwimOS server, alternating, with SwimOS's own RSS.
//!
//! Every wait has a timeout whose message says what was awaited; the bench never sleeps.
//!
//! [`Follower`]: remote_fanout::Follower

mod baseline;
mod client;
mod commands;
mod fanout;
mod latency;
mod observed;
mod remote_fanout;
mod report;
mod scaling;
mod swimos;
mod sync;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tidal::agent::{
    agent_lifecycle::HandlerContext,
    agent_model::AgentModel,
    event_handler::{EventHandler, HandlerActionExt},
    lanes::{CommandLane, MapLane, ValueLane},
    lifecycle, projections, AgentLaneModel,
};
use tidal::route::RoutePattern;
use tidal::server::ServerBuilder;
use tokio::net::TcpStream;
use tokio::runtime::{Handle, Runtime};
use tokio_tungstenite::WebSocketStream;

use baseline::{baseline_server, Mode};
use commands::scenario_commands;
use fanout::scenario_fanout;
use latency::scenario_latency;
use observed::scenario_observed;
use remote_fanout::scenario_remote_fanout;
use scaling::{scenario_scaling, Workers, TWO_WORKERS};
use swimos::{scenario_swimos, SwimOs};
use sync::scenario_sync;

/// The agent at `/unit/:id`, as in `tests/warp/main.rs`.
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

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let counts = if full { FULL } else { SMOKE };
    let started = Instant::now();
    let server_rt = runtime("server", 1);
    let client_rt = runtime("load", 1);

    let (tidal, tidal_addr) = server_rt.block_on(tidal_server(false));
    if let Ok(child) = std::env::var("WARP_LOAD_CHILD") {
        // A child of scenario 7: one measurement in a fresh process.
        let n = child
            .strip_prefix("agents:")
            .and_then(|n| n.parse().ok())
            .expect("WARP_LOAD_CHILD is agents:<n>");
        client_rt.block_on(scaling::child_agents(tidal_addr, n));
        return;
    }
    let (observed, observed_addr) = server_rt.block_on(tidal_server(true));
    let two_workers_rt = runtime(TWO_WORKERS, 2);
    let (two_workers, two_workers_addr) = two_workers_rt.block_on(tidal_server(false));
    let swimos = SwimOs::start();
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
            let servers = Servers {
                tidal: tidal_addr,
                observed: observed_addr,
                two_workers: two_workers_addr,
                baseline,
            };
            tokio::spawn(run_all(counts, servers, server_handle, full, swimos)).await
        })
        .expect("the scenarios ran (see the panic message above)");

    let servers = [
        (&server_rt, tidal),
        (&server_rt, observed),
        (&two_workers_rt, two_workers),
    ];
    for (runtime, (handle, task)) in servers {
        handle.stop();
        let stopped = runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(60), task)
                .await
                .is_ok()
        });
        if !stopped {
            println!("note: a tidal server did not stop within 60 s");
        }
    }
    println!("total wall time: {:.1} s", started.elapsed().as_secs_f64());
}

/// A tidal server serving `/unit/:id`, with introspection and metrics if `observed`.
async fn tidal_server(
    observed: bool,
) -> (
    (
        tidal::server::ServerHandle,
        tokio::task::JoinHandle<Result<(), tidal::server::ServerError>>,
    ),
    SocketAddr,
) {
    let mut builder = ServerBuilder::with_plane_name("warp-load")
        .set_bind_addr("127.0.0.1:0")
        .add_route(
            RoutePattern::parse_str("/unit/:id").unwrap(),
            AgentModel::new(Unit::default, UnitLifecycle),
        )
        // Scenario 7 links 1,000 subscribers, all from 127.0.0.1, and syncs 100,000 agents
        // over one connection.
        .update_config(|config| {
            config.endpoint.limits.max_connections_per_peer = 4_096;
            config.endpoint.limits.max_links_per_connection = 1_000_000;
        });
    if observed {
        builder = builder.enable_introspection().enable_metrics();
    }
    let server = builder.build().await.expect("the tidal server builds");
    let (task, handle) = server.run();
    let task = tokio::spawn(task);
    let addr = handle.bound_addr().expect("the server is bound");
    ((handle, task), addr)
}

fn runtime(name: &str, workers: usize) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
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

/// The servers the scenarios measure.
#[derive(Clone, Copy)]
struct Servers {
    tidal: SocketAddr,
    /// A tidal server with introspection and metrics (scenario 6).
    observed: SocketAddr,
    /// A tidal server on a runtime with 2 worker threads (scenario 7).
    two_workers: SocketAddr,
    baseline: Baselines,
}

async fn run_all(
    counts: Counts,
    servers: Servers,
    server: Handle,
    full: bool,
    swimos: Option<SwimOs>,
) {
    let Servers {
        tidal,
        observed,
        two_workers,
        baseline,
    } = servers;
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
    if selected("6") {
        scenario_observed(counts, observed, tidal).await;
    }
    if selected("7") {
        let workers = Workers {
            one: tidal,
            two: two_workers,
        };
        scenario_scaling(counts, workers, full).await;
    }
    if let Some(swimos) = swimos.filter(|_| selected("8")) {
        scenario_swimos(counts, tidal, &swimos).await;
    }
}
