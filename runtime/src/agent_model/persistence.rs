//! An agent and its store: the state restored before `on_init`, each turn's changes saved.

use super::runner::DirtyItems;
use super::AgentLaneModel;
use crate::event_handler::EventHandlerError;
use crate::store::{AgentState, Change, StoreError};

/// Puts the agent's persisted state (`loaded` from its store) into its items (no events) and
/// starts their journals. Transient and stateless items are left alone. State that does not
/// decode fails the restore, unless the item resets on decode errors: then it keeps its
/// initial value, which is marked `unsaved` to replace the persisted state with the first
/// commit. On failure, the name of the item whose state does not restore (if it is one
/// item's) and the error.
pub(crate) fn restore<A: AgentLaneModel>(
    loaded: Result<AgentState, StoreError>,
    agent: &A,
    node: &str,
    unsaved: &mut DirtyItems,
) -> Result<(), (Option<&'static str>, EventHandlerError)> {
    let state = loaded.map_err(|err| (None, EventHandlerError::Store(err)))?;
    for spec in A::ITEMS.iter().filter(|spec| !spec.transient) {
        let Some(item) = agent.item(spec.id) else {
            continue;
        };
        item.journal();
        let Some(persisted) = state.get(spec.name) else {
            continue;
        };
        match item.restore(persisted) {
            Ok(()) => {}
            Err(err) if spec.reset_on_decode_error => {
                tracing::warn!(%node, lane = spec.name, error = %err, "persisted state dropped: the item starts from its initial value");
                item.rewrite();
                unsaved.mark(spec.id);
            }
            Err(err) => return Err((Some(spec.name), EventHandlerError::Restore(err))),
        }
    }
    Ok(())
}

/// Encodes the changes of the `unsaved` items (changed by one turn, or by the turns of a
/// burst) into `changes`, as one batch for the store, and forgets them.
pub(crate) fn encode<A: AgentLaneModel>(
    agent: &A,
    unsaved: &mut DirtyItems,
    changes: &mut Vec<(&'static str, Change)>,
) -> Result<(), EventHandlerError> {
    changes.clear();
    let mut encoded = Ok(());
    unsaved.drain(|id| {
        let (Some(item), Some(spec)) = (agent.item(id), A::item_spec(id)) else {
            return;
        };
        if encoded.is_ok() {
            encoded = item
                .take_changes(&mut |change| changes.push((spec.name, change)))
                .map_err(EventHandlerError::Encode);
        }
    });
    encoded
}
