//! The links of one host: who links to which remote lane, and what the current connection
//! knows of each (linked, synced, the cached state that syncs later subscribers locally).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::routing::{deliver, map_operation, MapOperation};
use super::Address;
use crate::lanes::{Encoded, ItemKind, LinkSubscriber, UnlinkReason};
use crate::recon::Value;
use crate::warp::EnvelopeKind;

/// The links of one host and their state on the wire.
#[derive(Default)]
pub(super) struct Links {
    pub(super) by_id: HashMap<u64, (Address, LinkSubscriber)>,
    pub(super) by_address: HashMap<Address, Vec<u64>>,
    /// Addresses the remote host has confirmed (`@linked`) on the current connection, with
    /// the kind of lane if the host said (another member of a plane does).
    pub(super) linked: HashMap<Address, Option<ItemKind>>,
    /// Addresses a sync was asked for on the current connection.
    pub(super) sync_requested: HashSet<Address>,
    /// `@unlink`s sent and not yet answered, per address: their `@unlinked` replies concern
    /// the old wire link, not a link made again since.
    pub(super) unlinking: HashMap<Address, u32>,
    /// Addresses the remote host has synced on the current connection.
    pub(super) synced: HashSet<Address>,
    /// Links that joined while their address was being synced: they get the cached state
    /// when the sync completes (they may have missed its first events).
    pub(super) late: HashMap<Address, Vec<u64>>,
    /// The state of addresses being synced or synced, to sync later subscribers locally: one
    /// wire link per address however many downlinks share it.
    pub(super) cache: HashMap<Address, Cached>,
}

/// The last known state of a remote lane: its latest value, or its entries by key.
#[derive(Default)]
pub(super) struct Cached {
    pub(super) last: Option<Value>,
    /// Each key's latest `@update`, by the key's Recon text.
    pub(super) entries: indexmap::IndexMap<Arc<str>, Value>,
}

impl Cached {
    /// Records an event, read as `operation` if it is a map event.
    pub(super) fn record(&mut self, body: &Value, operation: Option<&MapOperation>) {
        match operation {
            Some(MapOperation::Update(key, _)) => {
                self.entries.insert(key.text().clone(), body.clone());
            }
            Some(MapOperation::Remove(key)) => {
                self.entries.shift_remove(&**key.text());
            }
            Some(MapOperation::Clear) => self.entries.clear(),
            None => {}
        }
        self.last = Some(body.clone());
    }

    /// Sends the state to one subscriber.
    pub(super) fn replay(&self, subscriber: &LinkSubscriber) -> Result<(), String> {
        match subscriber {
            LinkSubscriber::Map { .. } => self.entries.values().try_for_each(|body| {
                deliver(
                    subscriber,
                    &Encoded::new(body.clone()),
                    map_operation(body).as_ref(),
                )
            }),
            _ => match &self.last {
                Some(value) => deliver(subscriber, &Encoded::new(value.clone()), None),
                None => Ok(()),
            },
        }
    }
}

impl Links {
    pub(super) fn add(&mut self, address: Address, subscriber: LinkSubscriber) -> bool {
        let id = subscriber.id();
        let ids = self.by_address.entry(address.clone()).or_default();
        let first = ids.is_empty();
        ids.push(id);
        self.by_id.insert(id, (address, subscriber));
        first
    }

    /// Removes a link; returns its address if no other link uses it.
    pub(super) fn remove(&mut self, id: u64) -> Option<Address> {
        let (address, _) = self.by_id.remove(&id)?;
        let ids = self.by_address.get_mut(&address)?;
        ids.retain(|other| *other != id);
        if ids.is_empty() {
            self.by_address.remove(&address);
            self.forget(&address);
            Some(address)
        } else {
            None
        }
    }

    pub(super) fn at(&self, address: &Address) -> impl Iterator<Item = &LinkSubscriber> {
        self.by_address
            .get(address)
            .into_iter()
            .flatten()
            .filter_map(|id| self.by_id.get(id).map(|(_, subscriber)| subscriber))
    }

    /// Ends every link at `address` with `reason`.
    pub(super) fn unlink_all(&mut self, address: &Address, reason: UnlinkReason) {
        for id in self.by_address.remove(address).unwrap_or_default() {
            if let Some((_, subscriber)) = self.by_id.remove(&id) {
                subscriber.sink().unlinked(reason.clone());
            }
        }
        self.forget(address);
    }

    /// Forgets what the current connection knew of `address`.
    pub(super) fn forget(&mut self, address: &Address) {
        self.linked.remove(address);
        self.sync_requested.remove(address);
        self.synced.remove(address);
        self.late.remove(address);
        self.cache.remove(address);
    }

    /// An `@unlink` is sent for `address`.
    pub(super) fn unlink_sent(&mut self, address: &Address) {
        *self.unlinking.entry(address.clone()).or_default() += 1;
    }

    /// Whether an `@unlinked` for `address` answers an `@unlink` of ours (and consumes it).
    pub(super) fn answers_unlink(&mut self, address: &Address) -> bool {
        match self.unlinking.get_mut(address) {
            Some(count) => {
                *count -= 1;
                if *count == 0 {
                    self.unlinking.remove(address);
                }
                true
            }
            None => false,
        }
    }

    /// The connection is gone: nothing is linked any more.
    pub(super) fn disconnected(&mut self) {
        self.unlinking.clear();
        self.linked.clear();
        self.sync_requested.clear();
        self.synced.clear();
        self.late.clear();
        self.cache.clear();
    }

    /// The link request for an address: a sync if any of its links wants one.
    pub(super) fn request(&self, address: &Address) -> EnvelopeKind {
        if self.at(address).any(LinkSubscriber::wants_sync) {
            EnvelopeKind::Sync
        } else {
            EnvelopeKind::Link
        }
    }
}
