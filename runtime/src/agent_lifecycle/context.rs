//! `HandlerContext`: the handlers a lifecycle can build.

use std::collections::HashMap;
use std::error::Error;
use std::fmt;
use std::marker::PhantomData;

use crate::event_handler::{
    ConstHandler, EventHandler, Fail, GetAgentUri, GetParameter, HandlerAction, Modification,
    OnceHandler, RepeatHandler, SideEffect, StepResult, Stop,
};
use crate::lanes::{
    CommandLikeItem, DemandLikeItem, DemandMapLikeItem, MapBacking, MapLikeItem, SupplyLikeItem,
    ValueLikeItem,
};
use crate::vocabulary::Identity;

/// Builds the event handlers of an agent of type `A`.
///
/// It is zero-sized and `Copy`; every lifecycle handler receives one. Its methods return
/// handlers (they do nothing until the agent task runs them) and take the lane to work on as a
/// projection `fn(&A) -> &Lane`, such as the constants `#[projections]` generates.
///
/// ```
/// use tidal_runtime::agent_lifecycle::HandlerContext;
/// use tidal_runtime::event_handler::{EventHandler, HandlerActionExt};
/// use tidal_runtime::lanes::{MapLane, ValueLane};
///
/// struct Agent {
///     total: ValueLane<i64>,
///     history: MapLane<u64, i64>,
/// }
///
/// fn record(context: HandlerContext<Agent>, at: u64, amount: i64) -> impl EventHandler<Agent> {
///     let total: fn(&Agent) -> &ValueLane<i64> = |agent| &agent.total;
///     let history: fn(&Agent) -> &MapLane<u64, i64> = |agent| &agent.history;
///     context
///         .transform_value(total, move |t| t + amount)
///         .followed_by(context.update(history, at, amount))
/// }
/// ```
pub struct HandlerContext<A> {
    _agent: PhantomData<fn(&A)>,
}

impl<A> Clone for HandlerContext<A> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A> Copy for HandlerContext<A> {}

impl<A> Default for HandlerContext<A> {
    fn default() -> Self {
        HandlerContext {
            _agent: PhantomData,
        }
    }
}

impl<A> fmt::Debug for HandlerContext<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HandlerContext")
    }
}

/// The projection from the agent to one of its items.
type Projection<A, L> = fn(&A) -> &L;

/// General handlers.
impl<A: 'static> HandlerContext<A> {
    /// Runs `f` (a side effect, such as logging) and completes with its result.
    pub fn effect<F, T>(&self, f: F) -> impl HandlerAction<A, Completion = T>
    where
        F: FnOnce() -> T,
    {
        SideEffect::new(f)
    }

    /// Completes at once with `value`.
    pub fn value<T>(&self, value: T) -> impl HandlerAction<A, Completion = T> {
        ConstHandler::new(value)
    }

    /// Fails with `error` (the agent's error policy decides what happens next).
    pub fn fail<T, E>(&self, error: E) -> impl HandlerAction<A, Completion = T>
    where
        E: Error + Send + Sync + 'static,
    {
        Fail::new(error)
    }

    /// Stops the agent: its `on_stop` handler runs, then its task ends.
    pub fn stop(&self) -> impl EventHandler<A> {
        Stop::default()
    }

    /// Completes with the node URI of the agent.
    pub fn get_agent_uri(&self) -> impl HandlerAction<A, Completion = String> {
        GetAgentUri::default()
    }

    /// Completes with who sent the command this event handles, if a server's policy
    /// identified them (`None` for anonymous clients, other agents, and events that are not
    /// commands).
    pub fn sender(&self) -> impl HandlerAction<A, Completion = Option<Identity>> {
        OnceHandler::new(
            |_: &mut _, meta: crate::event_handler::AgentMetadata, _: &A| {
                StepResult::done(meta.sender().cloned())
            },
        )
    }

    /// Completes with the route parameter `name`, e.g. `id` for the pattern `/example/:id`.
    pub fn get_parameter(&self, name: &str) -> impl HandlerAction<A, Completion = Option<String>> {
        GetParameter::new(name)
    }

    /// Completes with `f` applied to all route parameters.
    pub fn with_parameters<F, T>(&self, f: F) -> impl HandlerAction<A, Completion = T>
    where
        F: FnOnce(&HashMap<String, String>) -> T,
    {
        OnceHandler::new(
            move |_: &mut _, meta: crate::event_handler::AgentMetadata, _: &A| {
                StepResult::done(f(meta.parameters()))
            },
        )
    }
}

