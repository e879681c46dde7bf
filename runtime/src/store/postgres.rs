//! A store in PostgreSQL (cargo feature `postgres`): one table, one transaction per turn.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_postgres::{Client, NoTls, Statement};

use super::{AgentState, Change, Durability, Fence, FenceToken, Store, StoreConfig, StoreError};

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
/// A fenced turn's first statement: the lease must still be the one the server holds, and it
/// stays so until the turn commits (a takeover's update waits for the share lock).
const FENCE: &str =
    "SELECT 1 FROM tidal_leases WHERE shard = $1 AND owner = $2 AND epoch = $3 FOR SHARE";
const UPSERT: &str =
    "INSERT INTO tidal_state (node, item, kind, key, value) VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (node, item, kind, key) DO UPDATE SET value = EXCLUDED.value";
const REMOVE: &str =
    "DELETE FROM tidal_state WHERE node = $1 AND item = $2 AND kind = 1 AND key = $3";
const CLEAR: &str = "DELETE FROM tidal_state WHERE node = $1 AND item = $2 AND kind = 1";
const LOAD: &str =
    "SELECT item, kind, key, value FROM tidal_state WHERE node = $1 ORDER BY item, kind, key";

const VALUE: i16 = 0;
const ENTRY: i16 = 1;

/// A [`Store`] in a PostgreSQL database: every agent of a server (or of several servers) in
/// one table `tidal_state`, each turn one transaction.
///
/// The connection lives on a thread of its own; `load` and `commit` wait for its answer (a
/// round trip to the database per turn). It reconnects by itself: while the database cannot
/// be reached, a call keeps trying for [`PostgresStore::RETRY_FOR`] and then fails (the agent stops without
/// having told anyone of the turn). A turn is applied again after a reconnection only if its
/// transaction's outcome was lost, which changes nothing: a turn's changes are final states.
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
    jobs: Option<mpsc::UnboundedSender<Job>>,
    worker: Option<JoinHandle<()>>,
}

