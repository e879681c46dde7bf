//! What every lane and store has in common: an id, a kind, commands and a flush.

use std::any::Any;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::LinkSubscriber;
use crate::event_handler::BoxEventHandler;
use crate::recon::Value;
use crate::store::codec::EncodeError;
use crate::store::{Change, ItemState, RestoreError};
use crate::vocabulary::{CommandPayload, EventHandlerError, HttpExchange, ItemKind, Modification};

/// Types that can be fields of an agent: every lane and store implements it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a lane or a store, so it cannot be a field of an agent",
    label = "not a lane or store",
    note = "agent fields must be lanes (`ValueLane<T>`, `MapLane<K, V>`, `CommandLane<T>`) or stores (`ValueStore<T>`, `MapStore<K, V>`)"
)]
pub trait Item: AgentItem + Sized {
    /// What the item is initialised from (`T` for value items, the map for map items).
    type Init;
    /// The kind of the item.
    const KIND: ItemKind;

    /// Creates the item with its id and initial state.
    fn create(id: u64, init: Self::Init) -> Self;

    /// A handler the agent runs when it starts, after its state is restored and before
    /// `on_init`, given the projection to the item (join lanes open their persisted links
    /// again); `None` for most items.
    fn on_start<A: 'static>(item: fn(&A) -> &Self) -> Option<BoxEventHandler<'static, A>> {
        let _ = item;
        None
    }
}

/// The object-safe view of a lane or store that the agent task uses.
///
/// tidal's lanes and stores implement it; it is not meant to be implemented elsewhere (its
/// `link` takes the runtime's own subscriber type, which is not public).
pub trait AgentItem: Send {
    /// The item's id within its agent.
    fn id(&self) -> u64;

    /// Applies a command received from outside the agent (a client or another agent).
    ///
    /// Each change is reported to `sink` as it happens, so the lane's lifecycle handlers run
    /// before the next change. Stores refuse commands.
    ///
    /// # Errors
    /// [`EventHandlerError::BadCommand`] if the command does not fit the item (stores take
    /// none); the first error of a triggered handler, as `sink` reports it.
    fn apply_command(
        &self,
        command: CommandPayload,
        sink: &mut dyn ModificationSink,
    ) -> Result<(), EventHandlerError>;

    /// Sends the events gathered since the last flush to the item's subscribers.
    fn flush(&self);

    /// Links a subscriber: it hears `linked`, the state if it asked for a sync, then every
    /// change. A subscriber of the wrong kind is refused.
    fn link(&self, subscriber: LinkSubscriber);

    /// Takes an HTTP request to answer (HTTP lanes: their lifecycle handler answers it, in
    /// the event the agent runs next); any other item hands it back.
    ///
    /// # Errors
    /// The exchange, if the item is not an HTTP lane.
    fn http(&self, exchange: Box<HttpExchange>) -> Result<(), Box<HttpExchange>> {
        Err(exchange)
    }

    /// Whether links wait for a sync that the item's lifecycle handlers compute (demand
    /// lanes): the agent then runs them, as for a change of the item.
    fn awaits_cue(&self) -> bool {
        false
    }

    /// Closes the link `id` (the subscriber asked); `false` if there is no such link.
    fn unlink(&self, id: u64) -> bool {
        let _ = id;
        false
    }

    /// Hands the id of each link to the item (its subscribers, and links waiting for a
    /// sync) to `visit`.
    fn links(&self, visit: &mut dyn FnMut(u64)) {
        let _ = visit;
    }

    /// How many links the item has (see [`links`](Self::links)).
    fn link_count(&self) -> u64 {
        let mut count = 0;
        self.links(&mut |_| count += 1);
        count
    }

    /// Records changes for the store from now on (the agent has a store and the item is
    /// neither transient nor stateless). Items without state ignore it.
    fn journal(&self) {}

    /// Hands the changes since the last call to `out`, encoded, for the store: a value item's
    /// new value; a map item's clear, then the latest state of each changed key. Nothing if
    /// [`journal`](Self::journal) was not called.
    ///
    /// # Errors
    /// An [`EncodeError`] if a value's `Serialize` implementation fails.
    fn take_changes(&self, out: &mut dyn FnMut(Change)) -> Result<(), EncodeError> {
        let _ = out;
        Ok(())
    }

