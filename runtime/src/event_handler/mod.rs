//! Event handlers: the unit of work an agent runs.
//!
//! A [`HandlerAction`] is a small state machine that the agent task *steps* (it is never awaited).
//! Each call to [`HandlerAction::step`] does a bounded piece of work against the agent's lanes and
//! reports whether it is finished ([`StepResult::Complete`]), has more to do
//! ([`StepResult::Continue`]) or failed ([`StepResult::Fail`]). When a step modifies a lane it says
//! so with a [`Modification`], and the runtime runs that lane's lifecycle handler (for instance
//! `on_event`) depth-first before stepping the outer handler again.
//!
//! An [`EventHandler`] is a handler that completes with `()`. Handlers compose with the
//! combinators of [`HandlerActionExt`]:
//!
//! ```
//! use tidal_runtime::agent_lifecycle::HandlerContext;
//! use tidal_runtime::event_handler::{EventHandler, HandlerActionExt};
//! use tidal_runtime::lanes::ValueLane;
//!
//! struct Counter {
//!     count: ValueLane<u64>,
//! }
//!
//! fn increment(context: HandlerContext<Counter>) -> impl EventHandler<Counter> {
//!     let count: fn(&Counter) -> &ValueLane<u64> = |agent| &agent.count;
//!     context
//!         .get_value(count)
//!         .and_then(move |n| context.set_value(count, n + 1))
//! }
//! ```
//!
//! Async work never runs inside a step: a handler registers it through the [`ActionContext`]
//! (see [`HandlerContext::suspend`](crate::agent_lifecycle::HandlerContext::suspend)) and its
//! result comes back later as another handler.

mod action_context;
mod basic;
mod combinators;

pub use crate::vocabulary::{EventHandlerError, Modification};
pub use action_context::{ActionContext, AgentInstance, AgentMetadata};
pub(crate) use action_context::{Outbox, Wakeup};
pub use basic::{
    ConstHandler, Fail, GetAgentUri, GetParameter, OnceHandler, RepeatHandler, SideEffect, Stop,
    UnitHandler,
};
pub use combinators::{
    AndThen, AndThenContextual, Chain, Continuation, Discard, Either, FollowedBy, HandlerActionExt,
    Map, Plain, Sequentially, Then, TryHandler, TryHandlerActionExt, WithAgent,
};

/// A boxed, `Send` handler action (see [`HandlerActionExt::boxed`]).
pub type BoxHandlerAction<'a, A, C> = Box<dyn HandlerAction<A, Completion = C> + Send + 'a>;
/// A boxed, `Send` event handler.
pub type BoxEventHandler<'a, A> = Box<dyn EventHandler<A> + Send + 'a>;
/// A boxed event handler that need not be `Send`.
pub type LocalBoxEventHandler<'a, A> = Box<dyn EventHandler<A> + 'a>;

/// A unit of work against an agent of type `A`, run by stepping.
///
/// A handler is used once: stepping it again after it returned [`StepResult::Complete`] or
/// [`StepResult::Fail`] yields `Fail(EventHandlerError::SteppedAfterComplete)`.
#[must_use = "a handler does nothing until it runs: return it from the handler method, or chain it with `followed_by`/`and_then`"]
pub trait HandlerAction<A> {
    /// The value the handler produces when it completes.
    type Completion;

    /// Does the next piece of work.
    ///
    /// `action_context` registers async work (suspended futures, timers); `meta` describes the
    /// running agent instance; `agent` is the agent itself, whose lanes use interior mutability.
    fn step(
        &mut self,
        action_context: &mut ActionContext<A>,
        meta: AgentMetadata,
        agent: &A,
    ) -> StepResult<Self::Completion>;
}

/// A [`HandlerAction`] that completes with `()`: what lifecycle handlers return.
pub trait EventHandler<A>: HandlerAction<A, Completion = ()> {}

impl<A, H> EventHandler<A> for H where H: HandlerAction<A, Completion = ()> + ?Sized {}

/// What one [`HandlerAction::step`] did.
///
/// For a unit completion it is two words (returned in registers): the error of `Fail` is boxed,
/// since failing is rare and stepping is the hot path.
#[derive(Debug)]
pub enum StepResult<C> {
    /// The handler has more work; `modified` names an item it changed in this step.
    Continue {
        /// The item changed by this step, if any.
        modified: Option<Modification>,
    },
    /// The handler failed; it must not be stepped again (build it with [`StepResult::fail`]).
    Fail(Box<EventHandlerError>),
    /// The handler finished with `result`; `modified` names an item it changed in this step.
    Complete {
        /// The item changed by this step, if any.
        modified: Option<Modification>,
        /// The handler's result.
        result: C,
    },
}

impl<C> StepResult<C> {
    /// `Continue` with no modification.
    #[inline]
    pub fn cont() -> Self {
        StepResult::Continue { modified: None }
    }

    /// `Complete` with no modification.
    #[inline]
    pub fn done(result: C) -> Self {
        StepResult::Complete {
            modified: None,
            result,
        }
    }

    /// `Complete` after modifying an item.
    #[inline]
    pub fn modified(modification: Modification, result: C) -> Self {
        StepResult::Complete {
            modified: Some(modification),
            result,
        }
    }

    /// `Fail` with `error`.
    #[cold]
    pub fn fail(error: EventHandlerError) -> Self {
        StepResult::Fail(Box::new(error))
    }

    /// The failure returned by a handler that is stepped after it finished.
    #[inline]
    pub fn after_done() -> Self {
        StepResult::fail(EventHandlerError::SteppedAfterComplete)
    }

    /// Whether this is `Continue`.
    #[inline]
    pub fn is_cont(&self) -> bool {
        matches!(self, StepResult::Continue { .. })
    }

    /// Maps the result of a `Complete`.
    #[inline]
    pub fn map<D>(self, f: impl FnOnce(C) -> D) -> StepResult<D> {
        match self {
            StepResult::Continue { modified } => StepResult::Continue { modified },
            StepResult::Fail(err) => StepResult::Fail(err),
            StepResult::Complete { modified, result } => StepResult::Complete {
                modified,
                result: f(result),
            },
        }
    }
}

impl<A, H> HandlerAction<A> for &mut H
where
    H: HandlerAction<A> + ?Sized,
{
    type Completion = H::Completion;

    #[inline]
    fn step(
        &mut self,
        action_context: &mut ActionContext<A>,
        meta: AgentMetadata,
        agent: &A,
    ) -> StepResult<Self::Completion> {
        (**self).step(action_context, meta, agent)
    }
}

impl<A, H> HandlerAction<A> for Box<H>
where
    H: HandlerAction<A> + ?Sized,
{
    type Completion = H::Completion;

    #[inline]
    fn step(
        &mut self,
        action_context: &mut ActionContext<A>,
        meta: AgentMetadata,
        agent: &A,
    ) -> StepResult<Self::Completion> {
        (**self).step(action_context, meta, agent)
    }
}

/// `Some(h)` runs `h` and completes with `Some(result)`; `None` completes at once with `None`.
impl<A, H> HandlerAction<A> for Option<H>
where
    H: HandlerAction<A>,
{
    type Completion = Option<H::Completion>;

    #[inline]
    fn step(
        &mut self,
        action_context: &mut ActionContext<A>,
        meta: AgentMetadata,
        agent: &A,
    ) -> StepResult<Self::Completion> {
        match self {
            Some(handler) => handler.step(action_context, meta, agent).map(Some),
            None => StepResult::done(None),
        }
    }
}

#[cfg(test)]
mod tests;
