//! Support for the code `#[lifecycle]` generates. Not a public API: it may change at any time.
//!
//! The generated `run_item_event` compares the changed item's id with each handled lane's id,
//! then calls one of these functions with closures that call the user's methods. The trait
//! bounds here are what turn a mistake (wrong lane kind, wrong value type) into a compile error
//! at the user's tokens.

use std::borrow::Borrow;
use std::marker::PhantomData;

use super::join::{
    JoinMapLaneLifecycle, JoinMapLikeItem, JoinValueLaneLifecycle, JoinValueLikeItem,
};
use super::{HandlerContext, HandlerRunner};
use crate::event_handler::{
    ActionContext, AgentMetadata, EventHandler, EventHandlerError, HandlerAction, StepResult,
    UnitHandler,
};
use crate::lanes::{
    AgentItem, CommandLikeItem, DemandLikeItem, DemandMapLikeItem, HttpLikeItem,
    HttpRequestContext, MapBacking, MapLaneEvent, MapLikeItem, Method, Response, StatusCode,
    UnitResponse, ValueLikeItem,
};

/// The context parameter of a handler: a `HandlerContext` for the lifecycle's agent.
#[diagnostic::on_unimplemented(
    message = "the context parameter has type `{Self}`, but this lifecycle is for `{A}`",
    label = "expected `HandlerContext<{A}>` here",
    note = "write the parameter as `context: HandlerContext<{A}>`"
)]
pub trait ContextOf<A> {
    /// A fresh context.
    fn fresh() -> Self;
}

impl<A> ContextOf<A> for HandlerContext<A> {
    fn fresh() -> Self {
        HandlerContext::default()
    }
}

/// A fresh context of the type the handler's parameter asks for, checked to be for agent `A`.
pub fn context_as<A, C: ContextOf<A>>() -> C {
    C::fresh()
}

/// The id of an item (the generated dispatch compares it with the id of the changed item).
pub fn item_id<L: AgentItem>(item: &L) -> u64 {
    item.id()
}

/// Lets a handler parameter `&B` borrow a lane value of type `T` (e.g. `&str` for `String`).
#[diagnostic::on_unimplemented(
    message = "the handler parameter has type `&{B}`, but the lane passes `&{Self}` here",
    label = "expected `&{Self}` here",
    note = "write the parameter as `&{Self}` (or as a type `{Self}` borrows as, such as `&str` for `String`)"
)]
pub trait BorrowAs<B: ?Sized> {
    /// Borrows the value as `&B`.
    fn borrow_as(&self) -> &B;
}

impl<T: Borrow<B> + ?Sized, B: ?Sized> BorrowAs<B> for T {
    fn borrow_as(&self) -> &B {
        self.borrow()
    }
}

/// Borrows a lane value as the type the user's handler parameter asks for.
pub fn borrow_as<B: ?Sized, T: BorrowAs<B> + ?Sized>(value: &T) -> &B {
    value.borrow_as()
}

/// Lets a handler parameter taken by value (a key, a previous value, ...) have exactly the type
/// the lane passes.
#[diagnostic::on_unimplemented(
    message = "the handler parameter has type `{P}`, but the lane passes `{Self}` here",
    label = "expected `{Self}` here",
    note = "write the parameter's type as `{Self}`"
)]
pub trait ParamAs<P> {
    /// The value, as the parameter's type.
    fn param_as(self) -> P;
}

impl<T> ParamAs<T> for T {
    fn param_as(self) -> T {
        self
    }
}

/// Passes a lane's value to a handler parameter taken by value.
pub fn param_as<P, T: ParamAs<P>>(value: T) -> P {
    value.param_as()
}

/// What a handler method returns: an event handler for the agent.
#[diagnostic::on_unimplemented(
    message = "the handler methods of a lifecycle for `{A}` return an `EventHandler<{A}>`, but this one returns `{Self}`",
    label = "not an `EventHandler<{A}>`",
    note = "return `impl EventHandler<{A}> + '_` built with the context, e.g. `context.effect(|| ..)`; to do nothing, return `UnitHandler::default()`"
)]
pub trait ReturnsHandler<A> {}

impl<A, H: EventHandler<A>> ReturnsHandler<A> for H {}

