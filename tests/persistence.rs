//! Persistence as users meet it: state back after a restart and after passivation, transient
//! lanes at their initial values, restoring without events, a type change that does not
//! decode, a store that cannot be opened or written, a map of 100,000 entries, and the same
//! agents on a real PostgreSQL server (started by `scripts/postgres.sh`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tidal::agent::agent_model::AgentRef;
use tidal::agent::event_handler::Sequentially;
use tidal::agent::lanes::MapMessage;
use tidal::prelude::*;
use tidal::server::ServerBuilderError;
use tidal::store::{
    AgentState, Change, Durability, FjallStore, InMemoryStore, PostgresStore, Store, StoreConfig,
    StoreError, Turn,
};
use tidal::testing::AgentHarness;
use tokio::sync::oneshot;

#[path = "support/postgres.rs"]
mod postgres;
use postgres::Postgres;

/// An agent with every kind of persistent item, a transient lane and a command lane.
#[projections]
#[derive(AgentLaneModel)]
pub struct Account {
    balance: ValueLane<i64>,
    entries: MapLane<String, i64>,
    note: ValueStore<String>,
    tags: MapStore<u32, String>,
    #[item(transient)]
    session: ValueLane<i64>,
    deposit: CommandLane<i64>,
    fill: CommandLane<u32>,
}

/// Every deposit changes every item.
#[derive(Clone, Default)]
pub struct AccountLifecycle {
    events: Arc<AtomicUsize>,
}

#[lifecycle(Account)]
impl AccountLifecycle {
    #[on_command(deposit)]
    fn deposit(
        &self,
        context: HandlerContext<Account>,
        amount: &i64,
    ) -> impl EventHandler<Account> {
        let amount = *amount;
        context
            .transform_value(Account::BALANCE, move |balance| balance + amount)
            .followed_by(context.update(Account::ENTRIES, format!("d{amount}"), amount))
            .followed_by(context.set_value(Account::NOTE, format!("last {amount}")))
            .followed_by(context.update(Account::TAGS, 1, format!("tag {amount}")))
            .followed_by(context.set_value(Account::SESSION, amount))
    }

    /// Inserts `n` entries in one event.
    #[on_command(fill)]
    fn fill(&self, context: HandlerContext<Account>, n: &u32) -> impl EventHandler<Account> {
        let n = *n;
        Sequentially::new(
            (0..n).map(move |i| context.update(Account::ENTRIES, format!("k{i}"), i64::from(i))),
        )
    }

    #[on_event(balance)]
    fn counted(&self, context: HandlerContext<Account>, _: &i64) -> impl EventHandler<Account> {
        let events = self.events.clone();
        context.effect(move || {
            events.fetch_add(1, Ordering::SeqCst);
        })
    }
}

fn harness(store: Arc<dyn Store>) -> AgentHarness<Account, AccountLifecycle> {
    AgentHarness::builder(Account::default(), AccountLifecycle::default())
        .uri("/account/1")
        .store(store)
        .build()
}

/// The agent at `/account/1` on `store`, started, after `deposits`.
fn deposited(store: &Arc<dyn Store>, deposits: &[i64]) -> AgentHarness<Account, AccountLifecycle> {
    let mut agent = harness(store.clone());
    agent.start().unwrap();
    for amount in deposits {
        agent.command(Account::DEPOSIT, *amount).unwrap();
    }
    agent
}

/// What a deposit of 5 then 7 leaves.
fn assert_deposited(agent: &AgentHarness<Account, AccountLifecycle>) {
    assert_eq!(agent.value(Account::BALANCE), 12);
    let entries = agent.map(Account::ENTRIES);
    assert_eq!((entries.get("d5"), entries.get("d7")), (Some(&5), Some(&7)));
    assert_eq!(agent.value(Account::NOTE), "last 7");
    assert_eq!(
        agent.map(Account::TAGS).get(&1).map(String::as_str),
        Some("tag 7")
    );
}

#[test]
fn a_restarted_agent_has_its_state_back_without_events() {
    let store: Arc<dyn Store> = Arc::new(InMemoryStore::new());
    let mut first = deposited(&store, &[5, 7]);
    first
        .command(Account::ENTRIES, MapMessage::Remove { key: "nope".into() })
        .unwrap();
    assert_deposited(&first);
    assert_eq!(first.value(Account::SESSION), 7);
    first.stop().unwrap();

    let lifecycle = AccountLifecycle::default();
    let events = lifecycle.events.clone();
    let mut second = AgentHarness::builder(Account::default(), lifecycle)
        .uri("/account/1")
        .store(store.clone())
        .build();
    let published = second.record(Account::BALANCE);
    second.start().unwrap();
    assert_deposited(&second);
    // Transient: back at its initial value.
    assert_eq!(second.value(Account::SESSION), 0);
    // Restoring fires no lane event and publishes nothing.
    assert_eq!(events.load(Ordering::SeqCst), 0);
    assert!(published.take().is_empty());

    // Another node's state is its own.
    let mut other = AgentHarness::builder(Account::default(), AccountLifecycle::default())
        .uri("/account/2")
        .store(store)
        .build();
    other.start().unwrap();
    assert_eq!(other.value(Account::BALANCE), 0);
}

#[test]
fn removals_and_clears_are_persisted() {
    removals_and_clears(Arc::new(InMemoryStore::new()));
}

/// A removal, a clear and an update after it reach `store`: a new instance sees only the update.
fn removals_and_clears(store: Arc<dyn Store>) {
    let mut first = deposited(&store, &[5, 7]);
    first
        .command(Account::ENTRIES, MapMessage::Remove { key: "d5".into() })
        .unwrap();
    first.command(Account::ENTRIES, MapMessage::Clear).unwrap();
    first
        .command(
            Account::ENTRIES,
            MapMessage::Update {
                key: "after".into(),
                value: 1,
            },
        )
        .unwrap();
    let mut second = harness(store);
    second.start().unwrap();
    let entries = second.map(Account::ENTRIES);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries.get("after"), Some(&1));
}

