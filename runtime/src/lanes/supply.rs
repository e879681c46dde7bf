//! Supply lanes: a stream of values the agent pushes to its subscribers, every one in order.

use std::any::Any;
use std::cell::RefCell;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::item::{refuses_commands, stateless_item};
use super::{AgentItem, ItemKind, LinkSubscriber, Outlets, SharedEncoding, ValueOutlet};

/// How many values a subscriber of a supply lane may have waiting before it is unlinked.
pub const SUPPLY_QUEUE_BOUND: usize = 1024;

/// A lane with no state that sends every value the agent supplies, in order, to every
/// subscriber.
///
/// `HandlerContext::supply(lane, value)` queues a value; after the event, each subscriber
/// receives all of them. Nothing is coalesced, so nothing is silently lost either: each
/// subscriber has a queue of [`SUPPLY_QUEUE_BOUND`] values, and one that falls further behind
/// is unlinked with the reason (`@unlinked` over WARP), rather than the server's memory
/// growing without bound or values disappearing. A sync answers `synced` at once (there is no
/// state to send). Values supplied while nobody links are dropped. Nothing is persisted.
///
/// ```
/// use tidal_runtime::lanes::{Item, SupplyLane};
///
/// let lane: SupplyLane<String> = SupplyLane::create(0, ());
/// # let _ = lane;
/// ```
pub struct SupplyLane<T> {
    id: u64,
    /// The values supplied during the current event.
    values: RefCell<Vec<T>>,
    outlets: Outlets<dyn ValueOutlet<T>>,
    /// The Recon form of each value during a flush (reused storage).
    encodings: RefCell<Vec<SharedEncoding>>,
}

impl<T> SupplyLane<T> {
    /// A lane with the given id.
    pub fn new(id: u64) -> Self {
        SupplyLane {
            id,
            values: RefCell::new(Vec::new()),
            outlets: Outlets::default(),
            encodings: RefCell::new(Vec::new()),
        }
    }

    /// Adds a subscriber that receives every value supplied.
    pub fn subscribe(&self, outlet: impl ValueOutlet<T> + 'static) {
        self.outlets.add(Box::new(outlet));
    }
}

impl<T> fmt::Debug for SupplyLane<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SupplyLane").field("id", &self.id).finish()
    }
}

/// Supply lanes: what `HandlerContext::supply` works with.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a supply lane",
    label = "expected a `SupplyLane<T>` here",
    note = "`HandlerContext::supply` works with supply lanes; value lanes take `set_value`, command lanes `command`"
)]
pub trait SupplyLikeItem: AgentItem {
    /// The type of the values.
    type Value;

    /// Queues `value` for every subscriber (the caller reports the modification).
    fn supply(&self, value: Self::Value);
}

impl<T> SupplyLikeItem for SupplyLane<T>
where
    T: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    type Value = T;

    fn supply(&self, value: T) {
        if !self.outlets.is_empty() {
            self.values.borrow_mut().push(value);
        }
    }
}

stateless_item!(impl[T] SupplyLane<T>: SupplyLane where T: Clone + Serialize + DeserializeOwned + Send + 'static);

impl<T> AgentItem for SupplyLane<T>
where
    T: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    fn id(&self) -> u64 {
        self.id
    }

    refuses_commands!("a supply lane takes no commands: the agent supplies its values");

    fn flush(&self) {
        let mut values = self.values.borrow_mut();
        self.outlets
            .publish_each(values.iter(), &mut self.encodings.borrow_mut());
        values.clear();
    }

    fn link(&self, subscriber: LinkSubscriber) {
        self.outlets
            .link_stream(subscriber, "supply lane", ItemKind::SupplyLane);
    }

    fn unlink(&self, id: u64) -> bool {
        self.outlets.remove_link(id)
    }

    fn links(&self, visit: &mut dyn FnMut(u64)) {
        self.outlets.ids(visit);
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
