//! Scenario 7: how cost grows with the size of the work.
//!
//! - **Agents**: `@sync` of 1,000, 10,000 and 100,000 fresh agents over one connection, each
//!   size in a fresh process (this bench run again with `WARP_LOAD_CHILD=agents:<n>`), so the
//!   resident set of one size is not memory freed by another. Time and RSS growth per agent.
//! - **Fan-out**: 1, 10, 100 and 1,000 connections linked to one value lane, 1,000 updates
//!   sent; time until every subscriber has the last value, and that time per subscriber.
//! - **Map lanes**: a map lane filled with 10, 1,000 and 100,000 entries (by the `add`
//!   command); time to `@sync` it (per entry), then 10,000 updates of the same 10 existing keys
//!   at every size with the syncing connection linked (per update: it must not grow with the
//!   map; the same keys, so that the link coalesces the same way at every size).
//! - **Worker threads**: scenario 1 and a 100-subscriber fan-out against a server on 1 worker
//!   thread and one on 2, alternating; with the CPU time the server's threads used per second
//!   of the run (`/proc/self/task/*/stat`), i.e. how many cores it kept busy.

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{body_int, connect, feed, flush, next_text, vm_rss_kib, within};
use crate::commands::command_throughput;
use crate::fanout::fanout;
use crate::report::{Samples, Show};
use crate::sync::sync_agents;
use crate::{Counts, BATCH, SCENARIO_LIMIT};

/// The sizes each part measures (the full run, and the smoke run).
struct Sizes {
    agents: &'static [i32],
    subscribers: &'static [usize],
    entries: &'static [i32],
    runs: usize,
}

const FULL_SIZES: Sizes = Sizes {
    agents: &[1_000, 10_000, 100_000],
    subscribers: &[1, 10, 100, 1_000],
    entries: &[10, 1_000, 100_000],
    runs: 3,
};

const SMOKE_SIZES: Sizes = Sizes {
    agents: &[100, 1_000],
    subscribers: &[1, 10],
    entries: &[10, 100],
    runs: 1,
};

/// Updates sent in the fan-out part.
const FANOUT_UPDATES: i32 = 1_000;
/// Updates timed in the map part.
const MAP_UPDATES: i32 = 10_000;
/// The keys the map part updates (`k0`..`k9`, in maps of every size).
const UPDATED_KEYS: i32 = 10;
/// Subscribers of the fan-out measured on 1 and 2 worker threads.
const WORKER_FANOUT: usize = 100;

/// The servers of scenario 7: the usual one (1 worker thread) and one on 2 worker threads.
#[derive(Clone, Copy)]
pub(crate) struct Workers {
    /// The server on the 1-worker runtime, whose threads are named `server`.
    pub(crate) one: SocketAddr,
    /// The server on the 2-worker runtime, whose threads are named [`TWO_WORKERS`].
    pub(crate) two: SocketAddr,
}

/// The thread name of the 2-worker server runtime.
pub(crate) const TWO_WORKERS: &str = "server-2w";

/// Scenario 7: the scaling table.
pub(crate) async fn scenario_scaling(counts: Counts, workers: Workers, full: bool) {
    let sizes = if full { &FULL_SIZES } else { &SMOKE_SIZES };
    println!();
    println!(
        "== 7. scaling: median [min–max] over {} runs per size ==",
        sizes.runs
    );
    agents(sizes, full).await;
    fan_out(sizes, workers.one).await;
    maps(sizes, workers.one).await;
    worker_threads(counts, sizes, workers).await;
}

/// Agents activated and synced, each size in a fresh process.
async fn agents(sizes: &Sizes, full: bool) {
    println!("  agents activated and synced over one connection (fresh process per run):");
    println!(
        "    {:>8}  {:<34} {:<34} {:<34}",
        "agents", "total time", "time per agent", "RSS growth per agent"
    );
    for &n in sizes.agents {
        let (mut total, mut per_agent, mut rss) = Default::default();
        for _ in 0..sizes.runs {
            let child = tokio::task::spawn_blocking(move || run_child(n, full))
                .await
                .expect("the child runner does not panic");
            record(&mut total, &mut per_agent, &mut rss, n, child);
        }
        println!(
            "    {n:>8}  {:<34} {:<34} {:<34}",
            total.show(Show::Seconds),
            per_agent.show(Show::Micros),
            rss.show(Show::KiB)
        );
    }
}

fn record(
    total: &mut Samples,
    per_agent: &mut Samples,
    rss: &mut Samples,
    n: i32,
    (seconds, rss_kib): (f64, f64),
) {
    total.push(seconds);
    per_agent.push(seconds * 1e6 / f64::from(n));
    rss.push(rss_kib / f64::from(n));
}

