//! Join value lanes: a building whose `lights` lane joins the `on` lane of each of its rooms,
//! through the life of each link (linked, synced, closed, failed), removal, and persistence of
//! the links across a restart.

use std::collections::HashMap;
use std::sync::Arc;

use super::{note, Log, Running};
use tidal::agent::agent_lifecycle::{JoinValueContext, JoinValueLaneLifecycle};
use tidal::agent::agent_model::AgentRef;
use tidal::agent::event_handler::{ActionContext, AgentMetadata, StepResult};
use tidal::agent::lanes::{JoinValueLane, LinkClosedResponse};
use tidal::prelude::*;
use tidal::store::{InMemoryStore, Store};

/// A room and its light.
#[projections]
#[derive(AgentLaneModel)]
pub struct Room {
    on: ValueLane<bool>,
    switch: CommandLane<bool>,
    fixtures: MapLane<String, u32>,
}

#[derive(Clone)]
pub struct RoomLifecycle;

#[lifecycle(Room)]
impl RoomLifecycle {
    /// The room `broken` fails as it starts.
    #[on_start]
    fn start(&self, context: HandlerContext<Room>) -> impl EventHandler<Room> {
        context
            .get_parameter("id")
            .and_then(move |id| {
                let broken = std::io::Error::other("the room is broken");
                (id.as_deref() == Some("broken")).then(|| context.fail::<(), _>(broken))
            })
            .discard()
    }

    #[on_command(switch)]
    fn switch(&self, context: HandlerContext<Room>, on: &bool) -> impl EventHandler<Room> {
        context.set_value(Room::ON, *on)
    }
}

/// A building that joins the lights of its rooms.
#[projections]
#[derive(AgentLaneModel)]
pub struct Building {
    lights: JoinValueLane<String, bool>,
    lit: ValueLane<u32>,
    /// Links room `.0`'s lane `.1` into `lights`.
    add_room: CommandLane<(String, String)>,
    /// Links room `.0`'s `on` lane on the host `.1` into `lights`.
    add_remote: CommandLane<(String, String)>,
    remove_room: CommandLane<String>,
}

#[derive(Clone)]
pub struct BuildingLifecycle {
    log: Log,
    /// What a closed or failed link becomes.
    on_unlinked: LinkClosedResponse,
}

#[lifecycle(Building)]
impl BuildingLifecycle {
    #[on_command(add_room)]
    fn add_room(
        &self,
        context: HandlerContext<Building>,
        room: &(String, String),
    ) -> impl EventHandler<Building> {
        let (room, lane) = room;
        context.add_downlink(
            Building::LIGHTS,
            room.clone(),
            None,
            &format!("/room/{room}"),
            lane,
        )
    }

    #[on_command(add_remote)]
    fn add_remote(
        &self,
        context: HandlerContext<Building>,
        room: &(String, String),
    ) -> impl EventHandler<Building> {
        let (room, host) = room;
        context.add_downlink(
            Building::LIGHTS,
            room.clone(),
            Some(host),
            &format!("/room/{room}"),
            "on",
        )
    }

    #[on_command(remove_room)]
    fn remove_room(
        &self,
        context: HandlerContext<Building>,
        room: &str,
    ) -> impl EventHandler<Building> {
        context.remove_downlink(Building::LIGHTS, room.to_owned())
    }

    #[on_update(lights)]
    fn updated(
        &self,
        context: HandlerContext<Building>,
        lights: &HashMap<String, bool>,
        room: String,
        _: Option<bool>,
        on: &bool,
    ) -> impl EventHandler<Building> {
        let lit = lights.values().filter(|on| **on).count();
        note(&self.log, format!("update {room} {on}"))
            .followed_by(context.set_value(Building::LIT, u32::try_from(lit).unwrap()))
    }

    #[on_remove(lights)]
    fn removed(
        &self,
        _: HandlerContext<Building>,
        _: &HashMap<String, bool>,
        room: String,
        _: bool,
    ) -> impl EventHandler<Building> {
        note(&self.log, format!("remove {room}"))
    }

    #[join_value_lifecycle(lights)]
    fn links(
        &self,
        context: JoinValueContext<Building, String, bool>,
    ) -> impl JoinValueLaneLifecycle<String, bool, Building> {
        let (linked, synced, unlinked, failed) = (
            self.log.clone(),
            self.log.clone(),
            self.log.clone(),
            self.log.clone(),
        );
        let response = self.on_unlinked;
        context
            .builder()
            .on_linked(move |_, room, remote| {
                note(&linked, format!("linked {room} {}", remote.node))
            })
            .on_synced(move |_, room, _, on| note(&synced, format!("synced {room} {on:?}")))
            .on_unlinked(move |context, room, _, reason| {
                note(&unlinked, format!("unlinked {room} ({reason:?})"))
                    .followed_by(context.value(response))
            })
            .on_failed(move |context, room, _, reason| {
                note(&failed, format!("failed {room} ({reason:?})"))
                    .followed_by(context.value(response))
            })
            .done()
    }
}