/// What a handler method returned, before it is checked to be an event handler.
///
/// The generated code calls `Returned::<A, _>::new(value).handler()` with both [`IsHandler`] and
/// [`NotHandler`] in scope. Method resolution tries `Returned` by value first, which is
/// [`IsHandler`] when the value is an `EventHandler<A>`: the handler itself, statically
/// dispatched. Otherwise it finds [`NotHandler`] on `&Returned`, whose bound fails with one error
/// at the method's return type; its result is a handler anyway, so nothing else fails.
pub struct Returned<A, H> {
    handler: H,
    agent: PhantomData<fn(&A)>,
}

impl<A, H> Returned<A, H> {
    /// Wraps the value a handler method returned.
    pub fn new(handler: H) -> Self {
        Returned {
            handler,
            agent: PhantomData,
        }
    }
}

/// The returned value is an event handler: see [`Returned`].
pub trait IsHandler {
    /// The handler.
    type Handler;

    /// The handler, to run.
    fn handler(self) -> Self::Handler;
}

impl<A, H: EventHandler<A>> IsHandler for Returned<A, H> {
    type Handler = H;

    fn handler(self) -> H {
        self.handler
    }
}

/// The returned value is not an event handler, a compile error: see [`Returned`].
pub trait NotHandler {
    /// The agent type.
    type Agent;
    /// What the method returned.
    type Value;

    /// Never compiles: `Self::Value` is not an event handler.
    fn handler(self) -> UnitHandler
    where
        Self::Value: ReturnsHandler<Self::Agent>;
}

impl<A, H> NotHandler for &Returned<A, H> {
    type Agent = A;
    type Value = H;

    fn handler(self) -> UnitHandler
    where
        H: ReturnsHandler<A>,
    {
        UnitHandler::default()
    }
}

/// Runs the `on_event`/`on_set` handlers of a value lane or store.
pub fn value_event<A, L, R, H>(
    item: &L,
    runner: &mut R,
    build: impl FnOnce(&L::Value, Option<L::Value>) -> H,
) -> Result<(), EventHandlerError>
where
    L: ValueLikeItem,
    R: HandlerRunner<A>,
    H: EventHandler<A>,
{
    let handler = item.with_event(build);
    runner.run(handler)
}

/// Runs the `on_command` handler of a command lane.
pub fn command_event<A, L, R, H>(
    item: &L,
    runner: &mut R,
    build: impl FnOnce(&L::Value) -> H,
) -> Result<(), EventHandlerError>
where
    L: CommandLikeItem,
    R: HandlerRunner<A>,
    H: EventHandler<A>,
{
    match item.with_command(build) {
        Some(handler) => runner.run(handler),
        None => Ok(()),
    }
}

/// Runs the `on_update`, `on_remove` or `on_clear` handler of a map lane or store, according to
/// its last change.
pub fn map_event<A, L, R, HU, HR, HC>(
    item: &L,
    runner: &mut R,
    on_update: impl FnOnce(&L::Map, L::Key, Option<L::Value>, &L::Value) -> HU,
    on_remove: impl FnOnce(&L::Map, L::Key, L::Value) -> HR,
    on_clear: impl FnOnce(L::Map) -> HC,
) -> Result<(), EventHandlerError>
where
    L: MapLikeItem,
    R: HandlerRunner<A>,
    HU: EventHandler<A>,
    HR: EventHandler<A>,
    HC: EventHandler<A>,
{
    let handler = item.with_event(|map, event| match event {
        MapLaneEvent::Update(key, previous) => map
            .get(&key)
            .map(|new_value| MapDispatch::Update(on_update(map, key, previous, new_value))),
        MapLaneEvent::Remove(key, previous) => {
            Some(MapDispatch::Remove(on_remove(map, key, previous)))
        }
        MapLaneEvent::Clear(before) => Some(MapDispatch::Clear(on_clear(before))),
    });
    match handler.flatten() {
        Some(handler) => runner.run(handler),
        None => Ok(()),
    }
}

