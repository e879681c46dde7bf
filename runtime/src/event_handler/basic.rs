//! The leaf handlers: constants, side effects, failure, stop and agent metadata.

use std::marker::PhantomData;

use super::{ActionContext, AgentMetadata, EventHandlerError, HandlerAction, StepResult};

/// Completes at once with a value (see `HandlerContext::value`).
#[derive(Debug)]
pub struct ConstHandler<T>(Option<T>);

/// A handler that does nothing and completes with `()`.
pub type UnitHandler = ConstHandler<()>;

impl<T> ConstHandler<T> {
    /// A handler that completes with `value`.
    pub fn new(value: T) -> Self {
        ConstHandler(Some(value))
    }
}

impl Default for UnitHandler {
    fn default() -> Self {
        ConstHandler(Some(()))
    }
}

impl<A, T> HandlerAction<A> for ConstHandler<T> {
    type Completion = T;

    #[inline]
    fn step(&mut self, _: &mut ActionContext<A>, _: AgentMetadata, _: &A) -> StepResult<T> {
        match self.0.take() {
            Some(value) => StepResult::done(value),
            None => StepResult::after_done(),
        }
    }
}

/// Runs a closure once and completes with its result (see `HandlerContext::effect`).
pub struct SideEffect<F>(Option<F>);

impl<F> SideEffect<F> {
    /// A handler that calls `f` when stepped.
    pub fn new(f: F) -> Self {
        SideEffect(Some(f))
    }
}

impl<A, F, T> HandlerAction<A> for SideEffect<F>
where
    F: FnOnce() -> T,
{
    type Completion = T;

    #[inline]
    fn step(&mut self, _: &mut ActionContext<A>, _: AgentMetadata, _: &A) -> StepResult<T> {
        match self.0.take() {
            Some(f) => StepResult::done(f()),
            None => StepResult::after_done(),
        }
    }
}

/// Fails with an error (see `HandlerContext::fail`).
pub struct Fail<T, E> {
    error: Option<E>,
    _result: PhantomData<fn() -> T>,
}

impl<T, E> Fail<T, E> {
    /// A handler that fails with `error`.
    pub fn new(error: E) -> Self {
        Fail {
            error: Some(error),
            _result: PhantomData,
        }
    }
}

impl<A, T, E> HandlerAction<A> for Fail<T, E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    type Completion = T;

    #[inline]
    fn step(&mut self, _: &mut ActionContext<A>, _: AgentMetadata, _: &A) -> StepResult<T> {
        match self.error.take() {
            Some(error) => StepResult::fail(EventHandlerError::effect(error)),
            None => StepResult::after_done(),
        }
    }
}

/// Stops the agent: `on_stop` runs and the agent task ends (see `HandlerContext::stop`).
#[derive(Debug, Default)]
pub struct Stop {
    done: bool,
}

impl<A> HandlerAction<A> for Stop {
    type Completion = ();

    #[inline]
    fn step(&mut self, _: &mut ActionContext<A>, _: AgentMetadata, _: &A) -> StepResult<()> {
        if std::mem::replace(&mut self.done, true) {
            StepResult::after_done()
        } else {
            StepResult::fail(EventHandlerError::StopInstructed)
        }
    }
}

/// Completes with the node URI of the agent (see `HandlerContext::get_agent_uri`).
#[derive(Debug, Default)]
pub struct GetAgentUri {
    done: bool,
}

impl<A> HandlerAction<A> for GetAgentUri {
    type Completion = String;

    #[inline]
    fn step(&mut self, _: &mut ActionContext<A>, meta: AgentMetadata, _: &A) -> StepResult<String> {
        if std::mem::replace(&mut self.done, true) {
            StepResult::after_done()
        } else {
            StepResult::done(meta.agent_uri().to_owned())
        }
    }
}

/// Completes with a route parameter of the agent (see `HandlerContext::get_parameter`).
#[derive(Debug)]
pub struct GetParameter {
    name: Option<String>,
}

impl GetParameter {
    /// A handler reading the route parameter `name`.
    pub fn new(name: impl Into<String>) -> Self {
        GetParameter {
            name: Some(name.into()),
        }
    }
}

impl<A> HandlerAction<A> for GetParameter {
    type Completion = Option<String>;

    #[inline]
    fn step(
        &mut self,
        _: &mut ActionContext<A>,
        meta: AgentMetadata,
        _: &A,
    ) -> StepResult<Option<String>> {
        match self.name.take() {
            Some(name) => StepResult::done(meta.get_parameter(&name).map(str::to_owned)),
            None => StepResult::after_done(),
        }
    }
}

/// A handler made from one closure that does all its work in a single step.
///
/// The closure receives what a step receives and returns the step's result; most of the
/// lane operations of `HandlerContext` are built this way.
///
/// ```
/// use tidal_runtime::event_handler::{OnceHandler, StepResult};
///
/// struct Agent;
/// let handler = OnceHandler::new(|_, meta: tidal_runtime::event_handler::AgentMetadata, _: &Agent| {
///     StepResult::done(meta.agent_uri().len())
/// });
/// # let _ = handler;
/// ```
pub struct OnceHandler<F>(Option<F>);

impl<F> OnceHandler<F> {
    /// A handler that calls `f` on its first step.
    pub fn new<A, T>(f: F) -> Self
    where
        F: FnOnce(&mut ActionContext<A>, AgentMetadata, &A) -> StepResult<T>,
    {
        OnceHandler(Some(f))
    }
}

impl<A, F, T> HandlerAction<A> for OnceHandler<F>
where
    F: FnOnce(&mut ActionContext<A>, AgentMetadata, &A) -> StepResult<T>,
{
    type Completion = T;

    #[inline]
    fn step(
        &mut self,
        action_context: &mut ActionContext<A>,
        meta: AgentMetadata,
        agent: &A,
    ) -> StepResult<T> {
        match self.0.take() {
            Some(f) => f(action_context, meta, agent),
            None => StepResult::after_done(),
        }
    }
}

/// A handler made from a closure called on every step until it returns `Complete` or `Fail`.
pub struct RepeatHandler<F> {
    f: F,
    done: bool,
}

impl<F> RepeatHandler<F> {
    /// A handler that calls `f` on each step.
    pub fn new<A, T>(f: F) -> Self
    where
        F: FnMut(&mut ActionContext<A>, AgentMetadata, &A) -> StepResult<T>,
    {
        RepeatHandler { f, done: false }
    }
}

impl<A, F, T> HandlerAction<A> for RepeatHandler<F>
where
    F: FnMut(&mut ActionContext<A>, AgentMetadata, &A) -> StepResult<T>,
{
    type Completion = T;

    #[inline]
    fn step(
        &mut self,
        action_context: &mut ActionContext<A>,
        meta: AgentMetadata,
        agent: &A,
    ) -> StepResult<T> {
        if self.done {
            return StepResult::after_done();
        }
        let result = (self.f)(action_context, meta, agent);
        self.done = !result.is_cont();
        result
    }
}
