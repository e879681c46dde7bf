//! The embedded on-disk store: fjall, an LSM tree with one journal and atomic batches.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use super::{
    every_turn_failed, keys, AgentState, Change, Durability, Store, StoreConfig, StoreError, Turn,
};
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

/// The latest operation per full key.
type Ops = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// The latest operation per full key of one batch, borrowing the turns' values.
type BatchOps<'a> = BTreeMap<Vec<u8>, Option<&'a [u8]>>;

/// What turns changed since the last group write: the map items cleared (whatever fjall holds
/// under them goes first), then the latest operation per key.
#[derive(Default)]
struct Gathered {
    clears: BTreeSet<Vec<u8>>,
    ops: Ops,
}

impl Gathered {
    fn is_empty(&self) -> bool {
        self.clears.is_empty() && self.ops.is_empty()
    }
}

/// Turns gathered for the next group commit, and those being written.
#[derive(Default)]
struct Pending {
    gathered: Gathered,
    /// The group being written: still part of the state until fjall has it.
    writing: Option<Arc<Gathered>>,
    /// Why the last group commit failed: every later commit fails with it.
    failed: Option<String>,
}

/// The thread that writes the gathered turns, and makes them durable, every interval.
struct GroupCommit {
    pending: Arc<Mutex<Pending>>,
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
            Durability::GroupCommit(interval) => {
                Some(GroupCommit::start(db.clone(), agents.clone(), interval))
            }
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

    /// Makes everything committed so far durable (`fdatasync`), whatever the durability mode
    /// (turns gathered for a group commit are written first).
    ///
    /// # Errors
    /// [`StoreError::Sync`] if the disk refuses.
    pub fn persist(&self) -> Result<(), StoreError> {
        if let Some(group) = &self.group_commit {
            write_gathered(&self.db, &self.agents, &group.pending);
        }
        self.db
            .persist(PersistMode::SyncData)
            .map_err(|err| StoreError::Sync {
                source: Box::new(err),
            })
    }
}