#[test]
fn agents_keep_their_state_in_postgresql_across_restarts_of_the_agent_and_the_database() {
    let mut postgres = Postgres::start();
    let sync = StoreConfig::default().with_durability(Durability::Sync);
    let store: Arc<dyn Store> =
        Arc::new(PostgresStore::connect(&postgres.url, sync.clone()).unwrap());

    // The state of every kind of item comes back in a new instance, without events.
    let mut first = deposited(&store, &[5, 7]);
    first.stop().unwrap();
    let mut second = harness(store.clone());
    second.start().unwrap();
    assert_deposited(&second);
    assert_eq!(second.value(Account::SESSION), 0);
    second.stop().unwrap();
    // (Deposits 5 and 7 again: the balance is 24.)
    removals_and_clears(store.clone());

    // The database restarts under a connected store: the next turn reconnects, and nothing
    // acknowledged before or after is lost.
    let mut agent = harness(store.clone());
    agent.start().unwrap();
    agent.command(Account::DEPOSIT, 100).unwrap();
    postgres.restart();
    agent.command(Account::DEPOSIT, 1000).unwrap();
    agent.stop().unwrap();
    let mut after = harness(store.clone());
    after.start().unwrap();
    assert_eq!(after.value(Account::BALANCE), 24 + 100 + 1000);

    // A second store on the same database (another server, or this one restarted) sees it
    // all; asynchronous commit (group commit) loses nothing while the database runs.
    let grouped = PostgresStore::connect(&postgres.url, StoreConfig::default()).unwrap();
    assert!(!grouped.gathers_turns(), "one transaction per turn");
    let mut other = harness(Arc::new(grouped));
    other.start().unwrap();
    assert_eq!(other.value(Account::BALANCE), 1124);
    other.command(Account::DEPOSIT, 8).unwrap();
    other.stop().unwrap();
    let mut last = harness(store);
    last.start().unwrap();
    assert_eq!(last.value(Account::BALANCE), 1132);

    // A URL that does not parse is a clear error, at once.
    let error = PostgresStore::connect("postgres://tidal@127.0.0.1:notaport/tidal", sync)
        .err()
        .expect("a bad URL fails");
    assert!(matches!(error, StoreError::Open { .. }), "{error}");
    assert!(error.to_string().contains("cannot open"), "{error}");
}

/// The same node, with `balance` now a text lane.
#[projections]
#[derive(AgentLaneModel)]
pub struct Renamed {
    balance: ValueLane<String>,
}

#[derive(Clone)]
pub struct RenamedLifecycle;

#[lifecycle(Renamed)]
impl RenamedLifecycle {}

#[test]
fn state_of_another_type_stops_the_agent_with_the_lane_and_type() {
    let store: Arc<dyn Store> = Arc::new(InMemoryStore::new());
    deposited(&store, &[5]);

    let mut changed = AgentHarness::builder(Renamed::default(), RenamedLifecycle)
        .uri("/account/1")
        .store(store)
        .build();
    let failure = changed.start().unwrap_err();
    let message = failure.to_string();
    assert_eq!(failure.lane, Some("balance"));
    assert!(message.contains("/account/1"), "{message}");
    assert!(message.contains("alloc::string::String"), "{message}");
    assert!(
        changed.is_stopped() || message.contains("does not decode"),
        "{message}"
    );
}

/// The same node, with `balance` now a text lane that may start afresh.
#[projections]
#[derive(AgentLaneModel)]
pub struct Forgiving {
    #[item(on_decode_error = reset)]
    balance: ValueLane<String>,
    #[item(on_decode_error = reset)]
    entries: MapLane<String, String>,
}

#[derive(Clone)]
pub struct ForgivingLifecycle;

#[lifecycle(Forgiving)]
impl ForgivingLifecycle {}

#[test]
fn items_that_reset_on_decode_errors_start_afresh_and_replace_the_old_state() {
    let store: Arc<dyn Store> = Arc::new(InMemoryStore::new());
    deposited(&store, &[5]);

    let forgiving = || {
        AgentHarness::builder(Forgiving::default(), ForgivingLifecycle)
            .uri("/account/1")
            .store(store.clone())
            .build()
    };
    let mut agent = forgiving();
    agent.start().unwrap();
    assert_eq!(agent.value(Forgiving::BALANCE), "");
    assert!(agent.map(Forgiving::ENTRIES).is_empty());
    agent
        .command(
            Forgiving::ENTRIES,
            MapMessage::Update {
                key: "a".into(),
                value: "b".into(),
            },
        )
        .unwrap();
    // The old state is gone from the store: the next start restores without a reset.
    let mut again = forgiving();
    again.start().unwrap();
    let entries = again.map(Forgiving::ENTRIES);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries.get("a").map(String::as_str), Some("b"));
}

/// A store in memory that counts its commits, fails them from the `fail_from`-th on, and
/// gathers turns or not.
struct CountingStore {
    inner: InMemoryStore,
    commits: AtomicUsize,
    fail_from: usize,
    gathers: bool,
}

impl CountingStore {
    fn new(fail_from: usize, gathers: bool) -> Self {
        CountingStore {
            inner: InMemoryStore::new(),
            commits: AtomicUsize::new(0),
            fail_from,
            gathers,
        }
    }

    fn commits(&self) -> usize {
        self.commits.load(Ordering::SeqCst)
    }
}

impl Store for CountingStore {
    fn load(&self, node: &str) -> Result<AgentState, StoreError> {
        self.inner.load(node)
    }

    fn commit(&self, node: &str, changes: &[(&str, Change)]) -> Result<(), StoreError> {
        if self.commits.fetch_add(1, Ordering::SeqCst) + 1 >= self.fail_from {
            return Err(StoreError::Write {
                node: node.to_owned(),
                source: "the disk is full".into(),
            });
        }
        self.inner.commit(node, changes)
    }

    fn gathers_turns(&self) -> bool {
        self.gathers
    }
}

#[test]
fn a_turn_that_cannot_be_written_stops_the_agent_with_the_reason() {
    let store: Arc<dyn Store> = Arc::new(CountingStore::new(2, false));
    let mut agent = harness(store);
    let published = agent.record(Account::BALANCE);
    agent.start().unwrap();
    agent.command(Account::DEPOSIT, 5).unwrap();
    let failure = agent.command(Account::DEPOSIT, 7).unwrap_err();
    // Nobody heard of the turn that did not land (12): only of the one that did.
    assert_eq!(published.take(), [5]);
    assert!(
        failure.to_string().contains("the disk is full"),
        "{failure}"
    );
    assert!(agent.is_stopped());
}

