//! The agent task's outbox: the async work and outside requests its handlers registered.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::FutureExt;
use tokio::sync::mpsc;

use crate::downlink::DownlinkOutbox;
use crate::environment::Environment;
use crate::event_handler::{Outbox, Wakeup};
use crate::vocabulary::OutgoingCommand;

/// Async work and outside requests registered by handlers, owned by the agent task.
pub(crate) struct Effects<A> {
    suspended: FuturesUnordered<BoxFuture<'static, Wakeup<A>>>,
    pub(crate) downlinks: DownlinkOutbox<A>,
    pub(crate) commands: Vec<OutgoingCommand>,
}

impl<A: 'static> Effects<A> {
    pub(crate) fn new(
        environment: Option<Arc<dyn Environment>>,
        ready: mpsc::UnboundedSender<u64>,
    ) -> Self {
        Effects {
            suspended: FuturesUnordered::new(),
            downlinks: DownlinkOutbox::new(environment, ready),
            commands: Vec::new(),
        }
    }

    /// The agents around this one (none in the test harness).
    pub(crate) fn environment(&self) -> Option<&Arc<dyn Environment>> {
        self.downlinks.environment()
    }

    /// Links the downlink `id` again after `delay`.
    pub(crate) fn relink_after(&mut self, id: u64, delay: Duration) {
        let relink = tokio::time::sleep(delay).map(move |_| Wakeup::Relink(id));
        self.suspended.push(relink.boxed());
    }

    /// The registered futures, polled by the agent task.
    pub(crate) fn suspended(&mut self) -> &mut FuturesUnordered<BoxFuture<'static, Wakeup<A>>> {
        &mut self.suspended
    }

    /// How many futures and timers are pending.
    pub(crate) fn pending(&self) -> usize {
        self.suspended.len()
    }
}

impl<A: 'static> Outbox<A> for Effects<A> {
    fn wake_on(&mut self, future: BoxFuture<'static, Wakeup<A>>) {
        self.suspended.push(future);
    }

    fn send_command(&mut self, command: OutgoingCommand) {
        self.commands.push(command);
    }

    fn downlinks(&mut self) -> &mut dyn Any {
        &mut self.downlinks
    }
}
