//! A producer and a consumer in one server, joined by a value downlink.
//!
//! - `/sensors/:id` ([`Sensor`], the producer) keeps its latest `reading` in a value lane, fed
//!   through its `feed` command lane.
//! - `/monitor` ([`Monitor`], the consumer) opens a value downlink to `/sensors/1`'s `reading`
//!   when it starts (which starts the sensor too), keeps the downlink's handle in its lifecycle
//!   (dropping the handle would close the link), mirrors each reading into its own `latest`
//!   lane, and prints what happens to the link. Its `detach` command lane stops the downlink
//!   through that handle.
//!
//! `main` feeds readings through `ServerHandle::command`, waits until the monitor has mirrored
//! the last one, detaches the monitor, and stops the server. A downlink always ends with the
//! lane's latest value, but it skips intermediate ones that arrive faster than its agent handles
//! them: of the final burst of readings, the monitor may print only the last.
//!
//! Run: `cargo run --example producer_consumer`

#[path = "support/logging.rs"]
mod logging;

use tidal::prelude::*;
use tokio::sync::mpsc;

/// The node the monitor links to.
const SENSOR: &str = "/sensors/1";

/// The producer: a sensor and its latest reading.
#[projections]
#[derive(AgentLaneModel)]
pub struct Sensor {
    /// The latest reading, in °C.
    reading: ValueLane<f64>,
    /// New samples from the device.
    feed: CommandLane<f64>,
}

/// Publishes each sample as the new reading.
#[derive(Clone)]
pub struct SensorLifecycle;

#[lifecycle(Sensor)]
impl SensorLifecycle {
    /// Takes a sample as the new reading.
    #[on_command(feed)]
    fn feed(&self, context: HandlerContext<Sensor>, sample: &f64) -> impl EventHandler<Sensor> {
        context.set_value(Sensor::READING, *sample)
    }
}

/// The consumer: a mirror of the sensor's reading.
#[projections]
#[derive(AgentLaneModel)]
pub struct Monitor {
    /// The sensor's reading, as last seen through the downlink.
    latest: ValueLane<f64>,
    /// Stops the downlink.
    detach: CommandLane<()>,
}

/// What the monitor tells `main`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Seen {
    /// The monitor mirrored this reading.
    Reading(f64),
    /// The downlink is closed.
    Unlinked,
}

/// Opens the downlink at start and keeps its handle.
pub struct MonitorLifecycle {
    /// The downlink to the sensor's reading, once opened.
    sensor: State<Monitor, Option<ValueDownlinkHandle<f64>>>,
    /// Where the monitor reports to `main`.
    seen: mpsc::UnboundedSender<Seen>,
}

#[lifecycle(Monitor)]
impl MonitorLifecycle {
    /// Opens the downlink to the sensor's reading.
    #[on_start]
    fn start(&self, context: HandlerContext<Monitor>) -> impl EventHandler<Monitor> + '_ {
        let unlinked = self.seen.clone();
        context
            .value_downlink_builder::<f64>(None, SENSOR, "reading", SimpleDownlinkConfig::default())
            .on_linked(|context| context.effect(|| println!("monitor: linked to {SENSOR}")))
            .on_synced(|context, reading| {
                let reading = *reading;
                context
                    .effect(move || println!("monitor: synced, the reading is {reading} °C"))
                    .followed_by(context.set_value(Monitor::LATEST, reading))
            })
            .on_event(|context, reading| {
                let reading = *reading;
                context
                    .effect(move || println!("monitor: new reading {reading} °C"))
                    .followed_by(context.set_value(Monitor::LATEST, reading))
            })
            .on_unlinked(move |context| {
                let seen = unlinked.clone();
                context.effect(move || {
                    println!("monitor: unlinked from {SENSOR}");
                    let _ = seen.send(Seen::Unlinked);
                })
            })
            .on_failed(|context| context.effect(|| eprintln!("monitor: the link failed")))
            .done()
            .and_then(move |handle| self.sensor.set(Some(handle)))
    }

    /// Tells `main` about each mirrored reading.
    #[on_event(latest)]
    fn mirrored(
        &self,
        context: HandlerContext<Monitor>,
        reading: &f64,
    ) -> impl EventHandler<Monitor> + '_ {
        let reading = *reading;
        context.effect(move || {
            let _ = self.seen.send(Seen::Reading(reading));
        })
    }

    /// Stops the downlink through its handle (its `on_unlinked` handler runs).
    #[on_command(detach)]
    fn detach(&self, _context: HandlerContext<Monitor>, _: &()) -> impl EventHandler<Monitor> + '_ {
        self.sensor.with_mut(|sensor| {
            if let Some(handle) = sensor.as_mut() {
                handle.stop();
            }
        })
    }
}

/// Waits for the monitor to report `wanted`.
async fn wait_for(seen: &mut mpsc::UnboundedReceiver<Seen>, wanted: Seen) -> Result<(), String> {
    while let Some(event) = seen.recv().await {
        if event == wanted {
            return Ok(());
        }
    }
    Err(format!("the monitor stopped before reporting {wanted:?}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    logging::init();
    let (tx, mut seen) = mpsc::unbounded_channel();
    let monitor = AgentModel::from_fn(Monitor::default, move || MonitorLifecycle {
        sensor: State::default(),
        seen: tx.clone(),
    });
    let server = ServerBuilder::with_plane_name("example")
        .add_route(
            RoutePattern::parse_str("/sensors/:id")?,
            AgentModel::new(Sensor::default, SensorLifecycle),
        )
        .add_route(RoutePattern::parse_str("/monitor")?, monitor)
        .build()
        .await?;
    let (task, server) = server.run();
    let task = tokio::spawn(task);

    // The monitor's downlink starts the sensor, at 0 °C: the monitor mirrors that once synced.
    server.start_agent("/monitor")?;
    wait_for(&mut seen, Seen::Reading(0.0)).await?;

    // One reading at a time, as a device would send them: the monitor sees each.
    for reading in [20.5, 21.0, 21.75] {
        server.command(SENSOR, "feed", reading).await?;
        wait_for(&mut seen, Seen::Reading(reading)).await?;
    }
    // A burst: the downlink may coalesce it, but it always ends with the last value.
    for reading in [22.0, 22.25, 22.5] {
        server.command(SENSOR, "feed", reading).await?;
    }
    wait_for(&mut seen, Seen::Reading(22.5)).await?;
    println!("main: the monitor mirrored the last reading");

    server.command("/monitor", "detach", ()).await?;
    wait_for(&mut seen, Seen::Unlinked).await?;

    server.stop();
    task.await??;
    Ok(())
}
