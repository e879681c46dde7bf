//! The shard keeper: one server's side of ownership. It registers the server, heartbeats,
//! works out from the live members which shards placement gives it, claims those (a few at a
//! time), renews what it holds, releases what placement gives to others, and drops any shard
//! whose lease it could not renew in time, by its own clock, before the lease can expire.
//!
//! What it holds is the server's [`Fence`]: the token a store checks in every turn.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::{ClusterError, Epoch, Leases, Member, Membership, Placement, ShardId};
use crate::lock::lock;
use crate::store::{Fence, FenceToken};

/// How the keeper paces itself.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KeeperConfig {
    /// The plane's shards.
    pub placement: Placement,
    /// How long a heartbeat keeps a member live and a claim keeps a shard (default 10 s, by the
    /// database's clock).
    pub lease: Duration,
    /// How often the keeper heartbeats, renews and rebalances (default a third of the lease).
    pub tick: Duration,
    /// How long before its lease would run out (counted from when the renewal was sent) the
    /// server gives a shard up if it could not renew it (default a fifth of the lease).
    pub margin: Duration,
    /// Shards claimed per tick at most, so that a join moves shards gradually (default 64).
    pub max_claims: usize,
}

impl Default for KeeperConfig {
    fn default() -> Self {
        KeeperConfig::with_lease(Duration::from_secs(10))
    }
}

impl KeeperConfig {
    /// The defaults for a lease of `lease`.
    pub fn with_lease(lease: Duration) -> Self {
        KeeperConfig {
            placement: Placement::default(),
            lease,
            tick: lease / 3,
            margin: lease / 5,
            max_claims: 64,
        }
    }

    /// The same, for a plane of `placement`'s shards.
    pub fn with_placement(mut self, placement: Placement) -> Self {
        self.placement = placement;
        self
    }
}

/// A change of what the server owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardEvent {
    /// The server now owns the shard (at this epoch): it may start its agents.
    Gained(ShardId, Epoch),
    /// The server no longer owns the shard: its agents must stop (their writes are refused).
    Lost(ShardId),
    /// The live members changed (sent at the first tick too), in order of their ids: where
    /// the server forwards requests for shards it does not own.
    Members(Vec<Member>),
    /// Placement gives the shard to another member: the server stops its agents (their state
    /// stored) and then says so with [`HandOff::done`]; only then does the keeper release the
    /// lease (or once the lease could run out, or the hand-off is dropped). The shard is still
    /// held meanwhile, so the agents' last turns are written. A `Lost` follows.
    Handing(ShardId, HandOff),
}

/// A graceful hand-off of a shard, waiting for the server ([`ShardEvent::Handing`]).
#[derive(Clone)]
pub struct HandOff(Arc<Mutex<Option<tokio::sync::oneshot::Sender<()>>>>);

impl HandOff {
    fn new() -> (HandOff, tokio::sync::oneshot::Receiver<()>) {
        let (done, waiting) = tokio::sync::oneshot::channel();
        (HandOff(Arc::new(Mutex::new(Some(done)))), waiting)
    }

    /// The shard's agents have stopped: the keeper may release it.
    pub fn done(&self) {
        if let Some(done) = lock(&self.0).take() {
            let _ = done.send(());
        }
    }
}

impl PartialEq for HandOff {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for HandOff {}

impl std::fmt::Debug for HandOff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HandOff")
    }
}

/// A shard the server holds, and until when it may act on it.
#[derive(Debug, Clone, Copy)]
struct HeldShard {
    epoch: Epoch,
    /// Being handed off: its agents are stopping (their writes still go through), and no new
    /// request is served here.
    leaving: bool,
    /// The lease's end by this server's clock, minus the margin: counted from when the claim
    /// or renewal was sent, so it is never later than the database's.
    usable_until: Instant,
}

/// The shards a server holds: shared by its keeper and its store's fence.
#[derive(Clone)]
pub struct HeldShards {
    owner: String,
    placement: Placement,
    shards: Arc<Mutex<HashMap<ShardId, HeldShard>>>,
}

