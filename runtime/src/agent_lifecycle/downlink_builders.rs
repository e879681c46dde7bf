//! The builders of value, map and event downlinks: register handlers, then `done()` opens
//! the downlink in the running agent.
//!
//! `done()` is an event handler, not a future: handlers never await, and the agent task runs it
//! like any other, completing with the handle. The client's builders (`tidal::client`) end with
//! `open().await` instead, because a plain program has no agent task to run a handler in; see
//! the client module's docs.

use std::collections::HashMap;
use std::hash::Hash;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::downlink_lifecycle::downlink_lifecycle;
use super::LifecycleState;
use crate::config::{MapDownlinkConfig, SimpleDownlinkConfig};
use crate::downlink::hosted::{EventDownlinkHandle, MapDownlinkHandle, ValueDownlinkHandle};
use crate::downlink::{open_event, open_map, open_value};
use crate::event_handler::{ActionContext, HandlerAction, OnceHandler, StepResult};

downlink_lifecycle! {
    /// The handlers of a value downlink (see [`ValueDownlinkBuilder`]).
    lifecycle ValueDownlinkLifecycle;
    /// Builds a value downlink: register handlers, then `done()` opens it (see
    /// `HandlerContext::value_downlink_builder`).
    builder ValueDownlinkBuilder(SimpleDownlinkConfig);
    handlers ValueDownlinkHandlers;
    types <T>;
    /// Runs when the link to the lane is established.
    on_linked();
    /// Runs when the downlink has received the lane's state, with that value.
    on_synced(value: &T);
    /// Runs for every new value (after the sync unless `events_when_not_synced`).
    on_event(value: &T);
    /// Runs for every new value, after `on_event`, with the previous value.
    on_set(previous: Option<T>, value: &T);
    /// Runs when the link is closed (also when the node or lane does not exist).
    on_unlinked();
    /// Runs when the link fails: a value from the lane does not fit `T`, or the lane is not a
    /// value lane.
    on_failed();
}

/// A value downlink builder without shared state.
pub type StatelessValueDownlinkBuilder<A, T> = ValueDownlinkBuilder<A, T, ()>;

impl<A, T, St> ValueDownlinkBuilder<A, T, St>
where
    A: 'static,
    T: Clone + Serialize + DeserializeOwned + Send + 'static,
    St: LifecycleState,
{
    /// A handler that opens the downlink and completes with its handle at once; the link is
    /// made in the background. Keep the handle: dropping it stops the downlink.
    ///
    /// It is an event handler, not a future, because handlers never await: the agent task
    /// runs it. A [`Client`](crate::client::Client)'s builders end with `open().await`
    /// instead, as a plain program has no agent task (see the `client` module).
    pub fn done(
        self,
    ) -> impl HandlerAction<A, Completion = ValueDownlinkHandle<T>> + Send + 'static {
        let ValueDownlinkBuilder {
            lifecycle,
            address,
            config,
        } = self;
        OnceHandler::new(move |context: &mut ActionContext<A>, _, _: &A| {
            StepResult::done(open_value(context, address, config, lifecycle))
        })
    }
}

downlink_lifecycle! {
    /// The handlers of a map downlink (see [`MapDownlinkBuilder`]).
    lifecycle MapDownlinkLifecycle;
    /// Builds a map downlink: register handlers, then `done()` opens it (see
    /// `HandlerContext::map_downlink_builder`).
    builder MapDownlinkBuilder(MapDownlinkConfig);
    handlers MapDownlinkHandlers;
    types <K, V>;
    /// Runs when the link to the lane is established.
    on_linked();
    /// Runs when the downlink has received every entry of the lane, with the whole map.
    on_synced(map: &HashMap<K, V>);
    /// Runs when an entry is inserted or replaced: the map, the key, the previous value and
    /// the new one (the same order as a map lane's `on_update`).
    on_update(map: &HashMap<K, V>, key: K, previous: Option<V>, value: &V);
    /// Runs when an entry is removed: the map, the key and the removed value.
    on_remove(map: &HashMap<K, V>, key: K, removed: V);
    /// Runs when the lane is cleared, with the map as it was.
    on_clear(before: HashMap<K, V>);
    /// Runs when the link is closed (also when the node or lane does not exist).
    on_unlinked();
    /// Runs when the link fails: an entry does not fit `K` and `V`, or the lane is not a map
    /// lane.
    on_failed();
}

/// A map downlink builder without shared state.
pub type StatelessMapDownlinkBuilder<A, K, V> = MapDownlinkBuilder<A, K, V, ()>;

impl<A, K, V, St> MapDownlinkBuilder<A, K, V, St>
where
    A: 'static,
    K: Eq + Hash + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
    St: LifecycleState,
{
    /// A handler that opens the downlink and completes with its handle at once; the link is
    /// made in the background. Keep the handle: dropping it stops the downlink.
    ///
    /// It is an event handler, not a future, because handlers never await: the agent task
    /// runs it. A [`Client`](crate::client::Client)'s builders end with `open().await`
    /// instead, as a plain program has no agent task (see the `client` module).
    pub fn done(
        self,
    ) -> impl HandlerAction<A, Completion = MapDownlinkHandle<K, V>> + Send + 'static {
        let MapDownlinkBuilder {
            lifecycle,
            address,
            config,
        } = self;
        OnceHandler::new(move |context: &mut ActionContext<A>, _, _: &A| {
            StepResult::done(open_map(context, address, config.into(), lifecycle))
        })
    }
}

downlink_lifecycle! {
    /// The handlers of an event downlink (see [`EventDownlinkBuilder`]).
    lifecycle EventDownlinkLifecycle;
    /// Builds an event downlink: register handlers, then `done()` opens it (see
    /// `HandlerContext::event_downlink_builder`).
    builder EventDownlinkBuilder(SimpleDownlinkConfig);
    handlers EventDownlinkHandlers;
    types <T>;
    /// Runs when the link to the lane is established.
    on_linked();
    /// Runs for every event of the lane (each value of a value lane, each command of a command
    /// lane), by value.
    on_event(event: T);
    /// Runs when the link is closed (also when the node or lane does not exist).
    on_unlinked();
    /// Runs when the link fails: an event does not fit `T`, or the lane is a map lane.
    on_failed();
}

/// An event downlink builder without shared state.
pub type StatelessEventDownlinkBuilder<A, T> = EventDownlinkBuilder<A, T, ()>;

impl<A, T, St> EventDownlinkBuilder<A, T, St>
where
    A: 'static,
    T: DeserializeOwned + Send + 'static,
    St: LifecycleState,
{
    /// A handler that opens the downlink and completes with its handle at once; the link is
    /// made in the background. Keep the handle: dropping it stops the downlink.
    ///
    /// It is an event handler, not a future, because handlers never await: the agent task
    /// runs it. A [`Client`](crate::client::Client)'s builders end with `open().await`
    /// instead, as a plain program has no agent task (see the `client` module).
    pub fn done(self) -> impl HandlerAction<A, Completion = EventDownlinkHandle> + Send + 'static {
        let EventDownlinkBuilder {
            lifecycle,
            address,
            config,
        } = self;
        OnceHandler::new(move |context: &mut ActionContext<A>, _, _: &A| {
            StepResult::done(open_event(context, address, config, lifecycle))
        })
    }
}
