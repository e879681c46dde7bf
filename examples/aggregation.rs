//! Many agents feeding one: twenty rooms and the building that aggregates their temperatures.
//!
//! - `/rooms/:id` ([`Room`]) holds a room's `temperature` in a value lane. When a room starts,
//!   it registers with the building by sending its id to the building's `register` command
//!   lane.
//! - `/building` ([`Building`]) opens a value downlink to the `temperature` lane of each room
//!   that registers, keeping the handles in its lifecycle. The downlinks' handlers copy each
//!   room's temperature into the `temperatures` map lane, whose `on_update` handler keeps the
//!   `average` lane up to date.
//!
//! `main` sets every room's temperature through `ServerHandle::command` (which starts the rooms,
//! which start the building), waits until the building's average reflects all of them, then
//! warms a few rooms and waits again, and stops the server. It never sleeps: the building
//! publishes its average on a `tokio::sync::watch` channel that `main` waits on.
//!
//! Run: `cargo run --example aggregation`

#[path = "support/logging.rs"]
mod logging;

use std::collections::HashMap;
use std::time::Duration;

use tidal::agent::event_handler::{Either, UnitHandler};
use tidal::prelude::*;
use tokio::sync::{oneshot, watch};

/// How many rooms the building has.
const ROOMS: usize = 20;

/// One room and its temperature.
#[projections]
#[derive(AgentLaneModel)]
pub struct Room {
    /// The room's temperature, in °C.
    temperature: ValueLane<f64>,
}

/// Registers the room with the building when it starts.
#[derive(Clone)]
pub struct RoomLifecycle;

#[lifecycle(Room)]
impl RoomLifecycle {
    /// Sends the room's id to the building's `register` lane.
    #[on_start]
    fn start(&self, context: HandlerContext<Room>) -> impl EventHandler<Room> {
        context.get_parameter("id").and_then(move |id| match id {
            Some(id) => Either::Left(context.send_command(None, "/building", "register", id)),
            None => Either::Right(UnitHandler::default()),
        })
    }
}

/// The building: the latest temperature of every registered room, and their average.
#[projections]
#[derive(AgentLaneModel)]
pub struct Building {
    /// Room ids to follow.
    register: CommandLane<String>,
    /// The latest temperature of each room, by room id.
    temperatures: MapLane<String, f64>,
    /// The average of `temperatures`.
    average: ValueLane<f64>,
}

/// Follows each registered room through a downlink.
pub struct BuildingLifecycle {
    /// The downlinks, by room id (dropping a handle would close its link).
    rooms: State<Building, HashMap<String, ValueDownlinkHandle<f64>>>,
    /// Where the building publishes (rooms reporting, average) for `main`.
    report: watch::Sender<(usize, f64)>,
}

#[lifecycle(Building)]
impl BuildingLifecycle {
    /// Opens a downlink to the room's temperature; its handlers keep `temperatures` current.
    #[on_command(register)]
    fn register(
        &self,
        context: HandlerContext<Building>,
        room: &str,
    ) -> impl EventHandler<Building> + '_ {
        let (room, synced, updated) = (room.to_owned(), room.to_owned(), room.to_owned());
        context
            .value_downlink_builder::<f64>(
                None,
                &format!("/rooms/{room}"),
                "temperature",
                SimpleDownlinkConfig::default(),
            )
            .on_synced(move |context, t| context.update(Building::TEMPERATURES, synced.clone(), *t))
            .on_event(move |context, t| context.update(Building::TEMPERATURES, updated.clone(), *t))
            .done()
            .and_then(move |handle| {
                self.rooms.with_mut(move |rooms| {
                    rooms.insert(room, handle);
                })
            })
    }

    /// Keeps the average up to date, and tells `main`.
    #[on_update(temperatures)]
    fn recompute(
        &self,
        context: HandlerContext<Building>,
        temperatures: &HashMap<String, f64>,
        _room: String,
        _previous: Option<f64>,
        _temperature: &f64,
    ) -> impl EventHandler<Building> + '_ {
        let rooms = temperatures.len();
        let average = temperatures.values().sum::<f64>() / rooms as f64;
        context
            .set_value(Building::AVERAGE, average)
            .followed_by(context.effect(move || {
                self.report.send_replace((rooms, average));
            }))
    }
}

/// Waits (at most 5 s) until every room reports and the average is `expected`.
async fn average_reaches(
    report: &mut watch::Receiver<(usize, f64)>,
    expected: f64,
) -> Result<f64, Box<dyn std::error::Error>> {
    let reached =
        report.wait_for(|(rooms, average)| *rooms == ROOMS && (average - expected).abs() < 1e-9);
    let reached = tokio::time::timeout(Duration::from_secs(5), reached).await??;
    Ok(reached.1)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    logging::init();
    let (report, mut averages) = watch::channel((0, 0.0));
    let building = AgentModel::from_fn(Building::default, move || BuildingLifecycle {
        rooms: State::default(),
        report: report.clone(),
    });
    let server = ServerBuilder::with_plane_name("example")
        .add_route(
            RoutePattern::parse_str("/rooms/:id")?,
            AgentModel::new(Room::default, RoomLifecycle),
        )
        .add_route(RoutePattern::parse_str("/building")?, building)
        .build()
        .await?;
    let (task, server) = server.run();
    let task = tokio::spawn(task);

    // Room i is at 19 + i/4 °C.
    let mut temperatures: Vec<f64> = (0..ROOMS).map(|i| 19.0 + i as f64 / 4.0).collect();
    for (i, temperature) in temperatures.iter().enumerate() {
        server
            .command(&format!("/rooms/{i}"), "temperature", *temperature)
            .await?;
    }
    let expected = temperatures.iter().sum::<f64>() / ROOMS as f64;
    let average = average_reaches(&mut averages, expected).await?;
    println!("{ROOMS} rooms, average {average:.3} °C");

    // The sun comes round: the first five rooms warm by 3 °C.
    for (i, temperature) in temperatures.iter_mut().enumerate().take(5) {
        *temperature += 3.0;
        server
            .command(&format!("/rooms/{i}"), "temperature", *temperature)
            .await?;
    }
    let expected = temperatures.iter().sum::<f64>() / ROOMS as f64;
    let average = average_reaches(&mut averages, expected).await?;
    println!("after the sun: average {average:.3} °C");

    // The building's map, read by a handler run inside the building agent.
    let building = server.agent_ref::<Building>("/building")?;
    let (tx, rx) = oneshot::channel();
    let context = HandlerContext::<Building>::default();
    building
        .run(
            context
                .get_map(Building::TEMPERATURES)
                .and_then(move |map| {
                    context.effect(move || {
                        let _ = tx.send(map);
                    })
                }),
        )
        .await?;
    let rooms = rx.await?;
    let by_temperature = |a: &(&String, &f64), b: &(&String, &f64)| a.1.total_cmp(b.1);
    if let Some((room, t)) = rooms.iter().max_by(by_temperature) {
        println!("warmest: room {room} at {t} °C");
    }
    if let Some((room, t)) = rooms.iter().min_by(by_temperature) {
        println!("coolest: room {room} at {t} °C");
    }

    server.stop();
    task.await??;
    Ok(())
}
