//! [`Membership`] and [`Leases`] on PostgreSQL: two tables, every decision one statement
//! judged by the database's clock.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use tokio_postgres::{Client, NoTls};

use super::{ClusterError, Epoch, Leases, Member, Membership, ShardId};

const MEMBERS_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS tidal_members (
    id TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    version TEXT NOT NULL,
    heartbeat TIMESTAMPTZ NOT NULL
)";

const REGISTER: &str = "INSERT INTO tidal_members (id, address, version, heartbeat)
    VALUES ($1, $2, $3, clock_timestamp())
    ON CONFLICT (id) DO UPDATE
    SET address = EXCLUDED.address, version = EXCLUDED.version, heartbeat = EXCLUDED.heartbeat";
const HEARTBEAT: &str = "UPDATE tidal_members SET heartbeat = clock_timestamp() WHERE id = $1";
const LIVE: &str = "SELECT id, address, version FROM tidal_members
    WHERE heartbeat > clock_timestamp() - make_interval(secs => $1) ORDER BY id";
const LEAVE: &str = "DELETE FROM tidal_members WHERE id = $1";
/// The claim: a new row at epoch 1, or a takeover of an expired or released one at the next
/// epoch; no row comes back while another claim is valid.
const CLAIM: &str = "INSERT INTO tidal_leases AS lease (shard, owner, epoch, lease_until)
    VALUES ($1, $2, 1, clock_timestamp() + make_interval(secs => $3))
    ON CONFLICT (shard) DO UPDATE
    SET owner = EXCLUDED.owner, epoch = lease.epoch + 1, lease_until = EXCLUDED.lease_until
    WHERE lease.lease_until <= clock_timestamp()
    RETURNING epoch";
const RENEW: &str = "UPDATE tidal_leases
    SET lease_until = clock_timestamp() + make_interval(secs => $4)
    WHERE shard = $1 AND owner = $2 AND epoch = $3 AND lease_until > clock_timestamp()";
/// Every renewal of a member in one statement: the shards and epochs as two arrays.
const RENEW_ALL: &str = "UPDATE tidal_leases AS lease
    SET lease_until = clock_timestamp() + make_interval(secs => $4)
    FROM unnest($1::INTEGER[], $2::BIGINT[]) AS held (shard, epoch)
    WHERE lease.shard = held.shard AND lease.epoch = held.epoch AND lease.owner = $3
        AND lease.lease_until > clock_timestamp()
    RETURNING lease.shard";
const HOLDERS: &str = "SELECT shard, owner, epoch FROM tidal_leases
    WHERE lease_until > clock_timestamp() ORDER BY shard";
const RELEASE: &str = "UPDATE tidal_leases SET lease_until = '-infinity'
    WHERE shard = $1 AND owner = $2 AND epoch = $3";

/// [`Membership`] and [`Leases`] in a PostgreSQL database (tables `tidal_members` and
/// `tidal_leases`, created if missing), over one connection, made again when it breaks.
///
/// Every decision is one statement that PostgreSQL judges by its own clock
/// (`clock_timestamp()`), so the servers' clocks do not matter; a claim is a single
/// `INSERT … ON CONFLICT … DO UPDATE … WHERE lease expired … RETURNING epoch`.
pub struct PostgresCluster {
    url: String,
    client: tokio::sync::Mutex<Arc<Client>>,
}

impl PostgresCluster {
    /// Connects to the database at `url` (as `tokio_postgres` reads it; no TLS) and creates
    /// the tables if they are missing. The connection runs on the caller's tokio runtime.
    ///
    /// # Errors
    /// A [`ClusterError`] if the database cannot be reached or the tables cannot be created.
    pub async fn connect(url: &str) -> Result<Self, ClusterError> {
        let client = open(url).await?;
        Ok(PostgresCluster {
            url: url.to_owned(),
            client: tokio::sync::Mutex::new(client),
        })
    }

    /// Who holds which shard now (by the database's clock), with its epoch, in order of the
    /// shards: what an operator looks at to see how the plane's shards are spread.
    ///
    /// # Errors
    /// A [`ClusterError`] if the database fails.
    pub async fn holders(&self) -> Result<Vec<(ShardId, String, Epoch)>, ClusterError> {
        let rows = self
            .client()
            .await?
            .query(HOLDERS, &[])
            .await
            .map_err(failed("listing of the lease holders"))?;
        rows.iter()
            .map(|row| {
                let shard: i32 = row.try_get(0)?;
                Ok((shard as ShardId, row.try_get(1)?, row.try_get(2)?))
            })
            .collect::<Result<_, tokio_postgres::Error>>()
            .map_err(failed("listing of the lease holders"))
    }

    /// The connection, made again if it broke (the database restarted, say): an operation
    /// that finds it broken fails, and the next one reconnects.
    async fn client(&self) -> Result<Arc<Client>, ClusterError> {
        let mut client = self.client.lock().await;
        if client.is_closed() {
            *client = open(&self.url).await?;
        }
        Ok(client.clone())
    }
}

