//! Prometheus metrics of a server (`GET /metrics`), in the OpenMetrics text format of the
//! `prometheus-client` crate.
//!
//! Two kinds: counters and gauges the server's parts update as things happen (connections,
//! bytes, slow clients, remote connections, store writes), and figures read from the host's
//! meta node on each scrape (agents, links, events, commands), so that the agents pay for
//! nothing more than the counts introspection keeps anyway.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Metric, Registry, Unit};

use super::{HostMeta, LANE_KINDS};
use crate::store::io::Observer;

/// Buckets of counts (changes or turns per write): 1 to 16,384.
fn counts() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 4.0, 8))
}

/// Buckets of store times: 50 µs to 13 s.
fn seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 4.0, 10))
}

/// Metrics labelled with the store's backend (`backend="fjall"`).
type ByBackend<M> = Family<Vec<(String, String)>, M, fn() -> M>;

/// The metrics of one server.
pub(crate) struct Metrics {
    registry: Registry,
    /// WARP connections accepted (upgrades completed).
    pub(crate) connections_accepted: Counter,
    /// WARP connections open.
    pub(crate) connections_open: Gauge,
    /// Bytes of WARP frames received and sent.
    pub(crate) bytes_received: Counter,
    pub(crate) bytes_sent: Counter,
    /// Clients disconnected because they stopped reading.
    pub(crate) slow_clients: Counter,
    /// Connections to other hosts that are up.
    pub(crate) remote_connected: Gauge,
    /// Connections to other hosts being (re)established.
    pub(crate) remote_connecting: Gauge,
    /// Attempts to connect to other hosts.
    pub(crate) remote_attempts: Counter,
    /// Writes to the store (one per group of turns, or per burst of turns under group commit).
    store_writes: ByBackend<Counter>,
    /// Changes per store write.
    store_batch: ByBackend<Histogram>,
    /// The time of one store write, in seconds.
    store_write_seconds: ByBackend<Histogram>,
    /// Turns per store write (agents committed together).
    store_group_turns: ByBackend<Histogram>,
    /// Turns waiting for their commit.
    store_in_flight: ByBackend<Gauge>,
    /// How long a turn waits for its commit (queue and write), in seconds.
    store_commit_seconds: ByBackend<Histogram>,
    /// The host's meta node (figures read on each scrape; client input refused, counted as it
    /// comes).
    pub(crate) host: Arc<HostMeta>,
}

impl Metrics {
    /// The metrics of a server whose host meta node is `host`.
    pub(crate) fn new(host: Arc<HostMeta>) -> Arc<Self> {
        let mut registry = Registry::with_prefix("tidal");
        let metrics = Metrics {
            connections_accepted: Counter::default(),
            connections_open: Gauge::default(),
            bytes_received: Counter::default(),
            bytes_sent: Counter::default(),
            slow_clients: Counter::default(),
            remote_connected: Gauge::default(),
            remote_connecting: Gauge::default(),
            remote_attempts: Counter::default(),
            store_writes: Family::new_with_constructor(Counter::default),
            store_batch: Family::new_with_constructor(counts),
            store_write_seconds: Family::new_with_constructor(seconds),
            store_group_turns: Family::new_with_constructor(counts),
            store_in_flight: Family::new_with_constructor(Gauge::default),
            store_commit_seconds: Family::new_with_constructor(seconds),
            registry: Registry::default(),
            host: host.clone(),
        };
        let m = &metrics;
        let r = &mut registry;
        add(
            r,
            "warp_connections_accepted",
            "WARP connections accepted",
            None,
            m.connections_accepted.clone(),
        );
        add(
            r,
            "warp_connections_open",
            "WARP connections open",
            None,
            m.connections_open.clone(),
        );
        add(
            r,
            "warp_received",
            "Bytes of WARP frames received from clients",
            Some(Unit::Bytes),
            m.bytes_received.clone(),
        );
        add(
            r,
            "warp_sent",
            "Bytes of WARP frames sent to clients",
            Some(Unit::Bytes),
            m.bytes_sent.clone(),
        );
        add(
            r,
            "warp_slow_clients_disconnected",
            "Clients disconnected because they stopped reading",
            None,
            m.slow_clients.clone(),
        );
        add(
            r,
            "remote_connections_up",
            "Connections to other hosts that are up",
            None,
            m.remote_connected.clone(),
        );
        add(
            r,
            "remote_connections_connecting",
            "Connections to other hosts being established or re-established",
            None,
            m.remote_connecting.clone(),
        );
        add(
            r,
            "remote_connect_attempts",
            "Attempts to connect to other hosts (first connections and reconnections)",
            None,
            m.remote_attempts.clone(),
        );
        add(
            r,
            "store_writes",
            "Writes to the store",
            None,
            m.store_writes.clone(),
        );
        add(
            r,
            "store_write_changes",
            "Changes per store write",
            None,
            m.store_batch.clone(),
        );
        add(
            r,
            "store_write_duration",
            "The time of one store write",
            Some(Unit::Seconds),
            m.store_write_seconds.clone(),
        );
        add(
            r,
            "store_group_turns",
            "Turns per store write (the turns of agents committed together)",
            None,
            m.store_group_turns.clone(),
        );
        add(
            r,
            "store_commits_in_flight",
            "Turns waiting for their commit",
            None,
            m.store_in_flight.clone(),
        );
        add(
            r,
            "store_commit_duration",
            "How long a turn waits for its commit, queue and write",
            Some(Unit::Seconds),
            m.store_commit_seconds.clone(),
        );
        registry.register_collector(Box::new(HostCollector { host }));
        Arc::new(Metrics {
            registry,
            ..metrics
        })
    }

