//! A store in the process's memory: state survives passivation, not a restart.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{keys, AgentState, Change, Store, StoreError};
use crate::lock::lock;

/// A [`Store`] in memory, for tests and demos: an agent passivated and started again gets its
/// state back; nothing survives the process.
#[derive(Debug, Default)]
pub struct InMemoryStore {
    data: Mutex<BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        InMemoryStore::default()
    }
}

impl Store for InMemoryStore {
    fn load(&self, node: &str) -> Result<AgentState, StoreError> {
        let prefix = keys::agent(node);
        let data = lock(&self.data);
        let pairs = data
            .range(prefix.clone()..)
            .take_while(|(key, _)| key.starts_with(&prefix))
            .map(|(key, value)| (key.clone(), value.clone()));
        Ok(keys::collect(&prefix, pairs))
    }

    fn commit(&self, node: &str, changes: &[(&str, Change)]) -> Result<(), StoreError> {
        let mut data = lock(&self.data);
        for (item, change) in changes {
            match change {
                Change::Value(value) => {
                    data.insert(keys::value(node, item), value.clone());
                }
                Change::Put { key, value } => {
                    data.insert(keys::entry(node, item, key), value.clone());
                }
                Change::Remove { key } => {
                    data.remove(&keys::entry(node, item, key));
                }
                Change::Clear => {
                    let prefix = keys::entries(node, item);
                    data.retain(|key, _| !key.starts_with(&prefix));
                }
            }
        }
        Ok(())
    }

    /// Nothing here outlives the process: committing turns together loses nothing.
    fn gathers_turns(&self) -> bool {
        true
    }

    /// Only memory: called on the agents' own tasks.
    fn blocks(&self) -> bool {
        false
    }

    fn backend(&self) -> &'static str {
        "memory"
    }
}
