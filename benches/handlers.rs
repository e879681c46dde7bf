//! Lane-set-to-`on_event` dispatch through the agent's event loop, against a plain closure over
//! a `Cell` doing the same work, measured in the same run. Prints the ratio and the heap
//! allocations per event.
//!
//! Two ratios are printed: of Criterion's means, and of the fastest of many short rounds of
//! each run alternately. On a shared machine noise only ever adds time, and it comes in bursts
//! that can fall on one measurement and not the other; the alternating rounds see the same
//! machine, so their ratio is the stable one.
//!
//! Run: `cargo bench --bench handlers`

// Allocations are counted by a global allocator of this binary, which only `unsafe` can
// write.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::Criterion;
use tidal::agent::{
    agent_lifecycle::HandlerContext,
    agent_model::AgentModel,
    config::AgentConfig,
    event_handler::{EventHandler, Sequentially},
    lanes::ValueLane,
    lifecycle, projections, AgentLaneModel,
};
use tidal::testing::AgentHarness;

/// Counts heap allocations, to check that the steady state allocates nothing per event.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[projections]
#[derive(AgentLaneModel)]
pub struct Meter {
    reading: ValueLane<u64>,
}

/// Sums every value seen by `on_event`.
#[derive(Default)]
pub struct MeterLifecycle {
    total: Cell<u64>,
    done: Option<std::sync::Arc<tokio::sync::Notify>>,
    target: u64,
}

#[lifecycle(Meter)]
impl MeterLifecycle {
    #[on_event(reading)]
    fn on_reading(
        &self,
        context: HandlerContext<Meter>,
        value: &u64,
    ) -> impl EventHandler<Meter> + '_ {
        let value = *value;
        context.effect(move || {
            let total = self.total.get() + value;
            self.total.set(total);
            if let Some(done) = &self.done {
                if value + 1 == self.target {
                    done.notify_one();
                }
            }
        })
    }
}

/// Criterion measures `f`; the mean time per iteration is returned too, for the ratio.
fn measure(c: &mut Criterion, name: &str, mut f: impl FnMut(u64) -> Duration) -> f64 {
    let totals = RefCell::new((Duration::ZERO, 0u64));
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let elapsed = f(iters);
            let mut totals = totals.borrow_mut();
            totals.0 += elapsed;
            totals.1 += iters;
            elapsed
        })
    });
    let (time, iters) = totals.into_inner();
    time.as_nanos() as f64 / iters.max(1) as f64
}

/// The same work without the framework: set a `Cell`, then call the registered `on_event`
/// callback with the new value. The callback is called through `dyn Fn` (as any registry of
/// handlers would), so the compiler cannot fuse the loop into a closed-form sum.
fn baseline(iters: u64) -> Duration {
    let lane = Cell::new(0u64);
    let total = Cell::new(0u64);
    let on_event = |value: &u64| total.set(total.get() + *value);
    let on_event: &dyn Fn(&u64) = black_box(&on_event);
    let start = Instant::now();
    for i in 0..iters {
        lane.set(black_box(i));
        on_event(&lane.get());
    }
    black_box(total.get());
    start.elapsed()
}

fn agent_dispatch(harness: &mut AgentHarness<Meter, MeterLifecycle>, iters: u64) -> Duration {
    let context = HandlerContext::<Meter>::default();
    let sets =
        Sequentially::new((0..iters).map(move |i| context.set_value(Meter::READING, black_box(i))));
    let start = Instant::now();
    harness.run(sets).expect("the handlers do not fail");
    start.elapsed()
}

fn through_inbox(runtime: &tokio::runtime::Runtime, iters: u64) -> Duration {
    runtime.block_on(async {
        let done = std::sync::Arc::new(tokio::sync::Notify::new());
        let notify = done.clone();
        let model = AgentModel::from_fn(Meter::default, move || MeterLifecycle {
            done: Some(notify.clone()),
            target: iters,
            ..Default::default()
        });
        let (agent, task) = model.spawn("/meter", Default::default(), AgentConfig::default());
        let start = Instant::now();
        for i in 0..iters {
            agent.command("reading", i).await.expect("the agent runs");
        }
        done.notified().await;
        let elapsed = start.elapsed();
        agent.stop().await.expect("the agent runs");
        task.await.expect("the task ends cleanly");
        elapsed
    })
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let base = measure(&mut c, "handlers/closure_over_cell (baseline)", baseline);

    let mut harness = AgentHarness::new(Meter::default(), MeterLifecycle::default());
    harness.start().expect("starts");
    let agent = measure(&mut c, "handlers/set_to_on_event (agent loop)", |iters| {
        agent_dispatch(&mut harness, iters)
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let inbox = measure(&mut c, "handlers/command_via_inbox (agent task)", |iters| {
        through_inbox(&runtime, iters.max(1))
    });

    // Alternating rounds: the fastest of each.
    const ROUNDS: usize = 60;
    const EVENTS: u64 = 200_000;
    let (mut best_base, mut best_agent) = (f64::MAX, f64::MAX);
    for _ in 0..ROUNDS {
        best_base = best_base.min(baseline(EVENTS).as_nanos() as f64 / EVENTS as f64);
        let agent = agent_dispatch(&mut harness, EVENTS);
        best_agent = best_agent.min(agent.as_nanos() as f64 / EVENTS as f64);
    }

    // Allocations in steady state: one big event of 100,000 sets.
    agent_dispatch(&mut harness, 1000);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    agent_dispatch(&mut harness, 100_000);
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;

    c.final_summary();
    println!();
    println!("baseline (closure over a Cell): {base:8.2} ns/event");
    println!(
        "agent loop (set -> on_event):   {agent:8.2} ns/event  = {:.2}x baseline (target <= 3x), {:.1} M events/s",
        agent / base,
        1e3 / agent
    );
    println!(
        "alternating rounds, fastest of {ROUNDS}: baseline {best_base:.2} ns, agent loop {best_agent:.2} ns = {:.2}x (target <= 3x)",
        best_agent / best_base
    );
    println!(
        "agent task via inbox:           {inbox:8.2} ns/event  = {:.2}x baseline, {:.2} M events/s",
        inbox / base,
        1e3 / inbox
    );
    println!(
        "heap allocations per event in steady state: {:.5} ({allocations} for 100000 events)",
        allocations as f64 / 100_000.0
    );
}
