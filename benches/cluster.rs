//! A plane of tidal servers on one machine, measured: member processes (this bench run again),
//! their state in a real PostgreSQL server (started by `scripts/postgres.sh`), a lease of 2 s
//! and 32 shards (as in the cluster tests).
//!
//! 1. A command's round trip (command, then its event back on a link) through a gateway
//!    member against one straight to the owner, alternating, in the same run.
//! 2. SIGKILL of an owner until its agents serve again elsewhere (a gateway's link resyncs).
//! 3. Persistent commands into many agents (`Sync` durability: every turn a committed
//!    transaction) with 1, 2 and 3 members, each taking the commands for the agents it owns.
//!
//! Run: `cargo bench --bench cluster`

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

#[path = "../tests/support/plane.rs"]
mod plane;
#[path = "../tests/support/postgres.rs"]
mod postgres;

use plane::{counters_owned_by, sees, settled_plane, watch_total, Child, TEST_LEASE};
use postgres::Postgres;
use tidal::client::Client;
use tidal::cluster::PostgresCluster;

/// Member processes are this bench with no arguments and the member's environment.
const CHILD: &[&str] = &[];

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    if let Some((database, id)) = plane::member_env() {
        runtime.block_on(plane::run_member(database, id));
        return;
    }
    runtime.block_on(async {
        let postgres = Postgres::start();
        round_trips(&postgres).await;
        sigkill(&postgres).await;
        throughput(&postgres).await;
    });
}

/// The median of `samples`.
fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// One command and its event, through `host` and seen on `seen`; the other link's events are
/// read too (`other`), so that both stay current.
async fn round_trip(
    client: &Client,
    host: &str,
    node: &str,
    seen: &mut mpsc::UnboundedReceiver<i64>,
    other: &mut mpsc::UnboundedReceiver<i64>,
    value: i64,
) -> Duration {
    let start = Instant::now();
    client.command(host, node, "add", 1i64).await.unwrap();
    sees(seen, value, "the round trip").await;
    let elapsed = start.elapsed();
    sees(other, value, "the other link").await;
    elapsed
}

async fn round_trips(postgres: &Postgres) {
    let a = Child::start(CHILD, &postgres.url, "a").await;
    let b = Child::start(CHILD, &postgres.url, "b").await;
    let cluster = PostgresCluster::connect(&postgres.url).await.unwrap();
    settled_plane(&cluster, &[&a, &b]).await;
    let node = counters_owned_by("b", &["a", "b"], 1).remove(0);
    let client = Client::new();
    let (_gateway, mut via_gateway) = watch_total(&client, &a.host, &node, "total").await;
    let (_direct, mut direct) = watch_total(&client, &b.host, &node, "total").await;
    sees(&mut via_gateway, 0, "the sync").await;
    sees(&mut direct, 0, "the sync").await;
    const ROUNDS: usize = 10;
    const PER_ROUND: usize = 50;
    let (mut through, mut straight) = (Vec::new(), Vec::new());
    let mut value = 0;
    for _ in 0..ROUNDS {
        for gateway in [true, false] {
            for _ in 0..PER_ROUND {
                value += 1;
                let trip = if gateway {
                    round_trip(
                        &client,
                        &a.host,
                        &node,
                        &mut via_gateway,
                        &mut direct,
                        value,
                    )
                    .await
                } else {
                    round_trip(
                        &client,
                        &b.host,
                        &node,
                        &mut direct,
                        &mut via_gateway,
                        value,
                    )
                    .await
                };
                if gateway { &mut through } else { &mut straight }.push(trip);
            }
        }
    }
    let (through, straight) = (median(&mut through), median(&mut straight));
    println!("1. command round trip, {} each, alternating in rounds of {PER_ROUND} (every command a committed transaction):", ROUNDS * PER_ROUND);
    println!(
        "   through a gateway member: p50 {through:?}; straight to the owner: p50 {straight:?}; ratio {:.2}x (target <= 1.5x)",
        through.as_secs_f64() / straight.as_secs_f64()
    );
}

async fn sigkill(postgres: &Postgres) {
    let a = Child::start(CHILD, &postgres.url, "a").await;
    let c = Child::start(CHILD, &postgres.url, "c").await;
    let cluster = PostgresCluster::connect(&postgres.url).await.unwrap();
    let client = Client::new();
    println!("2. SIGKILL of the owner until its agent serves again (lease {TEST_LEASE:?}; target: lease + 2 s):");
    let mut times = Vec::new();
    for round in 0..3 {
        let mut b = Child::start(CHILD, &postgres.url, "b").await;
        settled_plane(&cluster, &[&a, &b, &c]).await;
        let node = counters_owned_by("b", &["a", "b", "c"], round + 1).remove(round);
        let (_view, mut seen) = watch_total(&client, &a.host, &node, "total").await;
        let before = tokio::time::timeout(Duration::from_secs(20), seen.recv())
            .await
            .expect("the sync in time")
            .expect("the link is open");
        client.command(&a.host, &node, "add", 1i64).await.unwrap();
        sees(&mut seen, before + 1, "a command").await;
        let killed = Instant::now();
        b.process.kill().unwrap();
        b.process.wait().unwrap();
        // Serving again: the gateway's link has resynced with the agent elsewhere.
        sees(&mut seen, before + 1, "the resync").await;
        let serving = killed.elapsed();
        client.command(&a.host, &node, "add", 1i64).await.unwrap();
        sees(&mut seen, before + 2, "a command after").await;
        println!("   round {round}: {serving:?}");
        times.push(serving);
    }
    println!("   median {:?}", median(&mut times));
}

async fn throughput(postgres: &Postgres) {
    const AGENTS: usize = 120;
    const COMMANDS: i64 = 200;
    println!("3. {AGENTS} agents x {COMMANDS} persistent commands (Sync), each member taking those of the agents it owns; the load generator runs on the same 2 cores:");
    let names = ["a", "b", "c"];
    let mut members: Vec<Child> = Vec::new();
    let cluster = PostgresCluster::connect(&postgres.url).await.unwrap();
    let mut single = None;
    for size in 1..=3 {
        members.push(Child::start(CHILD, &postgres.url, names[size - 1]).await);
        let plane: Vec<&Child> = members.iter().collect();
        settled_plane(&cluster, &plane).await;
        let ids = &names[..size];
        let client = Client::new();
        let mut watches = Vec::new();
        for i in 0..AGENTS {
            // Fresh agents for each size.
            let node = format!("/counter/{size}-{i}");
            let owner = plane
                .iter()
                .find(|member| {
                    let placement = tidal::cluster::Placement::new(plane::TEST_SHARDS);
                    placement.owner(placement.shard_of(&node), ids) == Some(&member.id.as_str())
                })
                .unwrap();
            let (view, mut seen) = watch_total(&client, &owner.host, &node, "total").await;
            sees(&mut seen, 0, "the sync").await;
            watches.push((node, owner.host.clone(), view, seen));
        }
        let start = Instant::now();
        for _ in 0..COMMANDS {
            for (node, host, _, _) in &watches {
                client.command(host, node, "add", 1i64).await.unwrap();
            }
        }
        for (_, _, _, seen) in &mut watches {
            sees(seen, COMMANDS, "the last command").await;
        }
        let elapsed = start.elapsed();
        let rate = (AGENTS as f64 * COMMANDS as f64) / elapsed.as_secs_f64();
        let base = *single.get_or_insert(rate);
        println!(
            "   {size} member(s): {rate:.0} commands/s ({:.0} per member, {:.0} per core of 2), {:.2}x one member",
            rate / size as f64,
            rate / 2.0,
            rate / base
        );
    }
}