/// Runs this bench again as a child that syncs `n` agents; returns its time and RSS growth.
fn run_child(n: i32, full: bool) -> (f64, f64) {
    let exe = std::env::current_exe().expect("the bench's own path");
    let mut command = Command::new(exe);
    command.env("WARP_LOAD_CHILD", format!("agents:{n}"));
    if full {
        command.arg("--bench");
    }
    let output = command.output().expect("the child bench starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the child syncing {n} agents failed: {}{}",
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix("agents: "))
        .unwrap_or_else(|| panic!("the child printed no result: {stdout}"));
    let figures: Vec<f64> = line
        .split_whitespace()
        .map(|figure| figure.parse().expect("a number"))
        .collect();
    (figures[0], figures[1])
}

/// The child's part (`WARP_LOAD_CHILD=agents:<n>`): syncs `n` agents of the tidal server at
/// `tidal` and prints `agents: <seconds> <RSS growth in KiB>`.
pub(crate) async fn child_agents(tidal: SocketAddr, n: i32) {
    let before = vm_rss_kib();
    let (elapsed, socket) = within(
        SCENARIO_LIMIT,
        format!("{n} @synced replies"),
        sync_agents(tidal, "/unit/s", 0, n),
    )
    .await;
    let after = vm_rss_kib();
    println!(
        "agents: {} {}",
        elapsed.as_secs_f64(),
        after.saturating_sub(before)
    );
    drop(socket);
}

/// Fan-out to 1..1,000 subscribers.
async fn fan_out(sizes: &Sizes, tidal: SocketAddr) {
    println!(
        "  fan-out of one value lane, {FANOUT_UPDATES} updates: time until every subscriber has \
         the last value"
    );
    println!(
        "    {:>8}  {:<34} {:<34} {:<34}",
        "subs", "time to the last value", "per subscriber", "events delivered/s"
    );
    let mut base = 0;
    for &clients in sizes.subscribers {
        let (mut total, mut per, mut rates) = <(Samples, Samples, Samples)>::default();
        for run in 0..sizes.runs {
            base += FANOUT_UPDATES;
            let (elapsed, seen) = within(
                SCENARIO_LIMIT,
                format!("scaling fan-out to {clients} (run {run})"),
                fanout(tidal, "/unit/scale", clients, base, FANOUT_UPDATES),
            )
            .await;
            let events: u64 = seen.iter().map(|seen| seen.events).sum();
            total.push(elapsed.as_secs_f64());
            per.push(elapsed.as_secs_f64() * 1e6 / clients as f64);
            rates.push(events as f64 / elapsed.as_secs_f64());
        }
        println!(
            "    {clients:>8}  {:<34} {:<34} {:<34}",
            total.show(Show::Seconds),
            per.show(Show::Micros),
            rates.show(Show::Rate)
        );
    }
}

/// Map lanes of 10..100,000 entries: sync per entry and update per update.
async fn maps(sizes: &Sizes, tidal: SocketAddr) {
    println!(
        "  map lanes: @sync of the whole map, then {MAP_UPDATES} updates of the same 10 existing \
         keys with the map linked"
    );
    println!(
        "    {:>8}  {:<34} {:<34} {:<34}",
        "entries", "sync time", "sync per entry", "per update (with a subscriber)"
    );
    for &entries in sizes.entries {
        let node = format!("/unit/map{entries}");
        fill(tidal, &node, entries).await;
        let (mut total, mut per_entry, mut per_update) = <(Samples, Samples, Samples)>::default();
        for run in 0..sizes.runs {
            let (synced, updated) = within(
                SCENARIO_LIMIT,
                format!("scaling map of {entries} (run {run})"),
                sync_and_update(tidal, &node, run as i32),
            )
            .await;
            total.push(synced.as_secs_f64());
            per_entry.push(synced.as_secs_f64() * 1e6 / f64::from(entries));
            per_update.push(updated.as_secs_f64() * 1e6 / f64::from(MAP_UPDATES));
        }
        println!(
            "    {entries:>8}  {:<34} {:<34} {:<34}",
            total.show(Show::Millis),
            per_entry.show(Show::Micros),
            per_update.show(Show::Micros)
        );
    }
}

