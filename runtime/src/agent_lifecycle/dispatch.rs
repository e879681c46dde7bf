//! Support for the code `#[lifecycle]` generates. Not a public API: it may change at any time.
//!
//! The generated `run_item_event` compares the changed item's id with each handled lane's id,
//! then calls one of these functions with closures that call the user's methods. The trait
//! bounds here are what turn a mistake (wrong lane kind, wrong value type) into a compile error
//! at the user's tokens.

use std::borrow::Borrow;

use super::{HandlerContext, HandlerRunner};
use crate::event_handler::{
    ActionContext, AgentMetadata, EventHandler, EventHandlerError, HandlerAction, StepResult,
};
use crate::lanes::{AgentItem, CommandLikeItem, MapBacking, MapLaneEvent, MapLikeItem, ValueLikeItem};

/// A fresh handler context.
pub fn context<A>() -> HandlerContext<A> {
    HandlerContext::default()
}

/// The id of an item (the generated dispatch compares it with the id of the changed item).
pub fn item_id<L: AgentItem>(item: &L) -> u64 {
    item.id()
}

/// Lets a handler parameter `&B` borrow a lane value of type `T` (e.g. `&str` for `String`).
#[diagnostic::on_unimplemented(
    message = "the handler parameter has type `&{B}`, but the lane holds `{Self}`",
    label = "expected `&{Self}` here",
    note = "write the parameter as `&{Self}` (or as a type `{Self}` borrows as, such as `&str` for `String`)"
)]
pub trait BorrowAs<B: ?Sized> {
    /// Borrows the value as `&B`.
    fn borrow_as(&self) -> &B;
}

impl<T: Borrow<B> + ?Sized, B: ?Sized> BorrowAs<B> for T {
    fn borrow_as(&self) -> &B {
        self.borrow()
    }
}

/// Borrows a lane value as the type the user's handler parameter asks for.
pub fn borrow_as<B: ?Sized, T: BorrowAs<B> + ?Sized>(value: &T) -> &B {
    value.borrow_as()
}

/// Runs the `on_event`/`on_set` handlers of a value lane or store.
pub fn value_event<A, L, R, H>(
    item: &L,
    runner: &mut R,
    build: impl FnOnce(&L::Value, Option<L::Value>) -> H,
) -> Result<(), EventHandlerError>
where
    L: ValueLikeItem,
    R: HandlerRunner<A>,
    H: EventHandler<A>,
{
    let handler = item.with_event(build);
    runner.run(handler)
}

/// Runs the `on_command` handler of a command lane.
pub fn command_event<A, L, R, H>(
    item: &L,
    runner: &mut R,
    build: impl FnOnce(&L::Value) -> H,
) -> Result<(), EventHandlerError>
where
    L: CommandLikeItem,
    R: HandlerRunner<A>,
    H: EventHandler<A>,
{
    match item.with_command(build) {
        Some(handler) => runner.run(handler),
        None => Ok(()),
    }
}

/// Runs the `on_update`, `on_remove` or `on_clear` handler of a map lane or store, according to
/// its last change.
pub fn map_event<A, L, R, HU, HR, HC>(
    item: &L,
    runner: &mut R,
    on_update: impl FnOnce(&L::Map, L::Key, Option<L::Value>, &L::Value) -> HU,
    on_remove: impl FnOnce(&L::Map, L::Key, L::Value) -> HR,
    on_clear: impl FnOnce(L::Map) -> HC,
) -> Result<(), EventHandlerError>
where
    L: MapLikeItem,
    R: HandlerRunner<A>,
    HU: EventHandler<A>,
    HR: EventHandler<A>,
    HC: EventHandler<A>,
{
    let handler = item.with_event(|map, event| match event {
        MapLaneEvent::Update(key, previous) => match map.get(&key) {
            Some(new_value) => Some(MapDispatch::Update(on_update(map, key, previous, new_value))),
            None => None,
        },
        MapLaneEvent::Remove(key, previous) => Some(MapDispatch::Remove(on_remove(map, key, previous))),
        MapLaneEvent::Clear(before) => Some(MapDispatch::Clear(on_clear(before))),
    });
    match handler.flatten() {
        Some(handler) => runner.run(handler),
        None => Ok(()),
    }
}

/// Does nothing: the generated code passes it for map events the lifecycle does not handle.
pub fn ignore() -> crate::event_handler::UnitHandler {
    crate::event_handler::UnitHandler::default()
}

/// One of the three map handlers.
enum MapDispatch<U, R, C> {
    Update(U),
    Remove(R),
    Clear(C),
}

impl<A, U, R, C> HandlerAction<A> for MapDispatch<U, R, C>
where
    U: EventHandler<A>,
    R: EventHandler<A>,
    C: EventHandler<A>,
{
    type Completion = ();

    fn step(
        &mut self,
        action_context: &mut ActionContext<A>,
        meta: AgentMetadata,
        agent: &A,
    ) -> StepResult<()> {
        match self {
            MapDispatch::Update(h) => h.step(action_context, meta, agent),
            MapDispatch::Remove(h) => h.step(action_context, meta, agent),
            MapDispatch::Clear(h) => h.step(action_context, meta, agent),
        }
    }
}
