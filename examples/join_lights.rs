//! A building that joins the lights of its rooms, some on its own server and some in an annex
//! served by a second server, with one join value lane.
//!
//! - `/room/:id` ([`Room`]) has a light: the value lane `on`, switched by the `switch` command
//!   lane. Both servers serve rooms.
//! - `/building` ([`Building`]) has the join value lane `lights`: one entry per room, fed by a
//!   downlink to that room's `on` lane, on whichever server the room is. `add_room` adds a link
//!   (`context.add_downlink`); the lane's `on_update` handler keeps `lit`, the number of rooms
//!   with the light on, up to date; its `#[join_value_lifecycle]` prints what happens to the
//!   links.
//!
//! `main` starts the annex server on an ephemeral port of 127.0.0.1 and the main server, adds
//! three local rooms and two annex rooms to the building, switches lights on and off through
//! each server's handle, waits each time until the building has counted them (it publishes
//! `lit` on a `tokio::sync::watch` channel: no sleeping), and stops both servers.
//!
//! Run: `cargo run --example join_lights`

#[path = "support/logging.rs"]
mod logging;

use std::collections::HashMap;
use std::time::Duration;

use tidal::prelude::*;
use tokio::sync::watch;

/// A room and its light.
#[projections]
#[derive(AgentLaneModel)]
pub struct Room {
    /// Whether the light is on.
    on: ValueLane<bool>,
    /// Switches the light.
    switch: CommandLane<bool>,
}

#[derive(Clone)]
pub struct RoomLifecycle;

#[lifecycle(Room)]
impl RoomLifecycle {
    #[on_command(switch)]
    fn switch(&self, context: HandlerContext<Room>, on: &bool) -> impl EventHandler<Room> {
        context.set_value(Room::ON, *on)
    }
}

/// The building: the lights of its rooms, joined, and how many are on.
#[projections]
#[derive(AgentLaneModel)]
pub struct Building {
    /// Each room's light, by room id.
    lights: JoinValueLane<String, bool>,
    /// How many lights are on.
    lit: ValueLane<usize>,
    /// Joins room `.0` on host `.1` (`None`: this server) into `lights`.
    add_room: CommandLane<(String, Option<String>)>,
}

/// Tells `main` how many lights are on.
pub struct BuildingLifecycle {
    report: watch::Sender<usize>,
}

#[lifecycle(Building)]
impl BuildingLifecycle {
    #[on_command(add_room)]
    fn add_room(
        &self,
        context: HandlerContext<Building>,
        room: &(String, Option<String>),
    ) -> impl EventHandler<Building> {
        let (room, host) = room;
        context.add_downlink(
            Building::LIGHTS,
            room.clone(),
            host.as_deref(),
            &format!("/room/{room}"),
            "on",
        )
    }

    #[on_update(lights)]
    fn count(
        &self,
        context: HandlerContext<Building>,
        lights: &HashMap<String, bool>,
        _room: String,
        _previous: Option<bool>,
        _on: &bool,
    ) -> impl EventHandler<Building> + '_ {
        let lit = lights.values().filter(|on| **on).count();
        context
            .set_value(Building::LIT, lit)
            .followed_by(context.effect(move || {
                self.report.send_replace(lit);
            }))
    }

    #[join_value_lifecycle(lights)]
    fn links(
        &self,
        context: JoinValueContext<Building, String, bool>,
    ) -> impl JoinValueLaneLifecycle<String, bool, Building> {
        context
            .builder()
            .on_synced(|context, room, remote, on| {
                let line = format!("room {room} ({remote}) joined, light on: {on:?}");
                context.effect(move || println!("{line}"))
            })
            .on_unlinked(|context, room, _, reason| {
                // A room whose server stops (or that moved) comes back: only a room closed for
                // good leaves the building. Links closed for now stay stored whatever this says.
                let line = format!("room {room} left: {reason}");
                context
                    .effect(move || println!("{line}"))
                    .followed_by(context.value(LinkClosedResponse::Delete))
            })
            .done()
    }
}

/// A server with the rooms (and the building, if `report` is given), listening on `bind`.
async fn server(
    bind: Option<&str>,
    report: Option<watch::Sender<usize>>,
) -> Result<
    (
        ServerHandle,
        tokio::task::JoinHandle<Result<(), tidal::server::ServerError>>,
    ),
    Box<dyn std::error::Error>,
> {
    let mut builder = ServerBuilder::with_plane_name("lights").add_route(
        RoutePattern::parse_str("/room/:id")?,
        AgentModel::new(Room::default, RoomLifecycle),
    );
    if let Some(report) = report {
        builder = builder.add_route(
            RoutePattern::parse_str("/building")?,
            AgentModel::from_fn(Building::default, move || BuildingLifecycle {
                report: report.clone(),
            }),
        );
    }
    if let Some(bind) = bind {
        builder = builder.set_bind_addr(bind);
    }
    let (task, handle) = builder.build().await?.run();
    Ok((handle, tokio::spawn(task)))
}

/// Waits (at most 5 s) until the building counts `expected` lights on.
async fn lit(
    report: &mut watch::Receiver<usize>,
    expected: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    tokio::time::timeout(
        Duration::from_secs(5),
        report.wait_for(|lit| *lit == expected),
    )
    .await??;
    println!("lights on: {expected}");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    logging::init();
    let (annex, annex_task) = server(Some("127.0.0.1:0"), None).await?;
    let annex_host = format!("ws://{}", annex.bound_addr().ok_or("the annex listens")?);
    let (report, mut counts) = watch::channel(0);
    let (main, main_task) = server(None, Some(report)).await?;

    for room in ["hall", "kitchen", "study"] {
        main.command("/building", "add_room", (room.to_owned(), None::<String>))
            .await?;
    }
    for room in ["gym", "pool"] {
        main.command(
            "/building",
            "add_room",
            (room.to_owned(), Some(annex_host.clone())),
        )
        .await?;
    }

    main.command("/room/hall", "switch", true).await?;
    annex.command("/room/pool", "switch", true).await?;
    lit(&mut counts, 2).await?;
    annex.command("/room/gym", "switch", true).await?;
    lit(&mut counts, 3).await?;
    main.command("/room/hall", "switch", false).await?;
    lit(&mut counts, 2).await?;

    main.stop();
    main_task.await??;
    annex.stop();
    annex_task.await??;
    Ok(())
}
