//! A plane of tidal servers for the cluster tests and the cluster bench (each includes this
//! file with `#[path]`, and uses a part of it): the agents its members run, the member itself,
//! member processes, and what a client of the plane waits for.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use tidal::cluster::{KeeperConfig, Placement, PostgresCluster, ShardId};
use tidal::prelude::*;
use tidal::server::ClusterConfig;
use tidal::store::{Durability, StoreConfig};
use tokio::sync::mpsc;

/// A counter whose total is stored: commands add to it.
#[projections]
#[derive(AgentLaneModel)]
pub struct Counter {
    total: ValueLane<i64>,
    add: CommandLane<i64>,
}

#[derive(Clone, Default)]
pub struct CounterLifecycle;

#[lifecycle(Counter)]
impl CounterLifecycle {
    #[on_command(add)]
    fn add(&self, context: HandlerContext<Counter>, amount: &i64) -> impl EventHandler<Counter> {
        let amount = *amount;
        context.transform_value(Counter::TOTAL, move |total| total + amount)
    }
}

/// Mirrors the total of the counter with the same id, through a downlink that names no host
/// (so it reaches the counter wherever the plane runs it).
#[projections]
#[derive(AgentLaneModel)]
pub struct Mirror {
    #[item(transient)]
    seen: ValueLane<i64>,
}

#[derive(Default)]
pub struct MirrorLifecycle {
    counter: State<Mirror, Option<ValueDownlinkHandle<i64>>>,
}

#[lifecycle(Mirror)]
impl MirrorLifecycle {
    #[on_start]
    fn start(&self, context: HandlerContext<Mirror>) -> impl EventHandler<Mirror> + '_ {
        context.get_parameter("id").and_then(move |id| {
            let node = format!("/counter/{}", id.unwrap_or_default());
            context
                .value_downlink_builder::<i64>(
                    None,
                    &node,
                    "total",
                    SimpleDownlinkConfig::default(),
                )
                .on_synced(|context, total| context.set_value(Mirror::SEEN, *total))
                .on_event(|context, total| context.set_value(Mirror::SEEN, *total))
                .done()
                .and_then(move |handle| self.counter.set(Some(handle)))
        })
    }
}

/// One lane of each kind, all moved by one command, `drive n`: the value lane becomes `n`, the
/// map lane gets `k<n> -> n`, the command lane carries `n`, the supply lane supplies `n`, the
/// demand lanes are cued (the demand lane gives the value, the demand map the map's entry) and
/// the join lane links `k<n>` to the total of `/counter/<n>`.
#[projections]
#[derive(AgentLaneModel)]
pub struct Kinds {
    value: ValueLane<i64>,
    map: MapLane<String, i64>,
    drive: CommandLane<i64>,
    supply: SupplyLane<i64>,
    demand: DemandLane<i64>,
    demand_map: DemandMapLane<String, i64>,
    join: JoinValueLane<String, i64>,
}

#[derive(Clone, Default)]
pub struct KindsLifecycle;

#[lifecycle(Kinds)]
impl KindsLifecycle {
    #[on_command(drive)]
    fn drive(&self, context: HandlerContext<Kinds>, n: &i64) -> impl EventHandler<Kinds> {
        let (n, key) = (*n, format!("k{n}"));
        context
            .set_value(Kinds::VALUE, n)
            .followed_by(context.update(Kinds::MAP, key.clone(), n))
            .followed_by(context.supply(Kinds::SUPPLY, n))
            .followed_by(context.cue(Kinds::DEMAND))
            .followed_by(context.cue_key(Kinds::DEMAND_MAP, key.clone()))
            .followed_by(context.add_downlink(
                Kinds::JOIN,
                key,
                None,
                &format!("/counter/{n}"),
                "total",
            ))
    }

    #[on_cue(demand)]
    fn demand(
        &self,
        context: HandlerContext<Kinds>,
    ) -> impl HandlerAction<Kinds, Completion = i64> {
        context.get_value(Kinds::VALUE)
    }

    #[keys(demand_map)]
    fn keys(
        &self,
        context: HandlerContext<Kinds>,
    ) -> impl HandlerAction<Kinds, Completion = std::collections::BTreeSet<String>> {
        context.with_map(Kinds::MAP, |map| map.keys().cloned().collect())
    }

