//! Persistence against the same agents in memory, in the same run:
//!
//! 1. commands into one persistent value lane: in memory, with `GroupCommit` (target: at least
//!    50% of the in-memory rate), with `Sync` (against fjall's own synced single commits);
//! 2. 10,000 agents with 10 lanes each: time to persist and to load back, per agent;
//! 3. a map lane of 100,000 entries: one update against the same with 10 entries.
//!
//! Run: `cargo bench --bench persistence`. Without `--bench` (as `cargo test --benches` runs
//! it) the counts are tiny and the figures mean nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tidal::agent::event_handler::Sequentially;
use tidal::agent::lanes::MapMessage;
use tidal::prelude::*;
use tidal::server::ServerHandle;
use tidal::store::{Durability, FjallStore, Store, StoreConfig};
use tidal::testing::AgentHarness;

/// One value lane set by commands, and a map lane.
#[projections]
#[derive(AgentLaneModel)]
pub struct Meter {
    value: ValueLane<i64>,
    set: CommandLane<i64>,
    map: MapLane<u32, i64>,
    fill: CommandLane<u32>,
}

#[derive(Clone)]
pub struct MeterLifecycle;

#[lifecycle(Meter)]
impl MeterLifecycle {
    #[on_command(set)]
    fn set(&self, context: HandlerContext<Meter>, n: &i64) -> impl EventHandler<Meter> {
        context.set_value(Meter::VALUE, *n)
    }

    #[on_command(fill)]
    fn fill(&self, context: HandlerContext<Meter>, n: &u32) -> impl EventHandler<Meter> {
        let n = *n;
        Sequentially::new((0..n).map(move |i| context.update(Meter::MAP, i, i64::from(i))))
    }
}

/// Ten value lanes, all set in one event.
#[projections]
#[derive(AgentLaneModel)]
pub struct Ten {
    a: ValueLane<i64>,
    b: ValueLane<i64>,
    c: ValueLane<i64>,
    d: ValueLane<i64>,
    e: ValueLane<i64>,
    f: ValueLane<i64>,
    g: ValueLane<i64>,
    h: ValueLane<i64>,
    i: ValueLane<i64>,
    j: ValueLane<i64>,
    set: CommandLane<i64>,
}

#[derive(Clone)]
pub struct TenLifecycle;

#[lifecycle(Ten)]
impl TenLifecycle {
    #[on_command(set)]
    fn set(&self, context: HandlerContext<Ten>, n: &i64) -> impl EventHandler<Ten> {
        let n = *n;
        let lanes = [
            Ten::A,
            Ten::B,
            Ten::C,
            Ten::D,
            Ten::E,
            Ten::F,
            Ten::G,
            Ten::H,
            Ten::I,
            Ten::J,
        ];
        Sequentially::new(
            lanes
                .into_iter()
                .map(move |lane| context.set_value(lane, n)),
        )
    }
}

/// The counts of a measured run, or of a smoke run.
struct Counts {
    commands: u32,
    synced: u32,
    agents: u32,
    map: u32,
    updates: u32,
}

const FULL: Counts = Counts {
    commands: 100_000,
    synced: 2_000,
    agents: 10_000,
    map: 100_000,
    updates: 20_000,
};

const SMOKE: Counts = Counts {
    commands: 100,
    synced: 10,
    agents: 10,
    map: 1_000,
    updates: 10,
};

fn store(dir: &std::path::Path, durability: Durability) -> Arc<dyn Store> {
    let config = StoreConfig::default().with_durability(durability);
    Arc::new(FjallStore::open(dir, config).expect("the store opens"))
}

fn meter(store: Option<Arc<dyn Store>>, uri: &str) -> AgentHarness<Meter, MeterLifecycle> {
    let mut builder = AgentHarness::builder(Meter::default(), MeterLifecycle).uri(uri);
    if let Some(store) = store {
        builder = builder.store(store);
    }
    let mut harness = builder.build();
    harness.start().expect("starts");
    harness
}

