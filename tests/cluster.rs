//! The pieces of the cluster on a real PostgreSQL server (started by `scripts/postgres.sh`):
//! membership by heartbeats judged by the database's clock, shard leases whose epochs fence a
//! stale owner, and the store that checks them in every turn's transaction.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tidal::cluster::{
    run_keeper, HeldShards, KeeperConfig, Leases, Member, Membership, Placement, PostgresCluster,
    ShardEvent, ShardId,
};
use tidal::store::{
    Change, Durability, Fence, FenceToken, PostgresStore, Store, StoreConfig, StoreError, Turn,
};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

#[path = "support/postgres.rs"]
mod postgres;
use postgres::Postgres;

#[path = "support/plane.rs"]
mod plane;
use plane::*;

#[path = "support/python.rs"]
mod python_client;

fn member(id: &str) -> Member {
    Member {
        id: id.to_owned(),
        address: format!("ws://127.0.0.1/{id}"),
        version: "test".to_owned(),
    }
}

/// Polls `attempt` until it gives a value (a time-based state of the database: a lease running
/// out), for at most 10 s.
async fn until<T, F, Fut>(what: &str, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(value) = attempt().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const LONG: Duration = Duration::from_secs(60);
const SHORT: Duration = Duration::from_millis(300);

#[tokio::test]
async fn members_heartbeat_and_shards_are_claimed_renewed_taken_over_and_released() {
    let postgres = Postgres::start();
    let a = PostgresCluster::connect(&postgres.url).await.unwrap();
    let b = PostgresCluster::connect(&postgres.url).await.unwrap();

    // Membership: live by heartbeat, by the database's clock.
    a.register(&member("a")).await.unwrap();
    b.register(&member("b")).await.unwrap();
    let ids = |members: Vec<Member>| members.into_iter().map(|m| m.id).collect::<Vec<_>>();
    assert_eq!(ids(a.live(LONG).await.unwrap()), ["a", "b"]);
    assert!(a.heartbeat("a").await.unwrap());
    assert!(!a.heartbeat("nobody").await.unwrap());
    b.leave("b").await.unwrap();
    assert_eq!(ids(a.live(LONG).await.unwrap()), ["a"]);
    // A member that stops heartbeating is not live once its lease has passed.
    b.register(&member("b")).await.unwrap();
    until("b's heartbeat to age past the lease", || async {
        a.heartbeat("a").await.unwrap();
        (ids(a.live(SHORT).await.unwrap()) == ["a"]).then_some(())
    })
    .await;

    // Leases: one owner at a time; the epoch grows with every takeover.
    assert_eq!(a.claim(7, "a", LONG).await.unwrap(), Some(1));
    assert_eq!(b.claim(7, "b", LONG).await.unwrap(), None);
    assert_eq!(
        a.claim(7, "a", LONG).await.unwrap(),
        None,
        "held: no re-claim"
    );
    assert!(a.renew(7, "a", 1, LONG).await.unwrap());
    assert!(!b.renew(7, "b", 1, LONG).await.unwrap());

    // An owner that does not renew loses the shard once its lease runs out; its renewal at
    // the old epoch then fails, so it knows to stop the shard's agents.
    assert_eq!(a.claim(8, "a", SHORT).await.unwrap(), Some(1));
    let taken = until("a's lease on shard 8 to run out", || async {
        b.claim(8, "b", LONG).await.unwrap()
    })
    .await;
    assert_eq!(taken, 2);
    assert!(!a.renew(8, "a", 1, LONG).await.unwrap(), "fenced");

    // All of a member's renewals at once: only the leases it still holds, at their epochs.
    assert_eq!(a.claim(9, "a", LONG).await.unwrap(), Some(1));
    let renewed = a
        .renew_all(&[(7, 1), (8, 1), (9, 1), (10, 1)], "a", LONG)
        .await
        .unwrap();
    assert_eq!(
        renewed
            .iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>(),
        [7, 9].into(),
        "8 was taken over, 10 never claimed"
    );
    assert_eq!(b.renew_all(&[(8, 2)], "b", LONG).await.unwrap(), [8]);
    assert!(a.renew_all(&[], "a", LONG).await.unwrap().is_empty());

    // A release hands the shard over at once, at the next epoch.
    b.release(8, "b", 2).await.unwrap();
    assert!(!b.renew(8, "b", 2, LONG).await.unwrap());
    assert_eq!(a.claim(8, "a", LONG).await.unwrap(), Some(3));
    // A release by someone who does not hold the lease changes nothing.
    b.release(8, "b", 3).await.unwrap();
    assert_eq!(b.claim(8, "b", LONG).await.unwrap(), None);
}

/// Servers of a plane start together: each creates the tables it needs, and none fails on
/// another creating the same table at the same moment (PostgreSQL's `IF NOT EXISTS` alone
/// does not prevent that).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_starting_together_all_find_their_tables() {
    let postgres = Postgres::start();
    let url = postgres.url.as_str();
    let clusters = futures::future::join_all((0..6).map(|_| PostgresCluster::connect(url)));
    let stores = (0..3).map(|_| {
        let url = url.to_owned();
        tokio::task::spawn_blocking(move || {
            let fence = HeldShards::new("a", Placement::new(4));
            PostgresStore::connect_fenced(&url, StoreConfig::default(), Arc::new(fence))
        })
    });
    let (clusters, stores) = tokio::join!(clusters, futures::future::join_all(stores));
    for cluster in clusters {
        cluster.expect("the cluster's tables");
    }
    for store in stores {
        store.unwrap().expect("the store's tables");
    }
}

