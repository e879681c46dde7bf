//! Persistence: where agents keep their state across restarts and passivation.
//!
//! A [`Store`] holds bytes keyed by node URI, item name and (for maps) entry key. The agent
//! task loads an agent's items from it before `on_init` runs (restoring fires no events), and
//! after each turn (one top-level event with everything it triggered) commits the turn's
//! changes in one atomic batch: the last value per value item, the latest operation per map
//! key, a clear first when the map was cleared.
//!
//! # The turn
//!
//! In a server, store calls never run on tokio's worker threads. A turn runs its handlers,
//! hands its changes to the store's own I/O thread and awaits the commit; only then are its
//! events published, its HTTP answers and its commands to other agents sent. While it waits,
//! the worker runs other agents; requests that reach the waiting agent queue in its inbox, in
//! order. The I/O thread takes every turn waiting when it wakes and commits them with one
//! [`Store::commit_group`]: one write, one `fdatasync` (fjall) or one transaction
//! (PostgreSQL) for every agent that became ready together. Commands that wait in one agent's
//! inbox run one after the other and their turns are committed together too, before any of
//! them is published. So a store that is slow, or away, stalls only the agents whose writes
//! wait for it.
//!
//! A store whose calls never wait for I/O ([`Store::blocks`] is `false`, as for
//! [`InMemoryStore`]) is called on the agent's own task, and so is the commit of a store that
//! only gathers turns in memory for a later write ([`Store::gathers_turns`], as fjall under
//! [`Durability::GroupCommit`]).
//!
//! # Implementing a store
//!
//! [`Store::load`] and [`Store::commit`] are all a backend must write; they may block (they
//! run on the store's thread). Override [`commit_group`](Store::commit_group) to make a group
//! durable with one write (the default commits the turns one after another), and
//! [`blocks`](Store::blocks) if your calls only touch memory. A store written against the
//! synchronous trait of earlier versions compiles and works unchanged: its calls simply moved
//! off the runtime's threads.
//!
//! Backends that come with tidal: [`FjallStore`], on disk (the embedded LSM tree fjall),
//! [`InMemoryStore`], which keeps state across passivation within one process (tests, demos),
//! and, with the cargo feature `postgres`, `PostgresStore`, in a PostgreSQL database. Any
//! other backend implements [`Store`].
//!
//! # Durability
//!
//! [`Durability`] says when a committed turn is on disk; see each variant for what a crash can
//! lose. Values are encoded as MessagePack with field names, behind a format version byte (see
//! [`codec`]).

pub mod codec;
mod fjall_store;
pub(crate) mod io;
mod keys;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;

use std::collections::HashMap;
use std::time::Duration;

pub use fjall_store::FjallStore;
pub use memory::InMemoryStore;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::PostgresStore;
#[cfg(feature = "postgres")]
pub(crate) use postgres::{create_tables, LEASES_SCHEMA};

/// One change of one item, as a turn commits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A value item's new value (encoded).
    Value(Vec<u8>),
    /// A map item's entry for `key` is now `value` (both encoded).
    Put {
        /// The encoded key.
        key: Vec<u8>,
        /// The encoded value.
        value: Vec<u8>,
    },
    /// A map item's entry for `key` is gone.
    Remove {
        /// The encoded key.
        key: Vec<u8>,
    },
    /// Every entry of a map item is gone (operations after it in the batch follow).
    Clear,
}

/// One turn of one agent, as a group commit carries it (see [`Store::commit_group`]).
#[derive(Debug, Clone, Copy)]
pub struct Turn<'a> {
    /// The node URI of the agent.
    pub node: &'a str,
    /// The turn's changes, item by item, in order.
    pub changes: &'a [(&'a str, Change)],
}

/// The persisted state of one item.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemState {
    /// A value item's value, if one was stored.
    pub value: Option<Vec<u8>>,
    /// A map item's entries (encoded key, encoded value), in key-byte order.
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
}

/// The persisted state of one agent: its items by name.
pub type AgentState = HashMap<String, ItemState>;

