//! Opening downlinks to lanes of other agents, and sending them commands.

use std::hash::Hash;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::HandlerContext;
use super::{
    EventDownlinkBuilder, EventDownlinkLifecycle, LifecycleState, MapDownlinkBuilder,
    MapDownlinkLifecycle, StatelessEventDownlinkBuilder, StatelessMapDownlinkBuilder,
    StatelessValueDownlinkBuilder, ValueDownlinkBuilder, ValueDownlinkLifecycle,
};
use crate::config::{MapDownlinkConfig, SimpleDownlinkConfig};
use crate::downlink::hosted::{EventDownlinkHandle, MapDownlinkHandle, ValueDownlinkHandle};
use crate::downlink::Address;
use crate::event_handler::{ActionContext, EventHandler, HandlerAction, OnceHandler, StepResult};
use crate::vocabulary::{CommandPayload, OutgoingCommand};

impl<A: 'static> HandlerContext<A> {
    /// Starts building a downlink to the value lane `lane` of the agent at `node` (on `host`, or
    /// in this process if `None`). Register handlers on the builder, then call `done()`.
    ///
    /// ```
    /// use tidal_runtime::agent_lifecycle::HandlerContext;
    /// use tidal_runtime::config::SimpleDownlinkConfig;
    /// use tidal_runtime::event_handler::{EventHandler, HandlerActionExt};
    ///
    /// struct Agent;
    ///
    /// fn watch(context: HandlerContext<Agent>) -> impl EventHandler<Agent> {
    ///     context
    ///         .value_downlink_builder::<i32>(None, "/example/2", "lane", SimpleDownlinkConfig::default())
    ///         .on_event(|context, value| {
    ///             let value = *value;
    ///             context.effect(move || println!("the lane is now {value}"))
    ///         })
    ///         .done()
    ///         .discard() // Dropping the handle stops the downlink: keep it in practice.
    /// }
    /// ```
    pub fn value_downlink_builder<T>(
        &self,
        host: Option<&str>,
        node: &str,
        lane: &str,
        config: SimpleDownlinkConfig,
    ) -> StatelessValueDownlinkBuilder<A, T>
    where
        T: Clone + Serialize + DeserializeOwned + Send + 'static,
    {
        ValueDownlinkBuilder::new(Address::new(host, node, lane), config)
    }

    /// Opens a value downlink with a lifecycle built beforehand.
    pub fn open_value_downlink<T, St>(
        &self,
        host: Option<&str>,
        node: &str,
        lane: &str,
        lifecycle: ValueDownlinkLifecycle<A, T, St>,
        config: SimpleDownlinkConfig,
    ) -> impl HandlerAction<A, Completion = ValueDownlinkHandle<T>> + Send + 'static
    where
        T: Clone + Serialize + DeserializeOwned + Send + 'static,
        St: LifecycleState,
    {
        ValueDownlinkBuilder {
            lifecycle,
            address: Address::new(host, node, lane),
            config,
        }
        .done()
    }

    /// Starts building a downlink to the map lane `lane` of the agent at `node`.
    pub fn map_downlink_builder<K, V>(
        &self,
        host: Option<&str>,
        node: &str,
        lane: &str,
        config: MapDownlinkConfig,
    ) -> StatelessMapDownlinkBuilder<A, K, V>
    where
        K: Eq + Hash + Clone + Serialize + DeserializeOwned + Send + 'static,
        V: Clone + Serialize + DeserializeOwned + Send + 'static,
    {
        MapDownlinkBuilder::new(Address::new(host, node, lane), config)
    }

    /// Opens a map downlink with a lifecycle built beforehand.
    pub fn open_map_downlink<K, V, St>(
        &self,
        host: Option<&str>,
        node: &str,
        lane: &str,
        lifecycle: MapDownlinkLifecycle<A, K, V, St>,
        config: MapDownlinkConfig,
    ) -> impl HandlerAction<A, Completion = MapDownlinkHandle<K, V>> + Send + 'static
    where
        K: Eq + Hash + Clone + Serialize + DeserializeOwned + Send + 'static,
        V: Clone + Serialize + DeserializeOwned + Send + 'static,
        St: LifecycleState,
    {
        MapDownlinkBuilder {
            lifecycle,
            address: Address::new(host, node, lane),
            config,
        }
        .done()
    }

    /// Starts building a downlink that receives every event of the lane `lane` (each value of
    /// a value lane, each command of a command lane) without keeping state.
    pub fn event_downlink_builder<T>(
        &self,
        host: Option<&str>,
        node: &str,
        lane: &str,
        config: SimpleDownlinkConfig,
    ) -> StatelessEventDownlinkBuilder<A, T>
    where
        T: DeserializeOwned + Send + 'static,
    {
        EventDownlinkBuilder::new(Address::new(host, node, lane), config)
    }

    /// Opens an event downlink with a lifecycle built beforehand.
    pub fn open_event_downlink<T, St>(
        &self,
        host: Option<&str>,
        node: &str,
        lane: &str,
        lifecycle: EventDownlinkLifecycle<A, T, St>,
        config: SimpleDownlinkConfig,
    ) -> impl HandlerAction<A, Completion = EventDownlinkHandle> + Send + 'static
    where
        T: DeserializeOwned + Send + 'static,
        St: LifecycleState,
    {
        EventDownlinkBuilder {
            lifecycle,
            address: Address::new(host, node, lane),
            config,
        }
        .done()
    }

    /// Sends `value` as a command to the lane `lane` of the agent at `node` (starting that
    /// agent if needed). The command is sent once the current event is over; it is not
    /// acknowledged. A value of another type than the lane's is converted through Recon.
    pub fn send_command<T>(
        &self,
        host: Option<&str>,
        node: &str,
        lane: &str,
        value: T,
    ) -> impl EventHandler<A> + Send + 'static
    where
        T: Serialize + Send + 'static,
    {
        let address = Address::new(host, node, lane);
        OnceHandler::new(move |context: &mut ActionContext<A>, _, _: &A| {
            context.send_command(OutgoingCommand {
                host: address.host,
                node: address.node,
                lane: address.lane,
                payload: CommandPayload::typed(value),
            });
            StepResult::done(())
        })
    }
}