    /// What the store's I/O tells the metrics, labelled with the store's `backend`.
    pub(crate) fn store_observer(&self, backend: &'static str) -> Arc<dyn Observer> {
        let labels = vec![("backend".to_owned(), backend.to_owned())];
        Arc::new(StoreFigures {
            writes: self.store_writes.get_or_create(&labels).clone(),
            changes: self.store_batch.get_or_create(&labels).clone(),
            write_seconds: self.store_write_seconds.get_or_create(&labels).clone(),
            turns: self.store_group_turns.get_or_create(&labels).clone(),
            in_flight: self.store_in_flight.get_or_create(&labels).clone(),
            commit_seconds: self.store_commit_seconds.get_or_create(&labels).clone(),
        })
    }

    /// The metrics in the OpenMetrics text format.
    pub(crate) fn encode(&self) -> String {
        let mut text = String::with_capacity(4096);
        // Writing to a `String` cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// Registers `metric` as `name` (with its unit, if it has one).
fn add(registry: &mut Registry, name: &str, help: &str, unit: Option<Unit>, metric: impl Metric) {
    match unit {
        Some(unit) => registry.register_with_unit(name, help, unit, metric),
        None => registry.register(name, help, metric),
    }
}

/// The figures of the host's meta node, read on each scrape.
struct HostCollector {
    host: Arc<HostMeta>,
}

impl std::fmt::Debug for HostCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HostCollector")
    }
}

impl Collector for HostCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let figures = self.host.figures();
        let census = self.host.census();
        let gauge = |encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64| {
            let metric = ConstGauge::new(value as i64);
            metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
        };
        let counter = |encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64| {
            let metric = ConstCounter::new(value);
            metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
        };
        gauge(
            &mut encoder,
            "agents_running",
            "Agents running",
            figures.agents,
        )?;
        counter(
            &mut encoder,
            "agents_started",
            "Agents started",
            census.started,
        )?;
        counter(
            &mut encoder,
            "agents_stopped",
            "Agents stopped",
            census.stopped,
        )?;
        counter(
            &mut encoder,
            "handler_failures",
            "Event handler runs that failed",
            figures.failures,
        )?;
        let links = ConstGauge::new(0i64);
        let mut family = encoder.encode_descriptor(
            "links_open",
            "Links open to the agents' lanes, by lane kind",
            None,
            links.metric_type(),
        )?;
        for (kind, count) in LANE_KINDS.iter().zip(census.links_by_kind) {
            let labels = [("kind", *kind)];
            ConstGauge::new(count as i64).encode(family.encode_family(&labels)?)?;
        }
        gauge(
            &mut encoder,
            "downlinks_open",
            "Downlinks open from agents to other lanes",
            figures.downlinks.links,
        )?;
        counter(
            &mut encoder,
            "events_sent",
            "Lane events sent to subscribers",
            figures.uplinks.events,
        )?;
        counter(
            &mut encoder,
            "commands_received",
            "Commands received by lanes",
            figures.uplinks.commands,
        )?;
        counter(
            &mut encoder,
            "downlink_events_received",
            "Events received by the agents' downlinks",
            figures.downlinks.events,
        )?;
        let rejected = ConstCounter::new(0u64);
        let mut family = encoder.encode_descriptor(
            "client_input_rejected",
            "What clients sent that the server refused, by reason",
            None,
            rejected.metric_type(),
        )?;
        for (reason, count) in self.host.rejections.counts() {
            ConstCounter::new(count).encode(family.encode_family(&[("reason", reason)])?)?;
        }
        Ok(())
    }
}

/// The store metrics of one backend (children of the families, labelled `backend`).
struct StoreFigures {
    writes: Counter,
    changes: Histogram,
    write_seconds: Histogram,
    turns: Histogram,
    in_flight: Gauge,
    commit_seconds: Histogram,
}

impl Observer for StoreFigures {
    fn queued(&self) {
        self.in_flight.inc();
    }

    fn answered(&self, waited: Duration) {
        self.in_flight.dec();
        self.commit_seconds.observe(waited.as_secs_f64());
    }

    fn wrote(&self, turns: usize, changes: usize, took: Duration) {
        self.writes.inc();
        self.turns.observe(turns as f64);
        self.changes.observe(changes as f64);
        self.write_seconds.observe(took.as_secs_f64());
    }
}
