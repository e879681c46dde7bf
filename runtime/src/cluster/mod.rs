//! One plane across many servers: the pieces the cluster is built from.
//!
//! - [`Placement`]: node URI → shard by a fixed hash, shard → the member that should own it by
//!   rendezvous hashing over the live members.
//! - [`Membership`]: each server registers itself (id, advertised WARP address, version) and
//!   heartbeats; a member whose heartbeat is older than the lease, by the database's clock, is
//!   not live.
//! - [`Leases`]: a server runs a shard's agents only while it holds the shard's lease, claimed
//!   with one conditional statement that also increases the shard's epoch on every takeover;
//!   the epoch fences the state writes of a stale owner.
//!
//! - [`run_keeper`]: one server's side of ownership: register, heartbeat, claim the shards
//!   placement gives it (a few per tick), renew them, release those placed elsewhere, drop
//!   those it could not renew in time, hand everything off when stopped. What it holds
//!   ([`HeldShards`]) is the [`Fence`](crate::store::Fence) its store checks in every turn.
//!
//! With the cargo feature `postgres`, `PostgresCluster` implements both traits on a PostgreSQL
//! database (the one the servers' `PostgresStore` uses). Other engines (etcd, Kubernetes
//! leases) can implement the traits.
//!
//! A server becomes a member of a plane with `ServerBuilder::with_cluster`: it then runs the
//! agents of the shards it holds and forwards everything else to their owners.

mod keeper;
mod placement;
#[cfg(feature = "postgres")]
mod postgres;

use std::time::Duration;

use futures::future::BoxFuture;

pub use keeper::{run_keeper, HandOff, HeldShards, KeeperConfig, ShardEvent};
pub use placement::{fnv1a64, Placement, ShardId, DEFAULT_SHARDS};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::PostgresCluster;

/// A server of the plane, as it registers itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Unique within the plane (stable across restarts of the same server, e.g. a pod name).
    pub id: String,
    /// Where other servers reach its WARP endpoint, e.g. `ws://10.0.0.5:9001`.
    pub address: String,
    /// The server's version, to see two builds meet during a rolling restart.
    pub version: String,
}

/// A member is known by its id (placement ranks members by it).
impl AsRef<str> for Member {
    fn as_ref(&self) -> &str {
        &self.id
    }
}

/// A shard's fencing token: increases with every change of owner.
pub type Epoch = i64;

/// The failure of a cluster operation (the engine's error, kept as the source).
#[derive(Debug, thiserror::Error)]
#[error("cluster {operation} failed: {source}")]
pub struct ClusterError {
    /// What was being done, e.g. `"claim of shard 7"`.
    pub operation: String,
    /// Why it failed.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// Who is in the plane.
pub trait Membership: Send + Sync {
    /// Registers `member` (or refreshes its entry) with a fresh heartbeat.
    ///
    /// # Errors
    /// A [`ClusterError`] if the engine fails.
    fn register<'a>(&'a self, member: &'a Member) -> BoxFuture<'a, Result<(), ClusterError>>;

    /// Refreshes the heartbeat of the member `id`; `false` if it is not registered (it was
    /// removed, and must register again).
    ///
    /// # Errors
    /// A [`ClusterError`] if the engine fails.
    fn heartbeat<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, ClusterError>>;

    /// The members whose last heartbeat is younger than `lease`, by the engine's clock, in
    /// order of their ids.
    ///
    /// # Errors
    /// A [`ClusterError`] if the engine fails.
    fn live<'a>(&'a self, lease: Duration) -> BoxFuture<'a, Result<Vec<Member>, ClusterError>>;

    /// Removes the member `id` (a graceful leave).
    ///
    /// # Errors
    /// A [`ClusterError`] if the engine fails.
    fn leave<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), ClusterError>>;
}

/// Who runs which shard, fenced by epochs.
pub trait Leases: Send + Sync {
    /// Claims `shard` for `owner` for `lease`: its new epoch if the shard was free (never
    /// claimed, released, or its lease expired by the engine's clock), `None` while another
    /// claim is valid. Every successful claim increases the epoch, even by the same owner.
    ///
    /// # Errors
    /// A [`ClusterError`] if the engine fails.
    fn claim<'a>(
        &'a self,
        shard: ShardId,
        owner: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Option<Epoch>, ClusterError>>;

    /// Extends the lease that `owner` holds on `shard` at `epoch`; `false` if it no longer
    /// holds it (expired and taken over, or released): the owner must stop the shard's agents.
    ///
    /// # Errors
    /// A [`ClusterError`] if the engine fails.
    fn renew<'a>(
        &'a self,
        shard: ShardId,
        owner: &'a str,
        epoch: Epoch,
        lease: Duration,
    ) -> BoxFuture<'a, Result<bool, ClusterError>>;

    /// Extends every lease of `held` (shards with the epochs `owner` holds them at) at once;
    /// returns the shards it still holds, the others must stop. The default renews them one
    /// by one; an engine does better with one request (PostgreSQL: one statement per tick
    /// whatever the number of shards).
    ///
    /// # Errors
    /// A [`ClusterError`] if the engine fails.
    fn renew_all<'a>(
        &'a self,
        held: &'a [(ShardId, Epoch)],
        owner: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Vec<ShardId>, ClusterError>> {
        Box::pin(async move {
            let mut renewed = Vec::with_capacity(held.len());
            for &(shard, epoch) in held {
                if self.renew(shard, owner, epoch, lease).await? {
                    renewed.push(shard);
                }
            }
            Ok(renewed)
        })
    }

    /// Gives up the lease `owner` holds on `shard` at `epoch`, so that the next claim succeeds
    /// at once (after a graceful hand-off).
    ///
    /// # Errors
    /// A [`ClusterError`] if the engine fails.
    fn release<'a>(
        &'a self,
        shard: ShardId,
        owner: &'a str,
        epoch: Epoch,
    ) -> BoxFuture<'a, Result<(), ClusterError>>;
}