/// What an `#[on_cue]` handler returns: a handler that completes with the demand lane's value.
#[diagnostic::on_unimplemented(
    message = "an `#[on_cue]` handler for a `DemandLane<{T}>` completes with a `{T}`, but this one returns `{Self}`",
    label = "expected `impl HandlerAction<{A}, Completion = {T}>` from the `#[on_cue]` handler of this lane",
    note = "return the value with `context.value(..)`, or compute it from lanes with `context.get_value(..).map(..)`"
)]
pub trait Computes<A, T>: HandlerAction<A> {
    /// What the handler completed with, as the lane's value.
    fn into_value(completion: Self::Completion) -> T;
}

impl<A, H: HandlerAction<A>> Computes<A, H::Completion> for H {
    fn into_value(completion: H::Completion) -> H::Completion {
        completion
    }
}

/// What a `#[keys]` handler returns: a handler that completes with the demand-map lane's keys.
#[diagnostic::on_unimplemented(
    message = "a `#[keys]` handler for a demand-map lane with keys `{K}` completes with a collection of `{K}`, but this one returns `{Self}`",
    label = "expected `impl HandlerAction<{A}, Completion = HashSet<{K}>>` from the `#[keys]` handler of this lane",
    note = "any collection of `{K}` will do (`HashSet`, `Vec`, `BTreeSet`, ...)"
)]
pub trait ComputesKeys<A, K>: HandlerAction<A> {
    /// What the handler completed with, as keys.
    fn into_keys(completion: Self::Completion) -> impl Iterator<Item = K>;
}

impl<A, H> ComputesKeys<A, <H::Completion as IntoIterator>::Item> for H
where
    H: HandlerAction<A>,
    H::Completion: IntoIterator,
{
    fn into_keys(
        completion: H::Completion,
    ) -> impl Iterator<Item = <H::Completion as IntoIterator>::Item> {
        completion.into_iter()
    }
}

/// What an `#[on_cue_key]` handler completes with: the entry for the key, if there is one.
#[diagnostic::on_unimplemented(
    message = "an `#[on_cue_key]` handler completes with an `Option` of the lane's value type, but this one completes with `{Self}`",
    label = "expected `Option<..>`",
    note = "complete with `Some(value)` for an entry, `None` for no entry (subscribers see a remove)"
)]
pub trait EntryOf {
    /// The value type.
    type Value;

    /// The entry.
    fn into_entry(self) -> Option<Self::Value>;
}

impl<V> EntryOf for Option<V> {
    type Value = V;

    fn into_entry(self) -> Option<V> {
        self
    }
}

/// What an `#[on_cue_key]` handler returns: a handler that completes with the entry for the
/// key, if there is one.
#[diagnostic::on_unimplemented(
    message = "an `#[on_cue_key]` handler for a demand-map lane with values `{V}` completes with an `Option<{V}>`, but this one returns `{Self}`",
    label = "expected `impl HandlerAction<{A}, Completion = Option<{V}>>` from the `#[on_cue_key]` handler of this lane",
    note = "complete with `Some(value)` for an entry, `None` for no entry (subscribers see a remove)"
)]
pub trait ComputesEntry<A, V>: HandlerAction<A> {
    /// What the handler completed with, as an entry.
    fn into_entry(completion: Self::Completion) -> Option<V>;
}

impl<A, H> ComputesEntry<A, <H::Completion as EntryOf>::Value> for H
where
    H: HandlerAction<A>,
    H::Completion: EntryOf,
{
    fn into_entry(completion: H::Completion) -> Option<<H::Completion as EntryOf>::Value> {
        completion.into_entry()
    }
}

/// Runs `handler` and its triggered handlers to completion, then returns what it completed
/// with (`None` if it stopped the agent first).
fn compute<A, R, H>(runner: &mut R, handler: H) -> Result<Option<H::Completion>, EventHandlerError>
where
    R: HandlerRunner<A>,
    H: HandlerAction<A>,
{
    let mut slot = None;
    runner.run(Capture {
        handler,
        slot: &mut slot,
    })?;
    Ok(slot)
}

/// A handler that keeps what `handler` completes with in `slot`.
struct Capture<'s, H, T> {
    handler: H,
    slot: &'s mut Option<T>,
}

