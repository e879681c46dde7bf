//! Command lanes: a stream of commands handled by `on_command`.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::item::apply_payload;
use super::{
    AgentItem, CommandPayload, CommandTarget, Item, ItemKind, LinkSubscriber, ModificationSink,
    Outlets, SharedEncoding, ValueOutlet,
};
use crate::event_handler::{EventHandlerError, Modification};

/// How many commands a command lane keeps for its subscribers between two flushes.
const COMMAND_QUEUE_BOUND: usize = 1024;

/// A lane that receives commands of type `T` and runs its `on_command` handler for each.
///
/// It holds no state of its own. Subscribers receive every command, in order; if more than
/// 1,024 commands pile up within one event, the oldest are dropped and counted
/// (see [`CommandLane::lost`]).
pub struct CommandLane<T> {
    id: u64,
    commands: RefCell<VecDeque<T>>,
    lost: Cell<u64>,
    outlets: Outlets<dyn ValueOutlet<T>>,
    /// The Recon form of each command, shared by the outlets during a flush (kept between
    /// flushes, empty, so that a flush does not allocate it again).
    encodings: RefCell<Vec<SharedEncoding>>,
}

impl<T> CommandLane<T> {
    /// A lane with the given id.
    pub fn new(id: u64) -> Self {
        CommandLane {
            id,
            commands: RefCell::new(VecDeque::new()),
            lost: Cell::new(0),
            outlets: Outlets::default(),
            encodings: RefCell::new(Vec::new()),
        }
    }

    /// Adds a subscriber that receives every command.
    pub fn subscribe(&self, outlet: impl ValueOutlet<T> + 'static) {
        self.outlets.add(Box::new(outlet));
    }

    /// How many commands were dropped before subscribers could receive them.
    pub fn lost(&self) -> u64 {
        self.lost.get()
    }

    /// Records a command; the caller reports the modification that runs `on_command`.
    pub(crate) fn push(&self, command: T) {
        let mut commands = self.commands.borrow_mut();
        let bound = if self.outlets.is_empty() {
            1
        } else {
            COMMAND_QUEUE_BOUND
        };
        while commands.len() >= bound {
            commands.pop_front();
            if !self.outlets.is_empty() {
                self.lost.set(self.lost.get() + 1);
            }
        }
        commands.push_back(command);
    }
}

impl<T> fmt::Debug for CommandLane<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommandLane").field("id", &self.id).finish()
    }
}

/// Command lanes: what `on_command` handlers and `HandlerContext::command` work with.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a command lane",
    label = "expected a `CommandLane<T>` here",
    note = "`on_command` and `HandlerContext::command` work with command lanes; value lanes take `on_event`/`on_set` and map lanes `on_update`/`on_remove`/`on_clear`"
)]
pub trait CommandLikeItem: AgentItem {
    /// The type of the commands.
    type Value;

    /// Records a command (the caller reports the modification).
    fn command(&self, command: Self::Value);

    /// Reads the latest command, to build the `on_command` handler.
    fn with_command<R>(&self, f: impl FnOnce(&Self::Value) -> R) -> Option<R>;
}

impl<T> CommandLikeItem for CommandLane<T>
where
    T: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    type Value = T;

    fn command(&self, command: T) {
        self.push(command);
    }

    fn with_command<R>(&self, f: impl FnOnce(&T) -> R) -> Option<R> {
        self.commands.borrow().back().map(f)
    }
}

impl<T> Item for CommandLane<T>
where
    T: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    type Init = ();
    const KIND: ItemKind = ItemKind::CommandLane;

    fn create(id: u64, _: ()) -> Self {
        CommandLane::new(id)
    }
}

impl<T> AgentItem for CommandLane<T>
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
        if self.outlets.is_empty() {
            return;
        }
        let mut commands = self.commands.borrow_mut();
        self.outlets
            .publish_each(commands.iter(), &mut self.encodings.borrow_mut());
        commands.clear();
    }

    fn links(&self, visit: &mut dyn FnMut(u64)) {
        self.outlets.ids(visit);
    }

    fn link(&self, subscriber: LinkSubscriber) {
        self.outlets
            .link_stream(subscriber, "command lane", ItemKind::CommandLane);
    }

    fn unlink(&self, id: u64) -> bool {
        self.outlets.remove_link(id)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A command to a command lane runs its `on_command` handler.
impl<T> CommandTarget for CommandLane<T>
where
    T: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    type Command = T;

    fn apply(&self, command: T, sink: &mut dyn ModificationSink) -> Result<(), EventHandlerError> {
        self.push(command);
        sink.modified(Modification::of(self.id))
    }
}
