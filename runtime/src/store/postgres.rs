//! A store in PostgreSQL (cargo feature `postgres`): one table, one transaction per group of
//! turns.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Statement};

use crate::lock::lock;

use super::{
    AgentState, Change, Durability, Fence, FenceToken, Store, StoreConfig, StoreError, Turn,
};

/// The table, created when missing. A value item is the row of kind 0 (with an empty key); a
/// map item has a row of kind 1 per entry.
/// A member stalled inside a turn's transaction (stopped, paused, cut off) holds its shard's
/// lease row `FOR SHARE`, which would hold up the member taking the shard over: PostgreSQL ends
/// a transaction that waits on its client for 2 s (a turn's transaction never does).
const STALLED_TURNS: &str = "SET idle_in_transaction_session_timeout = '2s'";
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS tidal_state (
    node TEXT NOT NULL,
    item TEXT NOT NULL,
    kind SMALLINT NOT NULL,
    key BYTEA NOT NULL,
    value BYTEA NOT NULL,
    PRIMARY KEY (node, item, kind, key)
)";
/// The table of shard leases (the cluster's; here because a fenced store checks it).
pub(crate) const LEASES_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS tidal_leases (
    shard INTEGER PRIMARY KEY,
    owner TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    lease_until TIMESTAMPTZ NOT NULL
)";
/// A fenced group's first statement: of the leases its turns were made under, those still
/// current; they stay so until the group commits (a takeover's update waits for the share
/// lock).
const FENCE: &str = "SELECT l.shard, l.owner, l.epoch FROM tidal_leases l
    JOIN unnest($1::int4[], $2::text[], $3::int8[]) AS t(shard, owner, epoch)
    ON l.shard = t.shard AND l.owner = t.owner AND l.epoch = t.epoch FOR SHARE OF l";
/// Every map item a group cleared: its entries go first.
const CLEAR: &str = "DELETE FROM tidal_state s
    USING unnest($1::text[], $2::text[]) AS c(node, item)
    WHERE s.node = c.node AND s.item = c.item AND s.kind = 1";
/// Every entry a group removed (and did not put again).
const REMOVE: &str = "DELETE FROM tidal_state s
    USING unnest($1::text[], $2::text[], $3::bytea[]) AS r(node, item, key)
    WHERE s.node = r.node AND s.item = r.item AND s.kind = 1 AND s.key = r.key";
/// Every value and entry a group wrote (its last write of each).
const UPSERT: &str = "INSERT INTO tidal_state (node, item, kind, key, value)
    SELECT * FROM unnest($1::text[], $2::text[], $3::int2[], $4::bytea[], $5::bytea[])
    ON CONFLICT (node, item, kind, key) DO UPDATE SET value = EXCLUDED.value";
const LOAD: &str =
    "SELECT item, kind, key, value FROM tidal_state WHERE node = $1 ORDER BY item, kind, key";

const VALUE: i16 = 0;
const ENTRY: i16 = 1;