async fn serve(store: Option<Arc<InMemoryStore>>, on_unlinked: LinkClosedResponse) -> Running {
    serve_on(store, on_unlinked, None).await
}

/// The server of the test, listening on `bind` if given.
async fn serve_on(
    store: Option<Arc<InMemoryStore>>,
    on_unlinked: LinkClosedResponse,
    bind: Option<&str>,
) -> Running {
    serve_with(on_unlinked, |mut builder| {
        if let Some(store) = store {
            builder = builder.with_store(store);
        }
        if let Some(bind) = bind {
            builder = builder.set_bind_addr(bind);
        }
        builder
    })
    .await
}

/// The server of the test, as `configure` sets it up.
async fn serve_with(
    on_unlinked: LinkClosedResponse,
    configure: impl FnOnce(ServerBuilder) -> ServerBuilder,
) -> Running {
    let log = Log::default();
    let lifecycle = BuildingLifecycle {
        log: log.clone(),
        on_unlinked,
    };
    let builder = ServerBuilder::with_plane_name("join")
        .add_route(
            "/room/:id".parse().unwrap(),
            AgentModel::new(Room::default, RoomLifecycle),
        )
        .add_route(
            "/building".parse().unwrap(),
            AgentModel::new(Building::default, lifecycle),
        );
    let (task, server) = configure(builder).build().await.unwrap().run();
    let task = tokio::spawn(task);
    server.start_agent("/building").unwrap();
    Running { server, task, log }
}

impl Running {
    async fn command<T: serde::Serialize + Send + 'static>(
        &self,
        node: &str,
        lane: &str,
        value: T,
    ) {
        self.server.command(node, lane, value).await.unwrap();
    }

    async fn add(&self, room: &str, lane: &str) {
        self.command("/building", "add_room", (room.to_owned(), lane.to_owned()))
            .await;
    }

    /// The building's lights and links, read in the agent.
    async fn lights(&self) -> (HashMap<String, bool>, Vec<String>, u32) {
        let agent: AgentRef<Building> = self.server.agent_ref("/building").unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let context = HandlerContext::<Building>::default();
        agent
            .run(context.get_map(Building::LIGHTS).and_then(move |lights| {
                context.get_value(Building::LIT).and_then(move |lit| {
                    context.effect(move || {
                        let _ = tx.send((lights, lit));
                    })
                })
            }))
            .await
            .unwrap();
        let (lights, lit) = rx.await.unwrap();
        let (tx, links) = tokio::sync::oneshot::channel();
        agent.run(LinksOf { tx: Some(tx) }).await.unwrap();
        let links = links.await.unwrap();
        (lights, links, lit)
    }
}

/// Sends the keys that have links, sorted.
struct LinksOf {
    tx: Option<tokio::sync::oneshot::Sender<Vec<String>>>,
}

impl HandlerAction<Building> for LinksOf {
    type Completion = ();

    fn step(
        &mut self,
        _: &mut ActionContext<Building>,
        _: AgentMetadata,
        agent: &Building,
    ) -> StepResult<()> {
        let mut keys: Vec<String> = agent.lights.links().into_keys().collect();
        keys.sort();
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(keys);
        }
        StepResult::done(())
    }
}

#[tokio::test]
async fn a_join_value_lane_follows_each_linked_lane_and_its_lifecycle_sees_each_link() {
    let running = serve(None, LinkClosedResponse::Abandon).await;
    let log = &running.log;
    running.add("a", "on").await;
    running.add("b", "on").await;
    log.wait_for("synced a Some(false)").await;
    log.wait_for("synced b Some(false)").await;
    assert!(log.contains("linked a /room/a"));
    running.command("/room/a", "switch", true).await;
    log.wait_for("update a true").await;
    let (lights, links, lit) = running.lights().await;
    assert_eq!(
        lights,
        HashMap::from([("a".into(), true), ("b".into(), false)])
    );
    assert_eq!((links, lit), (vec!["a".to_owned(), "b".to_owned()], 1));
    // A second link for a key that has one changes nothing.
    running.add("a", "fixtures").await;
    running.command("/room/a", "switch", false).await;
    log.wait_for("update a false").await;
    assert!(!log.contains("failed a"), "{:?}", log.lines());
    running.stop().await;
}

