//! State kept by a lifecycle between handlers.
//!
//! Handlers receive the lifecycle as `&self` (handlers re-enter each other, so nothing may hold
//! `&mut self`). [`State`] and [`History`] give it mutable state through handlers: their methods
//! return handlers that read or change the state when the agent task runs them, and no borrow is
//! ever held between steps.
//!
//! ```
//! use tidal_runtime::event_handler::{EventHandler, HandlerActionExt};
//! use tidal_runtime::state::State;
//!
//! struct Agent;
//!
//! #[derive(Default)]
//! struct Lifecycle {
//!     seen: State<Agent, u64>,
//! }
//!
//! impl Lifecycle {
//!     fn count(&self) -> impl EventHandler<Agent> + '_ {
//!         self.seen.with_mut(|n| *n += 1)
//!     }
//! }
//! ```

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;

use crate::event_handler::{
    EventHandler, HandlerAction, HandlerActionExt, OnceHandler, StepResult,
};

/// A value of type `T` owned by a lifecycle of agents of type `A`.
pub struct State<A, T> {
    inner: RefCell<T>,
    _agent: PhantomData<fn(&A)>,
}

impl<A, T> State<A, T> {
    /// A state holding `value`.
    pub fn new(value: T) -> Self {
        State {
            inner: RefCell::new(value),
            _agent: PhantomData,
        }
    }
}

impl<A, T: Default> Default for State<A, T> {
    fn default() -> Self {
        State::new(T::default())
    }
}

impl<A, T> From<T> for State<A, T> {
    fn from(value: T) -> Self {
        State::new(value)
    }
}

impl<A, T: fmt::Debug> fmt::Debug for State<A, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.inner.try_borrow() {
            Ok(value) => f.debug_tuple("State").field(&*value).finish(),
            Err(_) => f.write_str("State(<in use>)"),
        }
    }
}

impl<A, T: Clone> Clone for State<A, T> {
    fn clone(&self) -> Self {
        State::new(self.inner.borrow().clone())
    }
}

impl<A: 'static, T> State<A, T> {
    /// Completes with a copy of the value.
    pub fn get(&self) -> impl HandlerAction<A, Completion = T> + '_
    where
        T: Clone,
    {
        self.with(T::clone)
    }

    /// Sets the value.
    pub fn set(&self, value: T) -> impl EventHandler<A> + '_ {
        self.with_mut(move |state| *state = value)
    }

    /// Sets the value and completes with the old one.
    pub fn replace(&self, value: T) -> impl HandlerAction<A, Completion = T> + '_ {
        self.with_mut(move |state| std::mem::replace(state, value))
    }

    /// Takes the value, leaving the default.
    pub fn take(&self) -> impl HandlerAction<A, Completion = T> + '_
    where
        T: Default,
    {
        self.with_mut(std::mem::take)
    }

    /// Completes with `f` applied to the value.
    pub fn with<'a, F, U>(&'a self, f: F) -> impl HandlerAction<A, Completion = U> + 'a
    where
        F: FnOnce(&T) -> U + 'a,
    {
        OnceHandler::new(move |_: &mut _, _, _: &A| StepResult::done(f(&self.inner.borrow())))
    }

    /// Completes with `f` applied to the value, which it may change.
    pub fn with_mut<'a, F, U>(&'a self, f: F) -> impl HandlerAction<A, Completion = U> + 'a
    where
        F: FnOnce(&mut T) -> U + 'a,
    {
        OnceHandler::new(move |_: &mut _, _, _: &A| {
            StepResult::done(f(&mut self.inner.borrow_mut()))
        })
    }

    /// Builds a handler from the value with `f`, then runs it.
    pub fn and_then_with<'a, F, H>(
        &'a self,
        f: F,
    ) -> impl HandlerAction<A, Completion = H::Completion> + 'a
    where
        F: FnOnce(&T) -> H + 'a,
        H: HandlerAction<A> + 'a,
    {
        self.with(f).and_then(|handler| handler)
    }

    /// Builds a handler from the value (which `f` may change), then runs it.
    pub fn and_then_with_mut<'a, F, H>(
        &'a self,
        f: F,
    ) -> impl HandlerAction<A, Completion = H::Completion> + 'a
    where
        F: FnOnce(&mut T) -> H + 'a,
        H: HandlerAction<A> + 'a,
    {
        self.with_mut(f).and_then(|handler| handler)
    }
}

/// A bounded window of the most recent values of type `T` (the oldest are dropped).
pub struct History<A, T> {
    max_size: usize,
    inner: State<A, VecDeque<T>>,
}

impl<A, T> History<A, T> {
    /// An empty history keeping at most `max_size` values.
    pub fn new(max_size: usize) -> Self {
        History {
            max_size,
            inner: State::new(VecDeque::with_capacity(max_size.min(1024))),
        }
    }

    /// The most values kept.
    pub fn max_size(&self) -> usize {
        self.max_size
    }

    /// How many values are kept now.
    pub fn len(&self) -> usize {
        self.inner.inner.borrow().len()
    }

    /// Whether no value is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<A, T: fmt::Debug> fmt::Debug for History<A, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("History")
            .field("max_size", &self.max_size)
            .field("values", &self.inner)
            .finish()
    }
}

impl<A: 'static, T: 'static> History<A, T> {
    /// Appends a value, dropping the oldest if the window is full.
    pub fn push(&self, value: T) -> impl EventHandler<A> + '_ {
        let max_size = self.max_size;
        self.inner.with_mut(move |values| {
            if max_size == 0 {
                return;
            }
            while values.len() >= max_size {
                values.pop_front();
            }
            values.push_back(value);
        })
    }

    /// Completes with `f` applied to the values, oldest first.
    pub fn with<'a, F, U>(&'a self, f: F) -> impl HandlerAction<A, Completion = U> + 'a
    where
        F: FnOnce(&VecDeque<T>) -> U + 'a,
    {
        self.inner.with(f)
    }

    /// Builds a handler from the values with `f`, then runs it.
    pub fn and_then_with<'a, F, H>(
        &'a self,
        f: F,
    ) -> impl HandlerAction<A, Completion = H::Completion> + 'a
    where
        F: FnOnce(&VecDeque<T>) -> H + 'a,
        H: HandlerAction<A> + 'a,
    {
        self.inner.and_then_with(f)
    }
}
