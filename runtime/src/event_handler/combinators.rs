//! Combinators that build bigger handlers from smaller ones.

use std::error::Error;

use super::{
    ActionContext, AgentMetadata, BoxHandlerAction, EventHandler, EventHandlerError, HandlerAction,
    StepResult,
};

pub use futures::future::Either;

/// Combinators available on every [`HandlerAction`].
///
/// ```
/// use tidal_runtime::agent_lifecycle::HandlerContext;
/// use tidal_runtime::event_handler::{EventHandler, HandlerActionExt};
///
/// struct Agent;
///
/// fn greet(context: HandlerContext<Agent>) -> impl EventHandler<Agent> {
///     context
///         .get_agent_uri()
///         .map(|uri| format!("hello from {uri}"))
///         .and_then(move |text| context.effect(move || println!("{text}")))
/// }
/// ```
pub trait HandlerActionExt<A>: HandlerAction<A> {
    /// Transforms the result of this handler.
    fn map<F, T>(self, f: F) -> Map<Self, F>
    where
        Self: Sized,
        F: FnOnce(Self::Completion) -> T,
    {
        Map {
            inner: self,
            f: Some(f),
        }
    }

    /// Runs this handler, then the handler that `f` builds from its result.
    fn and_then<F, H2>(self, f: F) -> AndThen<Self, H2, F>
    where
        Self: Sized,
        F: FnOnce(Self::Completion) -> H2,
        H2: HandlerAction<A>,
    {
        Chain::new(self, Plain(f))
    }

    /// Like [`and_then`](Self::and_then), but `f` also sees the agent.
    fn and_then_contextual<F, H2>(self, f: F) -> AndThenContextual<Self, H2, F>
    where
        Self: Sized,
        F: FnOnce(&A, Self::Completion) -> H2,
        H2: HandlerAction<A>,
    {
        Chain::new(self, WithAgent(f))
    }

    /// Runs this handler, discards its result, then runs `next`.
    fn followed_by<H2>(self, next: H2) -> FollowedBy<Self, H2>
    where
        Self: Sized,
        H2: HandlerAction<A>,
    {
        Chain::new(self, Then(next))
    }

    /// Runs this handler and completes with `()`.
    fn discard(self) -> Discard<Self>
    where
        Self: Sized,
    {
        Discard(self)
    }

    /// Boxes this handler (for branches of different types, or to name the type).
    fn boxed<'a>(self) -> BoxHandlerAction<'a, A, Self::Completion>
    where
        Self: Sized + Send + 'a,
    {
        Box::new(self)
    }

    /// Boxes this handler without requiring `Send`.
    fn boxed_local<'a>(self) -> Box<dyn HandlerAction<A, Completion = Self::Completion> + 'a>
    where
        Self: Sized + 'a,
    {
        Box::new(self)
    }
}

impl<A, H: HandlerAction<A>> HandlerActionExt<A> for H {}

/// See [`HandlerActionExt::map`].
pub struct Map<H, F> {
    inner: H,
    f: Option<F>,
}

impl<A, H, F, T> HandlerAction<A> for Map<H, F>
where
    H: HandlerAction<A>,
    F: FnOnce(H::Completion) -> T,
{
    type Completion = T;

    #[inline]
    fn step(
        &mut self,
        action_context: &mut ActionContext<A>,
        meta: AgentMetadata,
        agent: &A,
    ) -> StepResult<T> {
        match self.inner.step(action_context, meta, agent) {
            StepResult::Continue { modified } => StepResult::Continue { modified },
            StepResult::Fail(err) => StepResult::Fail(err),
            StepResult::Complete { modified, result } => match self.f.take() {
                Some(f) => StepResult::Complete {
                    modified,
                    result: f(result),
                },
                None => StepResult::after_done(),
            },
        }
    }
}

/// See [`HandlerActionExt::discard`].
pub struct Discard<H>(H);

impl<A, H: HandlerAction<A>> HandlerAction<A> for Discard<H> {
    type Completion = ();

    #[inline]
    fn step(
        &mut self,
        action_context: &mut ActionContext<A>,
        meta: AgentMetadata,
        agent: &A,
    ) -> StepResult<()> {
        self.0.step(action_context, meta, agent).map(|_| ())
    }
}

/// How a [`Chain`] builds its second handler from the first one's result.
pub trait Continuation<A, In> {
    /// The second handler.
    type Next: HandlerAction<A>;

    /// Builds the second handler.
    fn build(self, agent: &A, input: In) -> Self::Next;
}

/// A continuation from a closure over the result (see [`HandlerActionExt::and_then`]).
pub struct Plain<F>(F);
/// A continuation from a closure over the agent and the result.
pub struct WithAgent<F>(F);
/// A continuation that ignores the result (see [`HandlerActionExt::followed_by`]).
pub struct Then<H>(H);

impl<A, In, F, H> Continuation<A, In> for Plain<F>
where
    F: FnOnce(In) -> H,
    H: HandlerAction<A>,
{
    type Next = H;

    fn build(self, _: &A, input: In) -> H {
        (self.0)(input)
    }
}

impl<A, In, F, H> Continuation<A, In> for WithAgent<F>
where
    F: FnOnce(&A, In) -> H,
    H: HandlerAction<A>,
{
    type Next = H;

    fn build(self, agent: &A, input: In) -> H {
        (self.0)(agent, input)
    }
}

impl<A, In, H> Continuation<A, In> for Then<H>
where
    H: HandlerAction<A>,
{
    type Next = H;

    fn build(self, _: &A, _: In) -> H {
        self.0
    }
}

