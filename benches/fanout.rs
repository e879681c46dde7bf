//! Fan-out of one value lane to many local value downlinks, against plain `tokio::sync::watch`
//! doing the same fan-out in the same run, on the same runtime (multi-thread, 2 workers).
//!
//! - **Latency of an update round**: `M` updates set in a row on the lane of `/source` (each a
//!   command, so each its own event and its own publication), until every one of the `N` agents
//!   `/sink/:id` holding a value downlink to it has seen the last value in its `on_event`
//!   handler. Intermediate values may be coalesced (and are). The baseline: one `watch::Sender`,
//!   `N` tasks awaiting `changed()` on their receivers, doing the same recording. Rounds of a
//!   single update are measured too: they separate the cost of waking `N` observers from the
//!   cost of publishing each update to them.
//! - **Memory per idle agent**: the growth of the resident set when `K` more sink agents are
//!   started and synced, divided by `K`; the baseline is `K` idle tasks each holding a `watch`
//!   receiver.
//!
//! Completion is signalled with a `Notify` by the handler that records the last sighting; the
//! bench never sleeps.
//!
//! Run: `cargo bench --bench fanout`

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use tidal::agent::{
    agent_lifecycle::{AgentLifecycle, HandlerContext},
    agent_model::{downlink::hosted::ValueDownlinkHandle, AgentModel},
    config::SimpleDownlinkConfig,
    event_handler::{EventHandler, HandlerActionExt, UnitHandler},
    lanes::ValueLane,
    lifecycle, projections,
    state::State,
    AgentLaneModel,
};
use tidal::route::RoutePattern;
use tidal::server::{ServerBuilder, ServerError, ServerHandle};
use tokio::runtime::Runtime;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

/// Downlinks (or watch receivers) in the latency bench.
const N: usize = 1_000;
/// Updates per round (each round size is also measured with single updates).
const M: u64 = 100;
/// Idle agents (or tasks) in the memory measurement.
const K: usize = 10_000;

/// The node every sink links to.
const SOURCE: &str = "/source";

/// The agent holding the lane that every sink links to.
#[projections]
#[derive(AgentLaneModel)]
pub struct Source {
    /// The value every sink mirrors.
    value: ValueLane<u64>,
}

/// The source needs no handlers: commands set its lane, and the lane publishes.
#[derive(Clone)]
pub struct SourceLifecycle;

impl AgentLifecycle<Source> for SourceLifecycle {}

/// An agent that mirrors the source's lane through a downlink.
#[projections]
#[derive(AgentLaneModel)]
pub struct Sink {
    /// The last value the downlink saw.
    seen: ValueLane<u64>,
}

/// What every observer (downlink handler or watch task) records, shared by all of them.
#[derive(Default)]
struct Fanout {
    /// The last value of the current round.
    target: AtomicU64,
    /// Observers that have not seen `target` yet.
    remaining: AtomicUsize,
    /// Values observed, over all observers (to show how many were coalesced away).
    events: AtomicU64,
    /// Signalled when `remaining` reaches 0.
    done: Notify,
    /// Observers ready (downlinks synced, tasks polled once).
    ready: AtomicUsize,
    /// How many observers `ready` waits for.
    expected: AtomicUsize,
    /// Signalled when `ready` reaches `expected`.
    all_ready: Notify,
}

impl Fanout {
    /// Starts a round whose last value is `last`, seen by `observers` observers.
    fn arm(&self, last: u64, observers: usize) {
        self.target.store(last, Ordering::Release);
        self.remaining.store(observers, Ordering::Release);
    }

    /// One observer saw `value`: cheap, lock-free and allocation-free.
    fn observe(&self, value: u64) {
        self.events.fetch_add(1, Ordering::Relaxed);
        if value == self.target.load(Ordering::Acquire)
            && self.remaining.fetch_sub(1, Ordering::AcqRel) == 1
        {
            self.done.notify_one();
        }
    }

    /// Waits for `observers` more observers to call [`Fanout::is_ready`].
    fn expect(&self, observers: usize) {
        self.ready.store(0, Ordering::Release);
        self.expected.store(observers, Ordering::Release);
    }

    /// One observer is ready.
    fn is_ready(&self) {
        if self.ready.fetch_add(1, Ordering::AcqRel) + 1 == self.expected.load(Ordering::Acquire) {
            self.all_ready.notify_one();
        }
    }
}

/// Opens the downlink at start and keeps its handle; its handlers report to the shared
/// [`Fanout`], and `on_event` mirrors each value into the agent's own lane.
pub struct SinkLifecycle {
    /// Shared by every sink and the bench.
    fanout: Arc<Fanout>,
    /// The downlink (dropping the handle would close it).
    handle: State<Sink, Option<ValueDownlinkHandle<u64>>>,
}

