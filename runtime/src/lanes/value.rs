//! Value lanes: one observable value.

use std::any::Any;
use std::cell::{Cell, OnceCell, RefCell};
use std::fmt;
use std::sync::{Arc, Weak};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::item::{apply_payload, persistent_cell};
use super::link::{Latest, LatestSink, Parts, ValueLink};
use super::{
    AgentItem, CommandPayload, CommandTarget, Item, ItemKind, LinkSubscriber, ModificationSink,
    Outlets, SharedEncoding, ValueOutlet,
};
use crate::event_handler::{EventHandlerError, Modification};
use crate::store::codec::{self, EncodeError};
use crate::store::{Change, ItemState, RestoreError};

/// The state shared by value lanes and value stores: the value and the one it replaced.
pub(crate) struct ValueCell<T> {
    value: RefCell<T>,
    previous: Cell<Option<T>>,
    /// Whether the value changed since the store last took it (`None`: not persisted).
    unsaved: Cell<Option<bool>>,
}

impl<T> ValueCell<T> {
    pub(crate) fn new(value: T) -> Self {
        ValueCell {
            value: RefCell::new(value),
            previous: Cell::new(None),
            unsaved: Cell::new(None),
        }
    }

    /// Records changes for the store from now on.
    pub(crate) fn journal(&self) {
        self.unsaved.set(Some(false));
    }

    /// Hands the value, encoded, to `out` if it changed since the last call.
    pub(crate) fn take_changes(&self, out: &mut dyn FnMut(Change)) -> Result<(), EncodeError>
    where
        T: Serialize,
    {
        if self.unsaved.get() == Some(true) {
            self.unsaved.set(Some(false));
            out(Change::Value(codec::encode(&*self.value.borrow())?));
        }
        Ok(())
    }

    /// Makes the next [`take_changes`](Self::take_changes) write the value.
    pub(crate) fn rewrite(&self) {
        if self.unsaved.get().is_some() {
            self.unsaved.set(Some(true));
        }
    }

    /// Sets the persisted value, as it was before the restart (no event).
    pub(crate) fn restore(&self, state: &ItemState) -> Result<(), RestoreError>
    where
        T: DeserializeOwned,
    {
        if let Some(bytes) = &state.value {
            let value = codec::decode(bytes).map_err(|source| RestoreError {
                type_name: std::any::type_name::<T>(),
                source,
            })?;
            *self.value.borrow_mut() = value;
        }
        Ok(())
    }

    pub(crate) fn read<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.value.borrow())
    }

    pub(crate) fn set(&self, value: T) {
        let previous = std::mem::replace(&mut *self.value.borrow_mut(), value);
        self.previous.set(Some(previous));
        if self.unsaved.get().is_some() {
            self.unsaved.set(Some(true));
        }
    }

    pub(crate) fn with_event<R>(&self, f: impl FnOnce(&T, Option<T>) -> R) -> R {
        let previous = self.previous.take();
        f(&self.value.borrow(), previous)
    }
}

impl<T: fmt::Debug> fmt::Debug for ValueCell<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.borrow().fmt(f)
    }
}

/// Value lanes and value stores: what `HandlerContext::{get_value, set_value, ..}` and the
/// `on_event`/`on_set` handlers work with.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a value lane or value store",
    label = "expected a `ValueLane<T>` or `ValueStore<T>` here",
    note = "`on_event`, `on_set`, `get_value` and `set_value` work with value lanes and value stores; map lanes take `on_update`/`on_remove`/`on_clear` and command lanes `on_command`"
)]
pub trait ValueLikeItem: AgentItem {
    /// The type of the value.
    type Value;

    /// Reads the value.
    fn read<R>(&self, f: impl FnOnce(&Self::Value) -> R) -> R;

    /// Sets the value (the caller reports the modification).
    fn set(&self, value: Self::Value);

    /// Reads the new value and takes the previous one, to build `on_event`/`on_set` handlers.
    fn with_event<R>(&self, f: impl FnOnce(&Self::Value, Option<Self::Value>) -> R) -> R;
}

/// A lane holding one value of type `T`.
///
/// Setting it (through `HandlerContext::set_value` or a command) runs the lane's `on_event` and
/// then its `on_set` handler; after the event, subscribers receive the latest value. Intermediate
/// values set within one event are seen by the handlers but coalesced for subscribers.
///
/// ```
/// use tidal_runtime::lanes::{Item, ValueLane};
///
/// let lane = ValueLane::create(0, 5);
/// assert_eq!(lane.get(), 5);
/// ```
pub struct ValueLane<T> {
    id: u64,
    cell: ValueCell<T>,
    dirty: Cell<bool>,
    outlets: Outlets<dyn ValueOutlet<T>>,
    /// The copy shared by subscribers that only need the latest value (made on first use).
    latest: OnceCell<Arc<Latest<T>>>,
    /// Those subscribers' links: woken through `latest`, not visited on each event.
    latest_links: Outlets<dyn ValueOutlet<T>>,
    /// Reused storage for waking them.
    spare: RefCell<Vec<Weak<dyn LatestSink<T>>>>,
}

