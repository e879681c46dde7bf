//! The lifecycle of a downlink: its handlers and shared state, and the builder that opens it.
//!
//! Each handler closure is erased once, when it is registered, into a boxed closure that calls
//! it and runs the handler it returns in the agent. Nothing is allocated per event, and builder
//! types stay simple (`StatelessValueDownlinkBuilder<A, T>`).

/// The state of a downlink lifecycle built with `with_shared_state`.
#[derive(Debug, Default)]
pub struct Shared<S>(pub(crate) S);

/// Access to the state that handlers receive (`()` for stateless lifecycles).
pub trait LifecycleState: Send + 'static {
    /// The state handed to stateful handlers.
    type State;
    /// The state.
    fn get(&self) -> &Self::State;
}

impl LifecycleState for () {
    type State = ();
    fn get(&self) -> &() {
        self
    }
}

impl<S: Send + 'static> LifecycleState for Shared<S> {
    type State = S;
    fn get(&self) -> &S {
        &self.0
    }
}

/// Defines a downlink kind's lifecycle (its handlers and shared state) and its builder (the
/// lifecycle plus where to link and how), with `on_*` setters for stateless and stateful
/// closures.
macro_rules! downlink_lifecycle {
    (
        $(#[$lifecycle_doc:meta])*
        lifecycle $Lifecycle:ident;
        $(#[$builder_doc:meta])*
        builder $Builder:ident($Config:ty);
        handlers $Handlers:ident;
        types <$($T:ident),*>;
        $(
            $(#[$doc:meta])*
            $name:ident($($arg:ident: $ty:ty),*);
        )*
    ) => {
        $(#[$lifecycle_doc])*
        pub struct $Lifecycle<A, $($T,)* St: $crate::agent_lifecycle::downlink_lifecycle::LifecycleState = ()> {
            pub(crate) state: St,
            $(
                pub(crate) $name: Option<Box<dyn FnMut(
                    &St::State,
                    &mut dyn $crate::downlink::DynRunner<A>,
                    $($ty),*
                ) -> $crate::downlink::Outcome + Send>>,
            )*
            _types: std::marker::PhantomData<fn($($T),*)>,
        }

        impl<A, $($T,)* St> $crate::downlink::$Handlers<A, $($T),*> for $Lifecycle<A, $($T,)* St>
        where
            A: 'static,
            $($T: 'static,)*
            St: $crate::agent_lifecycle::downlink_lifecycle::LifecycleState,
        {
            $(
                fn $name(
                    &mut self,
                    runner: &mut dyn $crate::downlink::DynRunner<A>,
                    $($arg: $ty),*
                ) -> $crate::downlink::Outcome {
                    match &mut self.$name {
                        Some(handler) => handler($crate::agent_lifecycle::downlink_lifecycle::LifecycleState::get(&self.state), runner $(, $arg)*),
                        None => Ok(()),
                    }
                }
            )*
        }

        impl<A, $($T),*> Default for $Lifecycle<A, $($T,)* ()> {
            fn default() -> Self {
                $Lifecycle {
                    state: (),
                    $($name: None,)*
                    _types: std::marker::PhantomData,
                }
            }
        }

        impl<A: 'static, $($T: 'static),*> $Lifecycle<A, $($T,)* ()> {
            $(
                $(#[$doc])*
                pub fn $name<F, H>(mut self, mut f: F) -> Self
                where
                    F: FnMut($crate::agent_lifecycle::HandlerContext<A>, $($ty),*) -> H + Send + 'static,
                    H: $crate::event_handler::EventHandler<A>,
                {
                    self.$name = Some(Box::new(
                        move |_: &(), runner: &mut dyn $crate::downlink::DynRunner<A>, $($arg: $ty),*| {
                            runner.run_dyn(&mut f($crate::agent_lifecycle::HandlerContext::default(), $($arg),*))
                        },
                    ));
                    self
                }
            )*

            /// Gives every handler `&state` as its first argument (handlers already registered
            /// keep working). Use interior mutability (`Cell`, `RefCell`) to change it.
            pub fn with_shared_state<S: Send + 'static>(
                self,
                state: S,
            ) -> $Lifecycle<A, $($T,)* $crate::agent_lifecycle::downlink_lifecycle::Shared<S>> {
                $Lifecycle {
                    state: $crate::agent_lifecycle::downlink_lifecycle::Shared(state),
                    $(
                        $name: self.$name.map(|mut handler| {
                            Box::new(
                                move |_: &S, runner: &mut dyn $crate::downlink::DynRunner<A>, $($arg: $ty),*| {
                                    handler(&(), runner, $($arg),*)
                                },
                            ) as Box<dyn FnMut(&S, &mut dyn $crate::downlink::DynRunner<A>, $($ty),*) -> $crate::downlink::Outcome + Send>
                        }),
                    )*
                    _types: std::marker::PhantomData,
                }
            }
        }

        impl<A: 'static, $($T: 'static,)* S: Send + 'static> $Lifecycle<A, $($T,)* $crate::agent_lifecycle::downlink_lifecycle::Shared<S>> {
            $(
                $(#[$doc])*
                pub fn $name<F, H>(mut self, mut f: F) -> Self
                where
                    F: FnMut(&S, $crate::agent_lifecycle::HandlerContext<A>, $($ty),*) -> H + Send + 'static,
                    H: $crate::event_handler::EventHandler<A>,
                {
                    self.$name = Some(Box::new(
                        move |state: &S, runner: &mut dyn $crate::downlink::DynRunner<A>, $($arg: $ty),*| {
                            runner.run_dyn(&mut f(state, $crate::agent_lifecycle::HandlerContext::default(), $($arg),*))
                        },
                    ));
                    self
                }
            )*
        }

        $(#[$builder_doc])*
        pub struct $Builder<A, $($T,)* St: $crate::agent_lifecycle::downlink_lifecycle::LifecycleState = ()> {
            pub(crate) lifecycle: $Lifecycle<A, $($T,)* St>,
            pub(crate) address: $crate::downlink::Address,
            pub(crate) config: $Config,
        }

        impl<A: 'static, $($T: 'static),*> $Builder<A, $($T,)* ()> {
            pub(crate) fn new(
                address: $crate::downlink::Address,
                config: $Config,
            ) -> Self {
                $Builder { lifecycle: Default::default(), address, config }
            }

            $(
                $(#[$doc])*
                pub fn $name<F, H>(self, f: F) -> Self
                where
                    F: FnMut($crate::agent_lifecycle::HandlerContext<A>, $($ty),*) -> H + Send + 'static,
                    H: $crate::event_handler::EventHandler<A>,
                {
                    $Builder { lifecycle: self.lifecycle.$name(f), ..self }
                }
            )*

            /// Gives every handler `&state` as its first argument (handlers already registered
            /// keep working). Use interior mutability (`Cell`, `RefCell`) to change it.
            pub fn with_shared_state<S: Send + 'static>(
                self,
                state: S,
            ) -> $Builder<A, $($T,)* $crate::agent_lifecycle::downlink_lifecycle::Shared<S>> {
                $Builder {
                    lifecycle: self.lifecycle.with_shared_state(state),
                    address: self.address,
                    config: self.config,
                }
            }
        }

        impl<A: 'static, $($T: 'static,)* S: Send + 'static> $Builder<A, $($T,)* $crate::agent_lifecycle::downlink_lifecycle::Shared<S>> {
            $(
                $(#[$doc])*
                pub fn $name<F, H>(self, f: F) -> Self
                where
                    F: FnMut(&S, $crate::agent_lifecycle::HandlerContext<A>, $($ty),*) -> H + Send + 'static,
                    H: $crate::event_handler::EventHandler<A>,
                {
                    $Builder { lifecycle: self.lifecycle.$name(f), ..self }
                }
            )*
        }
    };
}

pub(crate) use downlink_lifecycle;
