//! Stepping handlers and running the lane handlers their changes trigger.

use super::effects::Effects;
use super::AgentLaneModel;
use crate::agent_lifecycle::{AgentLifecycle, HandlerRunner};
use crate::event_handler::{
    ActionContext, AgentMetadata, EventHandler, EventHandlerError, Modification, StepResult,
};
use crate::lanes::ModificationSink;

/// Below this depth of triggered handlers, the stack is not checked.
const STACK_CHECK_DEPTH: usize = 16;
/// Grow the stack when less than this is left...
const STACK_RED_ZONE: usize = 128 * 1024;
/// ...by this much.
const STACK_GROWTH: usize = 2 * 1024 * 1024;

/// The items changed during the current event, to flush once it is done.
pub(crate) struct DirtyItems {
    flags: Vec<bool>,
    ids: Vec<u64>,
}

impl DirtyItems {
    pub(crate) fn new(items: usize) -> Self {
        DirtyItems {
            flags: vec![false; items],
            ids: Vec::with_capacity(items),
        }
    }

    #[inline]
    pub(crate) fn mark(&mut self, id: u64) {
        if let Some(flag) = self.flags.get_mut(id as usize) {
            if !*flag {
                *flag = true;
                self.ids.push(id);
            }
        }
    }

    /// The items changed during the current event.
    pub(crate) fn ids(&self) -> &[u64] {
        &self.ids
    }

    /// Calls `f` for each changed item, once, and forgets them.
    pub(crate) fn drain(&mut self, mut f: impl FnMut(u64)) {
        for id in self.ids.drain(..) {
            if let Some(flag) = self.flags.get_mut(id as usize) {
                *flag = false;
            }
            f(id);
        }
    }
}

/// Runs one event's chain of handlers against an agent.
pub(crate) struct Runner<'a, A, L> {
    pub(crate) agent: &'a A,
    lifecycle: &'a L,
    effects: &'a mut Effects<A>,
    meta: AgentMetadata<'a>,
    dirty: &'a mut DirtyItems,
    /// How many lane handlers are running, one inside the other.
    depth: usize,
    /// Below this depth a lane handler runs without further checks: the smaller of the
    /// configured limit and the depth at which the stack is checked, or 0 when modifications
    /// run no lane handlers (so the hot path has one compare and the rest is out of line).
    shallow: usize,
    /// Whether lane handlers run on modifications (off during `on_init`).
    triggers: bool,
    /// The innermost item whose lane handler failed.
    pub(crate) failed_item: Option<u64>,
}

impl<'a, A, L> Runner<'a, A, L>
where
    A: AgentLaneModel,
    L: AgentLifecycle<A>,
{
    /// A runner for one event; `triggers` says whether modifications run lane handlers.
    pub(crate) fn new(
        agent: &'a A,
        lifecycle: &'a L,
        effects: &'a mut Effects<A>,
        meta: AgentMetadata<'a>,
        dirty: &'a mut DirtyItems,
        triggers: bool,
    ) -> Self {
        let shallow = if triggers {
            meta.agent_configuration()
                .max_trigger_depth
                .min(STACK_CHECK_DEPTH)
        } else {
            0
        };
        Runner {
            agent,
            lifecycle,
            effects,
            meta,
            dirty,
            depth: 0,
            shallow,
            triggers,
            failed_item: None,
        }
    }

    #[inline]
    fn trigger(&mut self, item_id: u64) -> Result<(), EventHandlerError> {
        if self.depth >= self.shallow {
            return self.trigger_deep(item_id);
        }
        self.depth += 1;
        let result = self.lifecycle.run_item_event(self.agent, item_id, self);
        self.depth -= 1;
        result.map_err(|error| self.unwinding(item_id, error))
    }

    /// [`Runner::trigger`] deep in a chain, or with triggers off: checks the configured limit
    /// and grows the stack when little is left.
    #[inline(never)]
    fn trigger_deep(&mut self, item_id: u64) -> Result<(), EventHandlerError> {
        if !self.triggers {
            return Ok(());
        }
        let limit = self.meta.agent_configuration().max_trigger_depth;
        if self.depth >= limit {
            // The item refused here did not run: the lanes named are those of the frames the
            // error passes on its way out.
            return Err(EventHandlerError::TriggerDepthExceeded {
                limit,
                chain: Vec::new(),
            });
        }
        self.depth += 1;
        let (lifecycle, agent) = (self.lifecycle, self.agent);
        let result = stacker::maybe_grow(STACK_RED_ZONE, STACK_GROWTH, || {
            lifecycle.run_item_event(agent, item_id, self)
        });
        self.depth -= 1;
        result.map_err(|error| self.unwinding(item_id, error))
    }

    /// A lane handler failed: remembers the innermost failed item and names the lanes of a
    /// trigger chain that went too deep as the error passes each one (the success path keeps
    /// only a depth count).
    #[cold]
    #[inline(never)]
    fn unwinding(&mut self, item_id: u64, mut error: EventHandlerError) -> EventHandlerError {
        if self.failed_item.is_none() {
            self.failed_item = Some(item_id);
        }
        if let EventHandlerError::TriggerDepthExceeded { chain, .. } = &mut error {
            // Innermost first while unwinding; the outermost frame puts it in order.
            chain.push(
                A::item_spec(item_id)
                    .map_or("?", |spec| spec.field)
                    .to_owned(),
            );
            if self.depth == 0 {
                chain.reverse();
                if let Some(repeat) = (1..chain.len()).find(|&i| chain[..i].contains(&chain[i])) {
                    chain.truncate(repeat + 1);
                }
            }
        }
        error
    }
}

impl<A, L> ModificationSink for Runner<'_, A, L>
where
    A: AgentLaneModel,
    L: AgentLifecycle<A>,
{
    // Inlined into every `run` loop: as a call, its register saves and its result returned
    // through memory were a sixth of a lane event's instructions (callgrind, handlers bench).
    #[inline(always)]
    fn modified(&mut self, modification: Modification) -> Result<(), EventHandlerError> {
        self.dirty.mark(modification.item_id());
        if modification.triggers_handler() {
            self.trigger(modification.item_id())
        } else {
            Ok(())
        }
    }
}

impl<A, L> HandlerRunner<A> for Runner<'_, A, L>
where
    A: AgentLaneModel,
    L: AgentLifecycle<A>,
{
    fn run<H: EventHandler<A>>(&mut self, mut handler: H) -> Result<(), EventHandlerError> {
        loop {
            let result = {
                let mut context = ActionContext::new(self.effects);
                handler.step(&mut context, self.meta, self.agent)
            };
            match result {
                StepResult::Continue { modified } => {
                    if let Some(modification) = modified {
                        self.modified(modification)?;
                    }
                }
                StepResult::Complete { modified, .. } => {
                    if let Some(modification) = modified {
                        self.modified(modification)?;
                    }
                    return Ok(());
                }
                StepResult::Fail(err) => return Err(*err),
            }
        }
    }
}

impl<A, L> crate::downlink::DynRunner<A> for Runner<'_, A, L>
where
    A: AgentLaneModel,
    L: AgentLifecycle<A>,
{
    fn run_dyn(&mut self, handler: &mut dyn EventHandler<A>) -> Result<(), EventHandlerError> {
        self.run(handler)
    }
}