/// A [`Store`] in a PostgreSQL database: every agent of a server (or of several servers) in
/// one table `tidal_state`.
///
/// The turns of every agent that became ready together are committed in one transaction of
/// five statements, whatever their number (a fence check, then the clears, removals and
/// writes of all of them, each one statement over arrays): one round of the database's
/// commit for the whole group. In a fenced store a turn whose lease is no longer current is
/// refused alone; the others of its group land.
///
/// The connection is driven on the thread that calls the store: in a server, the store's own
/// I/O thread, never a tokio worker (a call from inside an async context runs on a thread of
/// its own for the call, as a runtime cannot be entered from within another). It reconnects
/// by itself: while the database cannot be reached, a call keeps trying for
/// [`PostgresStore::RETRY_FOR`] and then fails (the agent stops without having told anyone of
/// the turn). A database that is paused (SIGSTOP) is waited for. A group is applied again
/// after a reconnection only if its transaction's outcome was lost, which changes nothing: a
/// turn's changes are final states.
///
/// [`Durability`] maps onto PostgreSQL's `synchronous_commit`: `Sync` waits for the commit to
/// be on disk; `GroupCommit` and `Buffered` use asynchronous commit, in which PostgreSQL's WAL
/// writer flushes the commits of every connection together (a crash of the database loses at
/// most the last few hundred milliseconds; a crash of the tidal server loses nothing).
///
/// ```no_run
/// use tidal_runtime::store::{Durability, PostgresStore, StoreConfig};
/// use tidal_runtime::server::ServerBuilder;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = StoreConfig::default().with_durability(Durability::Sync);
/// let store = PostgresStore::connect("postgres://tidal@127.0.0.1:5432/tidal", config)?;
/// let builder = ServerBuilder::with_plane_name("example").with_store(store);
/// # let _ = builder;
/// # Ok(())
/// # }
/// ```
pub struct PostgresStore {
    /// Drives the connection during a call (`None` once dropped).
    runtime: Option<tokio::runtime::Runtime>,
    connection: Mutex<Connection>,
}

impl PostgresStore {
    /// How long a load or commit keeps trying while the database cannot be reached (it
    /// restarts, say) before it fails.
    pub const RETRY_FOR: Duration = Duration::from_secs(10);

    /// Connects to the database at `url` (a `postgres://` URL or a `key=value` string, as
    /// `tokio_postgres` reads them; no TLS) and creates the table if it is missing.
    ///
    /// # Errors
    /// [`StoreError::Open`] if the URL does not parse, the database cannot be reached within
    /// [`PostgresStore::RETRY_FOR`], or the table cannot be created.
    pub fn connect(url: &str, config: StoreConfig) -> Result<Self, StoreError> {
        Self::open(url, config, None)
    }

    /// Connects as [`connect`](Self::connect) does, for a server of a cluster: every turn of
    /// an agent is written only if `fence` gives the lease of the agent's shard that the
    /// server holds and that lease is still current in the table `tidal_leases`, checked in
    /// the turn's own transaction. A server whose lease was taken over (it was stopped, or cut
    /// off, past its lease) has its writes refused: [`StoreError::Write`], and the agent stops.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub fn connect_fenced(
        url: &str,
        config: StoreConfig,
        fence: Arc<dyn Fence>,
    ) -> Result<Self, StoreError> {
        Self::open(url, config, Some(fence))
    }

    fn open(
        url: &str,
        config: StoreConfig,
        fence: Option<Arc<dyn Fence>>,
    ) -> Result<Self, StoreError> {
        let open_error = |source: BoxError| StoreError::Open {
            path: redacted(url),
            source,
        };
        let pg_config: tokio_postgres::Config =
            url.parse().map_err(|err| open_error(Box::new(err)))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| open_error(Box::new(err)))?;
        let store = PostgresStore {
            runtime: Some(runtime),
            connection: Mutex::new(Connection {
                config: pg_config,
                synchronous: config.durability == Durability::Sync,
                fence,
                open: None,
            }),
        };
        store
            .with_connection(|runtime, connection| {
                let deadline = Instant::now() + PostgresStore::RETRY_FOR;
                runtime.block_on(connection.ensure(deadline)).map(|_| ())
            })
            .map_err(open_error)?;
        Ok(store)
    }

    /// Runs `work` with the connection and the runtime that drives it (`work` blocks on it),
    /// on this thread, or on a thread of its own for the call when this one is inside an
    /// async context.
    fn with_connection<T, F>(&self, work: F) -> T
    where
        F: FnOnce(&tokio::runtime::Runtime, &mut Connection) -> T + Send,
        T: Send,
    {
        let run = || {
            let mut connection = lock(&self.connection);
            let runtime = self.runtime.as_ref().expect("the store is open");
            work(runtime, &mut connection)
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return run();
        }
        std::thread::scope(|scope| match scope.spawn(run).join() {
            Ok(output) => output,
            Err(panic) => std::panic::resume_unwind(panic),
        })
    }
}