/// Commands per second into one value lane.
fn command_rate(store: Option<Arc<dyn Store>>, commands: u32) -> f64 {
    let mut harness = meter(store, "/meter");
    let start = Instant::now();
    for n in 0..commands {
        harness.command(Meter::SET, i64::from(n)).expect("applies");
    }
    f64::from(commands) / start.elapsed().as_secs_f64()
}

/// fjall's own synced single-key commits per second.
fn fjall_synced_rate(dir: &std::path::Path, commits: u32) -> f64 {
    let db = fjall::Database::builder(dir).open().expect("opens");
    let keyspace = db
        .keyspace("raw", fjall::KeyspaceCreateOptions::default)
        .expect("a keyspace");
    let start = Instant::now();
    for n in 0..commits {
        let mut batch = db.batch().durability(Some(fjall::PersistMode::SyncData));
        batch.insert(&keyspace, b"key".as_slice(), n.to_be_bytes().as_slice());
        batch.commit().expect("commits");
    }
    f64::from(commits) / start.elapsed().as_secs_f64()
}

/// Microseconds per agent to persist (start, set ten lanes in one event) and to load back.
fn many_agents(dir: &std::path::Path, agents: u32) -> (f64, f64) {
    let store = store(dir, Durability::GroupCommit(Duration::from_millis(5)));
    let start = Instant::now();
    for id in 0..agents {
        let mut harness = AgentHarness::builder(Ten::default(), TenLifecycle)
            .uri(format!("/ten/{id}"))
            .store(store.clone())
            .build();
        harness.start().expect("starts");
        harness.command(Ten::SET, i64::from(id)).expect("applies");
    }
    let persist = start.elapsed().as_secs_f64() * 1e6 / f64::from(agents);
    let start = Instant::now();
    for id in 0..agents {
        let mut harness = AgentHarness::builder(Ten::default(), TenLifecycle)
            .uri(format!("/ten/{id}"))
            .store(store.clone())
            .build();
        harness.start().expect("starts");
        assert_eq!(harness.value(Ten::J), i64::from(id), "restored");
    }
    let load = start.elapsed().as_secs_f64() * 1e6 / f64::from(agents);
    (persist, load)
}

/// Microseconds per single-entry update of a map lane of `entries` entries, with the store in
/// `dir` (fjall) or in memory.
fn map_update(dir: Option<&std::path::Path>, entries: u32, updates: u32) -> f64 {
    map_update_with(dir.map(Some), entries, updates)
}

/// As [`map_update`]; `Some(None)`: no store at all.
fn map_update_with(dir: Option<Option<&std::path::Path>>, entries: u32, updates: u32) -> f64 {
    let mut harness = match dir {
        Some(None) => {
            let mut harness = meter(None, "/map");
            harness.command(Meter::FILL, entries).expect("fills");
            harness
        }
        Some(Some(dir)) => {
            let config = StoreConfig::default()
                .with_durability(Durability::GroupCommit(Duration::from_millis(5)));
            let store = Arc::new(FjallStore::open(dir, config).expect("the store opens"));
            let mut harness = meter(Some(store.clone()), &format!("/map/{entries}"));
            harness.command(Meter::FILL, entries).expect("fills");
            // The fill is written before the updates are timed, not while they are.
            store.persist().expect("persists");
            harness
        }
        None => {
            let store = Arc::new(tidal::store::InMemoryStore::new());
            let mut harness = meter(Some(store), &format!("/map/{entries}"));
            harness.command(Meter::FILL, entries).expect("fills");
            harness
        }
    };
    let start = Instant::now();
    for n in 0..updates {
        let update = MapMessage::Update {
            key: n % entries,
            value: -i64::from(n),
        };
        harness.command(Meter::MAP, update).expect("updates");
    }
    start.elapsed().as_secs_f64() * 1e6 / f64::from(updates)
}

