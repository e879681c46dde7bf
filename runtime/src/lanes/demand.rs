//! Demand lanes: a value computed on demand by the lifecycle's `on_cue` handler.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::item::{refuses_commands, stateless_item};
use super::link::{Parts, Syncing, ValueLink};
use super::{AgentItem, ItemKind, LinkSubscriber, Outlets, SharedEncoding, ValueOutlet};

/// A lane with no state of its own whose value the lifecycle computes when it is cued.
///
/// `HandlerContext::cue(lane)` runs the lane's `#[on_cue]` handler, which completes with the
/// value; after the event, every subscriber receives it (several cues in one event send one
/// value, the last computed). A subscriber that asks for a sync gets a value computed for it
/// alone, then `synced`. Nothing is persisted.
///
/// ```
/// use tidal_runtime::lanes::{DemandLane, Item};
///
/// let lane: DemandLane<i64> = DemandLane::create(0, ());
/// assert!(!lane.is_cued());
/// ```
pub struct DemandLane<T> {
    id: u64,
    /// Whether the next computed value goes to every subscriber (a cue is under way).
    cued: Cell<bool>,
    /// The value computed for every subscriber, sent at the flush.
    pending: RefCell<Option<T>>,
    outlets: Outlets<dyn ValueOutlet<T>>,
    /// Links waiting for their sync: the next computed value goes to them, then `synced`.
    syncing: Syncing<ValueLink<T>>,
}

impl<T> DemandLane<T> {
    /// A lane with the given id.
    pub fn new(id: u64) -> Self {
        DemandLane {
            id,
            cued: Cell::new(false),
            pending: RefCell::new(None),
            outlets: Outlets::default(),
            syncing: Syncing::default(),
        }
    }

    /// Whether the lane was cued and its value is not computed yet.
    pub fn is_cued(&self) -> bool {
        self.cued.get()
    }

    /// Adds a subscriber that receives every value computed after a cue.
    pub fn subscribe(&self, outlet: impl ValueOutlet<T> + 'static) {
        self.outlets.add(Box::new(outlet));
    }
}

impl<T> fmt::Debug for DemandLane<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DemandLane").field("id", &self.id).finish()
    }
}

/// Demand lanes: what `#[on_cue]` handlers and `HandlerContext::cue` work with.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a demand lane",
    label = "expected a `DemandLane<T>` here",
    note = "`#[on_cue]` and `HandlerContext::cue` work with demand lanes; demand-map lanes take `#[keys]`/`#[on_cue_key]` and `cue_key`"
)]
pub trait DemandLikeItem: AgentItem {
    /// The type of the value.
    type Value;

    /// Asks for the value to be computed and sent to every subscriber (the caller reports
    /// the modification that runs `on_cue`).
    fn cue(&self);

    /// The value `on_cue` computed: it goes to the links waiting for a sync and, after a cue,
    /// to every subscriber at the flush.
    fn deliver(&self, value: Self::Value);
}

impl<T> DemandLikeItem for DemandLane<T>
where
    T: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    type Value = T;

    fn cue(&self) {
        self.cued.set(true);
    }

    fn deliver(&self, value: T) {
        let mut shared = SharedEncoding::default();
        self.syncing.finish(|id, link| {
            if link.send_shared(&value, &mut shared) {
                link.synced();
                self.outlets.add_link(id, Box::new(link));
            }
        });
        if self.cued.replace(false) {
            *self.pending.borrow_mut() = Some(value);
        }
    }
}

stateless_item!(impl[T] DemandLane<T>: DemandLane where T: Clone + Serialize + DeserializeOwned + Send + 'static);

impl<T> AgentItem for DemandLane<T>
where
    T: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    fn id(&self) -> u64 {
        self.id
    }

    refuses_commands!("a demand lane takes no commands: its value is computed by `on_cue`");

    fn flush(&self) {
        self.cued.set(false);
        if let Some(value) = self.pending.borrow_mut().take() {
            let mut shared = SharedEncoding::default();
            self.outlets
                .publish(|outlet| outlet.publish_shared(&value, &mut shared));
        }
        // Links whose sync computed nothing (the lifecycle has no `on_cue`) are synced empty.
        self.syncing.finish(|id, link| {
            link.synced();
            self.outlets.add_link(id, Box::new(link));
        });
    }

    fn link(&self, subscriber: LinkSubscriber) {
        let Some(Parts {
            id,
            typed,
            recon,
            sync,
        }) = subscriber.into_value("demand lane")
        else {
            return;
        };
        recon.lane_kind(ItemKind::DemandLane);
        let link = ValueLink::new(typed, recon, None);
        link.linked();
        if sync {
            self.syncing.push(id, link);
        } else {
            self.outlets.add_link(id, Box::new(link));
        }
    }

    fn awaits_cue(&self) -> bool {
        !self.syncing.is_empty()
    }

    fn unlink(&self, id: u64) -> bool {
        self.outlets.remove_link(id) || self.syncing.remove(id)
    }

    fn links(&self, visit: &mut dyn FnMut(u64)) {
        self.outlets.ids(visit);
        self.syncing.ids(visit);
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