impl Drop for PostgresStore {
    /// Closes the connection without waiting (a runtime may not wait inside an async context).
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Store for PostgresStore {
    fn load(&self, node: &str) -> Result<AgentState, StoreError> {
        self.with_connection(|runtime, connection| runtime.block_on(connection.run(&Load(node))))
            .map_err(|source| StoreError::Read {
                node: node.to_owned(),
                source,
            })
    }

    fn commit(&self, node: &str, changes: &[(&str, Change)]) -> Result<(), StoreError> {
        let turn = Turn { node, changes };
        self.commit_group(&[turn]).pop().unwrap_or(Ok(()))
    }

    /// The whole group in one transaction (see the type's documentation).
    fn commit_group(&self, turns: &[Turn<'_>]) -> Vec<Result<(), StoreError>> {
        self.with_connection(|runtime, connection| {
            runtime.block_on(commit_turns(connection, turns))
        })
    }

    fn backend(&self) -> &'static str {
        "postgresql"
    }
}

/// The URL without its password, for messages.
fn redacted(url: &str) -> String {
    match url.parse::<tokio_postgres::Config>() {
        Ok(config) => format!(
            "PostgreSQL database {:?} on {:?} as {:?}",
            config.get_dbname().unwrap_or(""),
            config.get_hosts(),
            config.get_user().unwrap_or("")
        ),
        Err(_) => "a PostgreSQL URL that does not parse".to_owned(),
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The connection, opened (again) when needed.
struct Connection {
    config: tokio_postgres::Config,
    synchronous: bool,
    fence: Option<Arc<dyn Fence>>,
    open: Option<Open>,
}

/// An open connection and its prepared statements.
struct Open {
    client: Client,
    fence: Option<Statement>,
    clear: Statement,
    remove: Statement,
    upsert: Statement,
    load: Statement,
}

impl Connection {
    /// An open connection, connecting (with growing pauses) until `deadline` if there is none.
    async fn ensure(&mut self, deadline: Instant) -> Result<&mut Open, BoxError> {
        if self
            .open
            .as_ref()
            .is_some_and(|open| open.client.is_closed())
        {
            self.open = None;
        }
        let mut pause = Duration::from_millis(20);
        while self.open.is_none() {
            match self.connect().await {
                Ok(open) => self.open = Some(open),
                Err(err) if Instant::now() + pause >= deadline => return Err(err),
                Err(err) => {
                    tracing::debug!(%err, "cannot reach PostgreSQL; trying again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
            }
        }
        Ok(self.open.as_mut().expect("just opened"))
    }

    async fn connect(&self) -> Result<Open, BoxError> {
        let (client, connection) = self.config.connect(NoTls).await?;
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::warn!(%err, "the connection to PostgreSQL failed");
            }
        });
        create_tables(&client, &[SCHEMA]).await?;
        let fence = match &self.fence {
            Some(_) => {
                create_tables(&client, &[LEASES_SCHEMA]).await?;
                client.batch_execute(STALLED_TURNS).await?;
                Some(client.prepare(FENCE).await?)
            }
            None => None,
        };
        let commit_mode = if self.synchronous { "on" } else { "off" };
        client
            .batch_execute(&format!("SET synchronous_commit = {commit_mode}"))
            .await?;
        Ok(Open {
            fence,
            clear: client.prepare(CLEAR).await?,
            remove: client.prepare(REMOVE).await?,
            upsert: client.prepare(UPSERT).await?,
            load: client.prepare(LOAD).await?,
            client,
        })
    }

    /// Does `work` on an open connection, again after reconnecting if the connection broke or
    /// the server is shutting down, until [`PostgresStore::RETRY_FOR`] has passed. (Work is
    /// safe to do twice: a turn's changes set absolute values, so a commit whose outcome was
    /// lost with its connection may run again.)
    async fn run<W: Work>(&mut self, work: &W) -> Result<W::Output, BoxError> {
        let deadline = Instant::now() + PostgresStore::RETRY_FOR;
        loop {
            let open = self.ensure(deadline).await?;
            let err = match work.once(open).await {
                Ok(output) => return Ok(output),
                Err(err) => err,
            };
            if !connection_lost(&err, open.client.is_closed()) || Instant::now() >= deadline {
                return Err(Box::new(err));
            }
            tracing::debug!(%err, "the connection to PostgreSQL broke; reconnecting");
            self.open = None;
        }
    }
}

/// Whether `err` says the connection is gone, or going with its server (a shutdown or restart
/// of PostgreSQL ends the work in flight with `57P01`), rather than that the work is wrong.
fn connection_lost(err: &tokio_postgres::Error, closed: bool) -> bool {
    use tokio_postgres::error::SqlState;
    closed
        || err.is_closed()
        || err.code().is_some_and(|code| {
            [
                SqlState::ADMIN_SHUTDOWN,
                SqlState::CRASH_SHUTDOWN,
                SqlState::CANNOT_CONNECT_NOW,
            ]
            .contains(code)
                || code.code().starts_with("08")
        })
}

/// Something a job asks of the database, done once on an open connection.
trait Work {
    type Output;

    async fn once(&self, open: &mut Open) -> Result<Self::Output, tokio_postgres::Error>;
}

/// Reads every item of the agent at the node.
struct Load<'a>(&'a str);

/// Runs `CREATE TABLE IF NOT EXISTS` statements one server at a time: PostgreSQL's `IF NOT
/// EXISTS` is no guard against another session creating the same table at the same moment
/// (the loser fails on a unique index of the catalog), and the servers of a plane start
/// together. They take a transaction-scoped advisory lock (key: "tidal" in ASCII) first.
pub(crate) async fn create_tables(
    client: &tokio_postgres::Client,
    statements: &[&str],
) -> Result<(), tokio_postgres::Error> {
    let mut batch = String::from("BEGIN; SELECT pg_advisory_xact_lock(499984392556);");
    for statement in statements {
        batch.push_str(statement);
        batch.push(';');
    }
    batch.push_str("COMMIT;");
    client.batch_execute(&batch).await
}

/// Applies a group of turns in one transaction, each fenced by its token.
struct Commit<'a>(&'a [(&'a Turn<'a>, Option<FenceToken>)]);

