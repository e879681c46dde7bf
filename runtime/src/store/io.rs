//! The store's I/O thread: where a server's agents load their state and commit their turns,
//! off tokio's worker threads, with the turns of many agents committed together.
//!
//! An agent task hands its turn's changes to [`StoreIo::commit`] and awaits the answer; while
//! it waits, the worker runs other agents. The thread takes every job waiting when it wakes
//! and passes the consecutive commits among them to [`Store::commit_group`] at once: one write
//! (one `fdatasync`, one transaction) for every agent that became ready together. A store
//! whose calls never wait for I/O ([`Store::blocks`] is `false`), and the commits of a store
//! that only gathers turns in memory ([`Store::gathers_turns`]), are called on the agent's own
//! task instead: the hop to a thread would cost more than the call.

use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::{every_turn_failed, AgentState, Change, Store, StoreError, Turn};

/// The most turns one group carries (the rest wait for the next group).
const MOST_TURNS: usize = 1024;

/// One turn's changes, owned so that they can wait in the queue (and go back to the agent,
/// which reuses the vector).
pub(crate) type Changes = Vec<(&'static str, Change)>;

/// What the metrics learn of the store's work (see `introspection::metrics`).
pub(crate) trait Observer: Send + Sync {
    /// A turn was queued for its commit.
    fn queued(&self);
    /// A queued turn's commit was answered, `waited` after it was queued.
    fn answered(&self, waited: Duration);
    /// The store wrote `turns` turns holding `changes` changes in one write, in `took`.
    fn wrote(&self, turns: usize, changes: usize, took: Duration);
}

/// A server's access to its store: calls that may wait for I/O run on the store's own thread,
/// and the task that asked awaits them. Cloning it is cheap.
#[derive(Clone)]
pub(crate) struct StoreIo(Arc<Shared>);

struct Shared {
    store: Arc<dyn Store>,
    /// The thread's queue; `None` when every call runs on the caller's thread.
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    observer: Option<Arc<dyn Observer>>,
    gathers: bool,
}

/// A turn waiting for its commit.
struct Queued {
    node: Arc<str>,
    changes: Changes,
    since: Instant,
    reply: oneshot::Sender<(Result<(), StoreError>, Changes)>,
}

/// What the thread is asked to do.
enum Job {
    Load {
        node: Arc<str>,
        reply: oneshot::Sender<Result<AgentState, StoreError>>,
    },
    Commit(Queued),
}

impl StoreIo {
    /// Access that calls `store` on the caller's thread, always: the test harness's
    /// synchronous, deterministic path.
    pub(crate) fn inline(store: Arc<dyn Store>) -> Self {
        let gathers = store.gathers_turns();
        StoreIo(Arc::new(Shared {
            store,
            jobs: None,
            thread: None,
            observer: None,
            gathers,
        }))
    }

    /// Access for a server: a thread of its own for the store's I/O, unless its calls never
    /// block. `observer` hears of every write.
    ///
    /// # Errors
    /// [`StoreError::Open`] if the thread cannot be started.
    pub(crate) fn start(
        store: Arc<dyn Store>,
        observer: Option<Arc<dyn Observer>>,
    ) -> Result<Self, StoreError> {
        let gathers = store.gathers_turns();
        let (jobs, thread) = if store.blocks() {
            let (jobs, queue) = mpsc::channel();
            let (serving, watching) = (store.clone(), observer.clone());
            let thread = std::thread::Builder::new()
                .name("tidal-store-io".to_owned())
                .spawn(move || serve(serving.as_ref(), &queue, watching.as_deref()))
                .map_err(|err| StoreError::Open {
                    path: "the store's I/O thread".to_owned(),
                    source: Box::new(err),
                })?;
            (Some(jobs), Some(thread))
        } else {
            (None, None)
        };
        Ok(StoreIo(Arc::new(Shared {
            store,
            jobs,
            thread,
            observer,
            gathers,
        })))
    }

    /// Whether the store lets the turns of a burst of requests be committed together (see
    /// [`Store::gathers_turns`]).
    pub(crate) fn gathers_turns(&self) -> bool {
        self.0.gathers
    }

    /// Whether a commit runs on the caller's thread ([`commit_now`](Self::commit_now)) rather
    /// than being awaited.
    pub(crate) fn commits_inline(&self) -> bool {
        self.0.jobs.is_none() || self.0.gathers
    }

    /// Commits one turn on the caller's thread.
    ///
    /// # Errors
    /// The store's error.
    pub(crate) fn commit_now(
        &self,
        node: &str,
        changes: &[(&str, Change)],
    ) -> Result<(), StoreError> {
        let started = Instant::now();
        let result = self.0.store.commit(node, changes);
        if let Some(observer) = &self.0.observer {
            observer.wrote(1, changes.len(), started.elapsed());
        }
        result
    }

    /// The persisted state of the agent at `node`, read on the caller's thread.
    ///
    /// # Errors
    /// The store's error.
    pub(crate) fn load_now(&self, node: &str) -> Result<AgentState, StoreError> {
        self.0.store.load(node)
    }

    /// The persisted state of the agent at `node`, read on the store's thread.
    ///
    /// # Errors
    /// The store's error, or [`StoreError::Read`] if its thread has ended.
    pub(crate) async fn load(&self, node: &str) -> Result<AgentState, StoreError> {
        let Some(jobs) = &self.0.jobs else {
            return self.load_now(node);
        };
        let (reply, answer) = oneshot::channel();
        let sent = jobs.send(Job::Load {
            node: node.into(),
            reply,
        });
        let gone = || StoreError::Read {
            node: node.to_owned(),
            source: "the store's I/O thread has ended".into(),
        };
        if sent.is_err() {
            return Err(gone());
        }
        answer.await.unwrap_or_else(|_| Err(gone()))
    }

    /// Commits one turn of the agent at `node` on the store's thread, together with the turns
    /// of other agents waiting then; the vector comes back (emptied) for the next turn.
    ///
    /// # Errors
    /// The store's error, or [`StoreError::Write`] if its thread has ended.
    pub(crate) async fn commit(
        &self,
        node: Arc<str>,
        mut changes: Changes,
    ) -> (Result<(), StoreError>, Changes) {
        let Some(jobs) = &self.0.jobs else {
            let result = self.commit_now(&node, &changes);
            changes.clear();
            return (result, changes);
        };
        let gone = |node: &str| StoreError::Write {
            node: node.to_owned(),
            source: "the store's I/O thread has ended".into(),
        };
        let (reply, answer) = oneshot::channel();
        if let Some(observer) = &self.0.observer {
            observer.queued();
        }
        let job = Job::Commit(Queued {
            node: node.clone(),
            changes,
            since: Instant::now(),
            reply,
        });
        if let Err(mpsc::SendError(job)) = jobs.send(job) {
            let Job::Commit(queued) = job else {
                unreachable!("a commit was sent")
            };
            if let Some(observer) = &self.0.observer {
                observer.answered(Duration::ZERO);
            }
            return (Err(gone(&node)), queued.changes);
        }
        answer
            .await
            .unwrap_or_else(|_| (Err(gone(&node)), Vec::new()))
    }
}

impl Drop for Shared {
    /// Closes the queue and waits for the thread to finish what it was given, so that the
    /// store is closed (and its files unlocked) once the last access is gone.
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

/// The thread: takes every job waiting, in order; consecutive commits go to the store as one
/// group.
fn serve(store: &dyn Store, queue: &mpsc::Receiver<Job>, observer: Option<&dyn Observer>) {
    let mut waiting: Vec<Job> = Vec::new();
    let mut group: Vec<Queued> = Vec::new();
    while let Ok(first) = queue.recv() {
        waiting.push(first);
        while waiting.len() < MOST_TURNS {
            match queue.try_recv() {
                Ok(job) => waiting.push(job),
                Err(_) => break,
            }
        }
        for job in waiting.drain(..) {
            match job {
                Job::Commit(queued) => group.push(queued),
                Job::Load { node, reply } => {
                    // Commits queued before the load land first: it reads what they wrote.
                    commit_group(store, &mut group, observer);
                    let _ = reply.send(store.load(&node));
                }
            }
        }
        commit_group(store, &mut group, observer);
    }
}

/// Commits the turns of `group` as one group, answers each, and empties it.
fn commit_group(store: &dyn Store, group: &mut Vec<Queued>, observer: Option<&dyn Observer>) {
    if group.is_empty() {
        return;
    }
    let turns: Vec<Turn<'_>> = group
        .iter()
        .map(|queued| Turn {
            node: &queued.node,
            changes: &queued.changes,
        })
        .collect();
    let started = Instant::now();
    let mut results = store.commit_group(&turns);
    if let Some(observer) = observer {
        let changes = turns.iter().map(|turn| turn.changes.len()).sum();
        observer.wrote(turns.len(), changes, started.elapsed());
    }
    if results.len() != turns.len() {
        let why = format!(
            "the store answered {} results for a group of {} turns",
            results.len(),
            turns.len()
        );
        results = every_turn_failed(&turns, &why);
    }
    drop(turns);
    for (queued, result) in group.drain(..).zip(results) {
        if let Some(observer) = observer {
            observer.answered(queued.since.elapsed());
        }
        let mut changes = queued.changes;
        changes.clear();
        let _ = queued.reply.send((result, changes));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Condvar, Mutex};

    use super::*;
    use crate::lock::lock;
    use crate::store::InMemoryStore;

    /// A store whose writes wait until the test opens its gate, recording each group's size.
    #[derive(Default)]
    struct Gated {
        inner: InMemoryStore,
        open: Mutex<bool>,
        opened: Condvar,
        held: tokio::sync::Notify,
        groups: Mutex<Vec<usize>>,
    }

    impl Store for Gated {
        fn load(&self, node: &str) -> Result<AgentState, StoreError> {
            self.inner.load(node)
        }

        fn commit(&self, node: &str, changes: &[(&str, Change)]) -> Result<(), StoreError> {
            self.inner.commit(node, changes)
        }

        fn commit_group(&self, turns: &[Turn<'_>]) -> Vec<Result<(), StoreError>> {
            lock(&self.groups).push(turns.len());
            let mut open = lock(&self.open);
            if !*open {
                self.held.notify_one();
            }
            while !*open {
                open = self.opened.wait(open).unwrap_or_else(|e| e.into_inner());
            }
            drop(open);
            turns
                .iter()
                .map(|turn| self.commit(turn.node, turn.changes))
                .collect()
        }
    }

    /// Opens the gate when dropped: a test that fails leaves no write held (the store's
    /// thread could not be joined).
    struct Reopen(Arc<Gated>);

    impl Drop for Reopen {
        fn drop(&mut self) {
            *lock(&self.0.open) = true;
            self.0.opened.notify_all();
        }
    }

    /// Counts the turns queued.
    #[derive(Default)]
    struct Queued(AtomicUsize, tokio::sync::Notify);

    impl Observer for Queued {
        fn queued(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
            self.1.notify_one();
        }
        fn answered(&self, _: Duration) {}
        fn wrote(&self, _: usize, _: usize, _: Duration) {}
    }

    fn turn(n: u8) -> Changes {
        vec![("v", Change::Value(vec![n]))]
    }

    /// While the thread is held in one write, the turns of nine other agents queue; they are
    /// then written together, as one group, and every one of them lands.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn turns_that_wait_together_are_committed_as_one_group() {
        let store = Arc::new(Gated::default());
        let queued = Arc::new(Queued::default());
        let io = StoreIo::start(store.clone(), Some(queued.clone())).unwrap();
        let gate = Reopen(store.clone());
        assert!(!io.commits_inline());
        let first = tokio::spawn({
            let io = io.clone();
            async move { io.commit("/0".into(), turn(0)).await.0 }
        });
        tokio::time::timeout(Duration::from_secs(10), store.held.notified())
            .await
            .expect("the first write is held");
        let others: Vec<_> = (1..10u8)
            .map(|n| {
                let io = io.clone();
                tokio::spawn(async move { io.commit(format!("/{n}").into(), turn(n)).await.0 })
            })
            .collect();
        while queued.0.load(Ordering::SeqCst) < 10 {
            tokio::time::timeout(Duration::from_secs(10), queued.1.notified())
                .await
                .expect("every turn is queued");
        }
        drop(gate);
        first.await.unwrap().unwrap();
        for other in others {
            other.await.unwrap().unwrap();
        }
        assert_eq!(*lock(&store.groups), vec![1, 9]);
        for n in 0..10u8 {
            let state = io.load(&format!("/{n}")).await.unwrap();
            assert_eq!(state["v"].value, Some(vec![n]));
        }
    }

    /// A store whose calls never block is called on the caller's thread: no thread, no queue.
    #[test]
    fn a_store_in_memory_is_called_inline() {
        let io = StoreIo::start(Arc::new(InMemoryStore::new()), None).unwrap();
        assert!(io.commits_inline());
        assert!(io.0.thread.is_none());
        io.commit_now("/a", &turn(1)).unwrap();
        assert_eq!(io.load_now("/a").unwrap()["v"].value, Some(vec![1]));
    }
}
