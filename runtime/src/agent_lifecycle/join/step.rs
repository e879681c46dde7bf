//! What an event of a join lane's link does, run in the agent: the entries it changes, one per
//! step (each a lane event), or the lifecycle handler it runs and, for a closed link, what that
//! handler answers.

use std::hash::Hash;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::links::Links;
use super::{LinkAddress, LinkClosedResponse};
use crate::downlink::{DynRunner, Outcome};
use crate::event_handler::{
    ActionContext, AgentMetadata, BoxEventHandler, BoxHandlerAction, HandlerAction, Modification,
    StepResult,
};
use crate::lanes::{AgentItem, MapLane, MapLikeItem, UnlinkReason};

/// What happened to a link, as its downlink reports it (`D`: its data events).
pub(crate) enum LinkEvent<D> {
    Linked,
    Synced,
    Data(D),
    Closed(UnlinkReason),
}

/// The lifecycle events of a link (a closed link's with why it closed).
pub(crate) enum LinkLifecycle<'a> {
    Linked,
    Synced,
    Unlinked(&'a UnlinkReason),
    Failed(&'a UnlinkReason),
}

/// A change of one entry.
pub(crate) enum Op<K, V> {
    Update(K, V),
    Remove(K),
}

/// The entry changes of one event, applied one per step.
pub(crate) enum Ops<K, V> {
    None,
    One(Op<K, V>),
    Many(Vec<Op<K, V>>),
}

impl<K, V> Ops<K, V> {
    fn next(&mut self) -> Option<Op<K, V>> {
        match std::mem::replace(self, Ops::None) {
            Ops::None => None,
            Ops::One(op) => Some(op),
            Ops::Many(mut ops) => {
                let op = ops.pop();
                *self = Ops::Many(ops);
                op
            }
        }
    }

    /// Removes of every key of `keys`.
    pub(crate) fn removes(keys: Vec<K>) -> Self {
        let mut ops: Vec<Op<K, V>> = keys.into_iter().map(Op::Remove).collect();
        // Applied from the end.
        ops.reverse();
        Ops::Many(ops)
    }
}

/// What the lifecycle of a link gives to run.
pub(crate) enum Reaction<A> {
    Run(BoxEventHandler<'static, A>),
    Respond(BoxHandlerAction<'static, A, LinkClosedResponse>),
}

/// A join lane, as its links' events see it.
pub(crate) trait JoinLane: Sized + 'static {
    /// What tells its links apart.
    type LinkKey: Eq + Hash + Clone + Serialize + DeserializeOwned + Send + 'static;
    type Key: Eq + Hash + Ord + Clone + Serialize + DeserializeOwned + Send + 'static;
    type Value: Clone + Serialize + DeserializeOwned + Send + 'static;
    /// A data event of a link.
    type Data;

    fn links(&self) -> &Links<Self::LinkKey>;

    fn entries(&self) -> &MapLane<Self::Key, Self::Value>;

    /// The entry changes a data event of `link` makes (keeping track of who owns what).
    fn data(&self, link: &Self::LinkKey, data: Self::Data) -> Ops<Self::Key, Self::Value>;

    /// Forgets which entries `link` owns and returns them (to remove them when its lifecycle
    /// answers `Delete`).
    fn disown(&self, link: &Self::LinkKey) -> Vec<Self::Key>;

    /// What the lifecycle (attached for the agent type `A`) runs for `event` of `link`.
    fn react<A: 'static>(
        &self,
        link: &Self::LinkKey,
        address: &LinkAddress,
        event: LinkLifecycle<'_>,
    ) -> Option<Reaction<A>>;
}

/// Where the handling of a link event is.
enum Then<A, K, V> {
    Start,
    /// Running the lifecycle's handler.
    Run(BoxEventHandler<'static, A>),
    /// Running the lifecycle's handler for a closed link, which answers what to do.
    Respond(BoxHandlerAction<'static, A, LinkClosedResponse>),
    /// Doing what it answered.
    Apply(LinkClosedResponse),
    /// Changing entries, one per step.
    Change(Ops<K, V>),
}

/// The handling of one event of the link `id` of `link`, run in the agent.
pub(crate) struct LinkStep<A, J: JoinLane> {
    lane: fn(&A) -> &J,
    link: J::LinkKey,
    address: LinkAddress,
    id: u64,
    event: Option<LinkEvent<J::Data>>,
    /// Why the link closed, for a closed link.
    closed: Option<UnlinkReason>,
    then: Then<A, J::Key, J::Value>,
}

impl<A, J: JoinLane> LinkStep<A, J> {
    pub(crate) fn new(
        lane: fn(&A) -> &J,
        link: J::LinkKey,
        address: LinkAddress,
        id: u64,
        event: LinkEvent<J::Data>,
    ) -> Self {
        LinkStep {
            lane,
            link,
            address,
            id,
            event: Some(event),
            closed: None,
            then: Then::Start,
        }
    }
}

impl<A: 'static, J: JoinLane> HandlerAction<A> for LinkStep<A, J> {
    type Completion = ();

    fn step(
        &mut self,
        context: &mut ActionContext<A>,
        meta: AgentMetadata,
        agent: &A,
    ) -> StepResult<()> {
        let lane = (self.lane)(agent);
        match &mut self.then {
            Then::Start => {
                // Events of a link that was removed or replaced since are ignored.
                let current = lane.links().is_current(&self.link, self.id);
                let Some(event) = self.event.take().filter(|_| current) else {
                    return StepResult::done(());
                };
                let lifecycle = match event {
                    LinkEvent::Data(data) => {
                        self.then = Then::Change(lane.data(&self.link, data));
                        return StepResult::cont();
                    }
                    LinkEvent::Linked => LinkLifecycle::Linked,
                    LinkEvent::Synced => LinkLifecycle::Synced,
                    LinkEvent::Closed(reason) => {
                        let reason = self.closed.insert(reason);
                        if reason.is_failure() {
                            LinkLifecycle::Failed(reason)
                        } else {
                            LinkLifecycle::Unlinked(reason)
                        }
                    }
                };
                let closed = matches!(
                    lifecycle,
                    LinkLifecycle::Unlinked(_) | LinkLifecycle::Failed(_)
                );
                self.then = match lane.react(&self.link, &self.address, lifecycle) {
                    Some(Reaction::Run(handler)) => Then::Run(handler),
                    Some(Reaction::Respond(handler)) => Then::Respond(handler),
                    None if closed => Then::Apply(LinkClosedResponse::default()),
                    None => return StepResult::done(()),
                };
                StepResult::cont()
            }
            Then::Run(handler) => handler.step(context, meta, agent),
            Then::Respond(handler) => match handler.step(context, meta, agent) {
                StepResult::Continue { modified } => StepResult::Continue { modified },
                StepResult::Fail(error) => StepResult::Fail(error),
                StepResult::Complete { modified, result } => {
                    self.then = Then::Apply(result);
                    StepResult::Continue { modified }
                }
            },
            Then::Apply(response) => {
                let response = *response;
                if response == LinkClosedResponse::Retry {
                    // The downlink links again by itself.
                    return StepResult::done(());
                }
                let link = &self.address;
                match &self.closed {
                    Some(reason) if !reason.is_final() => {
                        // Not the link's fault: it stays in the store whatever the answer,
                        // and opens again when the agent next starts.
                        tracing::debug!(%link, %reason, ?response, "a join lane's link closed for now; kept");
                        lane.links().pause(&self.link);
                        return StepResult::done(());
                    }
                    Some(reason) => {
                        tracing::info!(%link, %reason, ?response, "a join lane's link closed; dropped");
                    }
                    None => {}
                }
                lane.links().drop_link(&self.link);
                // The lane changed (its links), for the store.
                let modified = Some(Modification::no_trigger(lane.entries().id()));
                if response == LinkClosedResponse::Abandon {
                    return StepResult::Complete {
                        modified,
                        result: (),
                    };
                }
                self.then = Then::Change(Ops::removes(lane.disown(&self.link)));
                StepResult::Continue { modified }
            }
            Then::Change(ops) => {
                let Some(op) = ops.next() else {
                    return StepResult::done(());
                };
                let entries = lane.entries();
                let changed = match op {
                    Op::Update(key, value) => {
                        entries.update(key, value);
                        true
                    }
                    Op::Remove(key) => entries.remove(&key),
                };
                StepResult::Continue {
                    modified: changed.then(|| Modification::of(entries.id())),
                }
            }
        }
    }
}

/// Runs `step` in the agent (a downlink handler's body).
pub(crate) fn run_step<A: 'static, J: JoinLane>(
    runner: &mut dyn DynRunner<A>,
    step: LinkStep<A, J>,
) -> Outcome {
    let mut step = step;
    runner.run_dyn(&mut step)
}
