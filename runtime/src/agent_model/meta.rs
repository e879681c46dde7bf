//! An agent's meta node (`swim:meta:node/<node>`) and the meta nodes of its lanes, served by
//! the agent's own task: its lanes and their kinds, its pulse, its lanes' subscribers and
//! pulses, and its log lanes.

use std::collections::HashMap;
use std::sync::Arc;

use super::AgentLaneModel;
use crate::introspection::{
    lane_kind_index, AgentLogs, Counter, Figures, HostMeta, LinkFigures, MapFeed, MetaAddress,
    MetaLane, MetaNode, NodeCounters, Pulses, Scope, ValueFeed,
};
use crate::lanes::{AgentItem, ItemKind, LinkSubscriber, UnlinkReason};
use crate::recon::Value;

/// The meta node of a lane that someone watches.
struct LaneMeta {
    uplinks: MapFeed,
    /// The links listed to `uplinks` subscribers so far.
    listed: Vec<u64>,
    pulse: ValueFeed,
    pulses: Pulses,
}

/// What an agent keeps for introspection (only when its server enables it).
pub(crate) struct NodeMeta {
    host: Arc<HostMeta>,
    node: String,
    counters: Arc<NodeCounters>,
    lanes: MapFeed,
    pulse: ValueFeed,
    pulses: Pulses,
    /// The figures of each item, by id (links are counted as they come and go, and exactly
    /// on each pulse).
    items: Vec<LinkFigures>,
    /// The meta nodes of lanes someone watches, by item id.
    watched: HashMap<u64, LaneMeta>,
    logs: Arc<AgentLogs>,
    /// The kind of each item, as a position in `LANE_KINDS` (`None`: a store).
    kinds: Vec<Option<usize>>,
}

impl NodeMeta {
    /// The meta node of the agent at `uri`, which has just started, on `host`.
    pub(crate) fn new<A: AgentLaneModel>(host: Arc<HostMeta>, uri: &str) -> Self {
        let counters = host.started(uri);
        NodeMeta {
            host,
            node: uri.to_owned(),
            pulses: Pulses::new(counters.figures(), Scope::Node),
            counters,
            lanes: MapFeed::default(),
            pulse: ValueFeed::default(),
            items: vec![LinkFigures::default(); A::ITEMS.len()],
            watched: HashMap::new(),
            logs: AgentLogs::new(uri),
            kinds: A::ITEMS
                .iter()
                .map(|spec| lane_kind_index(spec.kind))
                .collect(),
        }
    }

    /// The time between pulses.
    pub(crate) fn interval(&self) -> std::time::Duration {
        self.host.interval()
    }

    /// Counts time the agent spent working.
    pub(crate) fn worked(&self, time: std::time::Duration) {
        self.counters.add(
            Counter::ExecNanos,
            time.as_nanos().min(u128::from(u64::MAX)) as u64,
        );
    }

    /// Counts a timer that fired.
    pub(crate) fn timer(&self) {
        self.counters.add(Counter::Timers, 1);
    }

    /// Counts a command received by the item `id`.
    pub(crate) fn command(&mut self, id: u64) {
        self.counters.add(Counter::UplinkCommands, 1);
        if let Some(figures) = self.items.get_mut(id as usize) {
            figures.commands += 1;
        }
    }

    /// Counts the events the item `id` has just sent to its subscribers.
    pub(crate) fn flushed(&mut self, id: u64) {
        if let Some(figures) = self.items.get_mut(id as usize) {
            figures.events += figures.links;
            self.counters.add(Counter::UplinkEvents, figures.links);
        }
    }

    /// Counts events received by the agent's downlinks, and commands they sent.
    pub(crate) fn downlinks(&self, events: u64, commands: u64) {
        self.counters.add(Counter::DownlinkEvents, events);
        self.counters.add(Counter::DownlinkCommands, commands);
    }

    /// A link to the item `id` was asked for (`true`) or closed (`false`).
    pub(crate) fn linked(&mut self, id: u64, open: bool, downlinks: usize) {
        if let Some(figures) = self.items.get_mut(id as usize) {
            figures.links = if open {
                figures.links + 1
            } else {
                figures.links.saturating_sub(1)
            };
        }
        self.publish_links(downlinks);
    }

    /// Counts something a client sent that the agent refused.
    pub(crate) fn rejected(&self, rejection: crate::introspection::Rejection) {
        self.host.rejections.count(rejection);
    }

    /// Counts a handler run that failed.
    pub(crate) fn failed(&self) {
        self.counters.add(Counter::Failures, 1);
    }

    /// Publishes the links counted, in all and by lane kind.
    fn publish_links(&self, downlinks: usize) {
        let mut by_kind = [0; 6];
        for (figures, kind) in self.items.iter().zip(&self.kinds) {
            if let Some(kind) = kind {
                by_kind[*kind] += figures.links;
            }
        }
        self.counters.set_kind_links(by_kind);
        self.counters
            .set_links(by_kind.iter().sum(), downlinks as u64);
    }

