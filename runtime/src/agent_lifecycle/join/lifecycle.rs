//! The lifecycles of join lanes' links: what runs when a link is made, synced, closed or
//! failed, built handler by handler from the context a `#[join_value_lifecycle]` or
//! `#[join_map_lifecycle]` method receives.
//!
//! Each handler closure is erased once, when it is registered; running it allocates the
//! handler it returns (link events are rare next to lane events).

use std::collections::HashSet;
use std::marker::PhantomData;

use super::{LinkAddress, LinkClosedResponse};
use crate::agent_lifecycle::dispatch::ContextOf;
use crate::agent_lifecycle::HandlerContext;
use crate::event_handler::{
    BoxEventHandler, BoxHandlerAction, EventHandler, HandlerAction, HandlerActionExt,
};
use crate::lanes::UnlinkReason;

/// Defines a join lane kind's lifecycle trait, the context its lifecycle method receives, and
/// the builder that implements the trait.
macro_rules! join_lifecycle {
    (
        $(#[$trait_doc:meta])*
        trait $Trait:ident;
        $(#[$context_doc:meta])*
        context $Context:ident;
        $(#[$builder_doc:meta])*
        builder $Builder:ident;
        types [$($G:ident),*], link $L:ident;
        synced($($synced:ident: $synced_ty:ty),*);
        closed($($closed:ident: $closed_ty:ty),*);
    ) => {
        $(#[$trait_doc])*
        pub trait $Trait<$($G,)* A>: Send + 'static {
            /// The handler for the link `link` to `remote` being made.
            fn on_linked(
                &mut self,
                link: &$L,
                remote: &LinkAddress,
            ) -> Option<BoxEventHandler<'static, A>>;

            /// The handler for the link `link` having received the remote lane's state.
            fn on_synced(
                &mut self,
                link: &$L,
                remote: &LinkAddress,
                $($synced: $synced_ty),*
            ) -> Option<BoxEventHandler<'static, A>>;

            /// The handler for the link `link` being closed: it answers what becomes of it.
            fn on_unlinked(
                &mut self,
                link: &$L,
                remote: &LinkAddress,
                $($closed: $closed_ty),*
            ) -> Option<BoxHandlerAction<'static, A, LinkClosedResponse>>;

            /// The handler for the link `link` having failed: it answers what becomes of it.
            fn on_failed(
                &mut self,
                link: &$L,
                remote: &LinkAddress,
                $($closed: $closed_ty),*
            ) -> Option<BoxHandlerAction<'static, A, LinkClosedResponse>>;
        }

        $(#[$context_doc])*
        pub struct $Context<A, $($G),*> {
            _types: PhantomData<fn(&A, $($G),*)>,
        }

        impl<A, $($G),*> Default for $Context<A, $($G),*> {
            fn default() -> Self {
                $Context { _types: PhantomData }
            }
        }

        impl<A, $($G),*> ContextOf<A> for $Context<A, $($G),*> {
            fn fresh() -> Self {
                $Context::default()
            }
        }

        impl<A: 'static, $($G: 'static),*> $Context<A, $($G),*> {
            /// A lifecycle with no handlers: links closed or failed are abandoned (their
            /// entries stay).
            pub fn builder(&self) -> $Builder<A, $($G),*> {
                $Builder::default()
            }
        }

        $(#[$builder_doc])*
        #[allow(clippy::type_complexity)]
        pub struct $Builder<A, $($G),*> {
            on_linked: Option<
                Box<dyn FnMut(HandlerContext<A>, $L, &LinkAddress) -> BoxEventHandler<'static, A> + Send>,
            >,
            on_synced: Option<
                Box<
                    dyn FnMut(HandlerContext<A>, $L, &LinkAddress, $($synced_ty),*) -> BoxEventHandler<'static, A>
                        + Send,
                >,
            >,
            on_unlinked: Option<
                Box<
                    dyn FnMut(HandlerContext<A>, $L, &LinkAddress, $($closed_ty),*) -> BoxHandlerAction<'static, A, LinkClosedResponse>
                        + Send,
                >,
            >,
            on_failed: Option<
                Box<
                    dyn FnMut(HandlerContext<A>, $L, &LinkAddress, $($closed_ty),*) -> BoxHandlerAction<'static, A, LinkClosedResponse>
                        + Send,
                >,
            >,
            _types: PhantomData<fn($($G),*)>,
        }

        impl<A, $($G),*> Default for $Builder<A, $($G),*> {
            fn default() -> Self {
                $Builder {
                    on_linked: None,
                    on_synced: None,
                    on_unlinked: None,
                    on_failed: None,
                    _types: PhantomData,
                }
            }
        }

        impl<A: 'static, $($G: 'static),*> $Builder<A, $($G),*> {
            /// Runs when a link is made: `f(context, link, remote)`.
            pub fn on_linked<F, H>(mut self, mut f: F) -> Self
            where
                F: FnMut(HandlerContext<A>, $L, &LinkAddress) -> H + Send + 'static,
                H: EventHandler<A> + Send + 'static,
            {
                self.on_linked = Some(Box::new(move |context, link, remote| {
                    Box::new(f(context, link, remote))
                }));
                self
            }

            /// Runs when a link has the remote lane's state.
            pub fn on_synced<F, H>(mut self, mut f: F) -> Self
            where
                F: FnMut(HandlerContext<A>, $L, &LinkAddress, $($synced_ty),*) -> H + Send + 'static,
                H: EventHandler<A> + Send + 'static,
            {
                self.on_synced = Some(Box::new(move |context, link, remote, $($synced),*| {
                    Box::new(f(context, link, remote, $($synced),*))
                }));
                self
            }

            /// Runs when a link is closed, with why (also when its node or lane does not exist,
            /// or access is refused), and answers what becomes of it (see
            /// [`LinkClosedResponse`]: a close that is not final keeps the link stored
            /// whatever the answer).
            pub fn on_unlinked<F, H>(mut self, mut f: F) -> Self
            where
                F: FnMut(HandlerContext<A>, $L, &LinkAddress, $($closed_ty),*) -> H + Send + 'static,
                H: HandlerAction<A, Completion = LinkClosedResponse> + Send + 'static,
            {
                self.on_unlinked = Some(Box::new(move |context, link, remote, $($closed),*| {
                    f(context, link, remote, $($closed),*).boxed()
                }));
                self
            }

            /// Runs when a link fails, with why (the host is unreachable, the lane's values do
            /// not fit or it is not of the kind the join lane links to), and answers what
            /// becomes of it (see [`LinkClosedResponse`]).
            pub fn on_failed<F, H>(mut self, mut f: F) -> Self
            where
                F: FnMut(HandlerContext<A>, $L, &LinkAddress, $($closed_ty),*) -> H + Send + 'static,
                H: HandlerAction<A, Completion = LinkClosedResponse> + Send + 'static,
            {
                self.on_failed = Some(Box::new(move |context, link, remote, $($closed),*| {
                    f(context, link, remote, $($closed),*).boxed()
                }));
                self
            }

            /// The lifecycle, as built.
            pub fn done(self) -> Self {
                self
            }
        }

        impl<A: 'static, $($G: 'static),*> $Trait<$($G,)* A> for $Builder<A, $($G),*>
        where
            $L: Clone + Send,
        {
            fn on_linked(
                &mut self,
                link: &$L,
                remote: &LinkAddress,
            ) -> Option<BoxEventHandler<'static, A>> {
                let f = self.on_linked.as_mut()?;
                Some(f(HandlerContext::default(), link.clone(), remote))
            }

            fn on_synced(
                &mut self,
                link: &$L,
                remote: &LinkAddress,
                $($synced: $synced_ty),*
            ) -> Option<BoxEventHandler<'static, A>> {
                let f = self.on_synced.as_mut()?;
                Some(f(HandlerContext::default(), link.clone(), remote, $($synced),*))
            }

            fn on_unlinked(
                &mut self,
                link: &$L,
                remote: &LinkAddress,
                $($closed: $closed_ty),*
            ) -> Option<BoxHandlerAction<'static, A, LinkClosedResponse>> {
                let f = self.on_unlinked.as_mut()?;
                Some(f(HandlerContext::default(), link.clone(), remote, $($closed),*))
            }

            fn on_failed(
                &mut self,
                link: &$L,
                remote: &LinkAddress,
                $($closed: $closed_ty),*
            ) -> Option<BoxHandlerAction<'static, A, LinkClosedResponse>> {
                let f = self.on_failed.as_mut()?;
                Some(f(HandlerContext::default(), link.clone(), remote, $($closed),*))
            }
        }
    };
}

