//! What a downlink's state machine calls: the handlers of its lifecycle, run in the agent.
//!
//! The lifecycles users build (`agent_lifecycle::utility::ValueDownlinkBuilder` and the rest)
//! implement these traits; the state machines here only call them.

use std::collections::HashMap;

use crate::event_handler::{EventHandler, EventHandlerError};
use crate::lanes::UnlinkReason;

/// Runs a handler of any type in the agent (the object-safe face of the agent's runner).
pub trait DynRunner<A> {
    /// Runs `handler` and the lane handlers it triggers.
    fn run_dyn(&mut self, handler: &mut dyn EventHandler<A>) -> Result<(), EventHandlerError>;
}

/// What running a handler gives.
pub(crate) type Outcome = Result<(), EventHandlerError>;

/// Where a downlink links to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Address {
    pub(crate) host: Option<String>,
    pub(crate) node: String,
    pub(crate) lane: String,
}

impl Address {
    /// The lane `lane` of the agent at `node`, on `host` (`None`: this process).
    pub(crate) fn new(host: Option<&str>, node: &str, lane: &str) -> Self {
        Address {
            host: host.map(str::to_owned),
            node: node.to_owned(),
            lane: lane.to_owned(),
        }
    }
}

/// The handlers every kind of downlink has for the end of its link: `on_unlinked` and
/// `on_failed` (the lifecycles users build), and `on_closed`, which the state machines call with
/// the reason and which picks one of them (handlers that want the reason, the join lanes' links,
/// take it there instead).
macro_rules! closed_handlers {
    () => {
        /// The link closed ([`on_closed`](Self::on_closed) calls it for closes that are no
        /// failure).
        fn on_unlinked(&mut self, runner: &mut dyn DynRunner<A>) -> Outcome {
            let _ = runner;
            Ok(())
        }

        /// The link failed ([`on_closed`](Self::on_closed) calls it for failures).
        fn on_failed(&mut self, runner: &mut dyn DynRunner<A>) -> Outcome {
            let _ = runner;
            Ok(())
        }

        /// The link closed for `reason`: `on_failed` for failures, `on_unlinked` otherwise.
        fn on_closed(&mut self, runner: &mut dyn DynRunner<A>, reason: &UnlinkReason) -> Outcome {
            if reason.is_failure() {
                self.on_failed(runner)
            } else {
                self.on_unlinked(runner)
            }
        }
    };
}

/// The handlers of a value downlink.
pub(crate) trait ValueDownlinkHandlers<A, T>: Send + 'static {
    fn on_linked(&mut self, runner: &mut dyn DynRunner<A>) -> Outcome;
    fn on_synced(&mut self, runner: &mut dyn DynRunner<A>, value: &T) -> Outcome;
    fn on_event(&mut self, runner: &mut dyn DynRunner<A>, value: &T) -> Outcome;
    fn on_set(&mut self, runner: &mut dyn DynRunner<A>, previous: Option<T>, value: &T) -> Outcome;
    closed_handlers!();
}

/// The handlers of a map downlink.
pub(crate) trait MapDownlinkHandlers<A, K, V>: Send + 'static {
    fn on_linked(&mut self, runner: &mut dyn DynRunner<A>) -> Outcome;
    fn on_synced(&mut self, runner: &mut dyn DynRunner<A>, map: &HashMap<K, V>) -> Outcome;
    fn on_update(
        &mut self,
        runner: &mut dyn DynRunner<A>,
        map: &HashMap<K, V>,
        key: K,
        previous: Option<V>,
        value: &V,
    ) -> Outcome;
    fn on_remove(
        &mut self,
        runner: &mut dyn DynRunner<A>,
        map: &HashMap<K, V>,
        key: K,
        removed: V,
    ) -> Outcome;
    fn on_clear(&mut self, runner: &mut dyn DynRunner<A>, before: HashMap<K, V>) -> Outcome;
    closed_handlers!();
}

/// The handlers of an event downlink.
pub(crate) trait EventDownlinkHandlers<A, T>: Send + 'static {
    fn on_linked(&mut self, runner: &mut dyn DynRunner<A>) -> Outcome;
    fn on_event(&mut self, runner: &mut dyn DynRunner<A>, event: T) -> Outcome;
    closed_handlers!();
}