impl GroupCommit {
    fn start(db: Database, agents: Keyspace, interval: Duration) -> Self {
        let pending = Arc::new(Mutex::new(Pending::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (gathered, stopping) = (pending.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("tidal-group-commit".to_owned())
            .spawn(move || {
                while !stopping.load(Ordering::Acquire) {
                    std::thread::park_timeout(interval);
                    write_gathered(&db, &agents, &gathered);
                }
            })
            .ok();
        if thread.is_none() {
            lock(&pending).failed = Some("cannot start the group-commit thread".to_owned());
        }
        GroupCommit {
            pending,
            stop,
            thread: Mutex::new(thread),
        }
    }
}

/// Writes the turns gathered since the last call in one batch, made durable (`fdatasync`):
/// the keys under each cleared map item first (read here, on the group-commit thread, not by
/// the agents), then the operations. A failure is logged, and makes every later commit fail.
fn write_gathered(db: &Database, agents: &Keyspace, pending: &Mutex<Pending>) {
    let gathered = {
        let mut pending = lock(pending);
        if pending.gathered.is_empty() {
            return;
        }
        let gathered = Arc::new(std::mem::take(&mut pending.gathered));
        pending.writing = Some(gathered.clone());
        gathered
    };
    let result = write_batch(db, agents, &gathered);
    let mut pending = lock(pending);
    pending.writing = None;
    if let Err(err) = result {
        tracing::error!(%err, "group commit failed: the last turns were lost; agents stop at their next turn");
        pending.failed = Some(err.to_string());
    }
}

/// The batch of a group write (see [`write_gathered`]).
fn write_batch(db: &Database, agents: &Keyspace, gathered: &Gathered) -> fjall::Result<()> {
    let mut batch = db.batch().durability(Some(PersistMode::SyncData));
    for prefix in &gathered.clears {
        for guard in agents.prefix(prefix) {
            let key = guard.key()?;
            if !gathered.ops.contains_key(key.as_ref()) {
                batch.remove(agents, key.to_vec());
            }
        }
    }
    for (key, op) in &gathered.ops {
        match op {
            Some(value) => batch.insert(agents, key.as_slice(), value.as_slice()),
            None => batch.remove(agents, key.as_slice()),
        }
    }
    batch.commit()
}

/// Turns every operation of `ops` on a key under `prefix` into a removal.
fn remove_all(ops: &mut BatchOps<'_>, prefix: &[u8]) {
    for op in ops.range_mut(prefix.to_vec()..) {
        if !op.0.starts_with(prefix) {
            break;
        }
        *op.1 = None;
    }
}

/// Applies what `gathered` did to the keys that start with `prefix` to `state`: its clears,
/// then its operations.
fn overlay(state: &mut BTreeMap<Vec<u8>, Vec<u8>>, gathered: &Gathered, prefix: &[u8]) {
    for cleared in gathered.clears.range(prefix.to_vec()..) {
        if !cleared.starts_with(prefix) {
            break;
        }
        state.retain(|key, _| !key.starts_with(cleared));
    }
    for (key, op) in gathered.ops.range(prefix.to_vec()..) {
        if !key.starts_with(prefix) {
            break;
        }
        match op {
            Some(value) => state.insert(key.clone(), value.clone()),
            None => state.remove(key),
        };
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
            // What the thread had not written yet.
            write_gathered(&self.db, &self.agents, &group.pending);
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

impl FjallStore {
    /// Adds the operations of one turn to `ops`, one per key: a batch's writes share one
    /// sequence number, so a key must not be both removed (by a clear) and written in it.
    fn batch_ops<'a>(
        &self,
        node: &str,
        changes: &'a [(&str, Change)],
        ops: &mut BatchOps<'a>,
    ) -> Result<(), StoreError> {
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
                    remove_all(ops, &prefix);
                    for guard in self.agents.prefix(&prefix) {
                        let key = guard.key().map_err(|err| StoreError::Write {
                            node: node.to_owned(),
                            source: Box::new(err),
                        })?;
                        ops.insert(key.to_vec(), None);
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes `ops` in one batch. Even unsynced, a batch reaches the operating system before
    /// this returns, so that the process dying (kill -9) loses nothing.
    fn write(&self, ops: BatchOps<'_>) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if ops.is_empty() {
            return Ok(());
        }
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
        batch.commit().map_err(|err| Box::new(err) as _)
    }

    /// Adds one turn to the next group commit (under one lock, so a turn is never split). It
    /// only touches memory: a clear is noted, and the group write removes what fjall holds.
    fn gather(
        &self,
        node: &str,
        changes: &[(&str, Change)],
        pending: &Mutex<Pending>,
    ) -> Result<(), StoreError> {
        let mut pending = lock(pending);
        if let Some(failed) = &pending.failed {
            return Err(StoreError::Write {
                node: node.to_owned(),
                source: format!("an earlier group commit failed: {failed}").into(),
            });
        }
        let gathered = &mut pending.gathered;
        for (item, change) in changes {
            match change {
                Change::Value(value) => {
                    gathered
                        .ops
                        .insert(keys::value(node, item), Some(value.clone()));
                }
                Change::Put { key, value } => {
                    gathered
                        .ops
                        .insert(keys::entry(node, item, key), Some(value.clone()));
                }
                Change::Remove { key } => {
                    gathered.ops.insert(keys::entry(node, item, key), None);
                }
                Change::Clear => {
                    let prefix = keys::entries(node, item);
                    let doomed: Vec<Vec<u8>> = gathered
                        .ops
                        .range(prefix.clone()..)
                        .take_while(|(key, _)| key.starts_with(&prefix))
                        .map(|(key, _)| key.clone())
                        .collect();
                    for key in doomed {
                        gathered.ops.remove(&key);
                    }
                    gathered.clears.insert(prefix);
                }
            }
        }
        Ok(())
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
        if let Some(group) = &self.group_commit {
            // Turns gathered but not written yet are part of the state.
            // Turns gathered, or being written, are part of the state (the newest last).
            let pending = lock(&group.pending);
            let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = pairs.into_iter().collect();
            if let Some(writing) = &pending.writing {
                overlay(&mut merged, writing, &prefix);
            }
            overlay(&mut merged, &pending.gathered, &prefix);
            return Ok(keys::collect(&prefix, merged));
        }
        Ok(keys::collect(&prefix, pairs))
    }

    fn commit(&self, node: &str, changes: &[(&str, Change)]) -> Result<(), StoreError> {
        if let Some(group) = &self.group_commit {
            return self.gather(node, changes, &group.pending);
        }
        let mut ops = BatchOps::new();
        self.batch_ops(node, changes, &mut ops)?;
        self.write(ops).map_err(|source| StoreError::Write {
            node: node.to_owned(),
            source,
        })
    }

    /// Every turn in one batch, written (and under `Sync` made durable) at once: one
    /// `fdatasync` for the whole group. A turn whose operations cannot be worked out (a clear
    /// whose entries cannot be read) fails alone; a batch that fails fails every turn in it.
    fn commit_group(&self, turns: &[Turn<'_>]) -> Vec<Result<(), StoreError>> {
        if let Some(group) = &self.group_commit {
            return turns
                .iter()
                .map(|turn| self.gather(turn.node, turn.changes, &group.pending))
                .collect();
        }
        let mut ops = BatchOps::new();
        let mut results: Vec<Result<(), StoreError>> = Vec::with_capacity(turns.len());
        for turn in turns {
            let mut own = BatchOps::new();
            let result = self.batch_ops(turn.node, turn.changes, &mut own);
            if result.is_ok() {
                // Later turns of a node come later: their clears and operations win.
                for (item, change) in turn.changes {
                    if let Change::Clear = change {
                        remove_all(&mut ops, &keys::entries(turn.node, item));
                    }
                }
                ops.extend(own);
            }
            results.push(result);
        }
        if let Err(err) = self.write(ops) {
            let failed = every_turn_failed(turns, &err);
            for (result, failed) in results.iter_mut().zip(failed) {
                if result.is_ok() {
                    *result = failed;
                }
            }
        }
        results
    }

    fn backend(&self) -> &'static str {
        "fjall"
    }

    /// Under group commit: a commit only gathers the turn for the next group write.
    fn gathers_turns(&self) -> bool {
        self.group_commit.is_some()
    }
}