/// Two handlers in sequence, the second built from the first one's result.
pub enum Chain<H1, K, H2> {
    /// Running the first handler.
    First(H1, Option<K>),
    /// Running the second handler.
    Second(H2),
    /// Finished.
    Done,
}

impl<H1, K, H2> Chain<H1, K, H2> {
    fn new(first: H1, continuation: K) -> Self {
        Chain::First(first, Some(continuation))
    }
}

/// See [`HandlerActionExt::and_then`].
pub type AndThen<H1, H2, F> = Chain<H1, Plain<F>, H2>;
/// See [`HandlerActionExt::and_then_contextual`].
pub type AndThenContextual<H1, H2, F> = Chain<H1, WithAgent<F>, H2>;
/// See [`HandlerActionExt::followed_by`].
pub type FollowedBy<H1, H2> = Chain<H1, Then<H2>, H2>;

impl<A, H1, K, H2> HandlerAction<A> for Chain<H1, K, H2>
where
    H1: HandlerAction<A>,
    K: Continuation<A, H1::Completion, Next = H2>,
    H2: HandlerAction<A>,
{
    type Completion = H2::Completion;

    #[inline]
    fn step(
        &mut self,
        action_context: &mut ActionContext<A>,
        meta: AgentMetadata,
        agent: &A,
    ) -> StepResult<H2::Completion> {
        if let Chain::First(first, continuation) = self {
            match first.step(action_context, meta, agent) {
                StepResult::Continue { modified } => return StepResult::Continue { modified },
                StepResult::Fail(err) => {
                    *self = Chain::Done;
                    return StepResult::Fail(err);
                }
                StepResult::Complete { modified, result } => {
                    let Some(continuation) = continuation.take() else {
                        return StepResult::after_done();
                    };
                    *self = Chain::Second(continuation.build(agent, result));
                    if modified.is_some() {
                        // The runtime must handle the modification before the next handler runs.
                        return StepResult::Continue { modified };
                    }
                }
            }
        }
        match self {
            Chain::Second(second) => {
                let result = second.step(action_context, meta, agent);
                if !result.is_cont() {
                    *self = Chain::Done;
                }
                result
            }
            _ => StepResult::after_done(),
        }
    }
}

/// Runs a sequence of event handlers in order (see [`Sequentially::new`]).
pub struct Sequentially<I: Iterator> {
    handlers: I,
    current: Option<I::Item>,
    finished: bool,
}

impl<I: Iterator> Sequentially<I> {
    /// A handler that runs each handler of `handlers` to completion, in order.
    pub fn new<T>(handlers: T) -> Self
    where
        T: IntoIterator<IntoIter = I>,
    {
        Sequentially {
            handlers: handlers.into_iter(),
            current: None,
            finished: false,
        }
    }
}

impl<A, I> HandlerAction<A> for Sequentially<I>
where
    I: Iterator,
    I::Item: EventHandler<A>,
{
    type Completion = ();

    #[inline]
    fn step(
        &mut self,
        action_context: &mut ActionContext<A>,
        meta: AgentMetadata,
        agent: &A,
    ) -> StepResult<()> {
        if self.finished {
            return StepResult::after_done();
        }
        loop {
            let current = match &mut self.current {
                Some(current) => current,
                None => match self.handlers.next() {
                    Some(next) => self.current.insert(next),
                    None => {
                        self.finished = true;
                        return StepResult::done(());
                    }
                },
            };
            match current.step(action_context, meta, agent) {
                StepResult::Continue { modified } => return StepResult::Continue { modified },
                StepResult::Fail(err) => {
                    self.finished = true;
                    return StepResult::Fail(err);
                }
                StepResult::Complete { modified, .. } => {
                    self.current = None;
                    if modified.is_some() {
                        return StepResult::Continue { modified };
                    }
                }
            }
        }
    }
}

impl<A, L, R> HandlerAction<A> for Either<L, R>
where
    L: HandlerAction<A>,
    R: HandlerAction<A, Completion = L::Completion>,
{
    type Completion = L::Completion;

    #[inline]
    fn step(
        &mut self,
        action_context: &mut ActionContext<A>,
        meta: AgentMetadata,
        agent: &A,
    ) -> StepResult<L::Completion> {
        match self {
            Either::Left(left) => left.step(action_context, meta, agent),
            Either::Right(right) => right.step(action_context, meta, agent),
        }
    }
}

/// Handlers that complete with a `Result`.
pub trait TryHandlerActionExt<A, T, E>: HandlerAction<A, Completion = Result<T, E>> {
    /// Completes with the `Ok` value, or fails the handler with the `Err`.
    fn try_handler(self) -> TryHandler<Self>
    where
        Self: Sized,
    {
        TryHandler(self)
    }
}

impl<A, T, E, H> TryHandlerActionExt<A, T, E> for H where
    H: HandlerAction<A, Completion = Result<T, E>>
{
}

/// See [`TryHandlerActionExt::try_handler`].
pub struct TryHandler<H>(H);

impl<A, T, E, H> HandlerAction<A> for TryHandler<H>
where
    H: HandlerAction<A, Completion = Result<T, E>>,
    E: Error + Send + Sync + 'static,
{
    type Completion = T;

    #[inline]
    fn step(
        &mut self,
        action_context: &mut ActionContext<A>,
        meta: AgentMetadata,
        agent: &A,
    ) -> StepResult<T> {
        match self.0.step(action_context, meta, agent) {
            StepResult::Continue { modified } => StepResult::Continue { modified },
            StepResult::Fail(err) => StepResult::Fail(err),
            StepResult::Complete {
                modified,
                result: Ok(result),
            } => StepResult::Complete { modified, result },
            StepResult::Complete {
                result: Err(err), ..
            } => StepResult::fail(EventHandlerError::effect(err)),
        }
    }
}