/// What the connection's thread is asked to do.
enum Job {
    Load {
        node: String,
        reply: std::sync::mpsc::SyncSender<Result<AgentState, StoreError>>,
    },
    Commit {
        node: String,
        changes: Vec<(String, Change)>,
        reply: std::sync::mpsc::SyncSender<Result<(), StoreError>>,
    },
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
        let open_error = |source: Box<dyn std::error::Error + Send + Sync>| StoreError::Open {
            path: redacted(url),
            source,
        };
        let pg_config: tokio_postgres::Config =
            url.parse().map_err(|err| open_error(Box::new(err)))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| open_error(Box::new(err)))?;
        let mut connection = Connection {
            config: pg_config,
            synchronous: config.durability == Durability::Sync,
            fence,
            open: None,
        };
        // The first connection is made on the connection's own thread (so that this works from
        // inside an async context too), and its outcome comes back here.
        let (opened, outcome) = std::sync::mpsc::sync_channel(1);
        let (jobs, inbox) = mpsc::unbounded_channel();
        let worker = std::thread::Builder::new()
            .name("tidal-postgres".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let first = connection
                        .ensure(Instant::now() + PostgresStore::RETRY_FOR)
                        .await
                        .map(|_| ());
                    let failed = first.is_err();
                    let _ = opened.send(first);
                    if !failed {
                        serve(connection, inbox).await;
                    }
                })
            })
            .map_err(|err| open_error(Box::new(err)))?;
        let first = outcome.recv().unwrap_or_else(|_| {
            Err("the store's connection thread ended before connecting".into())
        });
        if let Err(source) = first {
            let _ = worker.join();
            return Err(open_error(source));
        }
        Ok(PostgresStore {
            jobs: Some(jobs),
            worker: Some(worker),
        })
    }

    fn ask<T>(
        &self,
        job: impl FnOnce(std::sync::mpsc::SyncSender<Result<T, StoreError>>) -> Job,
    ) -> Option<Result<T, StoreError>> {
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        self.jobs.as_ref()?.send(job(reply)).ok()?;
        answer.recv().ok()
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

impl Store for PostgresStore {
    fn load(&self, node: &str) -> Result<AgentState, StoreError> {
        let node = node.to_owned();
        self.ask(|reply| Job::Load {
            node: node.clone(),
            reply,
        })
        .unwrap_or_else(|| {
            Err(StoreError::Read {
                node,
                source: "the store's connection thread has ended".into(),
            })
        })
    }

    fn commit(&self, node: &str, changes: &[(&str, Change)]) -> Result<(), StoreError> {
        let owned = changes
            .iter()
            .map(|(item, change)| ((*item).to_owned(), change.clone()))
            .collect();
        self.ask(|reply| Job::Commit {
            node: node.to_owned(),
            changes: owned,
            reply,
        })
        .unwrap_or_else(|| {
            Err(StoreError::Write {
                node: node.to_owned(),
                source: "the store's connection thread has ended".into(),
            })
        })
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
    upsert: Statement,
    remove: Statement,
    clear: Statement,
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
            upsert: client.prepare(UPSERT).await?,
            remove: client.prepare(REMOVE).await?,
            clear: client.prepare(CLEAR).await?,
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

/// Applies one turn of the agent at the node, in one transaction (fenced by the token).
struct Commit<'a>(&'a str, &'a [(String, Change)], Option<&'a FenceToken>);

/// The connection's thread: answers jobs until the store is dropped.
async fn serve(mut connection: Connection, mut inbox: mpsc::UnboundedReceiver<Job>) {
    while let Some(job) = inbox.recv().await {
        match job {
            Job::Load { node, reply } => {
                let result = connection.run(&Load(&node)).await;
                let _ = reply.send(result.map_err(|source| StoreError::Read { node, source }));
            }
            Job::Commit {
                node,
                changes,
                reply,
            } => {
                let token = match &connection.fence {
                    Some(fence) => match fence.token(&node) {
                        Some(token) => Some(token),
                        None => {
                            let source = format!("this server holds no lease for {node}").into();
                            let _ = reply.send(Err(StoreError::Write { node, source }));
                            continue;
                        }
                    },
                    None => None,
                };
                let result = connection
                    .run(&Commit(&node, &changes, token.as_ref()))
                    .await;
                let result = match result {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(fenced)) => Err(Box::new(fenced) as BoxError),
                    Err(source) => Err(source),
                };
                let _ = reply.send(result.map_err(|source| StoreError::Write { node, source }));
            }
        }
    }
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
    type Output = Result<(), Fenced>;

    async fn once(&self, open: &mut Open) -> Result<Result<(), Fenced>, tokio_postgres::Error> {
        let Commit(node, changes, token) = *self;
        commit(open, node, changes, token).await
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

async fn commit(
    open: &mut Open,
    node: &str,
    changes: &[(String, Change)],
    token: Option<&FenceToken>,
) -> Result<Result<(), Fenced>, tokio_postgres::Error> {
    let Open {
        client,
        fence,
        upsert,
        remove,
        clear,
        ..
    } = open;
    let transaction = client.transaction().await?;
    if let (Some(token), Some(fence)) = (token, fence.as_ref()) {
        // A shard the column cannot hold has no lease row: fenced like any other.
        let current = match i32::try_from(token.shard) {
            Ok(shard) => {
                transaction
                    .query_opt(fence, &[&shard, &token.owner, &token.epoch])
                    .await?
            }
            Err(_) => None,
        };
        if current.is_none() {
            // Dropping the transaction rolls it back.
            return Ok(Err(Fenced {
                shard: token.shard,
                epoch: token.epoch,
                owner: token.owner.clone(),
            }));
        }
    }
    let no_key: &[u8] = &[];
    for (item, change) in changes {
        match change {
            Change::Value(value) => {
                transaction
                    .execute(&*upsert, &[&node, item, &VALUE, &no_key, value])
                    .await?;
            }
            Change::Put { key, value } => {
                transaction
                    .execute(&*upsert, &[&node, item, &ENTRY, key, value])
                    .await?;
            }
            Change::Remove { key } => {
                transaction.execute(&*remove, &[&node, item, key]).await?;
            }
            Change::Clear => {
                transaction.execute(&*clear, &[&node, item]).await?;
            }
        }
    }
    transaction.commit().await.map(Ok)
}