join_lifecycle! {
    /// The lifecycle of a join value lane's links, keyed by the entry they feed. Build one
    /// with [`JoinValueContext::builder`].
    #[diagnostic::on_unimplemented(
        message = "a `#[join_value_lifecycle]` for a `JoinValueLane<{K}, {V}>` returns the lifecycle of its links, but this one returns `{Self}`",
        label = "expected `impl JoinValueLaneLifecycle<{K}, {V}, {A}>` from the `#[join_value_lifecycle]` of this lane",
        note = "take `context: JoinValueContext<{A}, {K}, {V}>` and return `context.builder().on_linked(..).done()`"
    )]
    trait JoinValueLaneLifecycle;
    /// What a `#[join_value_lifecycle(lane)]` method receives: builds the lifecycle of the
    /// lane's links.
    ///
    /// ```
    /// use tidal_runtime::agent_lifecycle::{
    ///     JoinValueContext, JoinValueLaneLifecycle, LinkClosedResponse,
    /// };
    /// use tidal_runtime::event_handler::HandlerActionExt;
    ///
    /// struct Building;
    ///
    /// fn rooms(context: JoinValueContext<Building, String, f64>) -> impl JoinValueLaneLifecycle<String, f64, Building> {
    ///     context
    ///         .builder()
    ///         .on_linked(|context, room, remote| {
    ///             let remote = remote.to_string();
    ///             context.effect(move || println!("{room} linked to {remote}"))
    ///         })
    ///         .on_synced(|context, room, _, temperature| {
    ///             let temperature = temperature.copied();
    ///             context.effect(move || println!("{room}: {temperature:?}"))
    ///         })
    ///         .on_failed(|context, _, _, _| context.value(LinkClosedResponse::Delete))
    ///         .done()
    /// }
    /// ```
    context JoinValueContext;
    /// The lifecycle of a join value lane's links, built handler by handler (see
    /// [`JoinValueContext`]). `on_synced` receives the entry's value; `on_unlinked` and
    /// `on_failed` why the link closed.
    builder JoinValueLifecycle;
    types [K, V], link K;
    synced(value: Option<&V>);
    closed(reason: &UnlinkReason);
}

