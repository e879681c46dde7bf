//! Value, map and event downlinks between agents of one server: their handles, their
//! configuration, bad targets and routes.

use super::*;
use tidal::agent::lanes::MapMessage;

#[tokio::test]
async fn a_value_downlink_converts_the_lane_type_and_writes_through_its_handle() {
    let running = serve(value_plan(SimpleDownlinkConfig::default())).await;
    let log = &running.log;
    log.wait_for("synced 0").await;
    // The lane holds i64, the downlink i32: values are converted.
    running
        .server
        .command("/source/1", "value", 41i64)
        .await
        .unwrap();
    log.wait_for("set Some(0) -> 41").await;
    // Writes through the handle go to the remote lane and come back as events.
    running.server.command("/watcher", "set", 7).await.unwrap();
    log.wait_for("set Some(41) -> 7").await;
    assert_eq!(
        log.lines(),
        [
            "linked",
            "synced 0",
            "event 41",
            "set Some(0) -> 41",
            "event 7",
            "set Some(41) -> 7"
        ]
    );
    // `get` reads the last value received.
    running.server.command("/watcher", "end", 1).await.unwrap();
    log.wait_for("ended, last Some(7)").await;
    log.wait_for("unlinked").await;
    // A stopped downlink refuses writes.
    running.server.command("/watcher", "set", 8).await.unwrap();
    log.wait_for("set refused").await;
    running.stop().await;
}

#[tokio::test]
async fn events_before_the_sync_reach_handlers_only_when_configured() {
    let config = SimpleDownlinkConfig {
        events_when_not_synced: true,
        ..SimpleDownlinkConfig::default()
    };
    let running = serve(value_plan(config)).await;
    running.log.wait_for("synced 0").await;
    // The lane's state arrives as an event before the sync completes.
    assert_eq!(
        running.log.lines(),
        ["linked", "event 0", "set None -> 0", "synced 0"]
    );
    running.stop().await;
}