/// Runs a server built from `builder` (its meters at `/meter` or `/meter/:id`) on a runtime
/// of 2 worker threads, and `work` against it; what `work` measured.
fn on_server<F, Fut>(builder: ServerBuilder, route: &str, work: F) -> f64
where
    F: FnOnce(ServerHandle) -> Fut,
    Fut: std::future::Future<Output = f64>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let server = builder
            .add_route(
                route.parse().expect("a route"),
                AgentModel::new(Meter::default, MeterLifecycle),
            )
            .build()
            .await
            .expect("builds");
        let (task, handle) = server.run();
        let running = tokio::spawn(task);
        let measured = work(handle.clone()).await;
        handle.stop();
        running.await.expect("joins").expect("stops");
        measured
    })
}

/// Commands per second into one value lane through a server (`ServerHandle::command`, each
/// awaited), the way commands reach agents in production.
fn server_command_rate(store: Option<Option<&std::path::Path>>, commands: u32) -> f64 {
    let mut builder = ServerBuilder::with_plane_name("bench");
    match store {
        Some(Some(dir)) => builder = builder.with_store_dir(dir),
        Some(None) => builder = builder.with_in_memory_store(),
        None => {}
    }
    on_server(builder, "/meter", |handle| async move {
        handle.start_agent("/meter").expect("starts");
        let start = Instant::now();
        for n in 0..commands {
            handle
                .command("/meter", "set", i64::from(n))
                .await
                .expect("sent");
        }
        // Every command applied: the agent answers after the last.
        assert_eq!(value_of(&handle, "/meter").await, i64::from(commands) - 1);
        f64::from(commands) / start.elapsed().as_secs_f64()
    })
}

/// Commands per second through a server whose agents keep their state in fjall under `Sync`:
/// `agents` agents busy together, each sent `commands` commands by a task of its own (each
/// send awaited; with `answered`, each command's answer too: the agent's answer to a handler
/// sent after it, which waits until the command's turn is durable), until every agent has
/// applied its last.
fn server_synced_rate(dir: &std::path::Path, agents: u32, commands: u32, answered: bool) -> f64 {
    let builder = ServerBuilder::with_plane_name("bench")
        .with_store_dir(dir)
        .update_config(|config| {
            config.store = StoreConfig::default().with_durability(Durability::Sync);
        });
    on_server(builder, "/meter/:id", |handle| async move {
        let nodes: Vec<String> = (0..agents).map(|id| format!("/meter/{id}")).collect();
        for node in &nodes {
            handle.start_agent(node).expect("starts");
        }
        let start = Instant::now();
        let senders: Vec<_> = nodes
            .iter()
            .map(|node| {
                let (handle, node) = (handle.clone(), node.clone());
                tokio::spawn(async move {
                    for n in 0..commands {
                        handle
                            .command(&node, "set", i64::from(n))
                            .await
                            .expect("sent");
                        if answered {
                            assert_eq!(value_of(&handle, &node).await, i64::from(n));
                        }
                    }
                })
            })
            .collect();
        for sender in senders {
            sender.await.expect("sends");
        }
        // Every command applied: each agent answers after its last.
        for node in &nodes {
            assert_eq!(value_of(&handle, node).await, i64::from(commands) - 1);
        }
        f64::from(agents * commands) / start.elapsed().as_secs_f64()
    })
}

/// The value of the meter at `node`, as the agent answers a handler that reads it.
async fn value_of(handle: &ServerHandle, node: &str) -> i64 {
    let agent: tidal::agent::agent_model::AgentRef<Meter> = handle.agent_ref(node).expect("runs");
    let (tx, rx) = tokio::sync::oneshot::channel();
    let context = HandlerContext::<Meter>::default();
    agent
        .run(context.get_value(Meter::VALUE).and_then(move |value| {
            context.effect(move || {
                let _ = tx.send(value);
            })
        }))
        .await
        .expect("runs");
    rx.await.expect("answers")
}