/// Handlers for value lanes and value stores.
impl<A: 'static> HandlerContext<A> {
    /// Completes with a copy of the value of `item`.
    pub fn get_value<L>(
        &self,
        item: Projection<A, L>,
    ) -> impl HandlerAction<A, Completion = L::Value>
    where
        L: ValueLikeItem,
        L::Value: Clone,
    {
        self.with_value(item, L::Value::clone)
    }

    /// Completes with `f` applied to the value of `item`, without copying it.
    pub fn with_value<L, F, U>(
        &self,
        item: Projection<A, L>,
        f: F,
    ) -> impl HandlerAction<A, Completion = U>
    where
        L: ValueLikeItem,
        F: FnOnce(&L::Value) -> U,
    {
        OnceHandler::new(move |_: &mut _, _, agent: &A| StepResult::done(item(agent).read(f)))
    }

    /// Sets the value of `item`; its `on_event` and `on_set` handlers run.
    pub fn set_value<L>(&self, item: Projection<A, L>, value: L::Value) -> impl EventHandler<A>
    where
        L: ValueLikeItem,
    {
        OnceHandler::new(move |_: &mut _, _, agent: &A| {
            let item = item(agent);
            item.set(value);
            StepResult::modified(Modification::of(item.id()), ())
        })
    }

    /// Replaces the value of `item` with `f` of the current one.
    pub fn transform_value<L, F>(&self, item: Projection<A, L>, f: F) -> impl EventHandler<A>
    where
        L: ValueLikeItem,
        F: FnOnce(&L::Value) -> L::Value,
    {
        OnceHandler::new(move |_: &mut _, _, agent: &A| {
            let item = item(agent);
            let value = item.read(f);
            item.set(value);
            StepResult::modified(Modification::of(item.id()), ())
        })
    }
}

/// Handlers for map lanes and map stores.
impl<A: 'static> HandlerContext<A> {
    /// Inserts or replaces the entry for `key`; the `on_update` handler runs.
    pub fn update<L>(
        &self,
        item: Projection<A, L>,
        key: L::Key,
        value: L::Value,
    ) -> impl EventHandler<A>
    where
        L: MapLikeItem,
    {
        OnceHandler::new(move |_: &mut _, _, agent: &A| {
            let item = item(agent);
            item.update(key, value);
            StepResult::modified(Modification::of(item.id()), ())
        })
    }

    /// Removes the entry for `key`; the `on_remove` handler runs if there was one.
    pub fn remove<L>(&self, item: Projection<A, L>, key: L::Key) -> impl EventHandler<A>
    where
        L: MapLikeItem,
    {
        OnceHandler::new(move |_: &mut _, _, agent: &A| {
            let item = item(agent);
            let modified = item.remove(&key).then(|| Modification::of(item.id()));
            StepResult::Complete {
                modified,
                result: (),
            }
        })
    }

    /// Removes every entry; the `on_clear` handler runs.
    pub fn clear<L>(&self, item: Projection<A, L>) -> impl EventHandler<A>
    where
        L: MapLikeItem,
    {
        OnceHandler::new(move |_: &mut _, _, agent: &A| {
            let item = item(agent);
            item.clear();
            StepResult::modified(Modification::of(item.id()), ())
        })
    }

    /// Completes with a copy of the value for `key`.
    pub fn get_entry<L>(
        &self,
        item: Projection<A, L>,
        key: L::Key,
    ) -> impl HandlerAction<A, Completion = Option<L::Value>>
    where
        L: MapLikeItem,
        L::Value: Clone,
    {
        self.with_entry(item, key, |value| value.cloned())
    }

    /// Completes with `f` applied to the value for `key`, without copying it.
    pub fn with_entry<L, F, U>(
        &self,
        item: Projection<A, L>,
        key: L::Key,
        f: F,
    ) -> impl HandlerAction<A, Completion = U>
    where
        L: MapLikeItem,
        F: FnOnce(Option<&L::Value>) -> U,
    {
        OnceHandler::new(move |_: &mut _, _, agent: &A| {
            StepResult::done(item(agent).read_map(|map| f(map.get(&key))))
        })
    }

    /// Completes with `f` applied to the whole map, without copying it.
    pub fn with_map<L, F, U>(
        &self,
        item: Projection<A, L>,
        f: F,
    ) -> impl HandlerAction<A, Completion = U>
    where
        L: MapLikeItem,
        F: FnOnce(&L::Map) -> U,
    {
        OnceHandler::new(move |_: &mut _, _, agent: &A| StepResult::done(item(agent).read_map(f)))
    }

    /// Completes with a copy of the whole map.
    pub fn get_map<L>(&self, item: Projection<A, L>) -> impl HandlerAction<A, Completion = L::Map>
    where
        L: MapLikeItem,
        L::Map: Clone,
    {
        self.with_map(item, L::Map::clone)
    }

    /// Sets the entry for `key` to `f` of its current value: `Some` updates, `None` removes.
    pub fn transform_entry<L, F>(
        &self,
        item: Projection<A, L>,
        key: L::Key,
        f: F,
    ) -> impl EventHandler<A>
    where
        L: MapLikeItem,
        F: FnOnce(Option<&L::Value>) -> Option<L::Value>,
    {
        OnceHandler::new(move |_: &mut _, _, agent: &A| {
            let item = item(agent);
            let modified = match item.read_map(|map| f(map.get(&key))) {
                Some(value) => {
                    item.update(key, value);
                    true
                }
                None => item.remove(&key),
            };
            StepResult::Complete {
                modified: modified.then(|| Modification::of(item.id())),
                result: (),
            }
        })
    }

    /// Clears the map, then inserts `entries`: `on_clear` runs, then `on_update` per entry.
    pub fn replace_map<L, I>(&self, item: Projection<A, L>, entries: I) -> impl EventHandler<A>
    where
        L: MapLikeItem,
        I: IntoIterator<Item = (L::Key, L::Value)>,
    {
        let mut entries = Some(entries.into_iter());
        let mut cleared = false;
        RepeatHandler::new(move |_: &mut _, _, agent: &A| {
            let item = item(agent);
            if !std::mem::replace(&mut cleared, true) {
                item.clear();
                return StepResult::Continue {
                    modified: Some(Modification::of(item.id())),
                };
            }
            match entries.as_mut().and_then(Iterator::next) {
                Some((key, value)) => {
                    item.update(key, value);
                    StepResult::Continue {
                        modified: Some(Modification::of(item.id())),
                    }
                }
                None => {
                    entries = None;
                    StepResult::done(())
                }
            }
        })
    }
}

