//! The host's meta node (`swim:meta:host`): the running agents and the host's pulse.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Figures, MapFeed, MetaLane, NodeCounters, Pulses, Scope, ValueFeed};
use crate::lanes::{ItemKind, LinkSubscriber, UnlinkReason};
use crate::lock::lock;
use crate::recon::Value;

/// A running agent, as the host's meta node knows it.
struct Agent {
    /// When it started, in milliseconds since the Unix epoch.
    created: u64,
    counters: Arc<NodeCounters>,
}

/// Agents started and stopped so far, and the links open by lane kind (for the metrics).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Census {
    pub(crate) started: u64,
    pub(crate) stopped: u64,
    pub(crate) links_by_kind: [u64; 6],
}

struct HostState {
    agents: BTreeMap<String, Agent>,
    started: u64,
    stopped: u64,
    /// The counts of agents that have stopped (the host's counts are cumulative).
    retired: Figures,
    nodes: MapFeed,
    /// Links to `nodes?q=<text>`: each text and the links that asked for it.
    searches: Vec<(String, MapFeed)>,
    pulse: ValueFeed,
    pulses: Pulses,
}

/// The host's meta node, shared by the server's registry (agents start), its agents (they
/// stop) and the task that publishes its pulse.
pub(crate) struct HostMeta {
    interval: Duration,
    /// What the agents' tasks run under, for their log lanes (`None`: the meta nodes are not
    /// served, only counted for the metrics).
    dispatch: Option<tracing::Dispatch>,
    state: Mutex<HostState>,
    /// What clients sent that was refused, by why.
    pub(crate) rejections: super::Rejections,
}

impl HostMeta {
    /// The meta node of a host whose pulses are `interval` apart; its agents have log lanes
    /// if `logs`.
    pub(crate) fn new(interval: Duration, logs: bool) -> Arc<Self> {
        Arc::new(HostMeta {
            interval,
            dispatch: logs.then(super::LogTap::dispatch),
            state: Mutex::new(HostState {
                agents: BTreeMap::new(),
                started: 0,
                stopped: 0,
                retired: Figures::default(),
                nodes: MapFeed::default(),
                searches: Vec::new(),
                pulse: ValueFeed::default(),
                pulses: Pulses::new(Figures::default(), Scope::Host),
            }),
            rejections: super::Rejections::default(),
        })
    }

