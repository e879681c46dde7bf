//! The links of a join lane: where each goes (persisted with the agent's state), the downlink
//! that runs it, and the lifecycle that hears of it.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::LinkAddress;
use crate::lanes::{next_link_id, MapCell};

/// The links of one join lane, by link key `L`.
pub(crate) struct Links<L> {
    /// Where each link goes; the part of the lane that is persisted.
    pub(super) cell: MapCell<L, LinkAddress, HashMap<L, LinkAddress>>,
    /// The downlink of each link while it runs.
    open: RefCell<HashMap<L, OpenLink>>,
    /// The lifecycle of the links (a `Box<dyn ..Lifecycle<.., A>>` for the agent type `A`),
    /// attached when the agent starts.
    lifecycle: RefCell<Option<Box<dyn Any + Send>>>,
}

/// A running link.
struct OpenLink {
    /// Tells this link's events from those of an earlier link of the same key.
    id: u64,
    /// The downlink's handle: dropping it stops the downlink.
    _handle: Box<dyn Any + Send>,
}

impl<L> Links<L>
where
    L: Eq + Hash + Clone + Serialize + DeserializeOwned + Send + 'static,
{
    pub(crate) fn new() -> Self {
        Links {
            cell: MapCell::new(HashMap::new()),
            open: RefCell::new(HashMap::new()),
            lifecycle: RefCell::new(None),
        }
    }

    /// Where each link goes.
    pub(crate) fn addresses(&self) -> HashMap<L, LinkAddress> {
        self.cell.read(HashMap::clone)
    }

    /// Whether `key` has a running link.
    pub(crate) fn is_open(&self, key: &L) -> bool {
        self.open.borrow().contains_key(key)
    }

    /// The id of the running link of `key`, and where it goes.
    pub(crate) fn current(&self, key: &L) -> Option<(u64, LinkAddress)> {
        let id = self.open.borrow().get(key).map(|link| link.id)?;
        let address = self.cell.read(|links| links.get(key).cloned())?;
        Some((id, address))
    }

    /// Whether `id` is the running link of `key`.
    pub(crate) fn is_current(&self, key: &L, id: u64) -> bool {
        self.open
            .borrow()
            .get(key)
            .is_some_and(|link| link.id == id)
    }

    /// Records the link of `key` to `address` (for the store).
    pub(crate) fn record(&self, key: L, address: LinkAddress) {
        self.cell.update(key, address);
    }

    /// A new link id, for a downlink about to open.
    pub(crate) fn next_id() -> u64 {
        next_link_id()
    }

    /// Keeps the downlink `id` of `key` running (replacing one that ran).
    pub(crate) fn opened(&self, key: L, id: u64, handle: Box<dyn Any + Send>) {
        self.open.borrow_mut().insert(
            key,
            OpenLink {
                id,
                _handle: handle,
            },
        );
    }

    /// Stops the link of `key` for now: it stays recorded (for the store), and opens again
    /// when the agent next starts.
    pub(crate) fn pause(&self, key: &L) {
        self.open.borrow_mut().remove(key);
    }

    /// Stops the link of `key` and forgets it.
    pub(crate) fn drop_link(&self, key: &L) {
        self.open.borrow_mut().remove(key);
        self.cell.remove(key);
    }

    /// Keeps `lifecycle` (a `Box<dyn ..Lifecycle<.., A>>`).
    pub(crate) fn attach<T: Send + 'static>(&self, lifecycle: T) {
        *self.lifecycle.borrow_mut() = Some(Box::new(lifecycle));
    }

    /// Runs `f` on the lifecycle, if one of type `T` is attached.
    pub(crate) fn with_lifecycle<T: 'static, R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let mut lifecycle = self.lifecycle.borrow_mut();
        lifecycle.as_mut()?.downcast_mut::<T>().map(f)
    }
}