/// Commits `turns` in one transaction, each fenced by the lease the server holds for its
/// node (if the store is fenced): one result per turn.
async fn commit_turns(
    connection: &mut Connection,
    turns: &[Turn<'_>],
) -> Vec<Result<(), StoreError>> {
    let refused = |node: &str, source: BoxError| {
        Err(StoreError::Write {
            node: node.to_owned(),
            source,
        })
    };
    let mut results: Vec<Result<(), StoreError>> = Vec::with_capacity(turns.len());
    let mut group: Vec<(&Turn<'_>, Option<FenceToken>)> = Vec::with_capacity(turns.len());
    for turn in turns {
        match &connection.fence {
            Some(fence) => match fence.token(turn.node) {
                Some(token) => group.push((turn, Some(token))),
                None => {
                    let why = format!("this server holds no lease for {}", turn.node);
                    results.push(refused(turn.node, why.into()));
                    continue;
                }
            },
            None => group.push((turn, None)),
        }
        results.push(Ok(()));
    }
    let outcome = connection.run(&Commit(&group)).await;
    // `results` holds `Ok` for the turns sent, in order.
    let mut sent = results.iter_mut().filter(|result| result.is_ok());
    match outcome {
        Ok(fenced) => {
            for (result, fenced) in sent.by_ref().zip(fenced) {
                if let Some(fenced) = fenced {
                    *result = Err(StoreError::Write {
                        node: String::new(),
                        source: Box::new(fenced),
                    });
                }
            }
        }
        Err(source) => {
            let why = source.to_string();
            for result in sent {
                *result = Err(StoreError::Write {
                    node: String::new(),
                    source: why.clone().into(),
                });
            }
        }
    }
    // The node of each failed turn, for its message.
    for (result, turn) in results.iter_mut().zip(turns) {
        if let Err(StoreError::Write { node, .. }) = result {
            if node.is_empty() {
                turn.node.clone_into(node);
            }
        }
    }
    results
}

impl Work for Load<'_> {
    type Output = AgentState;

    async fn once(&self, open: &mut Open) -> Result<AgentState, tokio_postgres::Error> {
        let rows = open.client.query(&open.load, &[&self.0]).await?;
        let mut state = AgentState::new();
        for row in rows {
            let item: String = row.try_get(0)?;
            let kind: i16 = row.try_get(1)?;
            let key: Vec<u8> = row.try_get(2)?;
            let value: Vec<u8> = row.try_get(3)?;
            let item = state.entry(item).or_default();
            if kind == VALUE {
                item.value = Some(value);
            } else {
                item.entries.push((key, value));
            }
        }
        Ok(state)
    }
}

impl Work for Commit<'_> {
    /// For each turn, why it was refused, if it was.
    type Output = Vec<Option<Fenced>>;

    async fn once(&self, open: &mut Open) -> Result<Vec<Option<Fenced>>, tokio_postgres::Error> {
        commit(open, self.0).await
    }
}

