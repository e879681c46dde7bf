//! Why the links of an agent end when the agent goes.
//!
//! A lane tells each subscriber still linked that its link ended when the lane is dropped with
//! its agent. Why the agent went (its server stops, its shard moved, it was asked to stop) is
//! known only to the agent's task, which drops the agent inside [`closing_because`]; the lanes'
//! links read the reason with [`agent_gone`]. Outside that scope (an agent dropped any other
//! way), the reason is [`UnlinkReason::AgentStopped`].

use std::cell::RefCell;

use super::LinkSink;
use crate::vocabulary::UnlinkReason;

thread_local! {
    /// The reason given by the innermost [`closing_because`] on this thread.
    static REASON: RefCell<Option<UnlinkReason>> = const { RefCell::new(None) };
}

/// Runs `f` (which drops an agent) with `reason` as why the links of its lanes end.
pub(crate) fn closing_because<R>(reason: UnlinkReason, f: impl FnOnce() -> R) -> R {
    let outer = REASON.with(|cell| cell.replace(Some(reason)));
    // Put back even if `f` panics, so that a later agent on this thread is not misreported.
    struct Restore(Option<UnlinkReason>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let outer = self.0.take();
            REASON.with(|cell| *cell.borrow_mut() = outer);
        }
    }
    let _restore = Restore(outer);
    f()
}

/// Tells `sink`, if it still listens, that its link ended because its agent went.
pub(crate) fn agent_gone(sink: &dyn LinkSink) {
    if sink.is_closed() {
        return;
    }
    let reason = REASON.with(|cell| cell.borrow().clone());
    sink.unlinked(reason.unwrap_or(UnlinkReason::AgentStopped));
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Told(Mutex<Vec<UnlinkReason>>);

    impl LinkSink for Told {
        fn linked(&self) {}
        fn synced(&self) {}
        fn unlinked(&self, reason: UnlinkReason) {
            self.0.lock().unwrap().push(reason);
        }
        fn is_closed(&self) -> bool {
            false
        }
    }

    #[test]
    fn links_dropped_in_the_scope_hear_its_reason_and_others_that_the_agent_stopped() {
        let told = Told::default();
        closing_because(UnlinkReason::ServerStopping, || {
            agent_gone(&told);
            closing_because(UnlinkReason::Moved, || agent_gone(&told));
            agent_gone(&told);
        });
        agent_gone(&told);
        assert_eq!(
            *told.0.lock().unwrap(),
            [
                UnlinkReason::ServerStopping,
                UnlinkReason::Moved,
                UnlinkReason::ServerStopping,
                UnlinkReason::AgentStopped
            ]
        );
    }
}