impl<T> ValueLane<T> {
    /// A lane with the given id and initial value.
    pub fn new(id: u64, value: T) -> Self {
        ValueLane {
            id,
            cell: ValueCell::new(value),
            dirty: Cell::new(false),
            outlets: Outlets::default(),
            latest: OnceCell::new(),
            latest_links: Outlets::default(),
            spare: RefCell::new(Vec::new()),
        }
    }

    /// Reads the current value without copying it.
    pub fn read<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        self.cell.read(f)
    }

    /// A copy of the current value.
    pub fn get(&self) -> T
    where
        T: Clone,
    {
        self.cell.read(T::clone)
    }

    /// Adds a subscriber that receives the value after every event that changed it.
    pub fn subscribe(&self, outlet: impl ValueOutlet<T> + 'static) {
        self.outlets.add(Box::new(outlet));
    }
}

impl<T: fmt::Debug> fmt::Debug for ValueLane<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValueLane")
            .field("id", &self.id)
            .field("value", &self.cell)
            .finish()
    }
}

impl<T> Item for ValueLane<T>
where
    T: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    type Init = T;
    const KIND: ItemKind = ItemKind::ValueLane;

    fn create(id: u64, init: T) -> Self {
        ValueLane::new(id, init)
    }
}

impl<T> AgentItem for ValueLane<T>
where
    T: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    fn id(&self) -> u64 {
        self.id
    }

    fn apply_command(
        &self,
        command: CommandPayload,
        sink: &mut dyn ModificationSink,
    ) -> Result<(), EventHandlerError> {
        apply_payload(self, command, sink)
    }

    fn flush(&self) {
        if self.dirty.replace(false) {
            let value = self.cell.value.borrow();
            if let Some(latest) = self.latest.get() {
                latest.publish(&value, &mut self.spare.borrow_mut());
            }
            let mut shared = SharedEncoding::default();
            self.outlets
                .publish(|outlet| outlet.publish_shared(&value, &mut shared));
        }
    }

    fn links(&self, visit: &mut dyn FnMut(u64)) {
        self.outlets.ids(visit);
        self.latest_links.ids(visit);
    }

    persistent_cell!();

    fn link(&self, subscriber: LinkSubscriber) {
        let Some(Parts {
            id,
            typed,
            recon,
            sync,
        }) = subscriber.into_value("value lane")
        else {
            return;
        };
        recon.lane_kind(ItemKind::ValueLane);
        let latest = || {
            self.latest
                .get_or_init(|| Arc::new(self.cell.read(|value| Latest::new_shared(value))))
                .clone()
        };
        let link = ValueLink::new(typed, recon, Some(&latest));
        link.linked();
        if link.is_latest() {
            if sync {
                // The shared copy may predate changes made since the last event.
                if let Some(latest) = self.latest.get() {
                    self.cell.read(|value| latest.set(value));
                }
                link.changed();
                link.synced();
            }
            self.latest_links.add_link(id, Box::new(link));
            return;
        }
        if sync {
            if !self.cell.read(|value| link.send(value)) {
                return;
            }
            link.synced();
        }
        self.outlets.add_link(id, Box::new(link));
    }

    fn unlink(&self, id: u64) -> bool {
        self.outlets.remove_link(id) || self.latest_links.remove_link(id)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl<T> ValueLikeItem for ValueLane<T>
where
    T: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    type Value = T;

    fn read<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        self.cell.read(f)
    }

    fn set(&self, value: T) {
        self.cell.set(value);
        // Flushing a lane nobody links to costs little, once per event; checking for links
        // here would cost on every set.
        self.dirty.set(true);
    }

    fn with_event<R>(&self, f: impl FnOnce(&T, Option<T>) -> R) -> R {
        self.cell.with_event(f)
    }
}

/// A command to a value lane sets it.
impl<T> CommandTarget for ValueLane<T>
where
    T: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    type Command = T;

    fn apply(&self, command: T, sink: &mut dyn ModificationSink) -> Result<(), EventHandlerError> {
        ValueLikeItem::set(self, command);
        sink.modified(Modification::of(self.id))
    }
}