impl HeldShards {
    /// The shards that `owner` holds, currently none.
    pub fn new(owner: impl Into<String>, placement: Placement) -> Self {
        HeldShards {
            owner: owner.into(),
            placement,
            shards: Arc::default(),
        }
    }

    /// The shards held and still usable, with their epochs, in order.
    pub fn held(&self) -> Vec<(ShardId, Epoch)> {
        let now = Instant::now();
        let mut held: Vec<_> = lock(&self.shards)
            .iter()
            .filter(|(_, shard)| shard.usable_until > now)
            .map(|(id, shard)| (*id, shard.epoch))
            .collect();
        held.sort_unstable();
        held
    }
}

impl HeldShards {
    /// Whether the shard of `node` is held, still usable and not being handed off: whether
    /// this server may serve the agent of `node` now.
    pub fn holds(&self, node: &str) -> bool {
        let shard = self.placement.shard_of(node);
        lock(&self.shards)
            .get(&shard)
            .is_some_and(|held| !held.leaving && held.usable_until > Instant::now())
    }
}

impl Fence for HeldShards {
    fn token(&self, node: &str) -> Option<FenceToken> {
        let shard = self.placement.shard_of(node);
        let held = *lock(&self.shards).get(&shard)?;
        (held.usable_until > Instant::now()).then(|| FenceToken {
            shard,
            owner: self.owner.clone(),
            epoch: held.epoch,
        })
    }
}

/// Runs the keeper of `member` until `stop` changes (or its sender is dropped): then it
/// releases every shard it holds and leaves the membership. Changes of ownership go to
/// `events` in the order they happen (a `Lost` is sent before the lease is released).
///
/// Errors of the engine are logged and retried at the next tick; shards whose leases cannot
/// be renewed in time are dropped (`Lost`) by the keeper itself.
///
/// # Errors
/// A [`ClusterError`] if the first registration fails.
pub async fn run_keeper(
    config: KeeperConfig,
    member: Member,
    engine: Arc<impl Membership + Leases + ?Sized>,
    held: HeldShards,
    events: mpsc::UnboundedSender<ShardEvent>,
    mut stop: watch::Receiver<()>,
) -> Result<(), ClusterError> {
    engine.register(&member).await?;
    let mut ticks = tokio::time::interval(config.tick);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut members = None;
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            _ = ticks.tick() => {
                if let Err(err) = tick(&config, &member, &*engine, &held, &events, &mut members).await {
                    tracing::warn!(err = ?err, member = %member.id, "the shard keeper's tick failed; retrying");
                }
                drop_expired(&held, &events);
            }
        }
    }
    // Hand everything off: the agents stop first, then the leases go.
    let shards: Vec<(ShardId, HeldShard)> = lock(&held.shards).drain().collect();
    for (shard, lease) in shards {
        let _ = events.send(ShardEvent::Lost(shard));
        if let Err(err) = engine.release(shard, &member.id, lease.epoch).await {
            tracing::warn!(%err, shard, "could not release a shard on leaving");
        }
    }
    engine.leave(&member.id).await
}

