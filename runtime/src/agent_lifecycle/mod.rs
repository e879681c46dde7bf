//! Lifecycles: how an agent reacts to its own events.
//!
//! A lifecycle is usually an `impl` block annotated with `#[lifecycle(Agent)]`: each annotated
//! method returns an event handler for one kind of event (`on_start`, `on_event(lane)`,
//! `on_update(map)`, `on_command(lane)`, `on_timer`, ...). The macro implements
//! [`AgentLifecycle`] for the type, dispatching each lane event by lane id to the right method.
//!
//! Handlers receive a [`HandlerContext`], a zero-sized value whose methods build the handlers
//! that read and change lanes, schedule work and (later) open downlinks.
//!
//! Compared with SwimOS: the lifecycle is `Clone` exactly when your type is (no `no_clone`
//! needed), `#[on_timer]` and `#[on_init]` exist, map events have one argument order everywhere,
//! and a handler that names a missing lane, the wrong kind of lane or the wrong value type is a
//! compile error pointing at your code.

mod context;
#[doc(hidden)]
pub mod dispatch;
mod downlink_builders;
mod downlink_lifecycle;
mod downlinks;
mod join;
mod schedule;

pub use context::HandlerContext;
pub use downlink_builders::{
    EventDownlinkBuilder, EventDownlinkLifecycle, MapDownlinkBuilder, MapDownlinkLifecycle,
    StatelessEventDownlinkBuilder, StatelessMapDownlinkBuilder, StatelessValueDownlinkBuilder,
    ValueDownlinkBuilder, ValueDownlinkLifecycle,
};
/// The state of downlink lifecycles: named by builder types (`ValueDownlinkBuilder<A, T,
/// Shared<S>>` after `with_shared_state`), not something to use directly.
#[doc(hidden)]
pub use downlink_lifecycle::{LifecycleState, Shared};
pub use join::{
    join_link_event, join_map_link_event, JoinLinkEvent, JoinMapContext, JoinMapLane,
    JoinMapLaneLifecycle, JoinMapLifecycle, JoinMapLikeItem, JoinMapLinkEvent, JoinValueContext,
    JoinValueLane, JoinValueLaneLifecycle, JoinValueLifecycle, JoinValueLikeItem, LinkAddress,
    LinkClosedResponse,
};

use crate::event_handler::{EventHandler, EventHandlerError};

/// Items used by lifecycle code, under the paths SwimOS users know.
pub mod utility {
    pub use super::HandlerContext;
    pub use super::{
        EventDownlinkBuilder, EventDownlinkLifecycle, MapDownlinkBuilder, MapDownlinkLifecycle,
        StatelessEventDownlinkBuilder, StatelessMapDownlinkBuilder, StatelessValueDownlinkBuilder,
        ValueDownlinkBuilder, ValueDownlinkLifecycle,
    };
}

/// Runs an event handler to completion inside the agent task, including every lane handler its
/// changes trigger (depth-first).
///
/// A lifecycle hands its handlers to the runner instead of returning them, so handler types
/// never need to be named or boxed.
pub trait HandlerRunner<A> {
    /// Runs `handler` and every handler its modifications trigger.
    ///
    /// # Errors
    /// The first error of `handler` or of a handler it triggers.
    fn run<H: EventHandler<A>>(&mut self, handler: H) -> Result<(), EventHandlerError>;
}

/// The event handlers of an agent of type `A`.
///
/// `#[lifecycle(A)]` implements this for you. Every method has a default that does nothing.
pub trait AgentLifecycle<A>: Send + 'static {
    /// Gives the agent's lanes the lifecycles they keep (join lanes: the lifecycle of their
    /// links), before anything else runs.
    fn attach(&self, agent: &A) {
        let _ = agent;
    }

    /// Runs the `on_init` handler: before `on_start`, with lane lifecycle handlers disabled.
    ///
    /// # Errors
    /// The error of the handler, or of a lane handler it triggers, as the runner reports it.
    fn run_init<R: HandlerRunner<A>>(&self, runner: &mut R) -> Result<(), EventHandlerError> {
        let _ = runner;
        Ok(())
    }

    /// Runs the `on_start` handler.
    ///
    /// # Errors
    /// As [`run_init`](Self::run_init).
    fn run_start<R: HandlerRunner<A>>(&self, runner: &mut R) -> Result<(), EventHandlerError> {
        let _ = runner;
        Ok(())
    }

    /// Runs the `on_stop` handler.
    ///
    /// # Errors
    /// As [`run_init`](Self::run_init).
    fn run_stop<R: HandlerRunner<A>>(&self, runner: &mut R) -> Result<(), EventHandlerError> {
        let _ = runner;
        Ok(())
    }

    /// Runs the `on_timer` handler for the timer `id`.
    ///
    /// # Errors
    /// As [`run_init`](Self::run_init).
    fn run_timer<R: HandlerRunner<A>>(
        &self,
        id: u64,
        runner: &mut R,
    ) -> Result<(), EventHandlerError> {
        let _ = (id, runner);
        Ok(())
    }

    /// Runs the lifecycle handlers of the item `item_id`, which has just changed.
    ///
    /// # Errors
    /// As [`run_init`](Self::run_init).
    fn run_item_event<R: HandlerRunner<A>>(
        &self,
        agent: &A,
        item_id: u64,
        runner: &mut R,
    ) -> Result<(), EventHandlerError> {
        let _ = (agent, item_id, runner);
        Ok(())
    }
}