#[tokio::test]
async fn removing_a_link_removes_its_entry_and_stops_following_the_lane() {
    let running = serve(None, LinkClosedResponse::Abandon).await;
    let log = &running.log;
    running.add("a", "on").await;
    running.add("b", "on").await;
    log.wait_for("synced a Some(false)").await;
    log.wait_for("synced b Some(false)").await;
    running
        .command("/building", "remove_room", "a".to_owned())
        .await;
    log.wait_for("remove a").await;
    running.command("/room/a", "switch", true).await;
    running.command("/room/b", "switch", true).await;
    log.wait_for("update b true").await;
    let (lights, links, lit) = running.lights().await;
    assert_eq!(lights, HashMap::from([("b".into(), true)]));
    assert_eq!((links, lit), (vec!["b".to_owned()], 1));
    assert!(!log.contains("update a true"), "{:?}", log.lines());
    // Removing the link does not run `on_unlinked`.
    assert!(!log.contains("unlinked a"), "{:?}", log.lines());
    running.stop().await;
}

#[tokio::test]
async fn a_closed_or_failed_link_is_abandoned_or_retried_as_the_lifecycle_says_and_told_why() {
    let running = serve(None, LinkClosedResponse::Abandon).await;
    let log = &running.log;
    running.add("a", "on").await;
    log.wait_for("synced a Some(false)").await;
    // A map lane is not a value lane: the link fails, and `Abandon` drops it.
    running.add("m", "fixtures").await;
    log.wait_for(
        r#"failed m (KindMismatch { lane: "map lane", expected: "value or command lane" })"#,
    )
    .await;
    // A lane that does not exist closes the link, saying so.
    running.add("x", "nothing").await;
    log.wait_for("unlinked x (LaneNotFound)").await;
    // So does a node that no route serves.
    running
        .command("/building", "add_room", ("y".to_owned(), "on".to_owned()))
        .await;
    running
        .command(
            "/building",
            "add_room",
            ("wing/nowhere".to_owned(), "on".to_owned()),
        )
        .await;
    log.wait_for("unlinked wing/nowhere (NodeNotFound)").await;
    log.wait_for("synced y Some(false)").await;
    let (lights, links, _) = running.lights().await;
    assert_eq!(
        lights,
        HashMap::from([("a".into(), false), ("y".into(), false)])
    );
    assert_eq!(links, ["a", "y"]);
    running.stop().await;

    // `Retry` links again (with the downlinks' backoff), and is closed again each time.
    let running = serve(None, LinkClosedResponse::Retry).await;
    let log = &running.log;
    running.add("x", "nothing").await;
    super::eventually(
        || {
            let lines = log.lines();
            lines
                .iter()
                .filter(|l| *l == "unlinked x (LaneNotFound)")
                .count()
                >= 3
        },
        || format!("not retried: {:?}", log.lines()),
    )
    .await;
    let (_, links, _) = running.lights().await;
    assert_eq!(links, ["x"]);
    running
        .command("/building", "remove_room", "x".to_owned())
        .await;
    let (_, links, _) = running.lights().await;
    assert!(links.is_empty());
    running.stop().await;
}

#[tokio::test]
async fn a_building_started_again_on_its_store_opens_its_links_again() {
    let store = Arc::new(InMemoryStore::new());
    let running = serve(Some(store.clone()), LinkClosedResponse::Abandon).await;
    running.add("a", "on").await;
    running.add("b", "on").await;
    running.command("/room/b", "switch", true).await;
    running.log.wait_for("update b true").await;
    running.stop().await;
    assert!(!store.load("/building").unwrap().is_empty());

    // Nobody adds the rooms again: the building links them from its store.
    let running = serve(Some(store), LinkClosedResponse::Abandon).await;
    running.log.wait_for("synced a Some(false)").await;
    running.log.wait_for("synced b Some(true)").await;
    let (lights, links, lit) = running.lights().await;
    assert_eq!(
        lights,
        HashMap::from([("a".into(), false), ("b".into(), true)])
    );
    assert_eq!((links, lit), (vec!["a".to_owned(), "b".to_owned()], 1));
    running.stop().await;
}

#[tokio::test]
async fn a_join_value_lane_links_lanes_on_another_server() {
    let rooms = serve_on(None, LinkClosedResponse::Abandon, Some("127.0.0.1:0")).await;
    let host = format!("ws://{}", rooms.server.bound_addr().unwrap());
    let building = serve(None, LinkClosedResponse::Abandon).await;
    let log = &building.log;
    building
        .command("/building", "add_remote", ("far".to_owned(), host))
        .await;
    log.wait_for("synced far Some(false)").await;
    rooms.command("/room/far", "switch", true).await;
    log.wait_for("update far true").await;
    let (lights, _, lit) = building.lights().await;
    assert_eq!((lights, lit), (HashMap::from([("far".into(), true)]), 1));
    building.stop().await;
    rooms.stop().await;
}