#[tokio::test]
async fn racing_claims_have_exactly_one_winner() {
    let postgres = Postgres::start();
    let a = PostgresCluster::connect(&postgres.url).await.unwrap();
    let b = PostgresCluster::connect(&postgres.url).await.unwrap();
    for shard in 0..100 {
        let (x, y) = tokio::join!(a.claim(shard, "a", LONG), b.claim(shard, "b", LONG));
        let winners = [x.unwrap(), y.unwrap()];
        assert_eq!(
            winners.iter().filter(|w| w.is_some()).count(),
            1,
            "shard {shard}: {winners:?}"
        );
    }
}

/// The lease a server holds for every node: a test's stand-in for a server's table of shards.
struct Held(Mutex<Option<FenceToken>>);

impl Held {
    fn new(shard: u32, owner: &str, epoch: i64) -> Arc<Held> {
        Arc::new(Held(Mutex::new(Some(FenceToken {
            shard,
            owner: owner.to_owned(),
            epoch,
        }))))
    }
}

impl Fence for Held {
    fn token(&self, _node: &str) -> Option<FenceToken> {
        self.0.lock().unwrap().clone()
    }
}

fn balance(store: &PostgresStore) -> Option<Vec<u8>> {
    let state = store.load("/account/1").unwrap();
    state.get("balance").and_then(|item| item.value.clone())
}

#[tokio::test]
async fn a_stale_owner_s_writes_are_refused_once_its_shard_is_taken_over() {
    let postgres = Postgres::start();
    let a = PostgresCluster::connect(&postgres.url).await.unwrap();
    let b = PostgresCluster::connect(&postgres.url).await.unwrap();
    let shard = Placement::default().shard_of("/account/1");
    let sync = StoreConfig::default().with_durability(Durability::Sync);
    let write = |value: u8| [("balance", Change::Value(vec![value]))];

    // A holds the shard: its turns land.
    let epoch_a = a.claim(shard, "a", SHORT).await.unwrap().unwrap();
    let held_a = Held::new(shard, "a", epoch_a);
    let store_a =
        PostgresStore::connect_fenced(&postgres.url, sync.clone(), held_a.clone()).unwrap();
    store_a.commit("/account/1", &write(1)).unwrap();

    // A stops renewing (cut off, or paused); B takes the shard over at the next epoch.
    let epoch_b = until("a's lease to run out", || async {
        b.claim(shard, "b", LONG).await.unwrap()
    })
    .await;
    assert_eq!(epoch_b, epoch_a + 1);
    let store_b =
        PostgresStore::connect_fenced(&postgres.url, sync, Held::new(shard, "b", epoch_b)).unwrap();

    // A's next turn is refused and nothing of it lands; B's turns land.
    let error = store_a.commit("/account/1", &write(2)).unwrap_err();
    assert!(matches!(error, StoreError::Write { .. }), "{error}");
    assert!(
        std::error::Error::source(&error)
            .unwrap()
            .to_string()
            .contains("fenced"),
        "{error}"
    );
    assert_eq!(balance(&store_b), Some(vec![1]));
    store_b.commit("/account/1", &write(3)).unwrap();
    assert_eq!(balance(&store_a), Some(vec![3]));

    // A server that holds no lease for the node writes nothing.
    *held_a.0.lock().unwrap() = None;
    let error = store_a.commit("/account/1", &write(4)).unwrap_err();
    assert!(error.to_string().contains("/account/1"), "{error}");
    assert_eq!(balance(&store_b), Some(vec![3]));

    // In one group (one transaction), the turn made under the stale lease is refused alone:
    // the turn under the current lease lands; nothing of the stale one does.
    let tokens = ByNode(HashMap::from([
        ("/account/1", (shard, "b", epoch_b)),
        ("/account/2", (shard, "a", epoch_a)),
    ]));
    let store = PostgresStore::connect_fenced(
        &postgres.url,
        StoreConfig::default().with_durability(Durability::Sync),
        Arc::new(tokens),
    )
    .unwrap();
    let (current, stale) = (write(5), write(6));
    let results = store.commit_group(&[
        Turn {
            node: "/account/2",
            changes: &stale,
        },
        Turn {
            node: "/account/1",
            changes: &current,
        },
    ]);
    assert!(
        matches!(&results[..], [Err(StoreError::Write { node, .. }), Ok(())] if node == "/account/2"),
        "{results:?}"
    );
    assert_eq!(balance(&store_b), Some(vec![5]));
    assert!(store.load("/account/2").unwrap().is_empty());
}

/// The lease a server holds for each node, by node.
struct ByNode(HashMap<&'static str, (u32, &'static str, i64)>);

impl Fence for ByNode {
    fn token(&self, node: &str) -> Option<FenceToken> {
        let (shard, owner, epoch) = self.0.get(node)?;
        Some(FenceToken {
            shard: *shard,
            owner: (*owner).to_owned(),
            epoch: *epoch,
        })
    }
}