    #[on_cue_key(demand_map)]
    fn entry(
        &self,
        context: HandlerContext<Kinds>,
        key: String,
    ) -> impl HandlerAction<Kinds, Completion = Option<i64>> {
        context.with_entry(Kinds::MAP, key, |n| n.copied())
    }
}

/// The member this process is (in a child).
static MEMBER: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Appends an entry to its log every 50 ms, keyed `<member>/<instance> <n>`: who wrote it (the
/// member, and which start of the agent there), with the wall clock in ms as its value.
#[projections]
#[derive(AgentLaneModel)]
pub struct Ticker {
    log: MapLane<String, i64>,
}

#[derive(Clone, Default)]
pub struct TickerLifecycle;

#[lifecycle(Ticker)]
impl TickerLifecycle {
    #[on_start]
    fn start(&self, context: HandlerContext<Ticker>) -> impl EventHandler<Ticker> {
        static STARTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let start = STARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let instance = format!("{}/{start}", MEMBER.get().map_or("?", String::as_str));
        let mut n = 0;
        context.schedule_repeatedly(Duration::from_millis(50), move || {
            n += 1;
            Some(context.update(Ticker::LOG, format!("{instance} {n}"), wall_ms()))
        })
    }
}

/// The wall clock in ms (the same for every process of this machine).
pub fn wall_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.unwrap().as_millis() as i64
}

/// The environment variables that make [`cluster_member_child`] a member.
const MEMBER_DATABASE: &str = "TIDAL_CLUSTER_DATABASE";
const MEMBER_ID: &str = "TIDAL_CLUSTER_MEMBER";

/// The plane's shards in these tests (few, so that a plane settles in a few ticks).
pub const TEST_SHARDS: u32 = 32;
/// The plane's lease in these tests.
pub const TEST_LEASE: Duration = Duration::from_secs(2);

/// Runs member `id` of the plane on `database` (the environment of a member process): prints
/// its port, and runs until SIGTERM (then hands its shards off) or SIGKILL.
pub async fn run_member(database: String, id: String) {
    MEMBER.set(id.clone()).unwrap();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    let keeper = KeeperConfig::with_lease(TEST_LEASE).with_placement(Placement::new(TEST_SHARDS));
    let server = ServerBuilder::with_plane_name("plane")
        .set_bind_addr("127.0.0.1:0")
        .add_route(
            "/counter/:id".parse().unwrap(),
            AgentModel::new(Counter::default, CounterLifecycle),
        )
        .add_route(
            "/ticker/:id".parse().unwrap(),
            AgentModel::new(Ticker::default, TickerLifecycle),
        )
        .add_route(
            "/kinds/:id".parse().unwrap(),
            AgentModel::new(Kinds::default, KindsLifecycle),
        )
        .add_route(
            "/mirror/:id".parse().unwrap(),
            AgentModel::from_fn(Mirror::default, MirrorLifecycle::default),
        )
        .update_config(|config| {
            config.store = StoreConfig::default().with_durability(Durability::Sync);
        })
        .with_cluster(ClusterConfig::new(database, id).with_keeper(keeper))
        .build()
        .await
        .unwrap();
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
    let (task, handle) = server.run_until(async move {
        terminate.recv().await;
    });
    println!("port {}", handle.bound_addr().unwrap().port());
    task.await.unwrap();
}

/// The member a process is to be, if it is one: its database and id.
pub fn member_env() -> Option<(String, String)> {
    Some((
        std::env::var(MEMBER_DATABASE).ok()?,
        std::env::var(MEMBER_ID).ok()?,
    ))
}

/// A member of the plane in a child process: this executable run again, with `args`, and the
/// environment that [`member_env`] reads.
pub struct Child {
    pub id: String,
    pub process: std::process::Child,
    pub host: String,
}