/// Connects to `url` and creates the tables if they are missing.
async fn open(url: &str) -> Result<Arc<Client>, ClusterError> {
    let failed = |source: tokio_postgres::Error| ClusterError {
        operation: "connection".to_owned(),
        source: Box::new(source),
    };
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.map_err(failed)?;
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::warn!(%err, "the cluster's connection to PostgreSQL failed");
        }
    });
    crate::store::create_tables(&client, &[MEMBERS_SCHEMA, crate::store::LEASES_SCHEMA])
        .await
        .map_err(failed)?;
    Ok(Arc::new(client))
}

/// A shard as the `INTEGER` column holds it.
fn shard_column(shard: ShardId, operation: &str) -> Result<i32, ClusterError> {
    i32::try_from(shard).map_err(|err| ClusterError {
        operation: format!("{operation} of shard {shard}"),
        source: Box::new(err),
    })
}

/// A lease as PostgreSQL's `make_interval(secs => …)` takes it.
fn seconds(lease: Duration) -> f64 {
    lease.as_secs_f64()
}

/// Tags an engine error with what was being done.
fn failed(operation: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> ClusterError {
    move |source| ClusterError {
        operation: operation.into(),
        source: Box::new(source),
    }
}

impl Membership for PostgresCluster {
    fn register<'a>(&'a self, member: &'a Member) -> BoxFuture<'a, Result<(), ClusterError>> {
        async move {
            self.client()
                .await?
                .execute(REGISTER, &[&member.id, &member.address, &member.version])
                .await
                .map_err(failed(format!("registration of {}", member.id)))?;
            Ok(())
        }
        .boxed()
    }

    fn heartbeat<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, ClusterError>> {
        async move {
            let rows = self
                .client()
                .await?
                .execute(HEARTBEAT, &[&id])
                .await
                .map_err(failed(format!("heartbeat of {id}")))?;
            Ok(rows == 1)
        }
        .boxed()
    }

    fn live<'a>(&'a self, lease: Duration) -> BoxFuture<'a, Result<Vec<Member>, ClusterError>> {
        async move {
            let rows = self
                .client()
                .await?
                .query(LIVE, &[&seconds(lease)])
                .await
                .map_err(failed("listing of the live members"))?;
            rows.iter()
                .map(|row| {
                    Ok(Member {
                        id: row.try_get(0)?,
                        address: row.try_get(1)?,
                        version: row.try_get(2)?,
                    })
                })
                .collect::<Result<_, tokio_postgres::Error>>()
                .map_err(failed("listing of the live members"))
        }
        .boxed()
    }

    fn leave<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), ClusterError>> {
        async move {
            self.client()
                .await?
                .execute(LEAVE, &[&id])
                .await
                .map_err(failed(format!("leave of {id}")))?;
            Ok(())
        }
        .boxed()
    }
}

impl Leases for PostgresCluster {
    fn claim<'a>(
        &'a self,
        shard: ShardId,
        owner: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Option<Epoch>, ClusterError>> {
        async move {
            let column = shard_column(shard, "claim")?;
            let row = self
                .client()
                .await?
                .query_opt(CLAIM, &[&column, &owner, &seconds(lease)])
                .await
                .map_err(failed(format!("claim of shard {shard}")))?;
            row.map(|row| row.try_get(0))
                .transpose()
                .map_err(failed(format!("claim of shard {shard}")))
        }
        .boxed()
    }

    fn renew<'a>(
        &'a self,
        shard: ShardId,
        owner: &'a str,
        epoch: Epoch,
        lease: Duration,
    ) -> BoxFuture<'a, Result<bool, ClusterError>> {
        async move {
            let column = shard_column(shard, "renewal")?;
            let rows = self
                .client()
                .await?
                .execute(RENEW, &[&column, &owner, &epoch, &seconds(lease)])
                .await
                .map_err(failed(format!("renewal of shard {shard}")))?;
            Ok(rows == 1)
        }
        .boxed()
    }

    fn renew_all<'a>(
        &'a self,
        held: &'a [(ShardId, Epoch)],
        owner: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Vec<ShardId>, ClusterError>> {
        async move {
            if held.is_empty() {
                return Ok(Vec::new());
            }
            let shards = held
                .iter()
                .map(|(shard, _)| shard_column(*shard, "renewal"))
                .collect::<Result<Vec<i32>, _>>()?;
            let epochs: Vec<Epoch> = held.iter().map(|(_, epoch)| *epoch).collect();
            let rows = self
                .client()
                .await?
                .query(RENEW_ALL, &[&shards, &epochs, &owner, &seconds(lease)])
                .await
                .map_err(failed(format!("renewal of {} shards", held.len())))?;
            rows.iter()
                .map(|row| row.try_get::<_, i32>(0).map(|shard| shard as ShardId))
                .collect::<Result<_, _>>()
                .map_err(failed("renewal"))
        }
        .boxed()
    }

    fn release<'a>(
        &'a self,
        shard: ShardId,
        owner: &'a str,
        epoch: Epoch,
    ) -> BoxFuture<'a, Result<(), ClusterError>> {
        async move {
            let column = shard_column(shard, "release")?;
            self.client()
                .await?
                .execute(RELEASE, &[&column, &owner, &epoch])
                .await
                .map_err(failed(format!("release of shard {shard}")))?;
            Ok(())
        }
        .boxed()
    }
}
