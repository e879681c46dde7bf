//! Scenario 8: tidal and a real SwimOS server side by side, measured in the same run.
//!
//! Runs when `WARP_LOAD_SWIMOS_BIN` names the binary of `interop/swimos-server` (swim-rust
//! 0.1.1, built by `bash scripts/swimos-server.sh --release`). The bench starts it as a child
//! process on a free loopback port, reads its resident set from `/proc/<pid>/status`, and kills
//! it by its PID at the end. Its agent `/source/:id` has the value lane `value` (i64) that the
//! scenarios use, as tidal's `/unit/:id` has.
//!
//! The set-ups differ in one way that matters: SwimOS's binary runs on `#[tokio::main]`, a
//! runtime with a worker thread per core (2 here), while tidal's server gets one worker thread
//! in this bench. tidal's RSS growth is this whole process's (server and load generator; the
//! client keeps only counters), SwimOS's is its own process's.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use crate::client::{rss_kib_of, vm_rss_kib};
use crate::commands::command_throughput;
use crate::fanout::fanout;
use crate::latency::round_trips;
use crate::report::{header_with, percentile, row, Samples, Show};
use crate::sync::sync_agents;
use crate::{client::within, Counts, SCENARIO_LIMIT};

/// Agents activated per run: SwimOS keeps ~200 KiB per agent and every run's agents stay, so
/// fewer than scenario 3's 10,000.
const SIDE_AGENTS: i32 = 2_000;
/// Round trips timed per run: SwimOS's take ~44 ms each here (see the README), so fewer than
/// scenario 4's 5,000.
const SIDE_ROUND_TRIPS: usize = 200;

/// The address of the SwimOS server, once started (its clients must offer `warp0`).
static ADDRESS: OnceLock<SocketAddr> = OnceLock::new();

/// Whether `addr` is the SwimOS server's.
pub(crate) fn is_swimos(addr: SocketAddr) -> bool {
    ADDRESS.get() == Some(&addr)
}

/// A SwimOS server started by the bench, killed (by its PID) when dropped.
pub(crate) struct SwimOs {
    child: Child,
    addr: SocketAddr,
}

impl SwimOs {
    /// Starts the SwimOS server of `WARP_LOAD_SWIMOS_BIN`, if that is set.
    ///
    /// # Panics
    /// If the binary does not start or does not report its address.
    pub(crate) fn start() -> Option<SwimOs> {
        let bin = std::env::var("WARP_LOAD_SWIMOS_BIN").ok()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port")
            .port();
        let mut child = Command::new(&bin)
            .arg(port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("WARP_LOAD_SWIMOS_BIN={bin} does not start: {err}"));
        let stdout = child.stdout.take().expect("the child's stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the SwimOS server's first line");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("the SwimOS server said {line:?}, not its address"));
        ADDRESS.set(addr).expect("one SwimOS server per bench run");
        Some(SwimOs { child, addr })
    }

    /// Its resident set, in KiB.
    fn rss_kib(&self) -> u64 {
        rss_kib_of(&self.child.id().to_string())
    }
}

impl Drop for SwimOs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Scenario 8: scenarios 1 to 4 against tidal and SwimOS, alternating.
pub(crate) async fn scenario_swimos(counts: Counts, tidal: SocketAddr, swimos: &SwimOs) {
    let (c, f, u) = (
        counts.commands,
        counts.fanout_clients,
        counts.fanout_updates,
    );
    let n = counts.agents.min(SIDE_AGENTS);
    let r = counts.round_trips.min(SIDE_ROUND_TRIPS);
    println!();
    println!(
        "== 8. side by side with SwimOS 0.1.1 (its own process at {}, 2 worker threads; tidal: \
         1 worker thread), {} runs each, alternating ==",
        swimos.addr, counts.runs
    );
    let mut rates = [Samples::default(), Samples::default()];
    let mut fanout_times = [Samples::default(), Samples::default()];
    let mut fanout_rates = [Samples::default(), Samples::default()];
    let mut sync_times = [Samples::default(), Samples::default()];
    let mut rss = [Samples::default(), Samples::default()];
    let mut p50 = [Samples::default(), Samples::default()];
    let mut p99 = [Samples::default(), Samples::default()];
    let mut kept = Vec::new();
    let sides = [
        (tidal, "tidal", "/unit"),
        (swimos.addr, "SwimOS", "/source"),
    ];
    for run in 0..counts.runs {
        for (side, &(addr, name, route)) in sides.iter().enumerate() {
            let base = 100_000_000 + run as i32 * c;
            let (elapsed, _) = within(
                SCENARIO_LIMIT,
                format!("scenario 8 commands ({name}, run {run})"),
                command_throughput(addr, &format!("{route}/t8"), base, c),
            )
            .await;
            rates[side].push(f64::from(c) / elapsed.as_secs_f64());

            let base = 200_000_000 + run as i32 * u;
            let node: &'static str = if side == 0 { "/unit/f8" } else { "/source/f8" };
            let (elapsed, seen) = within(
                SCENARIO_LIMIT,
                format!("scenario 8 fan-out ({name}, run {run})"),
                fanout(addr, node, f, base, u),
            )
            .await;
            let events: u64 = seen.iter().map(|seen| seen.events).sum();
            fanout_times[side].push(elapsed.as_secs_f64());
            fanout_rates[side].push(events as f64 / elapsed.as_secs_f64());

            let rss_of = |side: usize| {
                if side == 0 {
                    vm_rss_kib()
                } else {
                    swimos.rss_kib()
                }
            };
            let before = rss_of(side);
            let (elapsed, socket) = within(
                SCENARIO_LIMIT,
                format!("scenario 8 activation ({name}, run {run})"),
                sync_agents(addr, &format!("{route}/a8-"), run as i32 * n, n),
            )
            .await;
            let after = rss_of(side);
            kept.push(socket);
            sync_times[side].push(elapsed.as_secs_f64());
            rss[side].push((after as f64 - before as f64) / f64::from(n));

            let base = 300_000_000 + run as i32 * 100_000;
            let mut times = within(
                SCENARIO_LIMIT,
                format!("scenario 8 round trips ({name}, run {run})"),
                round_trips(addr, &format!("{route}/r8"), true, base, r),
            )
            .await;
            times.sort();
            p50[side].push(percentile(&times, 0.50).as_secs_f64() * 1e6);
            p99[side].push(percentile(&times, 0.99).as_secs_f64() * 1e6);
        }
    }
    header_with("tidal", "SwimOS (measured here)", "tidal/SwimOS");
    row(
        "commands/s into one value lane",
        &rates,
        Show::Rate,
        "~104k/s",
    );
    row(
        &format!("fan-out to {f}: time to the last of {u}"),
        &fanout_times,
        Show::Seconds,
        "~2.6 s",
    );
    row(
        "fan-out: events delivered/s",
        &fanout_rates,
        Show::Rate,
        "~380k/s",
    );
    row(
        &format!("activate and sync {n} agents"),
        &sync_times,
        Show::Seconds,
        "~3.3 s",
    );
    row("RSS growth per agent", &rss, Show::KiB, "~232 KB");
    row(
        &format!("round trip p50 (of {r})"),
        &p50,
        Show::Micros,
        "~140 µs",
    );
    row("round trip p99", &p99, Show::Micros, "~210-460 µs");
    drop(kept);
}