join_lifecycle! {
    /// The lifecycle of a join map lane's links, keyed by link. Build one with
    /// [`JoinMapContext::builder`].
    #[diagnostic::on_unimplemented(
        message = "a `#[join_map_lifecycle]` for a `JoinMapLane<{L}, {K}, {V}>` returns the lifecycle of its links, but this one returns `{Self}`",
        label = "expected `impl JoinMapLaneLifecycle<{L}, {K}, {V}, {A}>` from the `#[join_map_lifecycle]` of this lane",
        note = "take `context: JoinMapContext<{A}, {L}, {K}, {V}>` and return `context.builder().on_linked(..).done()`"
    )]
    trait JoinMapLaneLifecycle;
    /// What a `#[join_map_lifecycle(lane)]` method receives: builds the lifecycle of the
    /// lane's links.
    ///
    /// ```
    /// use tidal_runtime::agent_lifecycle::{JoinMapContext, JoinMapLaneLifecycle, LinkClosedResponse};
    ///
    /// struct Inventory;
    ///
    /// fn shops(context: JoinMapContext<Inventory, String, String, u32>) -> impl JoinMapLaneLifecycle<String, String, u32, Inventory> {
    ///     context
    ///         .builder()
    ///         .on_synced(|context, shop, _, items| {
    ///             let count = items.len();
    ///             context.effect(move || println!("{shop} has {count} items"))
    ///         })
    ///         .on_unlinked(|context, _, _, reason, _| {
    ///             // Links closed for now (the server stops, the agent moved) stay whatever
    ///             // this answers; `Delete` removes the entries of links closed for good.
    ///             let response = if reason.is_final() {
    ///                 LinkClosedResponse::Delete
    ///             } else {
    ///                 LinkClosedResponse::Retry
    ///             };
    ///             context.value(response)
    ///         })
    ///         .done()
    /// }
    /// ```
    context JoinMapContext;
    /// The lifecycle of a join map lane's links, built handler by handler (see
    /// [`JoinMapContext`]). `on_synced` receives the keys the link owns; `on_unlinked` and
    /// `on_failed` why the link closed and the keys it owns.
    builder JoinMapLifecycle;
    types [L, K, V], link L;
    synced(keys: &HashSet<K>);
    closed(reason: &UnlinkReason, keys: &HashSet<K>);
}