    fn state(&self) -> MutexGuard<'_, HostState> {
        lock(&self.state)
    }

    /// The time between pulses (of the host, and of its nodes and lanes).
    pub(crate) fn interval(&self) -> Duration {
        self.interval
    }

    /// The `tracing` dispatcher agents run under (see [`LogTap`](super::LogTap)), if their
    /// log lanes are served.
    pub(crate) fn dispatch(&self) -> Option<&tracing::Dispatch> {
        self.dispatch.as_ref()
    }

    /// The agent at `node` has started: it is listed, and its counters are returned.
    pub(crate) fn started(&self, node: &str) -> Arc<NodeCounters> {
        let counters = Arc::new(NodeCounters::default());
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as u64);
        let mut state = self.state();
        state.started += 1;
        let info = node_info(node, created);
        for (query, feed) in &mut state.searches {
            if node.contains(query.as_str()) {
                feed.update(Value::text(node), info.clone());
            }
        }
        state.nodes.update(Value::text(node), info);
        let agent = Agent {
            created,
            counters: counters.clone(),
        };
        if let Some(old) = state.agents.insert(node.to_owned(), agent) {
            state.retired += retired(&old.counters);
            state.stopped += 1;
        }
        counters
    }

    /// The agent at `node`, with these `counters`, has stopped (an agent started since at
    /// the same node is not affected).
    pub(crate) fn stopped(&self, node: &str, counters: &Arc<NodeCounters>) {
        let mut state = self.state();
        let Some(agent) = state.agents.get(node) else {
            return;
        };
        if !Arc::ptr_eq(&agent.counters, counters) {
            return;
        }
        state.agents.remove(node);
        state.stopped += 1;
        state.retired += retired(counters);
        state.nodes.remove(Value::text(node));
        for (query, feed) in &mut state.searches {
            if node.contains(query.as_str()) {
                feed.remove(Value::text(node));
            }
        }
    }

    /// Whether the agent at `node` is listed as running.
    #[cfg(test)]
    pub(crate) fn is_listed(&self, node: &str) -> bool {
        self.state().agents.contains_key(node)
    }

    /// The host's cumulative figures now.
    pub(crate) fn figures(&self) -> Figures {
        figures(&self.state())
    }

    /// Agents started and stopped so far, and the links open by lane kind.
    pub(crate) fn census(&self) -> Census {
        let state = self.state();
        let mut links_by_kind = [0; 6];
        for agent in state.agents.values() {
            for (total, n) in links_by_kind.iter_mut().zip(agent.counters.kind_links()) {
                *total += n;
            }
        }
        Census {
            started: state.started,
            stopped: state.stopped,
            links_by_kind,
        }
    }

    /// Links `subscriber` to a lane of the host's meta node (`query`: `nodes?q=<query>`).
    pub(crate) fn link(&self, lane: MetaLane, query: Option<String>, subscriber: LinkSubscriber) {
        let mut state = self.state();
        match lane {
            MetaLane::Nodes => {
                let wanted = query.as_deref().unwrap_or("");
                let entries: Vec<(Value, Value)> = state
                    .agents
                    .iter()
                    .filter(|(node, _)| node.contains(wanted))
                    .map(|(node, agent)| (Value::text(node), node_info(node, agent.created)))
                    .collect();
                let Some(query) = query else {
                    state.nodes.link(subscriber, "nodes", entries);
                    return;
                };
                state.searches.retain_mut(|(_, feed)| !feed.is_empty());
                let index = match state.searches.iter().position(|(q, _)| *q == query) {
                    Some(index) => index,
                    None => {
                        state.searches.push((query, MapFeed::default()));
                        state.searches.len() - 1
                    }
                };
                state.searches[index].1.link(subscriber, "nodes", entries);
            }
            MetaLane::Pulse => {
                let now = state.pulses.current(figures(&state));
                state
                    .pulse
                    .link(subscriber, "pulse", ItemKind::DemandLane, Some(now));
            }
            _ => subscriber.refuse(UnlinkReason::LaneNotFound),
        }
    }

    /// Closes the link `id` to a lane of the host's meta node.
    pub(crate) fn unlink(&self, lane: MetaLane, id: u64) {
        let mut state = self.state();
        match lane {
            MetaLane::Nodes => {
                let found = state.nodes.unlink(id);
                if !found {
                    for (_, feed) in &mut state.searches {
                        feed.unlink(id);
                    }
                }
            }
            _ => {
                state.pulse.unlink(id);
            }
        }
    }

    /// Publishes the host's pulse, if anyone listens and it changed.
    pub(crate) fn tick(&self) {
        let mut state = self.state();
        if state.pulse.is_empty() {
            return;
        }
        let now = figures(&state);
        if let Some(pulse) = state.pulses.next(now) {
            state.pulse.publish(pulse);
        }
    }
}

/// What an agent's counts add to the host's once it has stopped: its counts, not its links.
fn retired(counters: &NodeCounters) -> Figures {
    let mut figures = counters.figures();
    figures.agents = 0;
    figures.uplinks.links = 0;
    figures.downlinks.links = 0;
    figures
}

fn figures(state: &HostState) -> Figures {
    let mut figures = state.retired;
    for agent in state.agents.values() {
        figures += agent.counters.figures();
    }
    figures
}

/// An entry of the host's `nodes` lane.
fn node_info(node: &str, created: u64) -> Value {
    Value::of_slots([
        (Value::text("nodeUri"), Value::text(node)),
        (Value::text("created"), Value::from_u64(created)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::introspection::{Counter, LinkFigures};

    #[test]
    fn counts_stay_cumulative_when_agents_stop_and_restart() {
        let host = HostMeta::new(Duration::from_secs(1), false);
        let first = host.started("/a");
        first.add(Counter::UplinkCommands, 3);
        first.set_links(2, 1);
        let second = host.started("/b");
        second.add(Counter::ExecNanos, 5);
        assert_eq!(host.figures().agents, 2);
        host.stopped("/a", &first);
        assert!(!host.is_listed("/a"));
        let again = host.started("/a");
        // A stop reported late by the first instance does not remove the second.
        host.stopped("/a", &first);
        assert!(host.is_listed("/a"));
        let figures = host.figures();
        assert_eq!(figures.agents, 2);
        assert_eq!(figures.exec_nanos, 5);
        assert_eq!(
            figures.uplinks,
            LinkFigures {
                links: 0,
                events: 0,
                commands: 3
            }
        );
        drop(again);
    }
}