fn main() {
    let counts = if std::env::args().any(|arg| arg == "--bench") {
        FULL
    } else {
        SMOKE
    };
    let dir = |name: &str| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::create_dir_all(dir.path().join(name)).expect("a store directory");
        dir
    };

    let memory = command_rate(None, counts.commands);
    let group_dir = dir("group");
    let group = command_rate(
        Some(store(
            group_dir.path(),
            Durability::GroupCommit(Duration::from_millis(5)),
        )),
        counts.commands,
    );
    let buffered_dir = dir("buffered");
    let buffered = command_rate(
        Some(store(buffered_dir.path(), Durability::Buffered)),
        counts.commands,
    );
    let sync_dir = dir("sync");
    let sync = command_rate(
        Some(store(sync_dir.path(), Durability::Sync)),
        counts.synced,
    );
    let raw_dir = dir("raw");
    let raw = fjall_synced_rate(raw_dir.path(), counts.synced);
    println!("commands into one persistent value lane (harness, one turn each):");
    println!("  in memory:                {memory:>12.0} /s");
    println!(
        "  GroupCommit(5 ms):        {group:>12.0} /s = {:.1}% of in memory",
        100.0 * group / memory
    );
    println!(
        "  Buffered:                 {buffered:>12.0} /s = {:.1}% of in memory",
        100.0 * buffered / memory
    );
    println!(
        "  Sync:                     {sync:>12.0} /s = {:.2}x fjall's own synced commits ({raw:.0} /s)",
        sync / raw
    );

    let server_memory = server_command_rate(None, counts.commands);
    let server_dir = dir("server");
    let server_group = server_command_rate(Some(Some(server_dir.path())), counts.commands);
    let server_store_in_memory = server_command_rate(Some(None), counts.commands);
    println!("commands into one persistent value lane (server, ServerHandle::command):");
    println!("  in memory:                {server_memory:>12.0} /s");
    println!(
        "  GroupCommit(5 ms):        {server_group:>12.0} /s = {:.1}% of in memory (target >= 50%)",
        100.0 * server_group / server_memory
    );
    println!(
        "  InMemoryStore:            {server_store_in_memory:>12.0} /s = {:.1}% of in memory",
        100.0 * server_store_in_memory / server_memory
    );

    let raw = fjall_synced_rate(dir("raw-server").path(), counts.synced);
    let answered = server_synced_rate(dir("answered").path(), 1, counts.synced, true);
    let alone = server_synced_rate(dir("alone").path(), 1, counts.synced * 10, false);
    let busy = server_synced_rate(dir("busy").path(), 100, counts.synced, false);
    println!("commands into persistent value lanes (server, fjall, Sync, ServerHandle::command):");
    println!("  fjall's own synced commits: {raw:>10.0} /s");
    println!(
        "  one agent, each answered: {answered:>12.0} /s = {:.2}x fjall's synced commits",
        answered / raw
    );
    println!(
        "  one agent:                {alone:>12.0} /s = {:.2}x fjall's synced commits",
        alone / raw
    );
    println!(
        "  100 agents busy:          {busy:>12.0} /s = {:.2}x fjall's synced commits (target >= 10x)",
        busy / raw
    );

    let agents_dir = dir("agents");
    let (persist, load) = many_agents(agents_dir.path(), counts.agents);
    println!(
        "{} agents with 10 value lanes each: {persist:.1} us per agent to persist, {load:.1} us to load back",
        counts.agents
    );

    let small_dir = dir("small");
    let small = map_update(Some(small_dir.path()), 10, counts.updates);
    let large_dir = dir("large");
    let large = map_update(Some(large_dir.path()), counts.map, counts.updates);
    println!(
        "one map update (fjall): {small:.2} us with 10 entries, {large:.2} us with {} = {:.2}x",
        counts.map,
        large / small
    );
    let small = map_update(None, 10, counts.updates);
    let large = map_update(None, counts.map, counts.updates);
    println!(
        "one map update (store in memory): {small:.2} us with 10 entries, {large:.2} us with {} = {:.2}x",
        counts.map,
        large / small
    );
    let small = map_update_with(Some(None), 10, counts.updates);
    let large = map_update_with(Some(None), counts.map, counts.updates);
    println!(
        "one map update (no store): {small:.2} us with 10 entries, {large:.2} us with {} = {:.2}x",
        counts.map,
        large / small
    );
}
