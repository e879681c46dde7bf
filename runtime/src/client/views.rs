//! Downlink builders for the client: plain closures instead of event handlers.

use std::collections::HashMap;
use std::hash::Hash;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::oneshot;

use super::{ClientAgent, ClientError};
use crate::agent_lifecycle::{
    HandlerContext, StatelessEventDownlinkBuilder, StatelessMapDownlinkBuilder,
    StatelessValueDownlinkBuilder,
};
use crate::agent_model::AgentRef;
use crate::config::{MapDownlinkConfig, SimpleDownlinkConfig};
use crate::downlink::hosted::{EventDownlinkHandle, MapDownlinkHandle, ValueDownlinkHandle};
use crate::event_handler::{HandlerAction, HandlerActionExt, UnitHandler};

/// Runs `done` in the client's agent and brings the handle back.
async fn open<H, D>(agent: &AgentRef<ClientAgent>, done: D) -> Result<H, ClientError>
where
    H: Send + 'static,
    D: HandlerAction<ClientAgent, Completion = H> + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    let context = HandlerContext::<ClientAgent>::default();
    let handler = done.and_then(move |handle| {
        context.effect(move || {
            let _ = tx.send(handle);
        })
    });
    agent.run(handler).await.map_err(|_| ClientError::Stopped)?;
    rx.await.map_err(|_| ClientError::Stopped)
}

fn nothing() -> UnitHandler {
    UnitHandler::default()
}

/// The setters every kind of client downlink has: `on_linked`, `on_unlinked`, `on_failed`.
macro_rules! link_setters {
    () => {
        /// Called when the link is established.
        pub fn on_linked(self, mut f: impl FnMut() + Send + 'static) -> Self {
            self.with(|b| {
                b.on_linked(move |_| {
                    f();
                    nothing()
                })
            })
        }

        /// Called when the link is closed (also when the node or lane does not exist).
        pub fn on_unlinked(self, mut f: impl FnMut() + Send + 'static) -> Self {
            self.with(|b| {
                b.on_unlinked(move |_| {
                    f();
                    nothing()
                })
            })
        }

        /// Called when the link fails: a value that does not fit, a lane of another kind, or
        /// a host given up on.
        pub fn on_failed(self, mut f: impl FnMut() + Send + 'static) -> Self {
            self.with(|b| {
                b.on_failed(move |_| {
                    f();
                    nothing()
                })
            })
        }
    };
}

/// A value downlink being built by a [`Client`](super::Client).
pub struct ClientValueDownlink<T> {
    agent: AgentRef<ClientAgent>,
    builder: StatelessValueDownlinkBuilder<ClientAgent, T>,
}

impl<T> ClientValueDownlink<T>
where
    T: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    pub(crate) fn new(
        agent: AgentRef<ClientAgent>,
        builder: StatelessValueDownlinkBuilder<ClientAgent, T>,
    ) -> Self {
        ClientValueDownlink { agent, builder }
    }

    fn with(
        self,
        f: impl FnOnce(
            StatelessValueDownlinkBuilder<ClientAgent, T>,
        ) -> StatelessValueDownlinkBuilder<ClientAgent, T>,
    ) -> Self {
        ClientValueDownlink {
            agent: self.agent,
            builder: f(self.builder),
        }
    }

    link_setters!();

    /// The downlink's configuration.
    pub fn config(mut self, config: SimpleDownlinkConfig) -> Self {
        self.builder.config = config;
        self
    }

    /// Called with the lane's value once synchronised.
    pub fn on_synced(self, mut f: impl FnMut(&T) + Send + 'static) -> Self {
        self.with(|b| {
            b.on_synced(move |_, value| {
                f(value);
                nothing()
            })
        })
    }

    /// Called with every new value.
    pub fn on_event(self, mut f: impl FnMut(&T) + Send + 'static) -> Self {
        self.with(|b| {
            b.on_event(move |_, value| {
                f(value);
                nothing()
            })
        })
    }

    /// Called with the previous and the new value.
    pub fn on_set(self, mut f: impl FnMut(Option<T>, &T) + Send + 'static) -> Self {
        self.with(|b| {
            b.on_set(move |_, previous, value| {
                f(previous, value);
                nothing()
            })
        })
    }

    /// Opens the downlink; the link is made in the background.
    ///
    /// # Errors
    /// [`ClientError::Stopped`] if the client has stopped.
    pub async fn open(self) -> Result<ValueDownlinkHandle<T>, ClientError> {
        open(&self.agent, self.builder.done()).await
    }
}