    /// Sets the item to its persisted state, before the agent starts; fires no event.
    ///
    /// # Errors
    /// A [`RestoreError`] if the state does not decode as the item's type.
    fn restore(&self, state: &ItemState) -> Result<(), RestoreError> {
        let _ = state;
        Ok(())
    }

    /// Makes the next [`take_changes`](Self::take_changes) write the item's whole state,
    /// replacing what the store has (after persisted state was dropped as undecodable).
    fn rewrite(&self) {}

    /// The item as `Any`, to recover its concrete type.
    fn as_any(&self) -> &dyn Any;
}

/// Receives each modification a command makes (the agent task runs the triggered handlers).
pub trait ModificationSink {
    /// The item reported by `modification` has changed.
    ///
    /// # Errors
    /// The error of the handler the modification triggers, which stops the command.
    fn modified(&mut self, modification: Modification) -> Result<(), EventHandlerError>;
}

/// Lanes that accept commands from outside the agent, and the type of those commands.
pub trait CommandTarget: AgentItem {
    /// What a command to this lane carries: the value for a value lane, a
    /// [`MapMessage`](super::MapMessage) for a map lane, the command for a command lane.
    type Command: Serialize + DeserializeOwned + Send + 'static;

    /// Decodes a command from its Recon form (as received over WARP, or converted from a
    /// command of another type).
    ///
    /// # Errors
    /// A message naming the value and the type it does not fit.
    fn decode(value: &Value) -> Result<Self::Command, String> {
        crate::recon::from_value_ref::<Self::Command>(value).map_err(|err| {
            format!(
                "`{value}` is not a valid `{}`: {err}",
                std::any::type_name::<Self::Command>()
            )
        })
    }

    /// Applies a typed command, reporting each change to `sink`.
    ///
    /// # Errors
    /// The first error `sink` reports.
    fn apply(
        &self,
        command: Self::Command,
        sink: &mut dyn ModificationSink,
    ) -> Result<(), EventHandlerError>;
}

/// Unpacks a payload and applies it to a [`CommandTarget`].
pub(crate) fn apply_payload<L: CommandTarget>(
    lane: &L,
    command: CommandPayload,
    sink: &mut dyn ModificationSink,
) -> Result<(), EventHandlerError> {
    let command = command
        .into_command::<L::Command>(L::decode)
        .map_err(EventHandlerError::BadCommand)?;
    lane.apply(command, sink)
}

/// The persistence methods of [`AgentItem`] for an item whose state is a `cell` field (a value
/// or map cell): lanes and stores share them.
macro_rules! persistent_cell {
    () => {
        fn journal(&self) {
            self.cell.journal();
        }

        fn take_changes(
            &self,
            out: &mut dyn FnMut($crate::store::Change),
        ) -> Result<(), $crate::store::codec::EncodeError> {
            self.cell.take_changes(out)
        }

        fn restore(
            &self,
            state: &$crate::store::ItemState,
        ) -> Result<(), $crate::store::RestoreError> {
            self.cell.restore(state)
        }

        fn rewrite(&self) {
            self.cell.rewrite();
        }
    };
}

pub(crate) use persistent_cell;

/// [`Item`] for a lane with no state, created from its id alone by its `new`.
macro_rules! stateless_item {
    (impl[$($generics:tt)*] $lane:ident<$($params:ident),*>: $kind:ident where $($bounds:tt)*) => {
        impl<$($generics)*> $crate::lanes::Item for $lane<$($params),*>
        where
            $($bounds)*
        {
            type Init = ();
            const KIND: $crate::lanes::ItemKind = $crate::lanes::ItemKind::$kind;

            fn create(id: u64, _: ()) -> Self {
                $lane::new(id)
            }
        }
    };
}

pub(crate) use stateless_item;

/// `AgentItem::apply_command` for a lane that takes no commands, saying why (`$why`).
macro_rules! refuses_commands {
    ($why:literal) => {
        fn apply_command(
            &self,
            _: $crate::lanes::CommandPayload,
            _: &mut dyn $crate::lanes::ModificationSink,
        ) -> Result<(), $crate::event_handler::EventHandlerError> {
            Err($crate::event_handler::EventHandlerError::BadCommand(
                $why.to_owned(),
            ))
        }
    };
}

pub(crate) use refuses_commands;
