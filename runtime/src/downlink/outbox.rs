//! The downlinks an agent opened during the current event, and what opening one needs.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::driver::HostedDownlink;
use super::slot::Notifier;
use crate::environment::Environment;

/// The agent task's table of newly opened downlinks: they link once the current event is
/// over. Handlers reach it through `ActionContext::downlinks`.
pub(crate) struct DownlinkOutbox<A> {
    environment: Option<Arc<dyn Environment>>,
    ready: mpsc::UnboundedSender<u64>,
    next_id: u64,
    opened: Vec<(u64, Box<dyn HostedDownlink<A>>)>,
}

impl<A> DownlinkOutbox<A> {
    /// An empty table for an agent in `environment` (none in the test harness), whose ready
    /// queue is `ready`.
    pub(crate) fn new(
        environment: Option<Arc<dyn Environment>>,
        ready: mpsc::UnboundedSender<u64>,
    ) -> Self {
        DownlinkOutbox {
            environment,
            ready,
            next_id: 0,
            opened: Vec::new(),
        }
    }

    /// The agents around this one.
    pub(crate) fn environment(&self) -> Option<&Arc<dyn Environment>> {
        self.environment.as_ref()
    }

    /// An id and a ready-queue notifier for a new downlink.
    pub(crate) fn notifier(&mut self) -> Notifier {
        let id = self.next_id;
        self.next_id += 1;
        Notifier::new(id, self.ready.clone())
    }

    /// Hosts a downlink; it links once the current event is over.
    pub(crate) fn open(&mut self, id: u64, downlink: Box<dyn HostedDownlink<A>>) {
        self.opened.push((id, downlink));
    }

    /// Whether no downlink was opened since the last [`take`](Self::take).
    pub(crate) fn is_empty(&self) -> bool {
        self.opened.is_empty()
    }

    /// The downlinks opened since the last call.
    pub(crate) fn take(&mut self) -> std::vec::Drain<'_, (u64, Box<dyn HostedDownlink<A>>)> {
        self.opened.drain(..)
    }
}