/// Puts `k0..k<entries>` into the map of `node` and waits until the agent has applied them.
async fn fill(addr: SocketAddr, node: &str, entries: i32) {
    let mut socket = connect(addr, true).await;
    send_adds(&mut socket, node, 0..entries).await;
    // The agent handles one connection's envelopes in order: once the value lane syncs with
    // the last value, every entry is in.
    feed(&mut socket, format!(r#"@sync(node:"{node}",lane:value)"#)).await;
    flush(&mut socket).await;
    within(SCENARIO_LIMIT, format!("filling {node}"), async {
        while !next_text(&mut socket, "the fill's sync")
            .await
            .starts_with("@synced")
        {}
    })
    .await;
}

/// Syncs the map of `node` (timed), then sends updates of existing keys and a last one with a
/// new value (timed until the linked connection sees it).
async fn sync_and_update(addr: SocketAddr, node: &str, run: i32) -> (Duration, Duration) {
    let socket = connect(addr, true).await;
    let (mut sink, mut stream) = socket.split();
    let start = Instant::now();
    feed(&mut sink, format!(r#"@sync(node:"{node}",lane:map)"#)).await;
    flush(&mut sink).await;
    while !next_text(&mut stream, "the map's sync")
        .await
        .starts_with("@synced")
    {}
    let synced = start.elapsed();
    // A marker value no key of the fill has: its event ends the timing.
    let marker = 1_000_000_000 + run;
    let start = Instant::now();
    let updates = (0..MAP_UPDATES - 1).map(|i| i % UPDATED_KEYS);
    let send = send_adds(&mut sink, node, updates.chain([marker]));
    let watch = async {
        while body_int(&next_text(&mut stream, "map updates").await) != Some(i64::from(marker)) {}
    };
    tokio::join!(send, watch);
    (synced, start.elapsed())
}

/// Sends `add n` to `node` for each `n` (flushing every [`BATCH`] and at the end).
async fn send_adds<S>(sink: &mut S, node: &str, values: impl Iterator<Item = i32>)
where
    S: futures::Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
{
    for (i, n) in values.enumerate() {
        feed(sink, format!(r#"@command(node:"{node}",lane:add) {n}"#)).await;
        if (i + 1) % BATCH as usize == 0 {
            flush(sink).await;
        }
    }
    flush(sink).await;
}

/// 1 worker thread against 2: throughput, fan-out and the cores the server kept busy.
async fn worker_threads(counts: Counts, sizes: &Sizes, workers: Workers) {
    let c = counts.commands;
    println!(
        "  server on 1 worker thread vs 2 (load generator: 1 thread; 2 cores in all): scenario 1 \
         ({c} commands) and a fan-out to {WORKER_FANOUT} subscribers ({FANOUT_UPDATES} updates)"
    );
    println!(
        "    {:<10}  {:<30} {:<30} {:<30} {:<30}",
        "workers", "commands/s", "server cores busy", "fan-out time", "server cores busy"
    );
    let sides = [(workers.one, "server"), (workers.two, TWO_WORKERS)];
    let mut rates = [Samples::default(), Samples::default()];
    let mut command_cores = [Samples::default(), Samples::default()];
    let mut times = [Samples::default(), Samples::default()];
    let mut fanout_cores = [Samples::default(), Samples::default()];
    for run in 0..sizes.runs {
        for (side, &(addr, threads)) in sides.iter().enumerate() {
            let base = 10_000_000 + run as i32 * c;
            let ((elapsed, _), cores) = busy(threads, async {
                within(
                    SCENARIO_LIMIT,
                    format!("workers: scenario 1 ({threads}, run {run})"),
                    command_throughput(addr, "/unit/w", base, c),
                )
                .await
            })
            .await;
            rates[side].push(f64::from(c) / elapsed.as_secs_f64());
            command_cores[side].push(cores);
            let base = 20_000_000 + run as i32 * FANOUT_UPDATES;
            let ((elapsed, _), cores) = busy(threads, async {
                within(
                    SCENARIO_LIMIT,
                    format!("workers: fan-out ({threads}, run {run})"),
                    fanout(addr, "/unit/wf", WORKER_FANOUT, base, FANOUT_UPDATES),
                )
                .await
            })
            .await;
            times[side].push(elapsed.as_secs_f64());
            fanout_cores[side].push(cores);
        }
    }
    for (side, label) in ["1 worker", "2 workers"].into_iter().enumerate() {
        println!(
            "    {label:<10}  {:<30} {:<30} {:<30} {:<30}",
            rates[side].show(Show::Rate),
            command_cores[side].show(Show::Cores),
            times[side].show(Show::Seconds),
            fanout_cores[side].show(Show::Cores)
        );
    }
    if let (Some(one), Some(two)) = (rates[0].median(), rates[1].median()) {
        println!("    2 workers / 1 worker: commands/s {:.2}x", two / one);
    }
    if let (Some(one), Some(two)) = (times[0].median(), times[1].median()) {
        println!("    2 workers / 1 worker: fan-out time {:.2}x", two / one);
    }
}

/// Runs `work`, and returns with its result the CPU time the threads named `threads` used per
/// second of wall time.
async fn busy<T>(threads: &str, work: impl std::future::Future<Output = T>) -> (T, f64) {
    let before = cpu_seconds(threads);
    let start = Instant::now();
    let result = work.await;
    let wall = start.elapsed().as_secs_f64();
    (result, (cpu_seconds(threads) - before) / wall)
}

/// The CPU time (user + system) used so far by this process's threads named `name`, from
/// `/proc/self/task/*/stat` (in clock ticks of 10 ms: `USER_HZ` is 100 on Linux).
fn cpu_seconds(name: &str) -> f64 {
    let mut ticks = 0u64;
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task");
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue; // the thread ended meanwhile
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if &stat[open + 1..close] != name {
            continue;
        }
        // After the name: state, ppid, ... with utime and stime the 12th and 13th fields.
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        ticks += fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0);
    }
    ticks as f64 / 100.0
}