#[lifecycle(Sink, no_clone)]
impl SinkLifecycle {
    /// Opens the downlink to the source's lane.
    #[on_start]
    fn start(&self, context: HandlerContext<Sink>) -> impl EventHandler<Sink> + '_ {
        context
            .value_downlink_builder::<u64>(None, SOURCE, "value", SimpleDownlinkConfig::default())
            .with_shared_state(self.fanout.clone())
            .on_synced(|fanout: &Arc<Fanout>, _, _: &u64| {
                fanout.is_ready();
                UnitHandler::default()
            })
            .on_event(
                |fanout: &Arc<Fanout>, context: HandlerContext<Sink>, value: &u64| {
                    fanout.observe(*value);
                    context.set_value(Sink::SEEN, *value)
                },
            )
            .done()
            .and_then(move |handle| self.handle.set(Some(handle)))
    }
}

/// A server with the source at [`SOURCE`] and sinks at `/sink/:id`, its task spawned.
async fn serve(fanout: &Arc<Fanout>) -> (ServerHandle, JoinHandle<Result<(), ServerError>>) {
    let fanout = fanout.clone();
    let sinks = AgentModel::from_fn(Sink::default, move || SinkLifecycle {
        fanout: fanout.clone(),
        handle: State::default(),
    });
    let server = ServerBuilder::with_plane_name("fanout")
        .add_route(
            RoutePattern::parse_str(SOURCE).expect("a valid route"),
            AgentModel::new(Source::default, SourceLifecycle),
        )
        .add_route(
            RoutePattern::parse_str("/sink/:id").expect("a valid route"),
            sinks,
        )
        .build()
        .await
        .expect("the routes do not overlap");
    let (task, handle) = server.run();
    (handle, tokio::spawn(task))
}

/// Starts sinks `first..first + count` and waits until each has synced.
async fn start_sinks(server: &ServerHandle, fanout: &Fanout, first: usize, count: usize) {
    fanout.expect(count);
    let ready = fanout.all_ready.notified();
    for id in first..first + count {
        server
            .start_agent(&format!("/sink/{id}"))
            .expect("the server runs");
    }
    ready.await;
}

/// The next value to set on the lane (the values of every round are new).
struct Rounds {
    /// The first value of the next round.
    next: u64,
    /// Updates per round.
    size: u64,
}

impl Rounds {
    /// The values of the next round.
    fn next_round(&mut self) -> std::ops::RangeInclusive<u64> {
        let first = self.next;
        self.next += self.size;
        first..=first + self.size - 1
    }
}

/// `rounds` rounds of commands to the source's lane (`values.size` per round), each until every
/// sink saw the last value of the round.
async fn tidal_rounds(
    server: &ServerHandle,
    fanout: &Fanout,
    values: &mut Rounds,
    rounds: u64,
) -> Duration {
    let mut elapsed = Duration::ZERO;
    for _ in 0..rounds {
        let round = values.next_round();
        fanout.arm(*round.end(), N);
        let start = Instant::now();
        for value in round {
            server
                .command(SOURCE, "value", value)
                .await
                .expect("the server runs");
        }
        fanout.done.notified().await;
        elapsed += start.elapsed();
    }
    elapsed
}

/// `N` tasks, each recording what its watch receiver sees.
fn watch_receivers(
    runtime: &Runtime,
    fanout: &Arc<Fanout>,
    count: usize,
) -> (watch::Sender<u64>, Vec<JoinHandle<()>>) {
    let (sender, receiver) = watch::channel(0u64);
    fanout.expect(count);
    let tasks = (0..count)
        .map(|_| {
            let mut receiver = receiver.clone();
            let fanout = fanout.clone();
            runtime.spawn(async move {
                fanout.is_ready();
                while receiver.changed().await.is_ok() {
                    let value = *receiver.borrow_and_update();
                    fanout.observe(value);
                }
            })
        })
        .collect();
    runtime.block_on(fanout.all_ready.notified());
    (sender, tasks)
}

/// `rounds` rounds of sends on the watch (`values.size` per round), each until every receiver saw
/// the last value of the round.
async fn watch_rounds(
    sender: &watch::Sender<u64>,
    fanout: &Fanout,
    values: &mut Rounds,
    rounds: u64,
) -> Duration {
    let mut elapsed = Duration::ZERO;
    for _ in 0..rounds {
        let round = values.next_round();
        fanout.arm(*round.end(), N);
        let start = Instant::now();
        for value in round {
            sender.send_replace(value);
        }
        fanout.done.notified().await;
        elapsed += start.elapsed();
    }
    elapsed
}

/// Mean time per round, and observed values per round, as criterion measured them.
struct Measured {
    /// Updates per round.
    updates_per_round: u64,
    /// Mean time from the first update to the last sighting of the last one.
    ns_per_round: f64,
    /// Mean number of values the observers saw per round (at most `M * N`).
    events_per_round: f64,
}

/// Criterion measures `f` (which runs the given number of rounds); the totals are kept for the
/// ratio. `None` if criterion did not run it (filtered out on the command line).
fn measure(
    c: &mut Criterion,
    name: &str,
    fanout: &Fanout,
    updates_per_round: u64,
    mut f: impl FnMut(u64) -> Duration,
) -> Option<Measured> {
    let totals = RefCell::new((Duration::ZERO, 0u64, 0u64));
    c.bench_function(name, |b| {
        b.iter_custom(|rounds| {
            let events = fanout.events.load(Ordering::Relaxed);
            let elapsed = f(rounds);
            let mut totals = totals.borrow_mut();
            totals.0 += elapsed;
            totals.1 += rounds;
            totals.2 += fanout.events.load(Ordering::Relaxed) - events;
            elapsed
        })
    });
    let (time, rounds, events) = totals.into_inner();
    (rounds > 0).then(|| Measured {
        updates_per_round,
        ns_per_round: time.as_nanos() as f64 / rounds as f64,
        events_per_round: events as f64 / rounds as f64,
    })
}

