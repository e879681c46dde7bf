//! Pulses: cumulative figures of a host, node or lane, with rates per second since the last
//! pulse, in the shapes of SwimOS Java (untagged records, zero fields left out).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::recon::Value;

/// Cumulative figures of links in one direction: `uplinks` (clients of the agent's lanes) or
/// `downlinks` (the agent's own links to other lanes).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LinkFigures {
    /// Links open now.
    pub(crate) links: u64,
    /// Events sent (uplinks) or received (downlinks) so far.
    pub(crate) events: u64,
    /// Commands received (uplinks) or sent (downlinks) so far.
    pub(crate) commands: u64,
}

impl std::ops::AddAssign for LinkFigures {
    fn add_assign(&mut self, other: Self) {
        self.links += other.links;
        self.events += other.events;
        self.commands += other.commands;
    }
}

/// Cumulative figures of a host, a node or a lane.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Figures {
    /// Agents running (1 for a node, 0 for a lane).
    pub(crate) agents: u64,
    /// The time the agents spent running their turns so far, in nanoseconds (Java's
    /// `execTime`).
    pub(crate) exec_nanos: u64,
    /// Timers that fired so far.
    pub(crate) timers: u64,
    /// Handler runs that failed so far.
    pub(crate) failures: u64,
    pub(crate) uplinks: LinkFigures,
    pub(crate) downlinks: LinkFigures,
}

impl std::ops::AddAssign for Figures {
    fn add_assign(&mut self, other: Self) {
        self.agents += other.agents;
        self.exec_nanos += other.exec_nanos;
        self.timers += other.timers;
        self.failures += other.failures;
        self.uplinks += other.uplinks;
        self.downlinks += other.downlinks;
    }
}

/// The running figures of one agent, written by its task only (so never contended) and read
/// by its meta node and the host's.
#[derive(Debug, Default)]
pub(crate) struct NodeCounters {
    exec_nanos: AtomicU64,
    timers: AtomicU64,
    failures: AtomicU64,
    uplink_links: AtomicU64,
    uplink_events: AtomicU64,
    uplink_commands: AtomicU64,
    downlink_links: AtomicU64,
    downlink_events: AtomicU64,
    downlink_commands: AtomicU64,
    /// Links open, by lane kind (see [`LANE_KINDS`](super::LANE_KINDS)).
    kind_links: [AtomicU64; 6],
}

/// A figure of [`NodeCounters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counter {
    ExecNanos,
    Timers,
    Failures,
    UplinkEvents,
    UplinkCommands,
    DownlinkEvents,
    DownlinkCommands,
}

impl NodeCounters {
    /// Adds `n` to a count.
    pub(crate) fn add(&self, counter: Counter, n: u64) {
        let cell = match counter {
            Counter::ExecNanos => &self.exec_nanos,
            Counter::Timers => &self.timers,
            Counter::Failures => &self.failures,
            Counter::UplinkEvents => &self.uplink_events,
            Counter::UplinkCommands => &self.uplink_commands,
            Counter::DownlinkEvents => &self.downlink_events,
            Counter::DownlinkCommands => &self.downlink_commands,
        };
        cell.fetch_add(n, Ordering::Relaxed);
    }

    /// Sets the links open now: of clients to the agent's lanes, and of its own downlinks.
    pub(crate) fn set_links(&self, uplinks: u64, downlinks: u64) {
        self.uplink_links.store(uplinks, Ordering::Relaxed);
        self.downlink_links.store(downlinks, Ordering::Relaxed);
    }

    /// Sets the links open now, by lane kind.
    pub(crate) fn set_kind_links(&self, links: [u64; 6]) {
        for (cell, n) in self.kind_links.iter().zip(links) {
            cell.store(n, Ordering::Relaxed);
        }
    }

    /// The links open now, by lane kind.
    pub(crate) fn kind_links(&self) -> [u64; 6] {
        std::array::from_fn(|index| self.kind_links[index].load(Ordering::Relaxed))
    }

    /// The figures now (of one running agent).
    pub(crate) fn figures(&self) -> Figures {
        let get = |cell: &AtomicU64| cell.load(Ordering::Relaxed);
        Figures {
            agents: 1,
            exec_nanos: get(&self.exec_nanos),
            timers: get(&self.timers),
            failures: get(&self.failures),
            uplinks: LinkFigures {
                links: get(&self.uplink_links),
                events: get(&self.uplink_events),
                commands: get(&self.uplink_commands),
            },
            downlinks: LinkFigures {
                links: get(&self.downlink_links),
                events: get(&self.downlink_events),
                commands: get(&self.downlink_commands),
            },
        }
    }
}

/// What a pulse is of, which decides its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// `{nodeCount, agents, downlinks, uplinks}`.
    Host,
    /// `{agents, downlinks, uplinks}`.
    Node,
    /// `{uplinks}`.
    Lane,
}

