//! Locking the few mutexes shared between an agent's task and other threads.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, taking the data even if a thread panicked while holding it.
///
/// Every mutex in the runtime guards data that is whole between statements (a latest value, a
/// queue, a table), so a panic elsewhere leaves nothing half-written: the data is still right to
/// use, and one failed handler must not take down every other user of the lock.
pub(crate) fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
