//! The pieces of the cluster on a real PostgreSQL server (started by `scripts/postgres.sh`):
//! membership by heartbeats judged by the database's clock, shard leases whose epochs fence a
//! stale owner, and the store that checks them in every turn's transaction.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tidal::cluster::{
    run_keeper, HeldShards, KeeperConfig, Leases, Member, Membership, Placement, PostgresCluster,
    ShardEvent, ShardId,
};
use tidal::store::{
    Change, Durability, Fence, FenceToken, PostgresStore, Store, StoreConfig, StoreError,
};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

#[path = "support/postgres.rs"]
mod postgres;
use postgres::Postgres;

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

    // A release hands the shard over at once, at the next epoch.
    b.release(8, "b", 2).await.unwrap();
    assert!(!b.renew(8, "b", 2, LONG).await.unwrap());
    assert_eq!(a.claim(8, "a", LONG).await.unwrap(), Some(3));
    // A release by someone who does not hold the lease changes nothing.
    b.release(8, "b", 3).await.unwrap();
    assert_eq!(b.claim(8, "b", LONG).await.unwrap(), None);
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
        assert!(matches!(event, ShardEvent::Gained(..)), "{event:?}");
        gained += 1;
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