/// A fenced turn refused: the lease it was made under is no longer current.
#[derive(Debug, thiserror::Error)]
#[error("fenced: the lease of shard {shard} at epoch {epoch} held by {owner} is no longer current (another server took the shard over)")]
pub(crate) struct Fenced {
    shard: u32,
    epoch: i64,
    owner: String,
}

/// What a group does to one item: whether its entries were cleared first, and the last
/// operation on each key (a value item's value under the empty key).
#[derive(Default)]
struct ItemOps<'a> {
    cleared: bool,
    value: Option<&'a [u8]>,
    entries: BTreeMap<&'a [u8], Option<&'a [u8]>>,
}

/// The statements' arrays for a group's accepted turns.
#[derive(Default)]
struct Arrays<'a> {
    /// The map items cleared.
    clear: Rows<'a>,
    /// The entries removed.
    remove: Rows<'a>,
    /// The values and entries written.
    upsert: Rows<'a>,
}

/// Rows of `tidal_state` (or their leading columns), as one array per column.
#[derive(Default)]
struct Rows<'a> {
    nodes: Vec<&'a str>,
    items: Vec<&'a str>,
    kinds: Vec<i16>,
    keys: Vec<&'a [u8]>,
    values: Vec<&'a [u8]>,
}

impl<'a> Rows<'a> {
    fn push(&mut self, node: &'a str, item: &'a str) -> &mut Self {
        self.nodes.push(node);
        self.items.push(item);
        self
    }

    fn key(&mut self, key: &'a [u8]) -> &mut Self {
        self.keys.push(key);
        self
    }

    fn value(&mut self, kind: i16, value: &'a [u8]) {
        self.kinds.push(kind);
        self.values.push(value);
    }
}

