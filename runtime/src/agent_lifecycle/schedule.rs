//! Handlers that schedule work for later: futures, delays, repetition and timers.

use std::future::Future;
use std::time::Duration;

use futures::FutureExt;
use tokio::time::Instant;

use super::HandlerContext;
use crate::event_handler::{
    ActionContext, AgentMetadata, Either, EventHandler, HandlerAction, HandlerActionExt,
    OnceHandler, StepResult, UnitHandler,
};

impl<A: 'static> HandlerContext<A> {
    /// Runs `future` inside the agent task (concurrently with its other work); when it
    /// completes, the handler it yields runs. The suspending handler completes at once.
    ///
    /// The future must not block: it shares the agent's task.
    pub fn suspend<F, H>(&self, future: F) -> impl EventHandler<A> + Send + 'static
    where
        F: Future<Output = H> + Send + 'static,
        H: EventHandler<A> + Send + 'static,
    {
        OnceHandler::new(move |context: &mut ActionContext<A>, _, _: &A| {
            context.suspend(future);
            StepResult::done(())
        })
    }

    /// Runs `future` inside the agent task for its effect alone.
    pub fn suspend_effect<F>(&self, future: F) -> impl EventHandler<A> + Send + 'static
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.suspend(future.map(|_| UnitHandler::default()))
    }

    /// Runs `handler` after `delay`.
    pub fn run_after<H>(&self, delay: Duration, handler: H) -> impl EventHandler<A> + Send + 'static
    where
        H: EventHandler<A> + Send + 'static,
    {
        self.suspend(tokio::time::sleep(delay).map(move |_| handler))
    }

    /// Every `interval`, calls `f` and runs the handler it returns; stops when `f` returns
    /// `None`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tidal_runtime::agent_lifecycle::HandlerContext;
    /// use tidal_runtime::event_handler::EventHandler;
    ///
    /// struct Agent;
    ///
    /// fn tick_three_times(context: HandlerContext<Agent>) -> impl EventHandler<Agent> {
    ///     let mut left = 3;
    ///     context.schedule_repeatedly(Duration::from_secs(1), move || {
    ///         left -= 1;
    ///         (left >= 0).then(|| context.effect(|| println!("tick")))
    ///     })
    /// }
    /// ```
    pub fn schedule_repeatedly<F, H>(
        &self,
        interval: Duration,
        f: F,
    ) -> impl EventHandler<A> + Send + 'static
    where
        F: FnMut() -> Option<H> + Send + 'static,
        H: EventHandler<A> + Send + 'static,
    {
        Repeatedly {
            interval,
            f: Some(f),
        }
    }

    /// Fires the lifecycle's `#[on_timer]` handler with `id` after `delay`.
    pub fn schedule_timer_event(&self, delay: Duration, id: u64) -> impl EventHandler<A> + Send {
        OnceHandler::new(move |context: &mut ActionContext<A>, _, _: &A| {
            context.schedule_timer(Instant::now() + delay, id);
            StepResult::done(())
        })
    }

    /// Fires the lifecycle's `#[on_timer]` handler with `id` at `at`.
    pub fn schedule_timer_event_at(&self, at: Instant, id: u64) -> impl EventHandler<A> + Send {
        OnceHandler::new(move |context: &mut ActionContext<A>, _, _: &A| {
            context.schedule_timer(at, id);
            StepResult::done(())
        })
    }
}

/// See [`HandlerContext::schedule_repeatedly`].
struct Repeatedly<F> {
    interval: Duration,
    f: Option<F>,
}

impl<A, F, H> HandlerAction<A> for Repeatedly<F>
where
    A: 'static,
    F: FnMut() -> Option<H> + Send + 'static,
    H: EventHandler<A> + Send + 'static,
{
    type Completion = ();

    fn step(
        &mut self,
        action_context: &mut ActionContext<A>,
        _: AgentMetadata,
        _: &A,
    ) -> StepResult<()> {
        let Some(mut f) = self.f.take() else {
            return StepResult::after_done();
        };
        let interval = self.interval;
        action_context.suspend(tokio::time::sleep(interval).map(move |_| match f() {
            Some(handler) => Either::Left(handler.followed_by(Repeatedly {
                interval,
                f: Some(f),
            })),
            None => Either::Right(UnitHandler::default()),
        }));
        StepResult::done(())
    }
}