/// The pulses of one meta lane: rates since the previous pulse, and the last one sent.
pub(crate) struct Pulses {
    before: Figures,
    at: Instant,
    last: Option<Value>,
    scope: Scope,
}

impl Pulses {
    /// Pulses of `scope`, from `figures` now.
    pub(crate) fn new(figures: Figures, scope: Scope) -> Self {
        Pulses {
            before: figures,
            at: Instant::now(),
            last: None,
            scope,
        }
    }

    /// The pulse to send now, if it differs from the last one sent.
    pub(crate) fn next(&mut self, figures: Figures) -> Option<Value> {
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(self.at);
        let pulse = self.shape(figures, Some((self.before, elapsed)));
        self.before = figures;
        self.at = now;
        if self.last.as_ref() == Some(&pulse) {
            return None;
        }
        self.last = Some(pulse.clone());
        Some(pulse)
    }

    /// The pulse a new subscriber's sync gets: the last one sent, or the figures now.
    pub(crate) fn current(&self, figures: Figures) -> Value {
        self.last
            .clone()
            .unwrap_or_else(|| self.shape(figures, None))
    }

    fn shape(&self, now: Figures, before: Option<(Figures, Duration)>) -> Value {
        let rate = |count: fn(&Figures) -> u64| match before {
            Some((before, elapsed)) if !elapsed.is_zero() => {
                let delta = count(&now).saturating_sub(count(&before));
                (delta as f64 / elapsed.as_secs_f64()).round() as u64
            }
            _ => 0,
        };
        let uplinks = record([
            ("linkCount", now.uplinks.links),
            ("eventRate", rate(|f| f.uplinks.events)),
            ("eventCount", now.uplinks.events),
            ("commandRate", rate(|f| f.uplinks.commands)),
            ("commandCount", now.uplinks.commands),
        ]);
        if self.scope == Scope::Lane {
            return record_of([("uplinks", uplinks)]);
        }
        let agents = record([
            ("agentCount", now.agents),
            ("execRate", rate(|f| f.exec_nanos)),
            ("execTime", now.exec_nanos),
            ("timerEventRate", rate(|f| f.timers)),
            ("timerEventCount", now.timers),
        ]);
        let downlinks = record([
            ("linkCount", now.downlinks.links),
            ("eventRate", rate(|f| f.downlinks.events)),
            ("eventCount", now.downlinks.events),
            ("commandRate", rate(|f| f.downlinks.commands)),
            ("commandCount", now.downlinks.commands),
        ]);
        let nodes =
            (self.scope == Scope::Host && now.agents > 0).then(|| Value::from_u64(now.agents));
        record_of([
            ("nodeCount", nodes),
            ("agents", agents),
            ("downlinks", downlinks),
            ("uplinks", uplinks),
        ])
    }
}

/// A record of the non-zero `fields` (SwimOS leaves zeros out); `None` if all are zero.
fn record<const N: usize>(fields: [(&str, u64); N]) -> Option<Value> {
    fields.iter().any(|(_, n)| *n != 0).then(|| {
        Value::of_slots(
            fields
                .into_iter()
                .filter(|(_, n)| *n != 0)
                .map(|(name, n)| (Value::text(name), Value::from_u64(n))),
        )
    })
}

/// A record of the `fields` that are there.
fn record_of<const N: usize>(fields: [(&str, Option<Value>); N]) -> Value {
    Value::of_slots(
        fields
            .into_iter()
            .filter_map(|(name, value)| Some((Value::text(name), value?))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(links: u64, events: u64, commands: u64) -> Figures {
        Figures {
            agents: 1,
            uplinks: LinkFigures {
                links,
                events,
                commands,
            },
            ..Figures::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn pulses_carry_counts_and_rates_and_repeat_only_on_change() {
        let mut pulses = Pulses::new(node(0, 0, 0), Scope::Node);
        assert_eq!(
            pulses.current(node(0, 0, 0)).to_string(),
            "{agents:{agentCount:1}}"
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        let pulse = pulses.next(node(2, 40, 10)).unwrap();
        assert_eq!(
            pulse.to_string(),
            "{agents:{agentCount:1},uplinks:{linkCount:2,eventRate:20,eventCount:40,commandRate:5,commandCount:10}}"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        // Nothing new: the rates drop to zero, which is a change, once.
        let idle = pulses.next(node(2, 40, 10)).unwrap();
        assert_eq!(
            idle.to_string(),
            "{agents:{agentCount:1},uplinks:{linkCount:2,eventCount:40,commandCount:10}}"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(pulses.next(node(2, 40, 10)), None);
        assert_eq!(pulses.current(node(2, 40, 10)), idle);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lane_pulse_has_uplinks_only() {
        let mut pulses = Pulses::new(Figures::default(), Scope::Lane);
        tokio::time::advance(Duration::from_secs(1)).await;
        let pulse = pulses.next(node(1, 3, 0)).unwrap();
        assert_eq!(
            pulse.to_string(),
            "{uplinks:{linkCount:1,eventRate:3,eventCount:3}}"
        );
    }
}