#[test]
fn a_map_of_100_000_entries_loads_and_updates() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig::default().with_durability(Durability::Buffered);
    {
        let store: Arc<dyn Store> = Arc::new(FjallStore::open(dir.path(), config.clone()).unwrap());
        let mut agent = harness(store);
        agent.start().unwrap();
        agent.command(Account::FILL, 100_000).unwrap();
        assert_eq!(agent.map(Account::ENTRIES).len(), 100_000);
    }
    let store: Arc<dyn Store> = Arc::new(FjallStore::open(dir.path(), config).unwrap());
    let mut agent = harness(store.clone());
    agent.start().unwrap();
    let entries = agent.map(Account::ENTRIES);
    assert_eq!(entries.len(), 100_000);
    assert_eq!(entries.get("k99999"), Some(&99_999));
    agent
        .command(
            Account::ENTRIES,
            MapMessage::Update {
                key: "k5".into(),
                value: -5,
            },
        )
        .unwrap();
    drop(agent);
    let mut again = harness(store);
    again.start().unwrap();
    let entries = again.map(Account::ENTRIES);
    assert_eq!((entries.len(), entries.get("k5")), (100_000, Some(&-5)));
}

/// Reads the balance and note of the agent at `node` through the server.
async fn read(server: &ServerHandle, node: &str) -> (i64, String, i64) {
    let agent: AgentRef<Account> = server.agent_ref(node).unwrap();
    let (tx, rx) = oneshot::channel();
    let context = HandlerContext::<Account>::default();
    agent
        .run(
            context
                .get_value(Account::BALANCE)
                .and_then(move |balance| {
                    context.get_value(Account::NOTE).and_then(move |note| {
                        context
                            .get_value(Account::SESSION)
                            .and_then(move |session| {
                                context.effect(move || {
                                    let _ = tx.send((balance, note, session));
                                })
                            })
                    })
                }),
        )
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), rx)
        .await
        .expect("the agent answers")
        .unwrap()
}

fn account_route(builder: ServerBuilder) -> ServerBuilder {
    builder.add_route(
        "/account/:id".parse().unwrap(),
        AgentModel::new(Account::default, AccountLifecycle::default()),
    )
}

async fn stop(
    handle: ServerHandle,
    task: tokio::task::JoinHandle<Result<(), tidal::server::ServerError>>,
) {
    handle.stop();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restarted_on_its_store_directory_has_every_agent_back() {
    let dir = tempfile::tempdir().unwrap();
    let build =
        || account_route(ServerBuilder::with_plane_name("bank").with_store_dir(dir.path())).build();
    let (task, handle) = build().await.unwrap().run();
    let task = tokio::spawn(task);
    handle.command("/account/a", "deposit", 5).await.unwrap();
    handle.command("/account/b", "deposit", 9).await.unwrap();
    handle.command("/account/a", "deposit", 7).await.unwrap();
    assert_eq!(
        read(&handle, "/account/a").await,
        (12, "last 7".to_owned(), 7)
    );
    stop(handle, task).await;

    let (task, handle) = build().await.unwrap().run();
    let task = tokio::spawn(task);
    assert_eq!(
        read(&handle, "/account/a").await,
        (12, "last 7".to_owned(), 0)
    );
    assert_eq!(
        read(&handle, "/account/b").await,
        (9, "last 9".to_owned(), 0)
    );
    assert_eq!(read(&handle, "/account/c").await, (0, String::new(), 0));
    stop(handle, task).await;
}

/// Ten deposits wait in the inbox of an agent held busy; released, it runs them as one burst
/// and commits their turns together, once: published before the commit if the store gathers
/// turns (group commit), after it if not (the turns wait for it together). Either way the
/// store ends with all ten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_waiting_together_are_committed_together() {
    for gathers in [true, false] {
        let store = Arc::new(CountingStore::new(usize::MAX, gathers));
        let shared: Arc<dyn Store> = store.clone();
        let server =
            account_route(ServerBuilder::with_plane_name("bank").with_store(shared.clone()))
                .build()
                .await
                .unwrap();
        let (task, handle) = server.run();
        let task = tokio::spawn(task);
        handle.start_agent("/account/1").unwrap();
        let agent: AgentRef<Account> = handle.agent_ref("/account/1").unwrap();
        let (held, is_held) = oneshot::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let context = HandlerContext::<Account>::default();
        agent
            .run(context.effect(move || {
                let _ = held.send(());
                // The agent's task waits here (on its own worker thread) for the test.
                let _ = released.recv_timeout(Duration::from_secs(10));
            }))
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(10), is_held)
            .await
            .expect("the agent runs the handler")
            .unwrap();
        for amount in 1..=10 {
            handle
                .command("/account/1", "deposit", amount)
                .await
                .unwrap();
        }
        let before = store.commits();
        release.send(()).unwrap();
        assert_eq!(read(&handle, "/account/1").await.0, 55);
        // The read ran in the same burst, before its commit: the agent commits by its stop.
        stop(handle, task).await;
        assert_eq!(store.commits() - before, 1, "gathers: {gathers}");
        let mut again = harness(shared);
        again.start().unwrap();
        assert_eq!(again.value(Account::BALANCE), 55);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passivated_agent_addressed_again_has_its_state() {
    let server = account_route(ServerBuilder::with_plane_name("bank").with_in_memory_store())
        .update_config(|config| config.agent.inactive_timeout = Some(Duration::from_millis(100)))
        .build()
        .await
        .unwrap();
    let (task, handle) = server.run();
    let task = tokio::spawn(task);
    handle.command("/account/p", "deposit", 3).await.unwrap();
    assert_eq!(read(&handle, "/account/p").await.0, 3);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while handle.is_running("/account/p") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the agent was not passivated"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        read(&handle, "/account/p").await,
        (3, "last 3".to_owned(), 0)
    );
    stop(handle, task).await;
}