/// Prints one line of results.
fn report(name: &str, measured: Option<&Measured>) {
    let Some(m) = measured else {
        println!("{name}: not measured");
        return;
    };
    println!(
        "{name}: {:9.0} ns/round = {:6.0} ns/update, {:5.3} M updates/s; \
         {:5.0} events/round reach the handlers = {:5.2} M events/s \
         ({:5.1} M logical deliveries/s)",
        m.ns_per_round,
        m.ns_per_round / m.updates_per_round as f64,
        m.updates_per_round as f64 * 1e3 / m.ns_per_round,
        m.events_per_round,
        m.events_per_round * 1e3 / m.ns_per_round,
        (m.updates_per_round as f64 * N as f64) * 1e3 / m.ns_per_round,
    );
}

/// The resident set size of this process, in bytes.
fn rss() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<i64>()
                .ok()
        })
        .expect("a VmRSS line")
        * 1024
}

/// Bytes of resident memory per idle watch task, then per idle sink agent (synced downlink).
///
/// The watch tasks stay alive while the agents are measured, so the agents cannot reuse the
/// memory they freed.
fn memory(runtime: &Runtime) -> (f64, f64) {
    let fanout = Arc::new(Fanout::default());
    let before = rss();
    let (sender, tasks) = watch_receivers(runtime, &fanout, K);
    let per_task = (rss() - before) as f64 / K as f64;

    let per_agent = runtime.block_on(async {
        let (server, task) = serve(&fanout).await;
        // The source, and one sink, so that the lane and the routes are warm.
        start_sinks(&server, &fanout, 0, 1).await;
        let before = rss();
        start_sinks(&server, &fanout, 1, K).await;
        let per_agent = (rss() - before) as f64 / K as f64;
        server.stop();
        task.await
            .expect("the server task ends cleanly")
            .expect("the server stops");
        per_agent
    });

    drop(sender);
    runtime.block_on(async {
        for task in tasks {
            task.await.expect("the watch task ends cleanly");
        }
    });
    (per_task, per_agent)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");

    // First, on a fresh heap: memory.
    let (bytes_per_task, bytes_per_agent) = memory(&runtime);

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();

    // Baseline: watch, with M updates per round, then 1.
    let fanout = Arc::new(Fanout::default());
    let (sender, tasks) = watch_receivers(&runtime, &fanout, N);
    let mut values = Rounds { next: 1, size: M };
    let mut watch = Vec::new();
    for size in [M, 1] {
        values.size = size;
        let name = format!("fanout/watch_{N}/{size}_per_round (baseline)");
        watch.push(measure(&mut c, &name, &fanout, size, |rounds| {
            runtime.block_on(watch_rounds(&sender, &fanout, &mut values, rounds))
        }));
    }
    drop(sender);
    runtime.block_on(async {
        for task in tasks {
            task.await.expect("the watch task ends cleanly");
        }
    });

    // tidal: N sink agents linked to the source's lane.
    let fanout = Arc::new(Fanout::default());
    let (server, server_task) = runtime.block_on(async {
        let (server, task) = serve(&fanout).await;
        start_sinks(&server, &fanout, 0, N).await;
        (server, task)
    });
    let mut values = Rounds { next: 1, size: M };
    let mut tidal = Vec::new();
    for size in [M, 1] {
        values.size = size;
        let name = format!("fanout/value_downlinks_{N}/{size}_per_round");
        tidal.push(measure(&mut c, &name, &fanout, size, |rounds| {
            runtime.block_on(tidal_rounds(&server, &fanout, &mut values, rounds))
        }));
    }
    server.stop();
    runtime
        .block_on(server_task)
        .expect("the server task ends cleanly")
        .expect("the server stops");

    c.final_summary();
    for ((size, watch), tidal) in [M, 1].into_iter().zip(&watch).zip(&tidal) {
        println!();
        println!("{size} update(s) in a row, fanned out to {N} observers, until all saw the last:");
        report("watch (baseline)     ", watch.as_ref());
        report("tidal value downlinks", tidal.as_ref());
        if let (Some(watch), Some(tidal)) = (watch, tidal) {
            println!(
                "tidal / watch = {:.2}x (target <= 2x)",
                tidal.ns_per_round / watch.ns_per_round
            );
        }
    }
    println!();
    println!("resident memory per idle observer ({K} of them):");
    println!("watch receiver task (baseline):  {bytes_per_task:6.0} bytes");
    println!(
        "agent with one synced downlink:  {bytes_per_agent:6.0} bytes = {:.1}x baseline (target < 10240)",
        bytes_per_agent / bytes_per_task
    );
}