#[tokio::test]
async fn a_map_downlink_syncs_entries_then_follows_updates_removals_and_clears() {
    let running = serve(Plan::Map(
        "/source/1",
        "entries",
        MapDownlinkConfig::default(),
    ))
    .await;
    let (server, log) = (&running.server, &running.log);
    let update = |key: &str, value| MapMessage::Update {
        key: key.to_owned(),
        value,
    };
    server
        .command("/source/1", "entries", update("a", 1))
        .await
        .unwrap();
    log.wait_for(r#"synced ["a=1"]"#).await;
    server
        .command("/source/1", "entries", update("b", 2))
        .await
        .unwrap();
    log.wait_for("update b None -> 2 (2 keys)").await;
    server
        .command("/source/1", "entries", update("a", 3))
        .await
        .unwrap();
    log.wait_for("update a Some(1) -> 3 (2 keys)").await;
    server
        .command(
            "/source/1",
            "entries",
            MapMessage::<String, i32>::Remove { key: "b".into() },
        )
        .await
        .unwrap();
    log.wait_for("remove b 2 (1 keys)").await;
    // Writes through the handle.
    server
        .command("/watcher", "put", "c=9".to_owned())
        .await
        .unwrap();
    log.wait_for("update c None -> 9 (2 keys)").await;
    server
        .command("/watcher", "put", "-a".to_owned())
        .await
        .unwrap();
    log.wait_for("remove a 3 (1 keys)").await;
    server
        .command("/watcher", "put", "clear".to_owned())
        .await
        .unwrap();
    log.wait_for("clear 1").await;
    running.stop().await;
}

#[tokio::test]
async fn an_event_downlink_receives_every_command_of_a_command_lane() {
    let running = serve(Plan::Event("/source/1", "shout")).await;
    let (server, log) = (&running.server, &running.log);
    log.wait_for("linked").await;
    for word in ["one", "two", "three"] {
        server
            .command("/source/1", "shout", word.to_owned())
            .await
            .unwrap();
    }
    log.wait_for("event three").await;
    assert_eq!(
        log.lines(),
        ["linked", "event one", "event two", "event three"]
    );
    running.stop().await;
}

#[tokio::test]
async fn unknown_nodes_and_lanes_unlink_and_wrong_kinds_fail() {
    for (plan, expected, reason) in [
        (
            Plan::Value("/nowhere", "value", SimpleDownlinkConfig::default()),
            vec!["unlinked"],
            "reason NodeNotFound",
        ),
        (
            Plan::Value("/source/1", "missing", SimpleDownlinkConfig::default()),
            vec!["unlinked"],
            "reason LaneNotFound",
        ),
        (
            Plan::Map("/source/1", "value", MapDownlinkConfig::default()),
            vec!["failed"],
            r#"reason KindMismatch { lane: "value lane", expected: "map lane" }"#,
        ),
        (
            Plan::Value("/source/1", "entries", SimpleDownlinkConfig::default()),
            vec!["failed"],
            r#"reason KindMismatch { lane: "map lane", expected: "value or command lane" }"#,
        ),
    ] {
        let running = serve(plan).await;
        running.log.wait_for(expected[0]).await;
        assert_eq!(running.log.lines(), expected);
        // The handle says why.
        running
            .server
            .command("/watcher", "probe", 0)
            .await
            .unwrap();
        running.log.wait_for(reason).await;
        running.stop().await;
    }
}

#[tokio::test]
async fn dropping_the_handle_stops_the_downlink_and_releases_the_lane() {
    let running = serve(value_plan(SimpleDownlinkConfig::default())).await;
    let (server, log) = (&running.server, &running.log);
    log.wait_for("synced 0").await;
    server.command("/watcher", "end", 2).await.unwrap();
    log.wait_for("unlinked").await;
    // Nothing links to the source any more: it passivates (100 ms of inactivity).
    eventually(
        || !server.is_running("/source/1"),
        || "the source never passivated".to_owned(),
    )
    .await;
    running.stop().await;
}

#[tokio::test]
async fn terminate_on_unlinked_decides_whether_a_downlink_relinks() {
    // Default: the downlink stops when its lane goes away.
    let running = serve(value_plan(SimpleDownlinkConfig::default())).await;
    running.log.wait_for("synced 0").await;
    running
        .server
        .command("/source/1", "stop", 0)
        .await
        .unwrap();
    running.log.wait_for("unlinked").await;
    assert_eq!(running.log.lines(), ["linked", "synced 0", "unlinked"]);
    running.stop().await;

    // Otherwise it links again (starting the agent again) and resyncs.
    let config = SimpleDownlinkConfig {
        terminate_on_unlinked: false,
        ..SimpleDownlinkConfig::default()
    };
    let running = serve(value_plan(config)).await;
    let (server, log) = (&running.server, &running.log);
    log.wait_for("synced 0").await;
    server.command("/source/1", "value", 5i64).await.unwrap();
    log.wait_for("event 5").await;
    server.command("/source/1", "stop", 0).await.unwrap();
    log.wait_for("unlinked").await;
    let synced = || log.lines().iter().filter(|l| *l == "synced 0").count();
    eventually(
        || synced() == 2,
        || format!("not resynced: {:?}", log.lines()),
    )
    .await;
    assert_eq!(
        log.lines(),
        [
            "linked",
            "synced 0",
            "event 5",
            "set Some(0) -> 5",
            "unlinked",
            "linked",
            "synced 0"
        ]
    );
    running.stop().await;
}

#[tokio::test]
async fn servers_refuse_ambiguous_routes_and_unknown_nodes() {
    let ambiguous = ServerBuilder::with_plane_name("routes")
        .add_route(
            RoutePattern::parse_str("/rooms/kitchen").unwrap(),
            AgentModel::new(Source::default, SourceLifecycle),
        )
        .add_route(
            RoutePattern::parse_str("/rooms/:id").unwrap(),
            AgentModel::new(Source::default, SourceLifecycle),
        )
        .build()
        .await;
    match ambiguous {
        Err(err) => assert_eq!(
            err.to_string(),
            "the routes `/rooms/kitchen` and `/rooms/:id` overlap: some node URI matches both"
        ),
        Ok(_) => panic!("overlapping routes were accepted"),
    }

    let running = serve(value_plan(SimpleDownlinkConfig::default())).await;
    assert_eq!(
        running.server.start_agent("/rooms/1"),
        Err(ServerError::NodeNotFound("/rooms/1".to_owned()))
    );
    assert_eq!(
        running.server.command("/nowhere", "value", 1).await,
        Err(ServerError::NodeNotFound("/nowhere".to_owned()))
    );
    // Agents start on demand, one per node URI.
    running.server.start_agent("/source/7").unwrap();
    assert!(running.server.is_running("/source/7"));
    assert!(!running.server.is_running("/source/8"));
    running.stop().await;
}
