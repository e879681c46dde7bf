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

    pub(crate) fn mark(&mut self, id: u64) {
        if let Some(flag) = usize::try_from(id).ok().and_then(|i| self.flags.get_mut(i)) {
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
            if let Some(flag) = usize::try_from(id).ok().and_then(|i| self.flags.get_mut(i)) {
                *flag = false;
            }
            f(id);
        }
    }
}

/// Runs one event's chain of handlers against an agent.
pub(crate) struct Runner<'a, A, L> {
    pub(crate) agent: &'a A,
    pub(crate) lifecycle: &'a L,
    pub(crate) effects: &'a mut Effects<A>,
    pub(crate) meta: AgentMetadata<'a>,
    pub(crate) dirty: &'a mut DirtyItems,
    /// The items whose lane handlers are running, outermost first.
    pub(crate) chain: &'a mut Vec<u64>,
    /// Whether lane handlers run on modifications (off during `on_init`).
    pub(crate) triggers: bool,
    /// The innermost item whose lane handler failed.
    pub(crate) failed_item: Option<u64>,
}

impl<A, L> Runner<'_, A, L>
where
    A: AgentLaneModel,
    L: AgentLifecycle<A>,
{
    fn depth_exceeded(&self) -> EventHandlerError {
        let mut names = Vec::new();
        for id in self.chain.iter() {
            let name = A::item_spec(*id).map_or("?", |spec| spec.field).to_owned();
            let repeat = names.contains(&name);
            names.push(name);
            if repeat {
                break;
            }
        }
        EventHandlerError::TriggerDepthExceeded {
            limit: self.meta.agent_configuration().max_trigger_depth,
            chain: names,
        }
    }

    fn trigger(&mut self, item_id: u64) -> Result<(), EventHandlerError> {
        if self.chain.len() >= self.meta.agent_configuration().max_trigger_depth {
            return Err(self.depth_exceeded());
        }
        self.chain.push(item_id);
        let (lifecycle, agent) = (self.lifecycle, self.agent);
        let result = if self.chain.len() < STACK_CHECK_DEPTH {
            lifecycle.run_item_event(agent, item_id, self)
        } else {
            stacker::maybe_grow(STACK_RED_ZONE, STACK_GROWTH, || {
                lifecycle.run_item_event(agent, item_id, self)
            })
        };
        self.chain.pop();
        if result.is_err() && self.failed_item.is_none() {
            self.failed_item = Some(item_id);
        }
        result
    }
}

impl<A, L> ModificationSink for Runner<'_, A, L>
where
    A: AgentLaneModel,
    L: AgentLifecycle<A>,
{
    fn modified(&mut self, modification: Modification) -> Result<(), EventHandlerError> {
        self.dirty.mark(modification.item_id());
        if self.triggers && modification.triggers_handler() {
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
                StepResult::Fail(err) => return Err(err),
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
