//! Two servers: a producer's lane followed by a consumer agent on another server, over WARP.
//!
//! Run `cargo run --example two_servers`. The producer server hosts `/sensor/:id` agents with a
//! `reading` lane; the consumer server hosts `/dashboard`, which opens a value downlink to
//! `/sensor/1` on the producer's host (`ws://127.0.0.1:<port>`) and mirrors each reading into its
//! own `latest` lane. All downlinks from a process to one host share one WebSocket, reconnecting
//! with backoff if it fails.

#[path = "support/logging.rs"]
mod logging;

use tidal::prelude::*;
use tokio::sync::watch;

/// A sensor on the producer server.
#[projections]
#[derive(AgentLaneModel)]
pub struct Sensor {
    reading: ValueLane<f64>,
}

/// Sensors need no handlers: their lane is set by commands.
#[derive(Clone)]
pub struct SensorLifecycle;

#[lifecycle(Sensor)]
impl SensorLifecycle {}

/// The dashboard on the consumer server.
#[projections]
#[derive(AgentLaneModel)]
pub struct Dashboard {
    latest: ValueLane<f64>,
}

/// Follows `/sensor/1` on the producer's host.
pub struct DashboardLifecycle {
    producer: String,
    seen: watch::Sender<f64>,
    sensor: State<Dashboard, Option<ValueDownlinkHandle<f64>>>,
}

#[lifecycle(Dashboard)]
impl DashboardLifecycle {
    #[on_start]
    fn start(&self, context: HandlerContext<Dashboard>) -> impl EventHandler<Dashboard> + '_ {
        // A reading that arrives while the link is being synced is the synced value: mirror
        // both the synced value and later events.
        let (seen, synced) = (self.seen.clone(), self.seen.clone());
        context
            .value_downlink_builder::<f64>(
                Some(&self.producer),
                "/sensor/1",
                "reading",
                SimpleDownlinkConfig::default(),
            )
            .on_linked(|context| context.effect(|| println!("dashboard: linked to the sensor")))
            .on_synced(move |context, reading| mirror(context, *reading, synced.clone()))
            .on_event(move |context, reading| mirror(context, *reading, seen.clone()))
            .on_unlinked(|context| context.effect(|| println!("dashboard: unlinked")))
            .done()
            .and_then(move |handle| self.sensor.set(Some(handle)))
    }
}

/// Copies a reading into the dashboard's lane and reports it.
fn mirror(
    context: HandlerContext<Dashboard>,
    reading: f64,
    seen: watch::Sender<f64>,
) -> impl EventHandler<Dashboard> {
    context
        .set_value(Dashboard::LATEST, reading)
        .followed_by(context.effect(move || {
            println!("dashboard: reading {reading}");
            seen.send_replace(reading);
        }))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    logging::init();
    let producer = ServerBuilder::with_plane_name("producer")
        .set_bind_addr("127.0.0.1:0")
        .add_route(
            RoutePattern::parse_str("/sensor/:id")?,
            AgentModel::new(Sensor::default, SensorLifecycle),
        )
        .build()
        .await?;
    let (producer_task, producer) = producer.run();
    let producer_task = tokio::spawn(producer_task);
    let producer_addr = producer.bound_addr().ok_or("the producer is not bound")?;
    println!("producer listening on ws://{producer_addr}");

    let (seen, mut watch_seen) = watch::channel(f64::NAN);
    let host = format!("ws://{producer_addr}");
    let consumer = ServerBuilder::with_plane_name("consumer")
        .set_bind_addr("127.0.0.1:0")
        .add_route(
            RoutePattern::parse_str("/dashboard")?,
            AgentModel::from_fn(Dashboard::default, move || DashboardLifecycle {
                producer: host.clone(),
                seen: seen.clone(),
                sensor: State::default(),
            }),
        )
        .build()
        .await?;
    let (consumer_task, consumer) = consumer.run();
    let consumer_task = tokio::spawn(consumer_task);
    if let Some(addr) = consumer.bound_addr() {
        println!("consumer listening on ws://{addr}");
    }
    consumer.start_agent("/dashboard")?;

    for reading in [19.5, 20.25, 21.0] {
        producer.command("/sensor/1", "reading", reading).await?;
        watch_seen.wait_for(|seen| *seen == reading).await?;
    }
    println!("the dashboard followed every reading across the two servers");
    consumer.stop();
    consumer_task.await??;
    producer.stop();
    producer_task.await??;
    Ok(())
}
