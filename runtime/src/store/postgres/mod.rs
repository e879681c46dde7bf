//! A store in PostgreSQL (cargo feature `postgres`): one table, one transaction per group of
//! turns.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_postgres::{Client, NoTls, Statement};

use crate::lock::lock;

use super::{
    AgentState, Change, Durability, Fence, FenceToken, Store, StoreConfig, StoreError, Turn,
};

mod group;

use group::commit_turns;

/// A member stalled inside a turn's transaction (stopped, paused, cut off) holds its shard's
/// lease row `FOR SHARE`, which would hold up the member taking the shard over: PostgreSQL ends
/// a transaction that waits on its client for 2 s (a turn's transaction never does).
const STALLED_TURNS: &str = "SET idle_in_transaction_session_timeout = '2s'";
/// The table, created when missing. A value item is the row of kind 0 (with an empty key); a
/// map item has a row of kind 1 per entry.
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
