//! The embedded on-disk store: fjall, an LSM tree with one journal and atomic batches.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use super::{keys, AgentState, Change, Durability, Store, StoreConfig, StoreError};
use crate::lock::lock;

/// The name of the one keyspace that holds every agent.
const KEYSPACE: &str = "agents";

/// A [`Store`] in a directory on disk, with fjall. Every agent of a server shares it; each
/// turn is one atomic batch.
pub struct FjallStore {
    path: PathBuf,
    db: Database,
    agents: Keyspace,
    durability: Durability,
    group_commit: Option<GroupCommit>,
}

/// The thread that makes written batches durable every interval.
struct GroupCommit {
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl FjallStore {
    /// Opens (creating it if missing) the store in `path`.
    ///
    /// # Errors
    /// [`StoreError::Open`] if the directory cannot be created, is not writable, or holds data
    /// fjall cannot read.
    pub fn open(path: impl AsRef<Path>, config: StoreConfig) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let open_error = |source: Box<dyn std::error::Error + Send + Sync>| StoreError::Open {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(&path).map_err(|err| open_error(Box::new(err)))?;
        let db = Database::builder(&path)
            .open()
            .map_err(|err| open_error(Box::new(err)))?;
        let agents = db
            .keyspace(KEYSPACE, KeyspaceCreateOptions::default)
            .map_err(|err| open_error(Box::new(err)))?;
        let group_commit = match config.durability {
            Durability::GroupCommit(interval) => Some(GroupCommit::start(db.clone(), interval)),
            _ => None,
        };
        Ok(FjallStore {
            path,
            db,
            agents,
            durability: config.durability,
            group_commit,
        })
    }

    /// The directory of the store.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes everything written so far durable (`fdatasync`), whatever the durability mode.
    ///
    /// # Errors
    /// [`StoreError::Sync`] if the disk refuses.
    pub fn persist(&self) -> Result<(), StoreError> {
        self.db
            .persist(PersistMode::SyncData)
            .map_err(|err| StoreError::Sync {
                source: Box::new(err),
            })
    }
}

impl GroupCommit {
    fn start(db: Database, interval: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("tidal-group-commit".to_owned())
            .spawn(move || {
                while !stopping.load(Ordering::Acquire) {
                    std::thread::park_timeout(interval);
                    if let Err(err) = db.persist(PersistMode::SyncData) {
                        tracing::error!(%err, "group commit failed: recent turns may not be durable");
                    }
                }
            })
            .ok();
        if thread.is_none() {
            tracing::error!("cannot start the group-commit thread: batches are not synced");
        }
        GroupCommit {
            stop,
            thread: Mutex::new(thread),
        }
    }
}

impl Drop for FjallStore {
    fn drop(&mut self) {
        if let Some(group) = &self.group_commit {
            group.stop.store(true, Ordering::Release);
            if let Some(thread) = lock(&group.thread).take() {
                thread.thread().unpark();
                let _ = thread.join();
            }
        }
        // What was written is durable once the store is closed.
        if let Err(err) = self.db.persist(PersistMode::SyncData) {
            tracing::error!(%err, path = %self.path.display(), "closing the store: sync failed");
        }
    }
}

impl std::fmt::Debug for FjallStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FjallStore")
            .field("path", &self.path)
            .field("durability", &self.durability)
            .finish_non_exhaustive()
    }
}

impl Store for FjallStore {
    fn load(&self, node: &str) -> Result<AgentState, StoreError> {
        let prefix = keys::agent(node);
        let mut pairs = Vec::new();
        for guard in self.agents.prefix(&prefix) {
            let (key, value) = guard.into_inner().map_err(|err| StoreError::Read {
                node: node.to_owned(),
                source: Box::new(err),
            })?;
            pairs.push((key.to_vec(), value.to_vec()));
        }
        Ok(keys::collect(&prefix, pairs))
    }

    fn commit(&self, node: &str, changes: &[(&str, Change)]) -> Result<(), StoreError> {
        let write_error = |source: Box<dyn std::error::Error + Send + Sync>| StoreError::Write {
            node: node.to_owned(),
            source,
        };
        // One operation per key: a batch's writes share one sequence number, so a key must
        // not be both removed (by a clear) and written in it.
        let mut ops: BTreeMap<Vec<u8>, Option<&[u8]>> = BTreeMap::new();
        for (item, change) in changes {
            match change {
                Change::Value(value) => {
                    ops.insert(keys::value(node, item), Some(value));
                }
                Change::Put { key, value } => {
                    ops.insert(keys::entry(node, item, key), Some(value));
                }
                Change::Remove { key } => {
                    ops.insert(keys::entry(node, item, key), None);
                }
                Change::Clear => {
                    let prefix = keys::entries(node, item);
                    for op in ops.range_mut(prefix.clone()..) {
                        if !op.0.starts_with(&prefix) {
                            break;
                        }
                        *op.1 = None;
                    }
                    for guard in self.agents.prefix(&prefix) {
                        let key = guard.key().map_err(|err| write_error(Box::new(err)))?;
                        ops.insert(key.to_vec(), None);
                    }
                }
            }
        }
        // Even unsynced, a batch reaches the operating system before this returns, so that
        // the process dying (kill -9) loses nothing.
        let mode = match self.durability {
            Durability::Sync => PersistMode::SyncData,
            _ => PersistMode::Buffer,
        };
        let mut batch = self.db.batch().durability(Some(mode));
        for (key, op) in ops {
            match op {
                Some(value) => batch.insert(&self.agents, key, value),
                None => batch.remove(&self.agents, key),
            }
        }
        batch.commit().map_err(|err| write_error(Box::new(err)))
    }
}