impl<A, H: HandlerAction<A>> HandlerAction<A> for Capture<'_, H, H::Completion> {
    type Completion = ();

    fn step(
        &mut self,
        action_context: &mut ActionContext<A>,
        meta: AgentMetadata,
        agent: &A,
    ) -> StepResult<()> {
        match self.handler.step(action_context, meta, agent) {
            StepResult::Continue { modified } => StepResult::Continue { modified },
            StepResult::Fail(error) => StepResult::Fail(error),
            StepResult::Complete { modified, result } => {
                *self.slot = Some(result);
                StepResult::Complete {
                    modified,
                    result: (),
                }
            }
        }
    }
}

/// Runs the `on_cue` handler of a demand lane (cued, or asked for a sync) and hands the value
/// to the lane.
pub fn demand_event<A, L, R, H>(
    item: &L,
    runner: &mut R,
    on_cue: impl FnOnce() -> H,
) -> Result<(), EventHandlerError>
where
    L: DemandLikeItem,
    R: HandlerRunner<A>,
    H: Computes<A, L::Value>,
{
    if let Some(value) = compute(runner, on_cue())? {
        item.deliver(H::into_value(value));
    }
    Ok(())
}

/// Runs the `on_cue_key` handler of a demand-map lane for each cued key, and, if links wait
/// for a sync, the `keys` handler and `on_cue_key` for each key it lists.
pub fn demand_map_event<A, L, R, HK, HV>(
    item: &L,
    runner: &mut R,
    keys: impl FnOnce() -> HK,
    mut on_cue_key: impl FnMut(L::Key) -> HV,
) -> Result<(), EventHandlerError>
where
    L: DemandMapLikeItem,
    R: HandlerRunner<A>,
    HK: ComputesKeys<A, L::Key>,
    HV: ComputesEntry<A, L::Value>,
{
    for key in item.take_cued() {
        if let Some(value) = compute(runner, on_cue_key(key.clone()))? {
            item.deliver(key, HV::into_entry(value));
        }
    }
    if item.is_syncing() {
        let listed = compute(runner, keys())?.map(HK::into_keys);
        for key in listed.into_iter().flatten() {
            if let Some(value) = compute(runner, on_cue_key(key.clone()))? {
                item.deliver_sync(&key, HV::into_entry(value).as_ref());
            }
        }
        item.finish_sync();
    }
    Ok(())
}

/// Gives a join value lane the lifecycle of its links.
pub fn attach_join_value<A, L, H>(lane: &L, lifecycle: H)
where
    A: 'static,
    L: JoinValueLikeItem,
    H: JoinValueLaneLifecycle<L::Key, L::Value, A>,
{
    lane.attach_lifecycle(lifecycle);
}

/// Gives a join map lane the lifecycle of its links.
pub fn attach_join_map<A, L, H>(lane: &L, lifecycle: H)
where
    A: 'static,
    L: JoinMapLikeItem,
    H: JoinMapLaneLifecycle<L::Link, L::Key, L::Value, A>,
{
    lane.attach_lifecycle(lifecycle);
}

/// The methods an HTTP lane has handlers for (`GET` also answers `HEAD`), as the generated code
/// passes them to [`http_event`].
pub mod methods {
    /// `#[on_get]`.
    pub const GET: u8 = 1;
    /// `#[on_post]`.
    pub const POST: u8 = 2;
    /// `#[on_put]`.
    pub const PUT: u8 = 4;
    /// `#[on_delete]`.
    pub const DELETE: u8 = 8;

    /// The `Allow` header for these methods.
    pub(crate) fn allow(methods: u8) -> String {
        [
            (GET, "GET, HEAD"),
            (POST, "POST"),
            (PUT, "PUT"),
            (DELETE, "DELETE"),
        ]
        .iter()
        .filter(|(method, _)| methods & method != 0)
        .map(|(_, names)| *names)
        .collect::<Vec<_>>()
        .join(", ")
    }
}

/// A handler for a method an HTTP lane has no handler for: never run ([`http_event`] answers
/// `405` first).
pub struct Unhandled<T>(PhantomData<fn() -> T>);

/// The handler the generated code passes for a method the lifecycle does not handle.
pub fn unhandled<T>() -> Unhandled<T> {
    Unhandled(PhantomData)
}

impl<A, T> HandlerAction<A> for Unhandled<T> {
    type Completion = T;