/// Handlers for command lanes.
impl<A: 'static> HandlerContext<A> {
    /// Sends `value` to the agent's own command lane `item`; its `on_command` handler runs.
    pub fn command<L>(&self, item: Projection<A, L>, value: L::Value) -> impl EventHandler<A>
    where
        L: CommandLikeItem,
    {
        OnceHandler::new(move |_: &mut _, _, agent: &A| {
            let item = item(agent);
            item.command(value);
            StepResult::modified(Modification::of(item.id()), ())
        })
    }
}

/// Handlers for demand, demand-map and supply lanes.
impl<A: 'static> HandlerContext<A> {
    /// Cues the demand lane `item`: its `#[on_cue]` handler computes the value, which every
    /// subscriber receives after the event (several cues in one event send the last value).
    pub fn cue<L>(&self, item: Projection<A, L>) -> impl EventHandler<A>
    where
        L: DemandLikeItem,
    {
        OnceHandler::new(move |_: &mut _, _, agent: &A| {
            let item = item(agent);
            item.cue();
            StepResult::modified(Modification::of(item.id()), ())
        })
    }

    /// Cues `key` of the demand-map lane `item`: its `#[on_cue_key]` handler computes the
    /// entry, which every subscriber receives after the event (an update, or a remove for
    /// `None`).
    pub fn cue_key<L>(&self, item: Projection<A, L>, key: L::Key) -> impl EventHandler<A>
    where
        L: DemandMapLikeItem,
    {
        OnceHandler::new(move |_: &mut _, _, agent: &A| {
            let item = item(agent);
            item.cue_key(key);
            StepResult::modified(Modification::of(item.id()), ())
        })
    }

    /// Supplies `value` to every subscriber of the supply lane `item` (after the event, in
    /// order with the other values supplied).
    pub fn supply<L>(&self, item: Projection<A, L>, value: L::Value) -> impl EventHandler<A>
    where
        L: SupplyLikeItem,
    {
        OnceHandler::new(move |_: &mut _, _, agent: &A| {
            let item = item(agent);
            item.supply(value);
            StepResult::modified(Modification::no_trigger(item.id()), ())
        })
    }
}