/// One round: heartbeat, renew, release what is placed elsewhere, claim what is placed here.
async fn tick(
    config: &KeeperConfig,
    member: &Member,
    engine: &(impl Membership + Leases + ?Sized),
    held: &HeldShards,
    events: &mpsc::UnboundedSender<ShardEvent>,
    members: &mut Option<Vec<Member>>,
) -> Result<(), ClusterError> {
    if !engine.heartbeat(&member.id).await? {
        engine.register(member).await?;
    }
    let now_live = engine.live(config.lease).await?;
    let live: Vec<String> = now_live.iter().map(|member| member.id.clone()).collect();
    if members.as_ref() != Some(&now_live) {
        let _ = events.send(ShardEvent::Members(now_live.clone()));
        *members = Some(now_live);
    }
    let placement = config.placement;
    let mine = |shard: ShardId| placement.owner(shard, &live) == Some(&member.id);

    let current: Vec<(ShardId, HeldShard)> = lock(&held.shards)
        .iter()
        .map(|(id, shard)| (*id, *shard))
        .collect();
    let (leaving, current): (Vec<_>, Vec<_>) =
        current.into_iter().partition(|(shard, _)| !mine(*shard));
    hand_off(config, held, &leaving, events).await;
    for (shard, lease) in leaving {
        forget(held, shard, events);
        engine.release(shard, &member.id, lease.epoch).await?;
    }
    let renewing: Vec<(ShardId, Epoch)> = current
        .iter()
        .map(|(shard, lease)| (*shard, lease.epoch))
        .collect();
    let sent = Instant::now();
    let renewed = engine
        .renew_all(&renewing, &member.id, config.lease)
        .await?;
    for (shard, _) in renewing {
        if renewed.contains(&shard) {
            if let Some(held) = lock(&held.shards).get_mut(&shard) {
                held.usable_until = sent + config.lease.saturating_sub(config.margin);
            }
        } else {
            forget(held, shard, events);
        }
    }

    let wanted: Vec<ShardId> = {
        let holding = lock(&held.shards);
        (0..placement.shards())
            .filter(|shard| mine(*shard) && !holding.contains_key(shard))
            .take(config.max_claims)
            .collect()
    };
    for shard in wanted {
        let sent = Instant::now();
        if let Some(epoch) = engine.claim(shard, &member.id, config.lease).await? {
            let usable_until = sent + config.lease.saturating_sub(config.margin);
            lock(&held.shards).insert(
                shard,
                HeldShard {
                    epoch,
                    leaving: false,
                    usable_until,
                },
            );
            let _ = events.send(ShardEvent::Gained(shard, epoch));
        }
    }
    Ok(())
}

/// Asks the server to stop the agents of the shards `leaving`, and waits until it has, as
/// long as the leases stay usable (at most a tick).
async fn hand_off(
    config: &KeeperConfig,
    held: &HeldShards,
    leaving: &[(ShardId, HeldShard)],
    events: &mpsc::UnboundedSender<ShardEvent>,
) {
    let Some(until) = leaving.iter().map(|(_, lease)| lease.usable_until).min() else {
        return;
    };
    {
        let mut shards = lock(&held.shards);
        for (shard, _) in leaving {
            if let Some(held) = shards.get_mut(shard) {
                held.leaving = true;
            }
        }
    }
    let waits: Vec<_> = leaving
        .iter()
        .filter_map(|(shard, _)| {
            let (handing, waiting) = HandOff::new();
            events.send(ShardEvent::Handing(*shard, handing)).ok()?;
            Some(waiting)
        })
        .collect();
    let until = until.min(Instant::now() + config.tick);
    if tokio::time::timeout_at(until, futures::future::join_all(waits))
        .await
        .is_err()
    {
        tracing::warn!(
            shards = leaving.len(),
            owner = %held.owner,
            "the server did not stop the agents of the shards it hands off in time; releasing them"
        );
    }
}

/// Drops `shard` from what is held, telling the server to stop its agents.
fn forget(held: &HeldShards, shard: ShardId, events: &mpsc::UnboundedSender<ShardEvent>) {
    if lock(&held.shards).remove(&shard).is_some() {
        let _ = events.send(ShardEvent::Lost(shard));
    }
}

/// Drops the shards whose leases could not be renewed in time.
fn drop_expired(held: &HeldShards, events: &mpsc::UnboundedSender<ShardEvent>) {
    let now = Instant::now();
    let expired: Vec<ShardId> = lock(&held.shards)
        .iter()
        .filter(|(_, shard)| shard.usable_until <= now)
        .map(|(id, _)| *id)
        .collect();
    for shard in expired {
        forget(held, shard, events);
    }
}