impl Child {
    /// Starts member `id` of the plane on `database`; returns once it listens.
    pub async fn start(args: &'static [&'static str], database: &str, id: &str) -> Child {
        let (database, id) = (database.to_owned(), id.to_owned());
        tokio::task::spawn_blocking(move || {
            use std::io::BufRead;
            let mut process = std::process::Command::new(std::env::current_exe().unwrap())
                .args(args)
                .env(MEMBER_DATABASE, &database)
                .env(MEMBER_ID, &id)
                .stdout(std::process::Stdio::piped())
                // `TIDAL_CLUSTER_LOGS=<dir>` (with `RUST_LOG`) keeps each member's log there.
                .stderr(match std::env::var_os("TIDAL_CLUSTER_LOGS") {
                    Some(dir) => {
                        let port = database
                            .rsplit(':')
                            .next()
                            .unwrap_or_default()
                            .replace('/', "-");
                        let log =
                            std::path::Path::new(&dir).join(format!("member-{id}-{port}.log"));
                        std::fs::OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(log)
                            .unwrap()
                            .into()
                    }
                    None => std::process::Stdio::null(),
                })
                .spawn()
                .unwrap();
            let stdout = process.stdout.take().unwrap();
            let mut lines = std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok);
            let port = lines
                .find_map(|line| line.rsplit_once("port ").map(|(_, port)| port.to_owned()))
                .expect("the member prints its port");
            // The rest of its output is read too, so that a member that stops gracefully
            // can write it (libtest fails on a closed stdout).
            std::thread::spawn(move || lines.for_each(drop));
            Child {
                id,
                process,
                host: format!("ws://127.0.0.1:{port}"),
            }
        })
        .await
        .unwrap()
    }
}

impl Drop for Child {
    /// A test that fails leaves no server behind.
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Sends a signal to a member.
pub fn signal(member: &Child, signal: &str) {
    let sent = std::process::Command::new("kill")
        .args([signal, &member.process.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill {signal}");
}

/// Waits (at most 20 s) until the lease holders are exactly what placement gives `members`.
pub async fn settled_plane(cluster: &PostgresCluster, members: &[&Child]) {
    let placement = Placement::new(TEST_SHARDS);
    let ids: Vec<&str> = members.iter().map(|member| member.id.as_str()).collect();
    let expected: Vec<(ShardId, String)> = (0..TEST_SHARDS)
        .map(|shard| (shard, placement.owner(shard, &ids).unwrap().to_string()))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let holders: Vec<(ShardId, String)> = cluster
            .holders()
            .await
            .unwrap()
            .into_iter()
            .map(|(shard, owner, _)| (shard, owner))
            .collect();
        if holders == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the plane did not settle: {holders:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The values a value downlink from `client` sees, as they come.
pub async fn watch_total(
    client: &tidal::client::Client,
    host: &str,
    node: &str,
    lane: &str,
) -> (ValueDownlinkHandle<i64>, mpsc::UnboundedReceiver<i64>) {
    let (events, seen) = mpsc::unbounded_channel();
    let (synced, unlinked) = (events.clone(), events.clone());
    let view = client
        .value_downlink::<i64>(host, node, lane)
        .on_unlinked(move || {
            let _ = unlinked.send(UNLINKED);
        })
        .on_synced(move |total| {
            let _ = synced.send(*total);
        })
        .on_event(move |total| {
            let _ = events.send(*total);
        })
        .open()
        .await
        .unwrap();
    (view, seen)
}

/// What [`watch_total`] reports when its link ends.
pub const UNLINKED: i64 = i64::MIN;

/// Waits (at most 20 s) for `want` among the values seen; the link must not end before.
pub async fn sees(seen: &mut mpsc::UnboundedReceiver<i64>, want: i64, what: &str) {
    let wait = async {
        while let Some(value) = seen.recv().await {
            assert_ne!(value, UNLINKED, "{what}: the link ended before {want}");
            if value == want {
                return;
            }
        }
        panic!("{what}: the link closed before {want}");
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .unwrap_or_else(|_| panic!("{what}: {want} not seen in time"));
}

/// Nodes `/counter/<n>` that placement gives to `owner` among `members`, `count` of them.
pub fn counters_owned_by(owner: &str, members: &[&str], count: usize) -> Vec<String> {
    nodes_owned_by("/counter", owner, members, count)
}

/// Nodes `<prefix>/<n>` that placement gives to `owner` among `members`, `count` of them.
pub fn nodes_owned_by(prefix: &str, owner: &str, members: &[&str], count: usize) -> Vec<String> {
    let placement = Placement::new(TEST_SHARDS);
    (0..)
        .map(|n| format!("{prefix}/{n}"))
        .filter(|node| placement.owner(placement.shard_of(node), members) == Some(&owner))
        .take(count)
        .collect()
}