/// A map downlink being built by a [`Client`](super::Client).
pub struct ClientMapDownlink<K, V> {
    agent: AgentRef<ClientAgent>,
    builder: StatelessMapDownlinkBuilder<ClientAgent, K, V>,
}

impl<K, V> ClientMapDownlink<K, V>
where
    K: Eq + Hash + Clone + Serialize + DeserializeOwned + Send + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    pub(crate) fn new(
        agent: AgentRef<ClientAgent>,
        builder: StatelessMapDownlinkBuilder<ClientAgent, K, V>,
    ) -> Self {
        ClientMapDownlink { agent, builder }
    }

    fn with(
        self,
        f: impl FnOnce(
            StatelessMapDownlinkBuilder<ClientAgent, K, V>,
        ) -> StatelessMapDownlinkBuilder<ClientAgent, K, V>,
    ) -> Self {
        ClientMapDownlink {
            agent: self.agent,
            builder: f(self.builder),
        }
    }

    link_setters!();

    /// The downlink's configuration.
    pub fn config(mut self, config: MapDownlinkConfig) -> Self {
        self.builder.config = config;
        self
    }

    /// Called with the whole map once synchronised.
    pub fn on_synced(self, mut f: impl FnMut(&HashMap<K, V>) + Send + 'static) -> Self {
        self.with(|b| {
            b.on_synced(move |_, map| {
                f(map);
                nothing()
            })
        })
    }

    /// Called when an entry is inserted or replaced: map, key, previous value, new value.
    pub fn on_update(
        self,
        mut f: impl FnMut(&HashMap<K, V>, K, Option<V>, &V) + Send + 'static,
    ) -> Self {
        self.with(|b| {
            b.on_update(move |_, map, key, previous, value| {
                f(map, key, previous, value);
                nothing()
            })
        })
    }

    /// Called when an entry is removed: map, key, removed value.
    pub fn on_remove(self, mut f: impl FnMut(&HashMap<K, V>, K, V) + Send + 'static) -> Self {
        self.with(|b| {
            b.on_remove(move |_, map, key, removed| {
                f(map, key, removed);
                nothing()
            })
        })
    }

    /// Called when the map is cleared, with the map as it was.
    pub fn on_clear(self, mut f: impl FnMut(HashMap<K, V>) + Send + 'static) -> Self {
        self.with(|b| {
            b.on_clear(move |_, before| {
                f(before);
                nothing()
            })
        })
    }

    /// Opens the downlink; the link is made in the background.
    ///
    /// # Errors
    /// [`ClientError::Stopped`] if the client has stopped.
    pub async fn open(self) -> Result<MapDownlinkHandle<K, V>, ClientError> {
        open(&self.agent, self.builder.done()).await
    }
}

/// An event downlink being built by a [`Client`](super::Client).
pub struct ClientEventDownlink<T> {
    agent: AgentRef<ClientAgent>,
    builder: StatelessEventDownlinkBuilder<ClientAgent, T>,
}

impl<T> ClientEventDownlink<T>
where
    T: DeserializeOwned + Send + 'static,
{
    pub(crate) fn new(
        agent: AgentRef<ClientAgent>,
        builder: StatelessEventDownlinkBuilder<ClientAgent, T>,
    ) -> Self {
        ClientEventDownlink { agent, builder }
    }

    fn with(
        self,
        f: impl FnOnce(
            StatelessEventDownlinkBuilder<ClientAgent, T>,
        ) -> StatelessEventDownlinkBuilder<ClientAgent, T>,
    ) -> Self {
        ClientEventDownlink {
            agent: self.agent,
            builder: f(self.builder),
        }
    }

    link_setters!();

    /// Called with every event.
    pub fn on_event(self, mut f: impl FnMut(T) + Send + 'static) -> Self {
        self.with(|b| {
            b.on_event(move |_, event| {
                f(event);
                nothing()
            })
        })
    }

    /// Opens the downlink; the link is made in the background.
    ///
    /// # Errors
    /// [`ClientError::Stopped`] if the client has stopped.
    pub async fn open(self) -> Result<EventDownlinkHandle, ClientError> {
        open(&self.agent, self.builder.done()).await
    }
}
