//! Driving any kind of downlink: link events, stop requests and relinking.

use std::sync::Arc;
use std::time::Duration;

use super::handle::{Control, DownlinkStatus, Lifeline, Target};
use super::handlers::{Address, DynRunner, Outcome};
use super::outbox::DownlinkOutbox;
use super::slot::{Pending, Slot};
use crate::config::SimpleDownlinkConfig;
use crate::environment::{send_link, send_unlink, Environment};
use crate::event_handler::{ActionContext, EventHandlerError};
use crate::lanes::{next_link_id, LinkSubscriber, UnlinkReason};

/// What the agent does with a downlink after it handled its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Keep it.
    Running,
    /// Link it again after this delay.
    Relink(Duration),
    /// Drop it.
    Finished,
}

/// A downlink as its agent task sees it.
pub(crate) trait HostedDownlink<A>: Send {
    /// Sends the link request.
    fn link(&self, environment: Option<&dyn Environment>);

    /// Closes the link at the lane (the downlink is finished).
    fn unlink(&self, environment: Option<&dyn Environment>);

    /// Handles everything that arrived, running the downlink's handlers.
    fn on_ready(&mut self, runner: &mut dyn DynRunner<A>) -> (Next, Result<(), EventHandlerError>);
}

/// The part that differs between value, map and event downlinks.
pub(crate) trait Kind<A>: Send + 'static {
    type Pending: Pending + 'static;

    /// Whether its events are handled before it is synced (event downlinks never sync).
    const ALWAYS_DELIVER: bool;

    /// A link request with this id, carrying the slot.
    fn subscriber(id: u64, slot: &Arc<Slot<Self::Pending>>) -> LinkSubscriber;

    fn linked(&mut self, runner: &mut dyn DynRunner<A>) -> Outcome;

    /// Applies the data events; runs their handlers when `deliver`.
    fn apply(
        &mut self,
        pending: &mut Self::Pending,
        deliver: bool,
        runner: &mut dyn DynRunner<A>,
    ) -> Outcome;

    fn synced(&mut self, runner: &mut dyn DynRunner<A>) -> Outcome;

    /// The connection to the lane's host was lost; the link will be made and synced again.
    fn connection_lost(&mut self) {}

    /// Runs `on_unlinked` (or `on_failed` for failures) and forgets the link's state.
    fn unlinked(&mut self, reason: &UnlinkReason, runner: &mut dyn DynRunner<A>) -> Outcome;
}

/// Delay before the first relink; it doubles on each attempt, up to [`MAX_RELINK_DELAY`].
const FIRST_RELINK_DELAY: Duration = Duration::from_millis(50);
const MAX_RELINK_DELAY: Duration = Duration::from_secs(5);

/// A downlink of kind `K` inside its agent.
pub(crate) struct Hosted<K: Kind<A>, A> {
    pub(crate) kind: K,
    pub(crate) slot: Arc<Slot<K::Pending>>,
    pub(crate) control: Arc<Control>,
    pub(crate) address: Address,
    pub(crate) config: SimpleDownlinkConfig,
    link: u64,
    linked: bool,
    synced: bool,
    attempts: u32,
    _agent: std::marker::PhantomData<fn(&A)>,
}

impl<K: Kind<A>, A> Hosted<K, A> {
    pub(crate) fn new(
        kind: K,
        slot: Arc<Slot<K::Pending>>,
        control: Arc<Control>,
        address: Address,
        config: SimpleDownlinkConfig,
    ) -> Self {
        Hosted {
            kind,
            slot,
            control,
            address,
            config,
            link: next_link_id(),
            linked: false,
            synced: false,
            attempts: 0,
            _agent: std::marker::PhantomData,
        }
    }
}

/// Keeps the first error while the remaining handlers still run.
pub(super) fn keep_first(result: &mut Outcome, next: Outcome) {
    if result.is_ok() {
        *result = next;
    }
}

impl<K: Kind<A>, A: 'static> HostedDownlink<A> for Hosted<K, A> {
    fn link(&self, environment: Option<&dyn Environment>) {
        send_link(
            environment,
            self.address.host.as_deref(),
            &self.address.node,
            &self.address.lane,
            K::subscriber(self.link, &self.slot),
        );
    }

    fn unlink(&self, environment: Option<&dyn Environment>) {
        self.slot.close();
        send_unlink(
            environment,
            self.address.host.as_deref(),
            &self.address.node,
            &self.address.lane,
            self.link,
        );
    }

    fn on_ready(&mut self, runner: &mut dyn DynRunner<A>) -> (Next, Outcome) {
        let mut result = Ok(());
        if self.control.stop_requested() {
            self.slot.close();
            self.control.set_status(DownlinkStatus::Stopped);
            if std::mem::replace(&mut self.linked, false) {
                self.control.closed(&UnlinkReason::Closed);
                result = self.kind.unlinked(&UnlinkReason::Closed, runner);
            }
            return (Next::Finished, result);
        }
        let mut pending = self.slot.take();
        let events = std::mem::take(pending.link_events());
        if events.lost {
            // Not an unlink: the link starts again once the connection is back.
            self.linked = false;
            self.synced = false;
            self.control.set_status(DownlinkStatus::Pending);
            self.kind.connection_lost();
        }
        if events.linked && !self.linked {
            self.linked = true;
            self.control.set_status(DownlinkStatus::Linked);
            keep_first(&mut result, self.kind.linked(runner));
        }
        let deliver = self.synced || self.config.events_when_not_synced || K::ALWAYS_DELIVER;
        keep_first(&mut result, self.kind.apply(&mut pending, deliver, runner));
        if events.synced && !self.synced {
            self.synced = true;
            self.attempts = 0;
            self.control.set_status(DownlinkStatus::Synced);
            keep_first(&mut result, self.kind.synced(runner));
        }
        let Some(reason) = events.unlinked else {
            return (Next::Running, result);
        };
        self.linked = false;
        self.synced = false;
        self.control.closed(&reason);
        keep_first(&mut result, self.kind.unlinked(&reason, runner));
        if self.config.terminate_on_unlinked || self.control.stop_requested() {
            self.slot.close();
            self.control.set_status(DownlinkStatus::Stopped);
            return (Next::Finished, result);
        }
        self.control.set_status(DownlinkStatus::Unlinked);
        self.slot.reopen();
        let delay = FIRST_RELINK_DELAY
            .saturating_mul(1 << self.attempts.min(16))
            .min(MAX_RELINK_DELAY);
        self.attempts += 1;
        (Next::Relink(delay), result)
    }
}

/// Hosts a new downlink of kind `K` in the running agent: `make` builds the kind and the handle
/// from the downlink's lifeline; the downlink links once the current event is over.
pub(crate) fn open<A, K, H>(
    context: &mut ActionContext<A>,
    address: Address,
    config: SimpleDownlinkConfig,
    make: impl FnOnce(Lifeline, Target) -> (K, H),
) -> H
where
    A: 'static,
    K: Kind<A>,
{
    let outbox = context
        .downlinks::<DownlinkOutbox<A>>()
        .expect("the agent task's outbox keeps the table of its downlinks");
    let notifier = outbox.notifier();
    let id = notifier.id();
    let slot = Arc::new(Slot::new(notifier));
    let control = Arc::new(Control::new());
    let target = Target::new(outbox.environment().cloned(), &address);
    let (kind, handle) = make(Lifeline::new(control.clone(), slot.clone()), target);
    outbox.open(
        id,
        Box::new(Hosted::new(kind, slot, control, address, config)),
    );
    handle
}