#[tokio::test]
async fn a_store_that_cannot_be_opened_fails_the_build() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let error = account_route(ServerBuilder::with_plane_name("bank").with_store_dir(file.path()))
        .build()
        .await
        .err()
        .expect("a file is no store directory");
    assert!(
        matches!(error, ServerBuilderError::Store(StoreError::Open { .. })),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("cannot open the store"),
        "{error}"
    );
}

/// The environment variables that make [`kill_9_child`] a server.
const CHILD_DIR: &str = "TIDAL_KILL_9_DIR";
const CHILD_DURABILITY: &str = "TIDAL_KILL_9_DURABILITY";

/// Not a test of its own: the server that `acknowledged_changes_survive_kill_9_*` runs as a
/// child process (this test binary run again, with this test only) and kills with SIGKILL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by acknowledged_changes_survive_kill_9 as its child process"]
async fn kill_9_child() {
    let dir = std::env::var(CHILD_DIR).expect("run as a child, with its store directory");
    let durability = match std::env::var(CHILD_DURABILITY).as_deref() {
        Ok("sync") => Durability::Sync,
        Ok("buffered") => Durability::Buffered,
        _ => Durability::GroupCommit(Duration::from_millis(5)),
    };
    let server = account_route(
        ServerBuilder::with_plane_name("kill")
            .set_bind_addr("127.0.0.1:0")
            .with_store_dir(dir),
    )
    .update_config(|config| config.store = StoreConfig::default().with_durability(durability))
    .build()
    .await
    .unwrap();
    let (task, handle) = server.run();
    println!("port {}", handle.bound_addr().unwrap().port());
    task.await.unwrap();
}

/// A child server on `dir`; its WARP host, once it listens.
struct Child {
    process: std::process::Child,
    host: String,
}

impl Child {
    fn start(dir: &std::path::Path, durability: &str) -> Child {
        use std::io::BufRead;
        let mut process = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "kill_9_child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR, dir)
            .env(CHILD_DURABILITY, durability)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = process.stdout.take().unwrap();
        let port = std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            // libtest writes `test kill_9_child ... ` before it, on the same line.
            .find_map(|line| line.rsplit_once("port ").map(|(_, port)| port.to_owned()))
            .expect("the child prints its port");
        Child {
            process,
            host: format!("ws://127.0.0.1:{port}"),
        }
    }

    /// SIGKILL: no `on_stop`, no flush, no closing of the store.
    fn kill_9(mut self) {
        self.process.kill().unwrap();
        self.process.wait().unwrap();
    }
}

impl Drop for Child {
    /// A test that fails leaves no server behind (killing one already killed does nothing).
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// The next balance the lane publishes (at most 20 s away).
async fn next_balance(published: &mut tokio::sync::mpsc::UnboundedReceiver<i64>) -> i64 {
    tokio::time::timeout(Duration::from_secs(20), published.recv())
        .await
        .expect("the balance in time")
        .expect("the link is open")
}

/// A small xorshift generator: where to kill, different on each run (the seed is printed).
fn kill_points(rounds: usize) -> Vec<u64> {
    let mut state = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        | 1;
    println!("kill point seed {state}");
    (0..rounds)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            1 + state % 40
        })
        .collect()
}

/// How many agents take deposits at the same time in the kill tests.
const KILLED_AGENTS: usize = 8;

/// What a client knows of one agent across kills: deposits acknowledged, and those of them
/// that must survive the next kill.
#[derive(Default)]
struct Acknowledged {
    acknowledged: i64,
    durable: i64,
    /// When each deposit of the last round was acknowledged.
    acks: Vec<std::time::Instant>,
}

/// Links to the balance of the agent at `node`: what it publishes, the sync first.
async fn balances(
    client: &tidal::client::Client,
    host: &str,
    node: &str,
) -> (
    ValueDownlinkHandle<i64>,
    tokio::sync::mpsc::UnboundedReceiver<i64>,
) {
    let (events, published) = tokio::sync::mpsc::unbounded_channel();
    let synced = events.clone();
    let link = client
        .value_downlink::<i64>(host, node, "balance")
        .on_synced(move |balance| {
            let _ = synced.send(*balance);
        })
        .on_event(move |balance| {
            let _ = events.send(*balance);
        })
        .open()
        .await
        .unwrap();
    (link, published)
}