impl<'a> Arrays<'a> {
    /// The arrays of the turns of `group` not refused, each item's operations folded (later
    /// turns and changes win).
    fn of(group: &'a [(&'a Turn<'a>, Option<FenceToken>)], refused: &[Option<Fenced>]) -> Self {
        let mut items: BTreeMap<(&str, &str), ItemOps<'_>> = BTreeMap::new();
        for ((turn, _), refused) in group.iter().zip(refused) {
            if refused.is_some() {
                continue;
            }
            for (item, change) in turn.changes {
                let ops = items.entry((turn.node, item)).or_default();
                match change {
                    Change::Value(value) => ops.value = Some(value),
                    Change::Put { key, value } => {
                        ops.entries.insert(key, Some(value));
                    }
                    Change::Remove { key } => {
                        ops.entries.insert(key, None);
                    }
                    Change::Clear => {
                        ops.cleared = true;
                        ops.entries.clear();
                    }
                }
            }
        }
        let mut arrays = Arrays::default();
        let no_key: &[u8] = &[];
        for ((node, item), ops) in items {
            if ops.cleared {
                arrays.clear.push(node, item);
            }
            if let Some(value) = ops.value {
                arrays
                    .upsert
                    .push(node, item)
                    .key(no_key)
                    .value(VALUE, value);
            }
            for (key, op) in ops.entries {
                match op {
                    Some(value) => arrays.upsert.push(node, item).key(key).value(ENTRY, value),
                    None => {
                        arrays.remove.push(node, item).key(key);
                    }
                }
            }
        }
        arrays
    }
}

/// The group's transaction: the fence check (one statement for every lease), then the clears,
/// removals and writes of the turns not refused (a statement each, sent without waiting for
/// one another: PostgreSQL runs them in order), then the commit.
async fn commit(
    open: &mut Open,
    group: &[(&Turn<'_>, Option<FenceToken>)],
) -> Result<Vec<Option<Fenced>>, tokio_postgres::Error> {
    let Open {
        client,
        fence,
        clear,
        remove,
        upsert,
        ..
    } = open;
    let transaction = client.transaction().await?;
    let mut refused: Vec<Option<Fenced>> = group.iter().map(|_| None).collect();
    if let Some(fence) = fence.as_ref() {
        // A shard the column cannot hold has no lease row: fenced like any other.
        let tokens: Vec<(i32, &str, i64)> = group
            .iter()
            .filter_map(|(_, token)| token.as_ref())
            .filter_map(|token| {
                let shard = i32::try_from(token.shard).ok()?;
                Some((shard, token.owner.as_str(), token.epoch))
            })
            .collect();
        let shards: Vec<i32> = tokens.iter().map(|token| token.0).collect();
        let owners: Vec<&str> = tokens.iter().map(|token| token.1).collect();
        let epochs: Vec<i64> = tokens.iter().map(|token| token.2).collect();
        let rows = transaction
            .query(fence, &[&shards, &owners, &epochs])
            .await?;
        let mut current: HashSet<(i32, String, i64)> = HashSet::with_capacity(rows.len());
        for row in rows {
            current.insert((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?));
        }
        for ((_, token), refused) in group.iter().zip(&mut refused) {
            let Some(token) = token else { continue };
            let held = i32::try_from(token.shard)
                .is_ok_and(|shard| current.contains(&(shard, token.owner.clone(), token.epoch)));
            if !held {
                *refused = Some(Fenced {
                    shard: token.shard,
                    epoch: token.epoch,
                    owner: token.owner.clone(),
                });
            }
        }
    }
    let arrays = Arrays::of(group, &refused);
    let Arrays {
        clear: cleared,
        remove: removed,
        upsert: written,
    } = &arrays;
    let clearing = async {
        if cleared.nodes.is_empty() {
            return Ok(0);
        }
        let params: [&(dyn ToSql + Sync); 2] = [&cleared.nodes, &cleared.items];
        transaction.execute(&*clear, &params).await
    };
    let removing = async {
        if removed.nodes.is_empty() {
            return Ok(0);
        }
        let params: [&(dyn ToSql + Sync); 3] = [&removed.nodes, &removed.items, &removed.keys];
        transaction.execute(&*remove, &params).await
    };
    let writing = async {
        if written.nodes.is_empty() {
            return Ok(0);
        }
        let params: [&(dyn ToSql + Sync); 5] = [
            &written.nodes,
            &written.items,
            &written.kinds,
            &written.keys,
            &written.values,
        ];
        transaction.execute(&*upsert, &params).await
    };
    futures::future::try_join3(clearing, removing, writing).await?;
    transaction.commit().await?;
    Ok(refused)
}
