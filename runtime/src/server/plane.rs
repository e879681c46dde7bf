//! A server as one member of a plane of servers: the shards it holds (its shard keeper keeps
//! their leases in the plane's database), where the other members are, and so where a request
//! for a node goes: to an agent of this server, or to the member that owns the node.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::cluster::{HeldShards, KeeperConfig, Leases, Member, Membership, ShardId};
use crate::lock::lock;

/// Settings of a server that is a member of a plane of servers (see
/// `ServerBuilder::with_cluster`, with the cargo feature `postgres`).
///
/// ```
/// use std::time::Duration;
/// use tidal_runtime::cluster::KeeperConfig;
/// use tidal_runtime::server::ClusterConfig;
///
/// let config = ClusterConfig::new("postgres://tidal@db/tidal", "server-0")
///     .with_advertised_address("ws://server-0.tidal:9001")
///     .with_keeper(KeeperConfig::with_lease(Duration::from_secs(10)));
/// assert_eq!(config.member_id, "server-0");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ClusterConfig {
    /// The PostgreSQL database the members share (a `postgres://` URL): membership, leases
    /// and the agents' state.
    pub database: String,
    /// This server's id: unique in the plane, and the same across restarts of the same server
    /// (a pod name, a host name).
    pub member_id: String,
    /// Where the other members reach this server's WARP endpoint (`ws://host:port`). Default:
    /// `ws://` and the address the server is bound to (right on one machine; behind NAT or in
    /// a container, give the address the others can dial).
    pub advertise: Option<String>,
    /// Leases, heartbeats and how many shards move at once.
    pub keeper: KeeperConfig,
}

impl ClusterConfig {
    /// A member `member_id` of the plane whose database is at `database`, with the default
    /// lease (10 s) and 1,024 shards.
    pub fn new(database: impl Into<String>, member_id: impl Into<String>) -> Self {
        ClusterConfig {
            database: database.into(),
            member_id: member_id.into(),
            advertise: None,
            keeper: KeeperConfig::default(),
        }
    }

    /// The address the other members dial to reach this server.
    pub fn with_advertised_address(mut self, address: impl Into<String>) -> Self {
        self.advertise = Some(address.into());
        self
    }

    /// How the shard keeper paces itself (lease, placement).
    pub fn with_keeper(mut self, keeper: KeeperConfig) -> Self {
        self.keeper = keeper;
        self
    }
}

/// What keeps a plane's membership and leases.
pub(crate) trait Engine: Membership + Leases + Send + Sync + 'static {}

impl<T: Membership + Leases + Send + Sync + 'static> Engine for T {}

/// Where the agent of a node runs, as this server sees it now.
pub(crate) enum Owner {
    /// Here: this server holds the node's shard.
    Here,
    /// On the member at this address, by placement over the live members.
    There(String),
    /// Nowhere yet: placement gives the shard to this server, which has not claimed it yet,
    /// or no member is live.
    Unknown,
}

/// This server's membership of a plane.
pub(crate) struct Plane {
    /// The plane's name (every member's `ServerBuilder::with_plane_name`).
    pub(crate) name: String,
    pub(crate) member: Member,
    pub(crate) held: HeldShards,
    pub(crate) keeper: KeeperConfig,
    /// The live members, as of the keeper's last tick.
    members: Mutex<Vec<Member>>,
    /// Ticks whenever what this server holds or the membership changes.
    changes: watch::Sender<()>,
    /// How many times each shard was lost or handed off: an agent that stopped after its
    /// link was made, in a shard lost since, stopped because of the plane (even if the shard
    /// is already back).
    losses: Mutex<std::collections::HashMap<ShardId, u64>>,
}

impl Plane {
    pub(crate) fn new(name: String, member: Member, keeper: KeeperConfig) -> Self {
        Plane {
            held: HeldShards::new(member.id.clone(), keeper.placement),
            name,
            member,
            keeper,
            members: Mutex::new(Vec::new()),
            changes: watch::channel(()).0,
            losses: Mutex::default(),
        }
    }

    /// The shard was lost or is being handed off (before its agents stop).
    pub(crate) fn lose(&self, shard: ShardId) {
        *lock(&self.losses).entry(shard).or_default() += 1;
    }

    /// How many times the shard of `node` was lost or handed off.
    pub(crate) fn losses(&self, node: &str) -> u64 {
        let shard = self.shard_of(node);
        lock(&self.losses).get(&shard).copied().unwrap_or(0)
    }

    /// The shard of `node`.
    pub(crate) fn shard_of(&self, node: &str) -> ShardId {
        self.keeper.placement.shard_of(node)
    }

    /// Where the agent of `node` runs.
    pub(crate) fn owner(&self, node: &str) -> Owner {
        if self.held.holds(node) {
            return Owner::Here;
        }
        let members = lock(&self.members);
        match self.keeper.placement.owner(self.shard_of(node), &members) {
            Some(owner) if owner.id != self.member.id => Owner::There(owner.address.clone()),
            _ => Owner::Unknown,
        }
    }

    /// How long a request waits for its node to have an owner (a move, a claim).
    pub(crate) fn patience(&self) -> Duration {
        self.keeper.lease * 2
    }

    /// Follows the changes of ownership and membership.
    pub(crate) fn changes(&self) -> watch::Receiver<()> {
        self.changes.subscribe()
    }

    /// The live members are now `members`.
    pub(crate) fn set_members(&self, members: Vec<Member>) {
        *lock(&self.members) = members;
        self.changed();
    }

    /// Wakes the requests waiting for an owner.
    pub(crate) fn changed(&self) {
        self.changes.send_replace(());
    }
}

/// A member's plane and its engine: set up by `ServerBuilder::build`, kept while the server
/// runs.
pub(crate) struct Keeping {
    pub(crate) plane: Arc<Plane>,
    pub(crate) engine: Arc<dyn Engine>,
}