    fn step(&mut self, _: &mut ActionContext<A>, _: AgentMetadata, _: &A) -> StepResult<T> {
        StepResult::fail(EventHandlerError::BadCommand(
            "no handler for this method".to_owned(),
        ))
    }
}

/// What an HTTP handler returns: a handler that completes with the response.
#[diagnostic::on_unimplemented(
    message = "this HTTP handler must complete with a `{R}`, but it returns `{Self}`",
    label = "expected `impl HandlerAction<{A}, Completion = {R}>` from the HTTP handlers of this lane",
    note = "`#[on_get]` completes with `Response<Get>` (e.g. `context.value(Response::ok(value))`); `#[on_post]`, `#[on_put]` and `#[on_delete]` with `UnitResponse`"
)]
pub trait Responds<A, R>: HandlerAction<A, Completion = R> {}

impl<A, R, H: HandlerAction<A, Completion = R>> Responds<A, R> for H {}

/// Answers the HTTP request waiting at an HTTP lane with the handler for its method: `405`
/// (with `Allow`) if there is none, `400` if the body does not decode.
#[allow(clippy::too_many_arguments)] // One closure per method, as the generated code passes them.
pub fn http_event<A, L, R, HG, HP, HU, HD>(
    item: &L,
    runner: &mut R,
    handled: u8,
    on_get: impl FnOnce(HttpRequestContext) -> HG,
    on_post: impl FnOnce(HttpRequestContext, L::Post) -> HP,
    on_put: impl FnOnce(HttpRequestContext, L::Put) -> HU,
    on_delete: impl FnOnce(HttpRequestContext) -> HD,
) -> Result<(), EventHandlerError>
where
    L: HttpLikeItem,
    R: HandlerRunner<A>,
    HG: Responds<A, Response<L::Get>>,
    HP: Responds<A, UnitResponse>,
    HU: Responds<A, UnitResponse>,
    HD: Responds<A, UnitResponse>,
{
    let Some(exchange) = item.take_request() else {
        return Ok(());
    };
    let method = exchange.method().clone();
    let wanted = match method {
        Method::GET | Method::HEAD => methods::GET,
        Method::POST => methods::POST,
        Method::PUT => methods::PUT,
        Method::DELETE => methods::DELETE,
        _ => 0,
    };
    if handled & wanted == 0 {
        exchange.not_allowed(&methods::allow(handled));
        return Ok(());
    }
    let context = exchange.context.clone();
    let response = match wanted {
        methods::GET => {
            if let Some(response) = compute(runner, on_get(context))? {
                let response = exchange.response(response, method != Method::HEAD);
                item.answer(exchange, response);
            }
            return Ok(());
        }
        methods::POST => match exchange.body_format.decode(&exchange.body) {
            Ok(body) => compute(runner, on_post(context, body))?,
            Err(reason) => {
                exchange.fail(StatusCode::BAD_REQUEST, reason);
                return Ok(());
            }
        },
        methods::PUT => match exchange.body_format.decode(&exchange.body) {
            Ok(body) => compute(runner, on_put(context, body))?,
            Err(reason) => {
                exchange.fail(StatusCode::BAD_REQUEST, reason);
                return Ok(());
            }
        },
        _ => compute(runner, on_delete(context))?,
    };
    if let Some(response) = response {
        let response = exchange.response(response, false);
        item.answer(exchange, response);
    }
    Ok(())
}

/// Does nothing: the generated code passes it for map events the lifecycle does not handle.
pub fn ignore() -> UnitHandler {
    UnitHandler::default()
}

/// One of the three map handlers.
enum MapDispatch<U, R, C> {
    Update(U),
    Remove(R),
    Clear(C),
}

impl<A, U, R, C> HandlerAction<A> for MapDispatch<U, R, C>
where
    U: EventHandler<A>,
    R: EventHandler<A>,
    C: EventHandler<A>,
{
    type Completion = ();

    fn step(
        &mut self,
        action_context: &mut ActionContext<A>,
        meta: AgentMetadata,
        agent: &A,
    ) -> StepResult<()> {
        match self {
            MapDispatch::Update(h) => h.step(action_context, meta, agent),
            MapDispatch::Remove(h) => h.step(action_context, meta, agent),
            MapDispatch::Clear(h) => h.step(action_context, meta, agent),
        }
    }
}