/// Why a store could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store's directory could not be created or opened.
    #[error("cannot open the store at {path}: {source}")]
    Open {
        /// The directory.
        path: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Reading an agent's state failed.
    #[error("cannot read the state of {node}: {source}")]
    Read {
        /// The node URI.
        node: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Writing a turn's changes failed: none of them were written.
    #[error("cannot write the changes of {node}: {source}")]
    Write {
        /// The node URI.
        node: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Making written changes durable failed.
    #[error("cannot make the store durable: {source}")]
    Sync {
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The answer to a group of turns that failed as one (one batch, one transaction): each turn
/// gets [`StoreError::Write`] saying `why`.
pub(crate) fn every_turn_failed(
    turns: &[Turn<'_>],
    why: &dyn std::fmt::Display,
) -> Vec<Result<(), StoreError>> {
    turns
        .iter()
        .map(|turn| {
            Err(StoreError::Write {
                node: turn.node.to_owned(),
                source: why.to_string().into(),
            })
        })
        .collect()
}

/// Why an item's persisted state does not restore: it does not decode as the item's type (the
/// type changed since it was written).
#[derive(Debug, thiserror::Error)]
#[error("the persisted state does not decode as `{type_name}`: {source}")]
pub struct RestoreError {
    /// The type it should have decoded as.
    pub type_name: &'static str,
    /// Why it does not.
    #[source]
    pub source: codec::DecodeError,
}

/// When committed turns are on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// Each turn's batch is durable (`fdatasync`) before the turn's events are published to
    /// subscribers. A crash loses nothing that anyone was told about; a turn whose events were
    /// not yet published may be lost. The turns of agents that wait together share one
    /// `fdatasync` (see [the turn](self#the-turn)).
    Sync,
    /// Turns are gathered in memory (the latest value per key) and written together every
    /// interval, in one batch made durable with one `fdatasync` for all agents. Under load, an
    /// agent also commits the turns of the requests waiting in its inbox (at most 64) together,
    /// after it ran the last of them. A crash, of the
    /// process (kill -9) or of the machine, loses at most the turns of the last interval (and of
    /// the group write under way, if the disk is slow). A
    /// group write that fails is logged, and every later commit fails, which stops the agents
    /// at their next turn.
    GroupCommit(Duration),
    /// Batches are written at once; the operating system decides when they reach the disk. A
    /// crash of the process loses nothing; a crash of the machine may lose the turns of the
    /// last seconds.
    Buffered,
}

impl Default for Durability {
    /// Group commit every 5 ms: the fastest mode, and a crash loses at most 5 ms of turns.
    fn default() -> Self {
        Durability::GroupCommit(Duration::from_millis(5))
    }
}

/// How a store writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreConfig {
    /// When committed turns are on disk (default: group commit every 5 ms).
    pub durability: Durability,
}

impl StoreConfig {
    /// The configuration with `durability`.
    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }
}

/// A persistence backend: bytes keyed by node URI, item name and entry key.
///
/// Implementations must make [`commit`](Store::commit) atomic (all of a batch or none) and
/// keep each node's data apart. In a server they are called on the store's own I/O thread,
/// never on a tokio worker: they may block, and while they do only the agents waiting for
/// them wait (see [the module](self)).
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use tidal_runtime::store::{AgentState, Change, Store, StoreError};
///
/// /// Keeps the last value of each value item (a sketch: maps are left out).
/// #[derive(Default)]
/// struct Values(Mutex<HashMap<(String, String), Vec<u8>>>);
///
/// impl Store for Values {
///     fn load(&self, node: &str) -> Result<AgentState, StoreError> {
///         let values = self.0.lock().unwrap();
///         let mut state = AgentState::new();
///         for ((at, item), value) in values.iter() {
///             if at == node {
///                 state.entry(item.clone()).or_default().value = Some(value.clone());
///             }
///         }
///         Ok(state)
///     }
///
///     fn commit(&self, node: &str, changes: &[(&str, Change)]) -> Result<(), StoreError> {
///         let mut values = self.0.lock().unwrap();
///         for (item, change) in changes {
///             if let Change::Value(value) = change {
///                 values.insert((node.to_owned(), (*item).to_owned()), value.clone());
///             }
///         }
///         Ok(())
///     }
///
///     /// Only memory: called on the agents' own tasks.
///     fn blocks(&self) -> bool {
///         false
///     }
/// }
/// ```
pub trait Store: Send + Sync + 'static {
    /// Every persisted item of the agent at `node` (empty for an agent never persisted).
    ///
    /// # Errors
    /// [`StoreError::Read`] if the backend fails.
    fn load(&self, node: &str) -> Result<AgentState, StoreError>;

    /// Applies one turn's changes, item by item, atomically; durable before it returns under
    /// [`Durability::Sync`].
    ///
    /// # Errors
    /// [`StoreError::Write`] (nothing was written) or [`StoreError::Sync`].
    fn commit(&self, node: &str, changes: &[(&str, Change)]) -> Result<(), StoreError>;

    /// Commits the turns of several agents that became ready together, each atomically, and
    /// answers one result per turn, in order (a turn of a node comes after that node's earlier
    /// turns). Under [`Durability::Sync`], each turn answered `Ok` is durable.
    ///
    /// The default commits them one after another with [`commit`](Store::commit). A backend
    /// that can make many turns durable with one write (one `fdatasync`, one transaction)
    /// overrides it: that is what lets many agents commit at the rate of one.
    fn commit_group(&self, turns: &[Turn<'_>]) -> Vec<Result<(), StoreError>> {
        turns
            .iter()
            .map(|turn| self.commit(turn.node, turn.changes))
            .collect()
    }

    /// Whether calls may wait for I/O (a disk, a network): then a server runs them on the
    /// store's own thread (the default, `true`). A store whose calls only touch memory says
    /// `false`, and is called on the agents' own tasks, without the hop to a thread.
    fn blocks(&self) -> bool {
        true
    }

    /// A short name of the backend, for the server's metrics (`fjall`, `postgresql`,
    /// `memory`; `custom` unless the store says otherwise).
    fn backend(&self) -> &'static str {
        "custom"
    }

    /// Whether an agent with requests waiting in its inbox may run several of them and commit
    /// their turns together, once, after their events were published (`false` unless the
    /// store says so). Right for a store whose commits only gather changes for a later write
    /// (like [`Durability::GroupCommit`]), where it loses nothing more and saves commits under
    /// load; wrong for one that promises a turn is written before anyone hears of it.
    ///
    /// A store that gathers turns is trusted to gather them in memory: its
    /// [`commit`](Store::commit) runs on the agent's own task.
    fn gathers_turns(&self) -> bool {
        false
    }
}

/// Which shard lease a turn of an agent is written under: the cluster's fencing token (see
/// `PostgresStore::connect_fenced`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FenceToken {
    /// The agent's shard.
    pub shard: u32,
    /// The server holding the lease.
    pub owner: String,
    /// The lease's epoch when the server claimed it.
    pub epoch: i64,
}