    /// Links `subscriber` to a lane of the agent's meta node, or of a lane's.
    pub(crate) fn link<A: AgentLaneModel>(
        &mut self,
        agent: &A,
        downlinks: usize,
        address: MetaAddress,
        subscriber: LinkSubscriber,
    ) {
        self.recount(agent, downlinks);
        match (address.node, address.lane) {
            (MetaNode::Node(_), MetaLane::Lanes) => {
                let entries = A::ITEMS
                    .iter()
                    .filter(|spec| spec.kind.is_lane())
                    .map(|spec| (Value::text(spec.name), lane_info(spec.name, spec.kind)));
                self.lanes.link(subscriber, "lanes", entries);
            }
            (MetaNode::Node(_), MetaLane::Pulse) => {
                let now = self.pulses.current(self.counters.figures());
                self.pulse
                    .link(subscriber, "pulse", ItemKind::DemandLane, Some(now));
            }
            (MetaNode::Node(_), MetaLane::Log(level)) => self.logs.link(level, subscriber),
            (MetaNode::Lane { lane, .. }, meta_lane) => {
                let Some((id, item)) = A::lane_id(&lane).and_then(|id| Some((id, agent.item(id)?)))
                else {
                    subscriber.refuse(UnlinkReason::NodeNotFound);
                    return;
                };
                let figures = self.lane_figures(id);
                let watched = self.watched.entry(id).or_insert_with(|| LaneMeta {
                    uplinks: MapFeed::default(),
                    listed: Vec::new(),
                    pulse: ValueFeed::default(),
                    pulses: Pulses::new(figures, Scope::Lane),
                });
                if meta_lane == MetaLane::Uplinks {
                    let mut links = Vec::new();
                    item.links(&mut |link| links.push(link));
                    let entries = links.iter().map(|&link| uplink_info(link));
                    watched.uplinks.link(subscriber, "uplinks", entries);
                    watched.listed = links;
                } else {
                    let now = watched.pulses.current(figures);
                    watched
                        .pulse
                        .link(subscriber, "pulse", ItemKind::DemandLane, Some(now));
                }
            }
            (_, _) => subscriber.refuse(UnlinkReason::LaneNotFound),
        }
    }

    /// Closes the link `id` to a lane of the agent's meta node, or of a lane's.
    pub(crate) fn unlink<A: AgentLaneModel>(&mut self, address: &MetaAddress, link: u64) {
        match (&address.node, address.lane) {
            (MetaNode::Node(_), MetaLane::Lanes) => {
                self.lanes.unlink(link);
            }
            (MetaNode::Node(_), MetaLane::Pulse) => {
                self.pulse.unlink(link);
            }
            (MetaNode::Node(_), MetaLane::Log(level)) => self.logs.unlink(level, link),
            (MetaNode::Lane { lane, .. }, meta_lane) => {
                let Some(watched) = A::lane_id(lane).and_then(|id| self.watched.get_mut(&id))
                else {
                    return;
                };
                if meta_lane == MetaLane::Uplinks {
                    watched.uplinks.unlink(link);
                } else {
                    watched.pulse.unlink(link);
                }
            }
            _ => {}
        }
    }

    /// Whether anyone watches a pulse or a lane (the agent then ticks every interval).
    pub(crate) fn is_watched(&mut self) -> bool {
        self.watched
            .retain(|_, lane| !lane.uplinks.is_empty() || !lane.pulse.is_empty());
        !self.pulse.is_empty() || !self.watched.is_empty()
    }

    /// Publishes the pulses that changed, and the lanes' subscribers that came and went.
    pub(crate) fn tick<A: AgentLaneModel>(&mut self, agent: &A, downlinks: usize) {
        self.recount(agent, downlinks);
        if let Some(pulse) = self.pulses.next(self.counters.figures()) {
            self.pulse.publish(pulse);
        }
        let ids: Vec<u64> = self.watched.keys().copied().collect();
        for id in ids {
            let figures = self.lane_figures(id);
            let Some(watched) = self.watched.get_mut(&id) else {
                continue;
            };
            if let Some(pulse) = watched.pulses.next(figures) {
                watched.pulse.publish(pulse);
            }
            let Some(item) = agent.item(id) else {
                continue;
            };
            let mut links = Vec::new();
            item.links(&mut |link| links.push(link));
            for &gone in watched.listed.iter().filter(|link| !links.contains(link)) {
                watched.uplinks.remove(Value::from_u64(gone));
            }
            for &new in links.iter().filter(|link| !watched.listed.contains(link)) {
                let (key, value) = uplink_info(new);
                watched.uplinks.update(key, value);
            }
            watched.listed = links;
        }
    }

    /// The agent's log lanes, and the `tracing` dispatcher that feeds them, for its task (`None`
    /// when the server counts for its metrics but serves no meta nodes).
    pub(crate) fn log_tap(&self) -> Option<(Arc<AgentLogs>, tracing::Dispatch)> {
        let dispatch = self.host.dispatch()?.clone();
        Some((self.logs.clone(), dispatch))
    }

    /// Counts every item's links exactly.
    fn recount<A: AgentLaneModel>(&mut self, agent: &A, downlinks: usize) {
        for (id, figures) in self.items.iter_mut().enumerate() {
            figures.links = agent.item(id as u64).map_or(0, AgentItem::link_count);
        }
        self.publish_links(downlinks);
    }

    fn lane_figures(&self, id: u64) -> Figures {
        Figures {
            uplinks: self.items.get(id as usize).copied().unwrap_or_default(),
            ..Figures::default()
        }
    }
}

impl Drop for NodeMeta {
    fn drop(&mut self) {
        self.host.stopped(&self.node, &self.counters);
    }
}

/// An entry of a node's `lanes` lane: `{laneUri, laneType}`, with the type as SwimOS Java
/// writes it.
fn lane_info(name: &str, kind: ItemKind) -> Value {
    let kind = kind.lane_type().unwrap_or("map");
    Value::of_slots([
        (Value::text("laneUri"), Value::text(name)),
        (Value::text("laneType"), Value::text(kind)),
    ])
}

/// An entry of a lane's `uplinks` lane, by link id.
fn uplink_info(link: u64) -> (Value, Value) {
    (
        Value::from_u64(link),
        Value::of_slots([(Value::text("linkKey"), Value::from_u64(link))]),
    )
}