/// Sends deposits of 1 to each of [`KILLED_AGENTS`] agents at the same time (so that their
/// turns commit together), each acknowledged once the balance lane has published it, kills
/// the server at a random point with SIGKILL, starts it again on the same directory, and
/// checks what survived for every agent. Under `Sync` and `Buffered` (a process killed loses
/// nothing the operating system has), every acknowledged deposit (and maybe the one in
/// flight). Under group commit (every 5 ms), every deposit acknowledged more than an interval
/// before the kill: in odd rounds the kill comes at once (the last few may be lost), in even
/// rounds after a pause of many intervals (nothing may be lost).
async fn acknowledged_survive(durability: &str) {
    let dir = tempfile::tempdir().unwrap();
    let every_acknowledged = durability != "group";
    let nodes: Vec<String> = (0..KILLED_AGENTS)
        .map(|n| format!("/account/k{n}"))
        .collect();
    let mut known: Vec<Acknowledged> = nodes.iter().map(|_| Acknowledged::default()).collect();
    for (round, deposits) in kill_points(4).into_iter().enumerate() {
        let child = tokio::task::spawn_blocking({
            let dir = dir.path().to_owned();
            let durability = durability.to_owned();
            move || Child::start(&dir, &durability)
        })
        .await
        .unwrap();
        let client = tidal::client::Client::new();
        let pause = round % 2 == 1;
        let rounds = nodes.iter().zip(&mut known).map(|(node, known)| {
            let (client, host) = (&client, &child.host);
            async move {
                let (_link, mut published) = balances(client, host, node).await;
                let restored = next_balance(&mut published).await;
                let Acknowledged {
                    acknowledged,
                    durable,
                    acks,
                } = known;
                assert!(
                    restored >= *durable && restored <= *acknowledged + 1,
                    "{durability} round {round} {node}: {acknowledged} acknowledged, {durable} durable, {restored} restored"
                );
                *acknowledged = restored;
                acks.clear();
                for _ in 0..deposits {
                    client.command(host, node, "deposit", 1i64).await.unwrap();
                    while next_balance(&mut published).await != *acknowledged + 1 {}
                    *acknowledged += 1;
                    acks.push(std::time::Instant::now());
                }
            }
        });
        futures::future::join_all(rounds).await;
        println!(
            "{durability} round {round}: {deposits} deposits into each of {KILLED_AGENTS} agents"
        );
        if pause {
            // Many intervals: everything acknowledged is written by now.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // One more each in flight, not acknowledged.
        for node in &nodes {
            client
                .command(&child.host, node, "deposit", 1i64)
                .await
                .unwrap();
        }
        drop(client);
        let killed = std::time::Instant::now();
        child.kill_9();
        for known in &mut known {
            known.durable = if every_acknowledged || pause {
                known.acknowledged
            } else {
                // Acknowledged well before the kill: an interval (5 ms), plus the time a
                // loaded machine may take to write and sync, with room to spare.
                let window = Duration::from_millis(100);
                let late = known.acks.iter().filter(|ack| killed - **ack < window);
                known.acknowledged - late.count() as i64
            };
        }
    }
    let last = Child::start(dir.path(), durability);
    let client = tidal::client::Client::new();
    for (node, known) in nodes.iter().zip(&known) {
        let (_link, mut published) = balances(&client, &last.host, node).await;
        let restored = next_balance(&mut published).await;
        assert!(
            restored >= known.durable && restored <= known.acknowledged + 1,
            "{node}: {restored} restored, {} durable, {} acknowledged",
            known.durable,
            known.acknowledged
        );
    }
    drop(client);
    last.kill_9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_changes_survive_kill_9_with_sync_durability() {
    acknowledged_survive("sync").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_changes_survive_kill_9_with_group_commit() {
    acknowledged_survive("group").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_changes_survive_kill_9_with_buffered_writes() {
    acknowledged_survive("buffered").await;
}

/// An account that writes a closing mark when it stops.
#[projections]
#[derive(AgentLaneModel)]
pub struct Closing {
    balance: ValueLane<i64>,
    closed: ValueLane<bool>,
    deposit: CommandLane<i64>,
}

/// The gate a slow `on_stop` waits at until the test opens it.
type StopGate = Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>;

/// With a gate, `on_stop` waits at it before writing its mark (a slow last turn).
#[derive(Clone, Default)]
pub struct ClosingLifecycle {
    gate: Option<StopGate>,
}

#[lifecycle(Closing)]
impl ClosingLifecycle {
    #[on_command(deposit)]
    fn deposit(
        &self,
        context: HandlerContext<Closing>,
        amount: &i64,
    ) -> impl EventHandler<Closing> {
        let amount = *amount;
        context.transform_value(Closing::BALANCE, move |balance| balance + amount)
    }

    #[on_stop]
    fn stop(&self, context: HandlerContext<Closing>) -> impl EventHandler<Closing> {
        let gate = self.gate.clone();
        context
            .effect(move || {
                if let Some(gate) = gate {
                    let (open, opened) = &*gate;
                    let mut open = open.lock().unwrap();
                    while !*open {
                        open = opened.wait(open).unwrap();
                    }
                }
            })
            .followed_by(context.set_value(Closing::CLOSED, true))
    }
}

/// Opens a [`ClosingLifecycle`] gate when dropped: a test that fails leaves no worker waiting at it
/// (the runtime could not shut down).
struct OpenOnDrop(StopGate);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        *self.0 .0.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.0 .1.notify_all();
    }
}

/// An agent stopped, and addressed again while its last turn (`on_stop`) is still being
/// written: the new instance loads only after the old one has ended, so it starts from the
/// state that last turn left, not from the one before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_addressed_again_while_its_last_turn_is_written_loads_after_it() {
    let gate = Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
    let lifecycle = ClosingLifecycle {
        gate: Some(gate.clone()),
    };
    let gate = OpenOnDrop(gate);
    let server = ServerBuilder::with_plane_name("closing")
        .with_in_memory_store()
        .add_route(
            "/closing/:id".parse().unwrap(),
            AgentModel::new(Closing::default, lifecycle),
        )
        .build()
        .await
        .unwrap();
    let (task, handle) = server.run();
    let task = tokio::spawn(task);
    handle.start_agent("/closing/1").unwrap();
    handle.command("/closing/1", "deposit", 5i64).await.unwrap();
    let old: AgentRef<Closing> = handle.agent_ref("/closing/1").unwrap();
    old.stop().await.unwrap();
    // Its inbox closes before `on_stop` runs (and waits at the gate).
    let deadline = Instant::now() + Duration::from_secs(10);
    while handle.is_running("/closing/1") {
        assert!(Instant::now() < deadline, "the agent stops");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mut read = tokio::spawn({
        let handle = handle.clone();
        async move {
            let agent: AgentRef<Closing> = handle.agent_ref("/closing/1").unwrap();
            let (tx, rx) = oneshot::channel();
            let context = HandlerContext::<Closing>::default();
            agent
                .run(
                    context
                        .get_value(Closing::BALANCE)
                        .and_then(move |balance| {
                            context.get_value(Closing::CLOSED).and_then(move |closed| {
                                context.effect(move || {
                                    let _ = tx.send((balance, closed));
                                })
                            })
                        }),
                )
                .await
                .unwrap();
            rx.await.unwrap()
        }
    });
    // The new instance waits for the old one, which waits at the gate.
    let early = tokio::time::timeout(Duration::from_millis(300), &mut read).await;
    assert!(
        early.is_err(),
        "the new instance answered before the old one ended: {early:?}"
    );
    drop(gate);
    let (balance, closed) = tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("the new instance answers")
        .unwrap();
    assert_eq!((balance, closed), (5, true));
    stop(handle, task).await;
}

/// The store fails the commit of `on_stop`'s turn: the stop says why, and the store keeps what
/// was committed before (a restart finds it), not part of the failed turn.
#[test]
fn a_store_write_that_fails_during_stop_is_reported_and_loses_only_that_turn() {
    let counting = Arc::new(CountingStore::new(3, false));
    let store: Arc<dyn Store> = counting.clone();
    let closing = |store: &Arc<dyn Store>| {
        AgentHarness::builder(Closing::default(), ClosingLifecycle::default())
            .uri("/closing/1")
            .store(store.clone())
            .build()
    };
    let mut agent = closing(&store);
    agent.start().unwrap();
    agent.command(Closing::DEPOSIT, 5).unwrap();
    agent.command(Closing::DEPOSIT, 2).unwrap();
    assert_eq!(counting.commits(), 2);
    let failure = agent.stop().unwrap_err();
    assert!(
        failure.to_string().contains("the disk is full"),
        "{failure}"
    );
    assert!(agent.is_stopped());

    // (Loading writes nothing: the failing store serves it.)
    let mut again = closing(&store);
    again.start().unwrap();
    assert_eq!(again.value(Closing::BALANCE), 7);
    assert!(!again.value(Closing::CLOSED));
}

/// The same through a server, with and without a store that gathers the turns of a burst: a
/// linked client hears of the turn whose commit landed, then that the agent stopped, never of
/// the turn whose commit failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_never_hears_of_a_turn_whose_commit_failed() {
    for gathers in [false, true] {
        let store = CountingStore::new(2, gathers);
        let builder = ServerBuilder::with_plane_name("failing")
            .set_bind_addr("127.0.0.1:0")
            .with_store(store);
        let (task, handle) = account_route(builder).build().await.unwrap().run();
        let task = tokio::spawn(task);
        let host = format!("ws://{}", handle.bound_addr().unwrap());
        let client = tidal::client::Client::new();
        let (events, mut published) = tokio::sync::mpsc::unbounded_channel();
        let (synced, unlinked) = (events.clone(), events.clone());
        let _balance = client
            .value_downlink::<i64>(&host, "/account/f", "balance")
            .on_synced(move |balance| {
                let _ = synced.send(Some(*balance));
            })
            .on_event(move |balance| {
                let _ = events.send(Some(*balance));
            })
            .on_unlinked(move || {
                let _ = unlinked.send(None);
            })
            .open()
            .await
            .unwrap();
        assert_eq!(next_published(&mut published).await, Some(0), "the sync");
        handle.command("/account/f", "deposit", 5i64).await.unwrap();
        assert_eq!(next_published(&mut published).await, Some(5));
        // This turn's commit fails: the agent stops, and 12 is never heard of.
        handle.command("/account/f", "deposit", 7i64).await.unwrap();
        assert_eq!(
            next_published(&mut published).await,
            None,
            "gathers: {gathers}"
        );
        stop(handle, task).await;
    }
}

/// A fault-injecting wrapper of a fjall store (`Sync`): its writes block their thread until
/// the test opens its gate, as a disk that stalls. It tells when the first write is held, and
/// records each group.
struct GatedStore {
    inner: FjallStore,
    open: std::sync::Mutex<bool>,
    opened: std::sync::Condvar,
    held: tokio::sync::Notify,
    groups: std::sync::Mutex<Vec<usize>>,
}

impl GatedStore {
    fn open(dir: &std::path::Path) -> Self {
        let sync = StoreConfig::default().with_durability(Durability::Sync);
        GatedStore {
            inner: FjallStore::open(dir, sync).unwrap(),
            open: std::sync::Mutex::new(true),
            opened: std::sync::Condvar::new(),
            held: tokio::sync::Notify::new(),
            groups: std::sync::Mutex::default(),
        }
    }

    fn set_open(&self, open: bool) {
        *self.open.lock().unwrap() = open;
        self.opened.notify_all();
    }
}

/// Opens a [`GatedStore`] when dropped: a test that fails leaves no write held (the server
/// could not stop).
struct Reopen(Arc<GatedStore>);

impl Drop for Reopen {
    fn drop(&mut self) {
        self.0.set_open(true);
    }
}

impl Store for GatedStore {
    fn load(&self, node: &str) -> Result<AgentState, StoreError> {
        self.inner.load(node)
    }

    fn commit(&self, node: &str, changes: &[(&str, Change)]) -> Result<(), StoreError> {
        self.inner.commit(node, changes)
    }

    fn commit_group(&self, turns: &[Turn<'_>]) -> Vec<Result<(), StoreError>> {
        self.groups.lock().unwrap().push(turns.len());
        let mut open = self.open.lock().unwrap();
        if !*open {
            self.held.notify_one();
        }
        while !*open {
            open = self.opened.wait(open).unwrap();
        }
        drop(open);
        self.inner.commit_group(turns)
    }
}

/// The worst lateness of a 1 ms timer on the runtime while `work` runs: how long a task
/// waits for a worker thread.
async fn scheduling_delay<T>(work: impl std::future::Future<Output = T>) -> (T, Duration) {
    let (stop, mut stopped) = oneshot::channel::<()>();
    let probe = tokio::spawn(async move {
        let mut worst = Duration::ZERO;
        loop {
            let due = Instant::now() + Duration::from_millis(1);
            tokio::select! {
                _ = &mut stopped => return worst,
                () = tokio::time::sleep_until(due.into()) => {}
            }
            worst = worst.max(Instant::now().saturating_duration_since(due));
        }
    });
    let result = work.await;
    let _ = stop.send(());
    (result, probe.await.unwrap())
}

/// Four agents' writes are stuck in a store that blocks its thread (more than the runtime's
/// two worker threads: a store called on the workers would hold them all): the agents that
/// write nothing keep answering reads and syncs, the runtime's timers stay on time, and the
/// writers' subscribers hear nothing until the writes land; then they hear every one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_blocks_holds_up_only_the_agents_whose_turns_wait_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(GatedStore::open(dir.path()));
    let shared: Arc<dyn Store> = store.clone();
    let builder = ServerBuilder::with_plane_name("stalled")
        .set_bind_addr("127.0.0.1:0")
        .with_store(shared);
    let (task, handle) = account_route(builder).build().await.unwrap().run();
    let task = tokio::spawn(task);
    let host = format!("ws://{}", handle.bound_addr().unwrap());
    let writers = ["/account/w0", "/account/w1", "/account/w2", "/account/w3"];
    for node in writers.iter().chain(&["/account/r"]) {
        handle.start_agent(node).unwrap();
        assert_eq!(read(&handle, node).await.0, 0);
    }
    let client = tidal::client::Client::new();
    let (events, mut published) = tokio::sync::mpsc::unbounded_channel();
    let synced = events.clone();
    let _balance = client
        .value_downlink::<i64>(&host, writers[0], "balance")
        .on_synced(move |balance| {
            let _ = synced.send(Some(*balance));
        })
        .on_event(move |balance| {
            let _ = events.send(Some(*balance));
        })
        .open()
        .await
        .unwrap();
    assert_eq!(next_published(&mut published).await, Some(0), "the sync");

    store.set_open(false);
    let store = Reopen(store);
    for node in writers {
        handle.command(node, "deposit", 5i64).await.unwrap();
    }
    tokio::time::timeout(Duration::from_secs(10), store.0.held.notified())
        .await
        .expect("a write is held");
    let held_read = tokio::spawn({
        let handle = handle.clone();
        async move { read(&handle, writers[0]).await.0 }
    });
    let (_, delay) = scheduling_delay(async {
        for _ in 0..100 {
            assert_eq!(read(&handle, "/account/r").await.0, 0);
        }
        // A sync of an agent with no write pending.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let _other = client
            .value_downlink::<i64>(&host, "/account/r", "balance")
            .on_synced(move |balance| {
                let _ = tx.send(Some(*balance));
            })
            .open()
            .await
            .unwrap();
        assert_eq!(next_published(&mut rx).await, Some(0));
    })
    .await;
    println!("worst scheduling delay while the store was held: {delay:?}");
    assert!(delay < Duration::from_secs(1), "{delay:?}");
    // Nothing of the held turn was heard, and a read of its agent waits behind it.
    assert!(
        published.try_recv().is_err(),
        "a turn was heard before it landed"
    );
    assert!(
        !held_read.is_finished(),
        "a read saw a turn before it landed"
    );

    store.0.set_open(true);
    assert_eq!(next_published(&mut published).await, Some(5));
    assert_eq!(held_read.await.unwrap(), 5);
    for node in writers {
        assert_eq!(read(&handle, node).await.0, 5);
    }
    println!("groups written: {:?}", store.0.groups.lock().unwrap());
    stop(handle, task).await;
}

/// The latencies of reads of the agent at `node`, one every millisecond for `time`, sorted:
/// the traffic of other clients, at a pace that leaves the runtime room.
async fn paced_reads(handle: &ServerHandle, node: &str, time: Duration) -> Vec<Duration> {
    let mut latencies = Vec::new();
    let mut pace = tokio::time::interval(Duration::from_millis(1));
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let since = Instant::now();
    while since.elapsed() < time {
        pace.tick().await;
        let sent = Instant::now();
        read(handle, node).await;
        latencies.push(sent.elapsed());
    }
    latencies.sort_unstable();
    latencies
}

/// The `q` quantile of sorted `samples`.
fn quantile(samples: &[Duration], q: f64) -> Duration {
    samples[((samples.len() - 1) as f64 * q).round() as usize]
}

/// What happens to PostgreSQL under the server in [`postgresql_away`].
#[derive(Debug, Clone, Copy)]
enum Outage {
    /// SIGSTOP on every process of the database server: connections stay open, nothing is
    /// answered.
    Paused,
    /// Stopped (a fast shutdown ends the connections), then started again.
    Restarted,
}

/// PostgreSQL paused for 2 s, or stopped and started again after 2 s (`TIDAL_OUTAGE_MS` to
/// change it), under a server whose agents write with `Sync`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_postgresql_stalls_only_the_agents_whose_writes_wait_for_it() {
    postgresql_away(Outage::Paused).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarting_postgresql_stalls_only_the_agents_whose_writes_wait_for_it() {
    postgresql_away(Outage::Restarted).await;
}

/// The turns of the agents that write wait, while an agent with no write pending keeps
/// answering reads and syncs, and the runtime's timers stay on time. Once PostgreSQL is back,
/// every waiting write lands and is heard; nothing acknowledged is lost.
async fn postgresql_away(outage: Outage) {
    let away = Duration::from_millis(
        std::env::var("TIDAL_OUTAGE_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .unwrap_or(2_000),
    );
    let mut postgres = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let sync = StoreConfig::default().with_durability(Durability::Sync);
    let store: Arc<dyn Store> = {
        let url = postgres.url.clone();
        Arc::new(
            tokio::task::spawn_blocking(move || PostgresStore::connect(&url, sync).unwrap())
                .await
                .unwrap(),
        )
    };
    let builder = ServerBuilder::with_plane_name("outage")
        .set_bind_addr("127.0.0.1:0")
        .with_store(store.clone());
    let (task, handle) = account_route(builder).build().await.unwrap().run();
    let task = tokio::spawn(task);
    let host = format!("ws://{}", handle.bound_addr().unwrap());
    let writers = ["/account/w0", "/account/w1", "/account/w2", "/account/w3"];
    for node in writers {
        handle.start_agent(node).unwrap();
        handle.command(node, "deposit", 1i64).await.unwrap();
        assert_eq!(read(&handle, node).await.0, 1);
    }
    handle.start_agent("/account/r").unwrap();
    let (before, delay_before) =
        scheduling_delay(paced_reads(&handle, "/account/r", away / 4)).await;
    let client = tidal::client::Client::new();
    let (_link, mut published) = balances(&client, &host, writers[0]).await;
    assert_eq!(next_balance(&mut published).await, 1, "the sync");

    let went = Instant::now();
    postgres = match outage {
        Outage::Paused => {
            postgres.pause();
            postgres
        }
        Outage::Restarted => tokio::task::spawn_blocking(move || {
            postgres.stop();
            postgres
        })
        .await
        .unwrap(),
    };
    for node in writers {
        handle.command(node, "deposit", 5i64).await.unwrap();
    }
    let (during, delay) = scheduling_delay(async {
        let during = paced_reads(&handle, "/account/r", away).await;
        // A sync of an agent with no write pending.
        let (_other, mut synced) = balances(&client, &host, "/account/r").await;
        assert_eq!(next_balance(&mut synced).await, 0);
        during
    })
    .await;
    // Nothing of the waiting turns was heard.
    assert!(
        published.try_recv().is_err(),
        "a turn was heard before it landed"
    );
    let _postgres = match outage {
        Outage::Paused => {
            postgres.resume();
            postgres
        }
        Outage::Restarted => tokio::task::spawn_blocking(move || {
            postgres.start_again();
            postgres
        })
        .await
        .unwrap(),
    };
    let waited = went.elapsed();

    assert_eq!(next_balance(&mut published).await, 6);
    for node in writers {
        assert_eq!(read(&handle, node).await.0, 6);
    }
    let stored = tokio::task::spawn_blocking(move || store.load(writers[3]).unwrap())
        .await
        .unwrap();
    assert!(stored["balance"].value.is_some());
    println!(
        "PostgreSQL {outage:?} for {waited:?}: reads of another agent p50 {:?} p99 {:?} ({} reads), worst scheduling delay {delay:?}; before: p50 {:?} p99 {:?} ({} reads), worst scheduling delay {delay_before:?}",
        quantile(&during, 0.5),
        quantile(&during, 0.99),
        during.len(),
        quantile(&before, 0.5),
        quantile(&before, 0.99),
        before.len(),
    );
    assert!(delay < Duration::from_secs(1), "{delay:?}");
    assert!(quantile(&during, 0.99) < Duration::from_secs(1));
    stop(handle, task).await;
}

/// A store (blocking, so called on its I/O thread) whose disk refuses every write of one node.
#[derive(Default)]
struct RefusesOne {
    inner: InMemoryStore,
}

impl Store for RefusesOne {
    fn load(&self, node: &str) -> Result<AgentState, StoreError> {
        self.inner.load(node)
    }

    fn commit(&self, node: &str, changes: &[(&str, Change)]) -> Result<(), StoreError> {
        if node == "/account/doomed" {
            return Err(StoreError::Write {
                node: node.to_owned(),
                source: "the disk refuses this one".into(),
            });
        }
        self.inner.commit(node, changes)
    }
}

/// A commit that fails for good stops its agent, and only it: an agent whose turns were
/// committed in the same groups goes on, and its writes land.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_that_fails_for_good_stops_only_its_agent() {
    let builder = ServerBuilder::with_plane_name("refusing").with_store(RefusesOne::default());
    let (task, handle) = account_route(builder).build().await.unwrap().run();
    let task = tokio::spawn(task);
    for node in ["/account/doomed", "/account/fine"] {
        handle.start_agent(node).unwrap();
        handle.command(node, "deposit", 5i64).await.unwrap();
    }
    assert_eq!(read(&handle, "/account/fine").await.0, 5);
    let deadline = Instant::now() + Duration::from_secs(10);
    while handle.is_running("/account/doomed") {
        assert!(
            Instant::now() < deadline,
            "the agent whose commit failed stopped"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    handle
        .command("/account/fine", "deposit", 7i64)
        .await
        .unwrap();
    assert_eq!(read(&handle, "/account/fine").await.0, 12);
    stop(handle, task).await;
}

/// The next thing a linked client heard (`None`: the link ended), at most 10 s away.
async fn next_published(
    published: &mut tokio::sync::mpsc::UnboundedReceiver<Option<i64>>,
) -> Option<i64> {
    tokio::time::timeout(Duration::from_secs(10), published.recv())
        .await
        .expect("heard in time")
        .expect("the channel is open")
}

/// PostgreSQL ends a turn's transaction in flight (`pg_terminate_backend`, as a shutdown or a
/// restart does: error 57P01): the store connects again and commits the turn, and the agent
/// goes on with nothing lost, rather than failing the turn and stopping.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_whose_transaction_postgresql_ends_is_committed_again() {
    let postgres = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let sync = StoreConfig::default().with_durability(Durability::Sync);
    let store: Arc<dyn Store> = {
        let url = postgres.url.clone();
        tokio::task::spawn_blocking(move || PostgresStore::connect(&url, sync).unwrap())
            .await
            .map(Arc::new)
            .unwrap()
    };
    let (admin, connection) = tokio_postgres::connect(&postgres.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let agent = std::sync::Arc::new(std::sync::Mutex::new(deposited(&store, &[5])));

    // Another session holds the balance's row: the next turn's transaction waits for it.
    admin
        .batch_execute(
            "BEGIN; SELECT 1 FROM tidal_state WHERE node = '/account/1' AND item = 'balance' FOR UPDATE",
        )
        .await
        .unwrap();
    let turn = tokio::task::spawn_blocking({
        let agent = agent.clone();
        move || agent.lock().unwrap().command(Account::DEPOSIT, 7)
    });
    // The store's backend, once it waits for the lock.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let backend: i32 = loop {
        // The admin session is inside its transaction, where PostgreSQL keeps the first view
        // of `pg_stat_activity` it took: each look needs a fresh one.
        admin
            .batch_execute("SELECT pg_stat_clear_snapshot()")
            .await
            .unwrap();
        let waiting = admin
            .query_opt(
                "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO tidal_state%'",
                &[],
            )
            .await
            .unwrap();
        if let Some(row) = waiting {
            break row.get(0);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the turn never waited for the lock"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let ended: bool = admin
        .query_one("SELECT pg_terminate_backend($1)", &[&backend])
        .await
        .unwrap()
        .get(0);
    assert!(ended);
    admin.batch_execute("ROLLBACK").await.unwrap();

    tokio::time::timeout(Duration::from_secs(20), turn)
        .await
        .expect("the turn ends in time")
        .unwrap()
        .expect("the turn is committed on a new connection");
    {
        let mut agent = agent.lock().unwrap();
        assert!(!agent.is_stopped());
        agent.stop().unwrap();
    }
    let mut after = harness(store.clone());
    after.start().unwrap();
    assert_eq!(after.value(Account::BALANCE), 12);
    drop(after);
    drop(store);
    tokio::task::spawn_blocking(move || drop(postgres))
        .await
        .unwrap();
}