/// Tells a fenced store which lease the server holds for an agent.
pub trait Fence: Send + Sync {
    /// The lease held for the agent at `node`; `None` if the server holds none (its writes
    /// are refused).
    fn token(&self, node: &str) -> Option<FenceToken>;
}

/// A shared store is a store: a server can run on one that the program (or a test) also
/// reads, or that several servers share.
impl<S: Store + ?Sized> Store for std::sync::Arc<S> {
    fn load(&self, node: &str) -> Result<AgentState, StoreError> {
        (**self).load(node)
    }

    fn commit(&self, node: &str, changes: &[(&str, Change)]) -> Result<(), StoreError> {
        (**self).commit(node, changes)
    }

    fn commit_group(&self, turns: &[Turn<'_>]) -> Vec<Result<(), StoreError>> {
        (**self).commit_group(turns)
    }

    fn blocks(&self) -> bool {
        (**self).blocks()
    }

    fn backend(&self) -> &'static str {
        (**self).backend()
    }

    fn gathers_turns(&self) -> bool {
        (**self).gathers_turns()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(bytes: &[u8]) -> Change {
        Change::Value(bytes.to_vec())
    }

    fn put(key: &[u8], value: &[u8]) -> Change {
        Change::Put {
            key: key.to_vec(),
            value: value.to_vec(),
        }
    }

    /// The semantics every backend shares: values replace, entries put and remove, a clear
    /// drops the entries before it in the same batch and in earlier ones, nodes stay apart.
    fn batches_apply_in_order(store: &dyn Store) {
        store
            .commit(
                "/a",
                &[
                    ("v", value(b"1")),
                    ("m", put(b"k1", b"x")),
                    ("m", put(b"k2", b"y")),
                ],
            )
            .unwrap();
        store
            .commit(
                "/a",
                &[
                    ("v", value(b"2")),
                    ("m", put(b"k3", b"z")),
                    ("m", Change::Clear),
                    ("m", put(b"k4", b"w")),
                    (
                        "m",
                        Change::Remove {
                            key: b"k9".to_vec(),
                        },
                    ),
                ],
            )
            .unwrap();
        store.commit("/ab", &[("v", value(b"other"))]).unwrap();
        let state = store.load("/a").unwrap();
        assert_eq!(state["v"].value.as_deref(), Some(&b"2"[..]));
        assert_eq!(state["m"].entries, vec![(b"k4".to_vec(), b"w".to_vec())]);
        assert_eq!(state.len(), 2);
        assert_eq!(
            store.load("/ab").unwrap()["v"].value.as_deref(),
            Some(&b"other"[..])
        );
        assert!(store.load("/nobody").unwrap().is_empty());
    }

    /// A group of turns lands as the same turns committed one after another: a later turn of
    /// the same node wins, its clear drops the entries an earlier turn of the group put.
    fn groups_apply_like_turns_in_order(store: &dyn Store) {
        store.commit("/g", &[("m", put(b"old", b"o"))]).unwrap();
        let first = [("v", value(b"1")), ("m", put(b"k1", b"x"))];
        let other = [("v", value(b"other"))];
        let second = [
            ("v", value(b"2")),
            ("m", Change::Clear),
            ("m", put(b"k2", b"y")),
        ];
        let results = store.commit_group(&[
            Turn {
                node: "/g",
                changes: &first,
            },
            Turn {
                node: "/h",
                changes: &other,
            },
            Turn {
                node: "/g",
                changes: &second,
            },
        ]);
        assert_eq!(results.len(), 3);
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        let state = store.load("/g").unwrap();
        assert_eq!(state["v"].value.as_deref(), Some(&b"2"[..]));
        assert_eq!(state["m"].entries, vec![(b"k2".to_vec(), b"y".to_vec())]);
        assert_eq!(
            store.load("/h").unwrap()["v"].value.as_deref(),
            Some(&b"other"[..])
        );
    }

    #[test]
    fn the_in_memory_store_applies_batches_in_order() {
        batches_apply_in_order(&InMemoryStore::new());
        groups_apply_like_turns_in_order(&InMemoryStore::new());
    }

    #[test]
    fn the_fjall_store_applies_batches_in_order_in_every_mode() {
        for durability in [
            Durability::Sync,
            Durability::Buffered,
            Durability::GroupCommit(Duration::from_millis(1)),
            // Never written while open: loads see the gathered turns.
            Durability::GroupCommit(Duration::from_secs(3600)),
        ] {
            let dir = tempfile_dir();
            let config = StoreConfig::default().with_durability(durability);
            batches_apply_in_order(&FjallStore::open(&dir, config.clone()).unwrap());
            let grouped = tempfile_dir();
            groups_apply_like_turns_in_order(&FjallStore::open(&grouped, config.clone()).unwrap());
            let _ = std::fs::remove_dir_all(&grouped);
            // Closed and opened again: everything committed is there.
            let reopened = FjallStore::open(&dir, config).unwrap();
            assert_eq!(
                reopened.load("/a").unwrap()["v"].value.as_deref(),
                Some(&b"2"[..]),
                "{durability:?}"
            );
            drop(reopened);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    /// Under group commit a clear is gathered without reading fjall: the entries written
    /// before it are hidden at once, and removed by the group write.
    #[test]
    fn a_gathered_clear_drops_the_entries_already_written() {
        let dir = tempfile_dir();
        let config = StoreConfig::default()
            .with_durability(Durability::GroupCommit(Duration::from_secs(3600)));
        let store = FjallStore::open(&dir, config.clone()).unwrap();
        store
            .commit("/c", &[("m", put(b"k1", b"x")), ("m", put(b"k2", b"y"))])
            .unwrap();
        store.persist().unwrap();
        store
            .commit("/c", &[("m", Change::Clear), ("m", put(b"k3", b"z"))])
            .unwrap();
        let only_k3 = vec![(b"k3".to_vec(), b"z".to_vec())];
        assert_eq!(store.load("/c").unwrap()["m"].entries, only_k3);
        store.persist().unwrap();
        assert_eq!(store.load("/c").unwrap()["m"].entries, only_k3);
        drop(store);
        let reopened = FjallStore::open(&dir, config).unwrap();
        assert_eq!(reopened.load("/c").unwrap()["m"].entries, only_k3);
        drop(reopened);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A fresh directory under the system's temporary directory.
    fn tempfile_dir() -> std::path::PathBuf {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        std::env::temp_dir().join(format!(
            "tidal-store-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ))
    }
}