/// A server's keeper, run in this process.
struct Keeper {
    held: HeldShards,
    events: mpsc::UnboundedReceiver<ShardEvent>,
    stop: watch::Sender<()>,
    task: JoinHandle<Result<(), tidal::cluster::ClusterError>>,
}

const PLANE: u32 = 64;

/// Short, to keep the test short; long enough that a graceful hand-off (within a tick) is told
/// apart from a takeover after the lease ran out, on a loaded machine.
const KEEPER_LEASE: Duration = Duration::from_secs(2);

fn keeper_config() -> KeeperConfig {
    KeeperConfig::with_lease(KEEPER_LEASE).with_placement(Placement::new(PLANE))
}

async fn keeper(url: &str, id: &str) -> Keeper {
    let engine = Arc::new(PostgresCluster::connect(url).await.unwrap());
    let held = HeldShards::new(id, Placement::new(PLANE));
    let (events_tx, events) = mpsc::unbounded_channel();
    let (stop, stopped) = watch::channel(());
    let task = tokio::spawn(run_keeper(
        keeper_config(),
        member(id),
        engine,
        held.clone(),
        events_tx,
        stopped,
    ));
    Keeper {
        held,
        events,
        stop,
        task,
    }
}

/// The shards each keeper holds.
fn holdings(keepers: &[(&str, &Keeper)]) -> Vec<(String, Vec<ShardId>)> {
    keepers
        .iter()
        .map(|(id, keeper)| {
            let shards = keeper.held.held().into_iter().map(|(s, _)| s).collect();
            ((*id).to_owned(), shards)
        })
        .collect()
}

/// Waits until the keepers hold exactly what placement over their ids gives each.
async fn settled(keepers: &[(&str, &Keeper)]) {
    let placement = Placement::new(PLANE);
    let ids: Vec<&str> = keepers.iter().map(|(id, _)| *id).collect();
    let expected: Vec<(String, Vec<ShardId>)> = ids
        .iter()
        .map(|id| {
            let shards = (0..PLANE)
                .filter(|shard| placement.owner(*shard, &ids) == Some(id))
                .collect();
            ((*id).to_owned(), shards)
        })
        .collect();
    until("the keepers to hold what placement gives them", || async {
        (holdings(keepers) == expected).then_some(())
    })
    .await;
}

