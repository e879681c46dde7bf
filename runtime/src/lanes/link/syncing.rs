//! Links waiting for a sync that their lane computes (demand lanes), kept apart from the
//! lane's subscribers until it is sent.

use std::cell::RefCell;

/// The links of one lane that wait for their sync, each with its id.
pub(crate) struct Syncing<L> {
    links: RefCell<Vec<(u64, L)>>,
}

impl<L> Default for Syncing<L> {
    fn default() -> Self {
        Syncing {
            links: RefCell::new(Vec::new()),
        }
    }
}

impl<L> Syncing<L> {
    /// Adds the link `id`, to be synced.
    pub(crate) fn push(&self, id: u64, link: L) {
        self.links.borrow_mut().push((id, link));
    }

    /// Whether no link waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.links.borrow().is_empty()
    }

    /// Hands the id of each waiting link to `visit`.
    pub(crate) fn ids(&self, visit: &mut dyn FnMut(u64)) {
        for (id, _) in self.links.borrow().iter() {
            visit(*id);
        }
    }

    /// Forgets the link `id`; `false` if it was not waiting.
    pub(crate) fn remove(&self, id: u64) -> bool {
        let mut links = self.links.borrow_mut();
        let before = links.len();
        links.retain(|(link, _)| *link != id);
        links.len() != before
    }

    /// Keeps the links for which `f` is true (`false`: the link is over).
    pub(crate) fn retain(&self, mut f: impl FnMut(&L) -> bool) {
        self.links.borrow_mut().retain(|(_, link)| f(link));
    }

    /// Hands every waiting link to `f` (the sync is over for them).
    pub(crate) fn finish(&self, mut f: impl FnMut(u64, L)) {
        for (id, link) in self.links.borrow_mut().drain(..) {
            f(id, link);
        }
    }
}