/// A graceful stop (what `run_until` does on SIGINT) stops the rooms and the building
/// together: the building hears its links close because the rooms' server stops, which is no
/// reason to forget them, whatever its lifecycle answers. 20 restarts on a store directory, 50
/// rooms, under each answer: every link and entry is back each time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_restarts_keep_every_joined_link_whatever_the_lifecycle_answers() {
    const ROOMS: usize = 50;
    const RESTARTS: usize = 20;
    let room = |i: usize| format!("r{i:02}");
    let expected: HashMap<String, bool> = (0..ROOMS).map(|i| (room(i), i % 3 == 0)).collect();
    let mut keys: Vec<String> = expected.keys().cloned().collect();
    keys.sort();
    for response in [
        LinkClosedResponse::Retry,
        LinkClosedResponse::Abandon,
        LinkClosedResponse::Delete,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let stored = |builder: ServerBuilder| builder.with_store_dir(dir.path());
        let running = serve_with(response, stored).await;
        for i in 0..ROOMS {
            running.add(&room(i), "on").await;
            running
                .command(&format!("/room/{}", room(i)), "switch", i % 3 == 0)
                .await;
        }
        for i in 0..ROOMS {
            running
                .log
                .wait_for(&format!("update {} {}", room(i), i % 3 == 0))
                .await;
        }
        running.stop().await;
        for restart in 0..RESTARTS {
            // Nobody adds the rooms again: the building links them from its store.
            let running = serve_with(response, stored).await;
            for (room, on) in &expected {
                running
                    .log
                    .wait_for(&format!("synced {room} Some({on})"))
                    .await;
            }
            let (lights, links, _) = running.lights().await;
            assert_eq!(lights, expected, "{response:?}, restart {restart}");
            assert_eq!(links, keys, "{response:?}, restart {restart}");
            running.stop().await;
        }
    }
}

/// The server of a joined room stops gracefully and comes back on the same address: the link is
/// not the room's fault, so the building keeps it (and its entry, even under `Delete`), links
/// again once the server is back, and follows the room as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_link_to_another_server_outlives_that_server_s_graceful_restart() {
    let store = Arc::new(InMemoryStore::new());
    let rooms = serve_on(
        Some(store.clone()),
        LinkClosedResponse::Delete,
        Some("127.0.0.1:0"),
    )
    .await;
    let addr = rooms.server.bound_addr().unwrap();
    let building = serve(None, LinkClosedResponse::Delete).await;
    let log = &building.log;
    building
        .command(
            "/building",
            "add_remote",
            ("far".to_owned(), format!("ws://{addr}")),
        )
        .await;
    log.wait_for("synced far Some(false)").await;
    rooms.command("/room/far", "switch", true).await;
    log.wait_for("update far true").await;

    rooms.stop().await;
    let rooms = serve_on(
        Some(store),
        LinkClosedResponse::Delete,
        Some(&addr.to_string()),
    )
    .await;
    // Changed while the building may not be linked yet: it sees it once it is (its second
    // `false`: the first came with the first sync).
    rooms.command("/room/far", "switch", false).await;
    super::eventually(
        || {
            let lines = log.lines();
            lines
                .iter()
                .filter(|line| *line == "update far false")
                .count()
                == 2
        },
        || format!("the room's change never came: {:?}", log.lines()),
    )
    .await;
    let (lights, links, _) = building.lights().await;
    assert_eq!(
        (lights, links),
        (
            HashMap::from([("far".into(), false)]),
            vec!["far".to_owned()]
        )
    );
    let lines = log.lines();
    assert!(
        !lines.iter().any(|line| line.starts_with("remove far")),
        "{lines:?}"
    );
    // If the building heard of the stop, it heard that the server was stopping.
    let closes: Vec<&String> = lines
        .iter()
        .filter(|line| line.starts_with("unlinked far"))
        .collect();
    assert!(
        closes.iter().all(|line| line.contains("ServerStopping")),
        "{lines:?}"
    );
    building.stop().await;
    rooms.stop().await;
}

/// A room that fails as it starts stops (under the `Stop` policy): the building's link to it
/// ends at once, saying that the agent stopped (a final close: `Delete` drops the link), and the
/// building goes on with the other rooms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_to_an_agent_that_fails_as_it_starts_ends_saying_so() {
    let stop_on_failure = |builder: ServerBuilder| {
        builder.update_config(|config| {
            config.agent.on_handler_error = tidal::agent::config::HandlerErrorPolicy::Stop;
        })
    };
    let running = serve_with(LinkClosedResponse::Delete, stop_on_failure).await;
    let log = &running.log;
    running.add("broken", "on").await;
    log.wait_for("unlinked broken (AgentStopped)").await;
    running.add("a", "on").await;
    log.wait_for("synced a Some(false)").await;
    let (lights, links, _) = running.lights().await;
    assert_eq!(
        (lights, links),
        (HashMap::from([("a".into(), false)]), vec!["a".to_owned()])
    );
    running.stop().await;
}