/// Ownership as the servers of a plane see it: three settle, a fourth joins and takes about a
/// quarter, one leaves gracefully and hands off at once, one stops (a crash or a pause) and
/// its shards come back elsewhere once its leases run out, while its own view drops them too.
#[tokio::test]
async fn shard_keepers_share_the_plane_and_move_shards_on_join_leave_and_crash() {
    let postgres = Postgres::start();
    let url = &postgres.url;
    let (a, b, c) = (
        keeper(url, "a").await,
        keeper(url, "b").await,
        keeper(url, "c").await,
    );
    settled(&[("a", &a), ("b", &b), ("c", &c)]).await;
    let before = holdings(&[("a", &a), ("b", &b), ("c", &c)]);

    // A fourth joins: it takes only from the others, about a quarter of the plane.
    let mut d = keeper(url, "d").await;
    settled(&[("a", &a), ("b", &b), ("c", &c), ("d", &d)]).await;
    let after = holdings(&[("a", &a), ("b", &b), ("c", &c)]);
    let moved: usize = before
        .iter()
        .zip(&after)
        .map(|((_, was), (_, is))| was.iter().filter(|s| !is.contains(s)).count())
        .sum();
    let to_d = d.held.held().len();
    assert_eq!(moved, to_d, "every moved shard went to the newcomer");
    assert!((8..=26).contains(&to_d), "about 64 / 4 moved, not {to_d}");
    let mut gained = 0;
    while let Ok(event) = d.events.try_recv() {
        match event {
            ShardEvent::Gained(..) => gained += 1,
            ShardEvent::Members(_) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(gained, to_d);

    // b leaves gracefully: its shards are released, and taken within a tick or two.
    let handed_off = Instant::now();
    b.stop.send(()).unwrap();
    b.task.await.unwrap().unwrap();
    settled(&[("a", &a), ("c", &c), ("d", &d)]).await;
    assert!(
        handed_off.elapsed() < KEEPER_LEASE,
        "a graceful hand-off does not wait for leases to run out: {:?}",
        handed_off.elapsed()
    );

    // c stops dead (no release, no leave): after its leases run out, a and d have its shards
    // at the next epoch, and c's own fence stopped answering before that.
    let c_shards = c.held.held();
    c.task.abort();
    until("c's own view to drop its shards", || async {
        c.held.held().is_empty().then_some(())
    })
    .await;
    let dropped = Instant::now();
    settled(&[("a", &a), ("d", &d)]).await;
    let takeover = dropped.elapsed();
    assert!(
        takeover < KEEPER_LEASE + Duration::from_secs(2),
        "{takeover:?}"
    );
    let now_held: Vec<(ShardId, i64)> = [&a, &d]
        .iter()
        .flat_map(|keeper| keeper.held.held())
        .collect();
    for (shard, epoch) in c_shards {
        let (_, new_epoch) = now_held.iter().find(|(s, _)| *s == shard).unwrap();
        assert!(
            *new_epoch > epoch,
            "shard {shard} taken over at a new epoch"
        );
    }
    for keeper in [a, d] {
        keeper.stop.send(()).unwrap();
        keeper.task.await.unwrap().unwrap();
    }
}

/// PostgreSQL restarts under two running keepers: they reconnect, and the plane settles again
/// as placement says (shards whose leases ran out meanwhile are claimed again, at new epochs).
#[tokio::test]
async fn keepers_carry_on_after_postgresql_restarts() {
    let mut postgres = Postgres::start();
    let (a, b) = (
        keeper(&postgres.url, "a").await,
        keeper(&postgres.url, "b").await,
    );
    settled(&[("a", &a), ("b", &b)]).await;
    postgres.restart();
    let restarted = Instant::now();
    // Past two leases, what they held before the restart would have been dropped unless they
    // renewed (or claimed again) over new connections.
    until("two leases to pass since the restart", || async {
        (restarted.elapsed() > 2 * KEEPER_LEASE).then_some(())
    })
    .await;
    settled(&[("a", &a), ("b", &b)]).await;
    for keeper in [a, b] {
        keeper.stop.send(()).unwrap();
        keeper.task.await.unwrap().unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Servers of one plane, each a child process: this test binary run again with
// `cluster_member_child` only.

use tidal::prelude::*;

/// Not a test of its own: a member of the plane, run as a child process by the tests below.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by the plane tests as their child process"]
async fn cluster_member_child() {
    let (database, id) = member_env().expect("run as a child, with a database and an id");
    run_member(database, id).await;
}

/// How the tests run [`cluster_member_child`].
const CHILD: &[&str] = &[
    "cluster_member_child",
    "--exact",
    "--ignored",
    "--nocapture",
    "--test-threads=1",
];

/// A PostgreSQL server and a plane of three members on it, `a`, `b` and `c`, settled.
async fn three_members() -> (Postgres, PostgresCluster, [Child; 3]) {
    let postgres = Postgres::start();
    let a = Child::start(CHILD, &postgres.url, "a").await;
    let b = Child::start(CHILD, &postgres.url, "b").await;
    let c = Child::start(CHILD, &postgres.url, "c").await;
    let cluster = PostgresCluster::connect(&postgres.url).await.unwrap();
    settled_plane(&cluster, &[&a, &b, &c]).await;
    (postgres, cluster, [a, b, c])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_of_one_member_reaches_the_agents_of_the_others() {
    let (_postgres, _cluster, [a, b, c]) = three_members().await;

    let client = tidal::client::Client::new();
    for owner in [&b, &c] {
        let node = counters_owned_by(&owner.id, &["a", "b", "c"], 1).remove(0);
        // Through a: a sync, then commands; the events come back through a.
        let (_view, mut seen) = watch_total(&client, &a.host, &node, "total").await;
        sees(&mut seen, 0, "the sync through a").await;
        for _ in 0..3 {
            client.command(&a.host, &node, "add", 5i64).await.unwrap();
        }
        sees(&mut seen, 15, "the events through a").await;
        // The owner has the same state: it ran the commands.
        let (_direct, mut direct) = watch_total(&client, &owner.host, &node, "total").await;
        sees(&mut direct, 15, "the owner").await;

        // An agent on a (or wherever its node is placed) follows the counter through a
        // downlink that names no host.
        let mirror = node.replace("/counter/", "/mirror/");
        let (_mirror, mut mirrored) = watch_total(&client, &a.host, &mirror, "seen").await;
        sees(&mut mirrored, 15, "the agent-to-agent downlink's sync").await;
        client.command(&c.host, &node, "add", 1i64).await.unwrap();
        sees(&mut direct, 16, "the command through c, at the owner").await;
        sees(&mut mirrored, 16, "the agent-to-agent downlink").await;
    }
}

/// The owner of each shard now.
async fn owners(cluster: &PostgresCluster) -> Vec<String> {
    cluster
        .holders()
        .await
        .unwrap()
        .into_iter()
        .map(|(_, owner, _)| owner)
        .collect()
}

/// Links through `gateway` and straight to `owner` to each of `nodes`, after a command of 1
/// to each has been seen by both.
async fn watched_counters(
    client: &tidal::client::Client,
    gateway: &Child,
    owner: &Child,
    nodes: &[String],
) -> Vec<Watching> {
    let mut watching = Vec::new();
    for node in nodes {
        let (via_gateway, mut gateway_seen) =
            watch_total(client, &gateway.host, node, "total").await;
        let (direct, mut direct_seen) = watch_total(client, &owner.host, node, "total").await;
        client
            .command(&gateway.host, node, "add", 1i64)
            .await
            .unwrap();
        sees(
            &mut gateway_seen,
            1,
            "the first command, through the gateway",
        )
        .await;
        sees(&mut direct_seen, 1, "the first command, at the owner").await;
        watching.push(Watching {
            node: node.clone(),
            _views: [via_gateway, direct],
            seen: [gateway_seen, direct_seen],
        });
    }
    watching
}

/// Two links to a counter and what they see.
struct Watching {
    node: String,
    _views: [ValueDownlinkHandle<i64>; 2],
    seen: [mpsc::UnboundedReceiver<i64>; 2],
}

impl Watching {
    /// Both links see `want`, with no unlink on the way.
    async fn both_see(&mut self, want: i64, what: &str) {
        let [via_gateway, direct] = &mut self.seen;
        sees(
            via_gateway,
            want,
            &format!("{what}, {} through the gateway", self.node),
        )
        .await;
        sees(
            direct,
            want,
            &format!("{what}, {} linked at its first owner", self.node),
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_joins_a_quarter_of_the_shards_move_and_every_link_follows_its_agent() {
    let (postgres, cluster, [a, b, c]) = three_members().await;

    // Counters that will move to d, and some that stay; each linked through a and at its
    // owner.
    let placement = Placement::new(TEST_SHARDS);
    let owner = |node: &String, members: &[&'static str]| {
        placement
            .owner(placement.shard_of(node), members)
            .copied()
            .unwrap()
    };
    let moves = |node: &String| owner(node, &["a", "b", "c", "d"]) == "d";
    let nodes = (0..).map(|n| format!("/counter/{n}"));
    let mut chosen: Vec<String> = nodes.clone().filter(|node| moves(node)).take(3).collect();
    chosen.extend(nodes.filter(|node| !moves(node)).take(3));
    let client = tidal::client::Client::new();
    let mut watching = Vec::new();
    for node in &chosen {
        let first = [&a, &b, &c]
            .into_iter()
            .find(|member| member.id == owner(node, &["a", "b", "c"]))
            .unwrap();
        watching.extend(watched_counters(&client, &a, first, std::slice::from_ref(node)).await);
    }
    // An agent that moves to d joins every chosen counter (a join lane: its links are stored).
    let joining = (0..)
        .map(|n| format!("/kinds/{n}"))
        .find(|node| moves(node))
        .unwrap();
    let numbers: Vec<i64> = chosen
        .iter()
        .map(|node| node.trim_start_matches("/counter/").parse().unwrap())
        .collect();
    for n in &numbers {
        client
            .command(&a.host, &joining, "drive", *n)
            .await
            .unwrap();
    }
    let joined = |total: i64| -> std::collections::BTreeMap<String, i64> {
        numbers.iter().map(|n| (format!("k{n}"), total)).collect()
    };
    let (changed, mut changes) = watch::channel(0u64);
    let tick = move || changed.send_modify(|n| *n += 1);
    let join_view = client
        .map_downlink::<String, i64>(&a.host, &joining, "join")
        .on_update(move |_, _, _, _| tick())
        .open()
        .await
        .unwrap();
    map_sees(&join_view, &mut changes, joined(1), "before the join").await;

    let before = owners(&cluster).await;
    let d = Child::start(CHILD, &postgres.url, "d").await;
    settled_plane(&cluster, &[&a, &b, &c, &d]).await;
    let after = owners(&cluster).await;
    let moved: Vec<(&String, &String)> = before
        .iter()
        .zip(&after)
        .filter(|(was, is)| was != is)
        .collect();
    assert!(
        moved.iter().all(|(_, is)| *is == "d"),
        "only the newcomer gains shards: {moved:?}"
    );
    assert!(
        (4..=14).contains(&moved.len()),
        "about a quarter of {TEST_SHARDS} shards move, not {}",
        moved.len()
    );

    // Every counter kept its state, and every link, through a or made at b, follows it: a
    // command through any member reaches it, and no link was unlinked.
    for (i, watch) in watching.iter_mut().enumerate() {
        let via = [&a, &c, &d][i % 3];
        client
            .command(&via.host, &watch.node, "add", 1i64)
            .await
            .unwrap();
        watch.both_see(2, "after the join").await;
    }
    // The joining agent moved to d with its links: it follows every counter again.
    map_sees(&join_view, &mut changes, joined(2), "after the join").await;
}

/// Waits (at most 20 s) until the map `view` holds `expected`; `changes` ticks on its updates.
async fn map_sees(
    view: &MapDownlinkHandle<String, i64>,
    changes: &mut watch::Receiver<u64>,
    expected: std::collections::BTreeMap<String, i64>,
    what: &str,
) {
    let seen = async {
        while view
            .get_map()
            .into_iter()
            .collect::<std::collections::BTreeMap<_, _>>()
            != expected
        {
            changes.changed().await.unwrap();
        }
    };
    if tokio::time::timeout(Duration::from_secs(20), seen)
        .await
        .is_err()
    {
        panic!("{what}: the map has {:?}, not {expected:?}", view.get_map());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sigkill_the_agents_of_a_member_come_back_elsewhere_with_every_acknowledged_change() {
    let (_postgres, cluster, [a, mut b, c]) = three_members().await;

    let nodes = counters_owned_by("b", &["a", "b", "c"], 3);
    let client = tidal::client::Client::new();
    let mut through_a = Vec::new();
    for node in &nodes {
        let (view, mut seen) = watch_total(&client, &a.host, node, "total").await;
        // Acknowledged: under `Sync`, the turn was committed before its event was published.
        for n in 1..=3 {
            client.command(&a.host, node, "add", 1i64).await.unwrap();
            sees(&mut seen, n, "a command before the kill").await;
        }
        through_a.push((node, view, seen));
    }

    let killed = Instant::now();
    b.process.kill().unwrap();
    b.process.wait().unwrap();
    // Once b's lease has run out, the agents start elsewhere from the stored state, and a's
    // links resync there. (A command sent through a before a sees b gone waits for b.)
    for (_, _, seen) in &mut through_a {
        sees(seen, 3, "the resync after the kill").await;
    }
    for (node, _, seen) in &mut through_a {
        client.command(&a.host, node, "add", 1i64).await.unwrap();
        sees(seen, 4, "the first command after the kill").await;
    }
    let serving = killed.elapsed();
    println!("SIGKILL to serving again: {serving:?} (lease {TEST_LEASE:?})");
    assert!(
        serving < TEST_LEASE * 3 + Duration::from_secs(2),
        "the agents came back in {serving:?}"
    );
    settled_plane(&cluster, &[&a, &c]).await;
}

/// Counters of `owner` linked through `gateway`, each after `acknowledged` commands of 1 that
/// the link has seen (acknowledged: under `Sync`, a turn is committed before its event).
async fn acknowledged_counters(
    client: &tidal::client::Client,
    gateway: &Child,
    owner: &str,
    members: &[&str],
    acknowledged: i64,
) -> Vec<(
    String,
    ValueDownlinkHandle<i64>,
    mpsc::UnboundedReceiver<i64>,
)> {
    let mut counters = Vec::new();
    for node in counters_owned_by(owner, members, 3) {
        let (view, mut seen) = watch_total(client, &gateway.host, &node, "total").await;
        for n in 1..=acknowledged {
            client
                .command(&gateway.host, &node, "add", 1i64)
                .await
                .unwrap();
            sees(&mut seen, n, "a command before the change").await;
        }
        counters.push((node, view, seen));
    }
    counters
}

/// Each counter's link resyncs with `value`, then sees a command through `gateway`.
async fn carry_on(
    client: &tidal::client::Client,
    gateway: &Child,
    counters: &mut [(
        String,
        ValueDownlinkHandle<i64>,
        mpsc::UnboundedReceiver<i64>,
    )],
    value: i64,
) {
    for (_, _, seen) in counters.iter_mut() {
        sees(seen, value, "the resync").await;
    }
    for (node, _, seen) in counters.iter_mut() {
        client
            .command(&gateway.host, node, "add", 1i64)
            .await
            .unwrap();
        sees(seen, value + 1, "a command after the change").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sigterm_a_member_hands_its_shards_off_with_nothing_lost() {
    let (_postgres, cluster, [a, b, mut c]) = three_members().await;
    let client = tidal::client::Client::new();
    let mut counters = acknowledged_counters(&client, &a, "c", &["a", "b", "c"], 3).await;

    let terminated = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &c.process.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || {
        let exit = c.process.wait().unwrap();
        (c, exit)
    });
    let (_c, exit) = tokio::time::timeout(Duration::from_secs(20), exit)
        .await
        .expect("the member stops in time")
        .unwrap();
    assert!(exit.success(), "a graceful stop: {exit:?}");
    // It left the plane: its shards were released, not left to expire.
    let members = cluster.live(Duration::from_secs(60)).await.unwrap();
    assert_eq!(
        members.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    carry_on(&client, &a, &mut counters, 3).await;
    println!("SIGTERM to serving again: {:?}", terminated.elapsed());
    settled_plane(&cluster, &[&a, &b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_restarts_under_the_plane_and_the_members_carry_on_with_nothing_lost() {
    let (mut postgres, cluster, [a, b, c]) = three_members().await;
    let client = tidal::client::Client::new();
    let mut counters = acknowledged_counters(&client, &a, "b", &["a", "b", "c"], 2).await;
    counters.extend(acknowledged_counters(&client, &a, "a", &["a", "b", "c"], 2).await);

    // A restart takes about a lease (2 s): members that cannot renew in time drop their
    // shards and stop their agents, then claim them again once the database is back.
    let _postgres = tokio::task::spawn_blocking(move || {
        postgres.restart();
        postgres
    })
    .await
    .unwrap();
    // Links whose agent stopped resync; a member that renewed in time kept its agents (and
    // their links) running. Either way, once the plane has settled, every counter carries on
    // from its acknowledged state.
    settled_plane(&cluster, &[&a, &b, &c]).await;
    for (node, _, seen) in &mut counters {
        client.command(&a.host, node, "add", 1i64).await.unwrap();
        sees(seen, 3, "a command after the restart").await;
    }
}

/// A gateway's stand-in for a node ends once idle (three leases with no link and no request);
/// a request for the node after that is served through a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_through_a_gateway_after_its_stand_in_went_idle_is_served() {
    let (_postgres, _cluster, [a, _b, _c]) = three_members().await;
    let node = counters_owned_by("b", &["a", "b", "c"], 1).remove(0);
    let client = tidal::client::Client::new();
    client.command(&a.host, &node, "add", 1i64).await.unwrap();
    // The idle period itself: nothing is sent for the node meanwhile.
    tokio::time::sleep(TEST_LEASE * 3 + Duration::from_secs(1)).await;
    client.command(&a.host, &node, "add", 1i64).await.unwrap();
    let (_view, mut seen) = watch_total(&client, &a.host, &node, "total").await;
    sees(&mut seen, 2, "both commands").await;
}

/// Waits (at most 20 s) for a key of the log that `wanted` picks.
async fn log_key(
    keys: &mut mpsc::UnboundedReceiver<String>,
    wanted: impl Fn(&str) -> bool,
    what: &str,
) -> String {
    let wait = async {
        while let Some(key) = keys.recv().await {
            if wanted(&key) {
                return key;
            }
        }
        panic!("{what}: the link closed");
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .unwrap_or_else(|_| panic!("{what}: not seen in time"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_stopped_past_its_lease_loses_its_shards_and_none_of_its_late_writes_land() {
    let (postgres, cluster, [a, b, c]) = three_members().await;

    // A ticker of b, followed through a.
    let node = nodes_owned_by("/ticker", "b", &["a", "b", "c"], 1).remove(0);
    let client = tidal::client::Client::new();
    let (keys, mut seen) = mpsc::unbounded_channel();
    let _log = client
        .map_downlink::<String, i64>(&a.host, &node, "log")
        .on_update(move |_, key, _, _| {
            let _ = keys.send(key);
        })
        .open()
        .await
        .unwrap();
    let first = log_key(&mut seen, |key| key.starts_with("b/"), "b's ticker").await;
    let on_b = first.split_once(' ').unwrap().0.to_owned();

    signal(&b, "-STOP");
    let stopped = wall_ms();
    // Past b's lease, a and c take its shards; the ticker starts again there, and the link
    // through a follows it.
    settled_plane(&cluster, &[&a, &c]).await;
    let moved = log_key(
        &mut seen,
        |key| !key.starts_with("b/"),
        "the ticker elsewhere",
    )
    .await;
    println!("while b is stopped, the ticker runs as {moved}");

    // b resumes: its keeper finds its leases gone, and the ticker it still runs is stopped
    // (its writes are refused: its lease is no longer usable). b then joins again and gets
    // its shards back, with a new start of the ticker.
    signal(&b, "-CONT");
    settled_plane(&cluster, &[&a, &b, &c]).await;
    let back = log_key(
        &mut seen,
        |key| key.starts_with("b/") && !key.starts_with(&format!("{on_b} ")),
        "the ticker back on b",
    )
    .await;
    println!("after b resumed, the ticker runs as {back}");

    // The stored log: entries of the ticker b ran before the stop, none written after it.
    let store = tokio::task::spawn_blocking({
        let url = postgres.url.clone();
        move || PostgresStore::connect(&url, StoreConfig::default()).unwrap()
    })
    .await
    .unwrap();
    let state = store.load(&node).unwrap();
    let entries: Vec<(String, i64)> = state["log"]
        .entries
        .iter()
        .map(|(key, value)| {
            (
                tidal::store::codec::decode(key).unwrap(),
                tidal::store::codec::decode(value).unwrap(),
            )
        })
        .collect();
    let before: Vec<&(String, i64)> = entries
        .iter()
        .filter(|(key, _)| key.starts_with(&format!("{on_b} ")))
        .collect();
    assert!(!before.is_empty(), "b's first ticker wrote before the stop");
    let late: Vec<_> = before.iter().filter(|(_, at)| *at > stopped).collect();
    assert!(
        late.is_empty(),
        "writes of b's stale ticker landed: {late:?}"
    );
}

/// The real SwimOS Python client (the venv of `scripts/python-env.sh`), connected to one
/// member, syncs and commands counters owned by the others, and follows a map lane through a
/// burst, and sees what it would see at the owner (`tests/python/gateway.py`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_swimos_python_client_of_one_member_reaches_the_agents_of_the_others() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = tokio::task::spawn_blocking({
        let root = root.clone();
        move || python_client::python_env(&root)
    })
    .await
    .unwrap();

    let (_postgres, _cluster, [a, _b, _c]) = three_members().await;
    let mut nodes = counters_owned_by("b", &["a", "b", "c"], 2);
    nodes.extend(counters_owned_by("c", &["a", "b", "c"], 2));
    nodes.extend(nodes_owned_by("/kinds", "c", &["a", "b", "c"], 1));

    // Through a: the client's program bounds itself (a 60 s watchdog); this is the backstop.
    let mut command = std::process::Command::new(python);
    command
        .arg(root.join("tests/python/gateway.py"))
        .arg(&a.host)
        .args(&nodes);
    let ran =
        tokio::task::spawn_blocking(move || python_client::run(command, Duration::from_secs(90)))
            .await
            .unwrap()
            .unwrap();
    println!("{}", ran.stdout);
    assert!(
        ran.success()
            && ran.stdout.matches("ok /counter/").count() == 4
            && ran.stdout.matches("ok /kinds/").count() == 1,
        "the Python client through a gateway ({}):\n{}",
        ran.outcome(),
        ran.transcript()
    );
}

/// What a client sees of each lane of a [`Kinds`] agent, through one host.
struct KindsView {
    value: ValueDownlinkHandle<i64>,
    demand: ValueDownlinkHandle<i64>,
    map: MapDownlinkHandle<String, i64>,
    demand_map: MapDownlinkHandle<String, i64>,
    join: MapDownlinkHandle<String, i64>,
    /// What the command and the supply lane carried, in order.
    streams: [Arc<Mutex<Vec<i64>>>; 2],
    _events: [EventDownlinkHandle; 2],
}

/// Links to every lane of the [`Kinds`] agent at `node` through `host`; `changed` ticks on
/// every event.
async fn view_kinds(
    client: &tidal::client::Client,
    host: &str,
    node: &str,
    changed: &Arc<watch::Sender<u64>>,
) -> KindsView {
    let tick = |changed: &Arc<watch::Sender<u64>>| {
        let changed = changed.clone();
        move || changed.send_modify(|n| *n += 1)
    };
    let value = |lane: &'static str| {
        let (synced, event) = (tick(changed), tick(changed));
        client
            .value_downlink::<i64>(host, node, lane)
            .on_synced(move |_| synced())
            .on_event(move |_| event())
            .open()
    };
    let map = |lane: &'static str| {
        let (synced, update) = (tick(changed), tick(changed));
        client
            .map_downlink::<String, i64>(host, node, lane)
            .on_synced(move |_| synced())
            .on_update(move |_, _, _, _| update())
            .open()
    };
    let stream = |lane: &'static str, seen: &Arc<Mutex<Vec<i64>>>| {
        let (seen, linked, event) = (seen.clone(), tick(changed), tick(changed));
        client
            .event_downlink::<i64>(host, node, lane)
            .on_linked(linked)
            .on_event(move |n| {
                seen.lock().unwrap().push(n);
                event();
            })
            .open()
    };
    let streams = [Arc::default(), Arc::default()];
    KindsView {
        value: value("value").await.unwrap(),
        demand: value("demand").await.unwrap(),
        map: map("map").await.unwrap(),
        demand_map: map("demand_map").await.unwrap(),
        join: map("join").await.unwrap(),
        _events: [
            stream("drive", &streams[0]).await.unwrap(),
            stream("supply", &streams[1]).await.unwrap(),
        ],
        streams,
    }
}

impl KindsView {
    /// Whether every link is made (the command and supply lanes keep nothing: what they carry
    /// before their link is made is not seen).
    fn linked(&self) -> bool {
        let values = [&self.value, &self.demand].map(|view| view.is_linked());
        let maps = [&self.map, &self.demand_map, &self.join].map(|view| view.is_linked());
        let streams = self._events.each_ref().map(|view| view.is_linked());
        values
            .into_iter()
            .chain(maps)
            .chain(streams)
            .all(|linked| linked)
    }

    /// Value, demand, map, demand map, join, command and supply lane, as seen now.
    #[allow(clippy::type_complexity)]
    fn seen(
        &self,
    ) -> (
        Option<i64>,
        Option<i64>,
        std::collections::BTreeMap<String, i64>,
        std::collections::BTreeMap<String, i64>,
        std::collections::BTreeMap<String, i64>,
        Vec<i64>,
        Vec<i64>,
    ) {
        (
            self.value.get(),
            self.demand.get(),
            self.map.get_map().into_iter().collect(),
            self.demand_map.get_map().into_iter().collect(),
            self.join.get_map().into_iter().collect(),
            self.streams[0].lock().unwrap().clone(),
            self.streams[1].lock().unwrap().clone(),
        )
    }
}

/// Linked through a member that does not own the agent, every kind of lane delivers what it
/// delivers straight from the owner: every entry of a map, demand-map and join lane, every
/// command and supplied value, the latest value of value and demand lanes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_lane_reaches_a_client_of_a_gateway_as_it_does_at_the_owner() {
    let (_postgres, _cluster, [a, b, _c]) = three_members().await;
    let node = nodes_owned_by("/kinds", "b", &["a", "b", "c"], 1).remove(0);
    let client = tidal::client::Client::new();
    let (changed, mut changes) = watch::channel(0u64);
    let changed = Arc::new(changed);
    let through_a = view_kinds(&client, &a.host, &node, &changed).await;
    let at_b = view_kinds(&client, &b.host, &node, &changed).await;
    let all_linked = async {
        while !(through_a.linked() && at_b.linked()) {
            changes.changed().await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(20), all_linked)
        .await
        .expect("every link is made in time");

    // A burst of commands, none waiting for the last.
    for n in 1..=10i64 {
        client.command(&a.host, &node, "drive", n).await.unwrap();
    }
    let entries = |value: fn(i64) -> i64| -> std::collections::BTreeMap<String, i64> {
        (1..=10).map(|n| (format!("k{n}"), value(n))).collect()
    };
    let expected = (
        Some(10),
        Some(10),
        entries(|n| n),
        entries(|n| n),
        entries(|_| 0),
        (1..=10).collect::<Vec<_>>(),
        (1..=10).collect::<Vec<_>>(),
    );
    let all_seen = async {
        while through_a.seen() != expected || at_b.seen() != expected {
            changes.changed().await.unwrap();
        }
    };
    if tokio::time::timeout(Duration::from_secs(20), all_seen)
        .await
        .is_err()
    {
        panic!(
            "through the gateway: {:?}\nat the owner: {:?}\nexpected: {expected:?}",
            through_a.seen(),
            at_b.seen()
        );
    }
}
