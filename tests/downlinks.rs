//! Downlinks between agents of one server: value, map and event downlinks, their handles,
//! their configuration, bad targets, and many agents at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tidal::agent::{
    agent_lifecycle::HandlerContext,
    agent_model::downlink::hosted::{
        DownlinkError, EventDownlinkHandle, MapDownlinkHandle, ValueDownlinkHandle,
    },
    agent_model::AgentModel,
    config::{MapDownlinkConfig, SimpleDownlinkConfig},
    event_handler::{EventHandler, HandlerActionExt},
    lanes::{CommandLane, MapLane, MapMessage, ValueLane},
    lifecycle, projections,
    state::State,
    AgentLaneModel,
};
use tidal::route::RoutePattern;
use tidal::server::{ServerBuilder, ServerError, ServerHandle};
use tokio::task::JoinHandle;

/// What the agents of a test saw, in order.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

/// A handler that logs `line`.
fn note<A: 'static>(log: &Log, line: String) -> impl EventHandler<A> {
    let log = log.clone();
    HandlerContext::<A>::default().effect(move || log.push(line))
}

impl Log {
    fn push(&self, line: String) {
        self.0.lock().unwrap().push(line);
    }

    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    fn contains(&self, line: &str) -> bool {
        self.lines().iter().any(|l| l == line)
    }

    /// Waits until `line` has been logged.
    async fn wait_for(&self, line: &str) {
        eventually(
            || self.contains(line),
            || format!("`{line}` never came; log: {:?}", self.lines()),
        )
        .await;
    }
}

/// Waits (at most 10 s) until `done` holds, or fails with the message `failure` makes.
async fn eventually(done: impl Fn() -> bool, failure: impl FnOnce() -> String) {
    let reached = tokio::time::timeout(Duration::from_secs(10), async {
        while !done() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(reached.is_ok(), "{}", failure());
}

/// The agent downlinks link to.
#[projections]
#[derive(AgentLaneModel)]
pub struct Source {
    value: ValueLane<i64>,
    entries: MapLane<String, i32>,
    shout: CommandLane<String>,
    stop: CommandLane<i32>,
}

#[derive(Clone)]
pub struct SourceLifecycle;

#[lifecycle(Source)]
impl SourceLifecycle {
    #[on_command(stop)]
    fn stop(&self, context: HandlerContext<Source>, _: &i32) -> impl EventHandler<Source> {
        context.stop()
    }
}

/// Which downlink a watcher opens.
#[derive(Clone)]
pub enum Plan {
    Value(&'static str, &'static str, SimpleDownlinkConfig),
    Map(&'static str, &'static str, MapDownlinkConfig),
    Event(&'static str, &'static str),
}

#[derive(Default)]
pub struct Handles {
    value: Option<ValueDownlinkHandle<i32>>,
    map: Option<MapDownlinkHandle<String, i32>>,
    event: Option<EventDownlinkHandle>,
}

/// An agent that opens one downlink and takes commands to use its handle.
#[projections]
#[derive(AgentLaneModel)]
pub struct Watcher {
    /// Sets the remote value through the value downlink's handle.
    set: CommandLane<i32>,
    /// Updates the remote map through the map downlink's handle (`key=value`, or `-key`).
    put: CommandLane<String>,
    /// 1: stop the downlink through its handle; 2: drop the handle.
    end: CommandLane<i32>,
    /// Logs the status of the downlink (`status Linked`, ...).
    probe: CommandLane<i32>,
}

pub struct WatcherLifecycle {
    plan: Plan,
    /// The host of the source (`None`: this server).
    host: Option<String>,
    log: Log,
    handles: State<Watcher, Handles>,
}

#[lifecycle(Watcher)]
impl WatcherLifecycle {
    #[on_start]
    fn start(&self, context: HandlerContext<Watcher>) -> impl EventHandler<Watcher> + '_ {
        let log = self.log.clone();
        let handles = &self.handles;
        let host = self.host.as_deref();
        match self.plan.clone() {
            Plan::Value(node, lane, config) => {
                let (l1, l2, l3, l4, l5, l6) = (
                    log.clone(),
                    log.clone(),
                    log.clone(),
                    log.clone(),
                    log.clone(),
                    log,
                );
                context
                    .value_downlink_builder::<i32>(host, node, lane, config)
                    .on_linked(move |_| note(&l1, "linked".into()))
                    .on_synced(move |_, v| {
                        let v = *v;
                        note(&l2, format!("synced {v}"))
                    })
                    .on_event(move |_, v| {
                        let v = *v;
                        note(&l3, format!("event {v}"))
                    })
                    .on_set(move |_, previous, v| {
                        let v = *v;
                        note(&l4, format!("set {previous:?} -> {v}"))
                    })
                    .on_unlinked(move |_| note(&l5, "unlinked".into()))
                    .on_failed(move |_| note(&l6, "failed".into()))
                    .done()
                    .and_then(move |handle| handles.with_mut(move |h| h.value = Some(handle)))
                    .boxed_local()
            }
            Plan::Map(node, lane, config) => {
                let (l1, l2, l3, l4, l5, l6, l7) = (
                    log.clone(),
                    log.clone(),
                    log.clone(),
                    log.clone(),
                    log.clone(),
                    log.clone(),
                    log,
                );
                context
                    .map_downlink_builder::<String, i32>(host, node, lane, config)
                    .on_linked(move |_| note(&l1, "linked".into()))
                    .on_synced(move |_, map| {
                        let mut entries: Vec<_> =
                            map.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        entries.sort();
                        note(&l2, format!("synced {entries:?}"))
                    })
                    .on_update(move |_, map, key, previous, value| {
                        let line =
                            format!("update {key} {previous:?} -> {value} ({} keys)", map.len());
                        note(&l3, line)
                    })
                    .on_remove(move |_, map, key, removed| {
                        let line = format!("remove {key} {removed} ({} keys)", map.len());
                        note(&l4, line)
                    })
                    .on_clear(move |_, before| {
                        let line = format!("clear {}", before.len());
                        note(&l5, line)
                    })
                    .on_unlinked(move |_| note(&l6, "unlinked".into()))
                    .on_failed(move |_| note(&l7, "failed".into()))
                    .done()
                    .and_then(move |handle| handles.with_mut(move |h| h.map = Some(handle)))
                    .boxed_local()
            }
            Plan::Event(node, lane) => {
                let (l1, l2, l3) = (log.clone(), log.clone(), log);
                context
                    .event_downlink_builder::<String>(
                        host,
                        node,
                        lane,
                        SimpleDownlinkConfig::default(),
                    )
                    .on_linked(move |_| note(&l1, "linked".into()))
                    .on_event(move |_, text| note(&l2, format!("event {text}")))
                    .on_unlinked(move |_| note(&l3, "unlinked".into()))
                    .done()
                    .and_then(move |handle| handles.with_mut(move |h| h.event = Some(handle)))
                    .boxed_local()
            }
        }
    }

    #[on_command(set)]
    fn set(
        &self,
        context: HandlerContext<Watcher>,
        value: &i32,
    ) -> impl EventHandler<Watcher> + '_ {
        let (value, log) = (*value, self.log.clone());
        self.handles
            .with_mut(move |h| h.value.as_mut().map(|handle| handle.set(value)))
            .and_then(move |result| {
                context.effect(move || {
                    if let Some(Err(DownlinkError::Stopped)) = result {
                        log.push("set refused".into());
                    }
                })
            })
    }

    #[on_command(put)]
    fn put(&self, _context: HandlerContext<Watcher>, op: &str) -> impl EventHandler<Watcher> + '_ {
        let op = op.to_owned();
        self.handles.with_mut(move |h| {
            if let Some(handle) = &h.map {
                let result = match op.split_once('=') {
                    Some((key, value)) => handle.update(key.to_owned(), value.parse().unwrap_or(0)),
                    None if op == "clear" => handle.clear(),
                    None => handle.remove(op.trim_start_matches('-').to_owned()),
                };
                result.expect("the downlink runs");
            }
        })
    }

    #[on_command(probe)]
    fn probe(&self, context: HandlerContext<Watcher>, _: &i32) -> impl EventHandler<Watcher> + '_ {
        let log = self.log.clone();
        self.handles
            .with(|h| {
                let value = h.value.as_ref().map(ValueDownlinkHandle::status);
                value.or(h.map.as_ref().map(MapDownlinkHandle::status))
            })
            .and_then(move |status| context.effect(move || log.push(format!("status {status:?}"))))
    }

    #[on_command(end)]
    fn end(&self, context: HandlerContext<Watcher>, how: &i32) -> impl EventHandler<Watcher> + '_ {
        let (how, log) = (*how, self.log.clone());
        self.handles
            .with_mut(move |h| {
                if how == 1 {
                    if let Some(handle) = h.value.as_mut() {
                        handle.stop();
                    }
                    h.map.as_ref().map(MapDownlinkHandle::stop);
                    h.event.as_ref().map(EventDownlinkHandle::stop);
                } else {
                    *h = Handles::default();
                }
                h.value.as_ref().and_then(|handle| handle.get())
            })
            .and_then(move |last| context.effect(move || log.push(format!("ended, last {last:?}"))))
    }
}

struct Running {
    server: ServerHandle,
    task: JoinHandle<Result<(), ServerError>>,
    log: Log,
}

impl Running {
    async fn stop(self) {
        self.server.stop();
        self.task.await.unwrap().unwrap();
    }
}

async fn serve(plan: Plan) -> Running {
    let log = Log::default();
    let watcher_log = log.clone();
    let server = ServerBuilder::with_plane_name("downlinks")
        .add_route(
            RoutePattern::parse_str("/source/:id").unwrap(),
            AgentModel::new(Source::default, SourceLifecycle),
        )
        .add_route(
            RoutePattern::parse_str("/watcher").unwrap(),
            AgentModel::from_fn(Watcher::default, move || WatcherLifecycle {
                plan: plan.clone(),
                host: None,
                log: watcher_log.clone(),
                handles: State::default(),
            }),
        )
        .update_config(|config| config.agent.inactive_timeout = Some(Duration::from_millis(100)))
        .build()
        .await
        .unwrap();
    let (task, server) = server.run();
    let task = tokio::spawn(task);
    server.start_agent("/watcher").await.unwrap();
    Running { server, task, log }
}

fn value_plan(config: SimpleDownlinkConfig) -> Plan {
    Plan::Value("/source/1", "value", config)
}

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
    for (plan, expected) in [
        (
            Plan::Value("/nowhere", "value", SimpleDownlinkConfig::default()),
            vec!["unlinked"],
        ),
        (
            Plan::Value("/source/1", "missing", SimpleDownlinkConfig::default()),
            vec!["unlinked"],
        ),
        (
            Plan::Map("/source/1", "value", MapDownlinkConfig::default()),
            vec!["failed"],
        ),
        (
            Plan::Value("/source/1", "entries", SimpleDownlinkConfig::default()),
            vec!["failed"],
        ),
    ] {
        let running = serve(plan).await;
        running.log.wait_for(expected[0]).await;
        assert_eq!(running.log.lines(), expected);
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

/// A thousand agents, each with a value downlink to one lane.
#[projections]
#[derive(AgentLaneModel)]
pub struct Follower {
    seen: ValueLane<i64>,
}

pub struct FollowerLifecycle {
    linked: Arc<AtomicUsize>,
    latest: Arc<AtomicUsize>,
    handle: State<Follower, Option<ValueDownlinkHandle<i64>>>,
}

#[lifecycle(Follower)]
impl FollowerLifecycle {
    #[on_start]
    fn start(&self, context: HandlerContext<Follower>) -> impl EventHandler<Follower> + '_ {
        let (linked, latest) = (self.linked.clone(), self.latest.clone());
        context
            .value_downlink_builder::<i64>(
                None,
                "/source/1",
                "value",
                SimpleDownlinkConfig::default(),
            )
            .on_synced(move |context, _| {
                let linked = linked.clone();
                context.effect(move || {
                    linked.fetch_add(1, Ordering::SeqCst);
                })
            })
            .on_event(move |context, value| {
                let (value, latest) = (*value, latest.clone());
                context
                    .set_value(Follower::SEEN, value)
                    .followed_by(context.effect(move || {
                        if value == 1000 {
                            latest.fetch_add(1, Ordering::SeqCst);
                        }
                    }))
            })
            .done()
            .and_then(move |handle| self.handle.set(Some(handle)))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_agents_follow_one_lane() {
    let linked = Arc::new(AtomicUsize::new(0));
    let latest = Arc::new(AtomicUsize::new(0));
    let (l, t) = (linked.clone(), latest.clone());
    let server = ServerBuilder::with_plane_name("many")
        .add_route(
            RoutePattern::parse_str("/source/:id").unwrap(),
            AgentModel::new(Source::default, SourceLifecycle),
        )
        .add_route(
            RoutePattern::parse_str("/follower/:id").unwrap(),
            AgentModel::from_fn(Follower::default, move || FollowerLifecycle {
                linked: l.clone(),
                latest: t.clone(),
                handle: State::default(),
            }),
        )
        .build()
        .await
        .unwrap();
    let (task, server) = server.run();
    let task = tokio::spawn(task);
    for i in 0..1000 {
        server.start_agent(&format!("/follower/{i}")).await.unwrap();
    }
    let wait = |counter: Arc<AtomicUsize>| async move {
        eventually(
            || counter.load(Ordering::SeqCst) >= 1000,
            || {
                format!(
                    "{} followers got there, not 1000",
                    counter.load(Ordering::SeqCst)
                )
            },
        )
        .await
    };
    wait(linked.clone()).await;
    for value in 1..=1000i64 {
        server.command("/source/1", "value", value).await.unwrap();
    }
    wait(latest.clone()).await;
    assert_eq!(server.running_agents(), 1001);
    let follower = server.agent_ref::<Follower>("/follower/999").await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let context = HandlerContext::<Follower>::default();
    follower
        .run(
            context
                .get_value(Follower::SEEN)
                .and_then(move |v| context.effect(move || tx.send(v).unwrap())),
        )
        .await
        .unwrap();
    assert_eq!(rx.await.unwrap(), 1000);
    server.stop();
    task.await.unwrap().unwrap();
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
        running.server.start_agent("/rooms/1").await,
        Err(ServerError::NodeNotFound("/rooms/1".to_owned()))
    );
    assert_eq!(
        running.server.command("/nowhere", "value", 1).await,
        Err(ServerError::NodeNotFound("/nowhere".to_owned()))
    );
    // Agents start on demand, one per node URI.
    running.server.start_agent("/source/7").await.unwrap();
    assert!(running.server.is_running("/source/7"));
    assert!(!running.server.is_running("/source/8"));
    running.stop().await;
}

/// Downlinks to lanes of another server, over WARP.
mod remote {
    use super::*;
    use std::net::SocketAddr;
    use std::time::Instant;

    /// A server with the source agents, listening on `addr`.
    async fn source_server(addr: SocketAddr) -> Running {
        let server = ServerBuilder::with_plane_name("source")
            .set_bind_addr(addr)
            .add_route(
                RoutePattern::parse_str("/source/:id").unwrap(),
                AgentModel::new(Source::default, SourceLifecycle),
            )
            .build()
            .await
            .unwrap();
        let (task, server) = server.run();
        Running {
            server,
            task: tokio::spawn(task),
            log: Log::default(),
        }
    }

    /// A server whose watcher agents (`/watcher/:id`) link to `host` as `plan` says.
    async fn watcher_server(plan: Plan, host: String, max_attempts: Option<u32>) -> Running {
        let log = Log::default();
        let watcher_log = log.clone();
        let server = ServerBuilder::with_plane_name("watchers")
            .add_route(
                RoutePattern::parse_str("/watcher/:id").unwrap(),
                AgentModel::from_fn(Watcher::default, move || WatcherLifecycle {
                    plan: plan.clone(),
                    host: Some(host.clone()),
                    log: watcher_log.clone(),
                    handles: State::default(),
                }),
            )
            .update_config(|config| {
                config.remote.initial_delay = Duration::from_millis(20);
                config.remote.max_delay = Duration::from_millis(200);
                config.remote.max_attempts = max_attempts;
            })
            .build()
            .await
            .unwrap();
        let (task, server) = server.run();
        Running {
            server,
            task: tokio::spawn(task),
            log,
        }
    }

    /// Waits until a value downlink that lost its connection has linked again and holds 9
    /// (written during the outage), having neither unlinked nor failed.
    async fn relinked_to_9(log: &Log) {
        count(log, "linked", 2).await;
        eventually(
            || log.contains("synced 9") || log.contains("event 9"),
            || format!("9 never came: {:?}", log.lines()),
        )
        .await;
        never_unlinked(log);
    }

    /// A lost connection is not an unlink.
    fn never_unlinked(log: &Log) {
        let lines = log.lines();
        assert!(
            !lines.iter().any(|l| l == "unlinked" || l == "failed"),
            "{lines:?}"
        );
    }

    async fn count(log: &Log, line: &str, n: usize) {
        let seen = || log.lines().iter().filter(|l| *l == line).count();
        eventually(
            || seen() >= n,
            || format!("`{line}` came {} times, not {n}", seen()),
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_remote_downlink_survives_a_restart_of_its_host_and_delivers_writes_made_meanwhile() {
        let source = source_server("127.0.0.1:0".parse().unwrap()).await;
        let addr = source.server.bound_addr().await.unwrap();
        let watchers = watcher_server(
            value_plan(SimpleDownlinkConfig::default()),
            format!("ws://{addr}"),
            None,
        )
        .await;
        watchers.server.start_agent("/watcher/1").await.unwrap();
        let log = watchers.log.clone();
        log.wait_for("synced 0").await;
        source
            .server
            .command("/source/1", "value", 5i64)
            .await
            .unwrap();
        log.wait_for("set Some(0) -> 5").await;
        // A write through the handle reaches the remote lane and comes back.
        watchers
            .server
            .command("/watcher/1", "set", 7)
            .await
            .unwrap();
        log.wait_for("set Some(5) -> 7").await;

        // The host goes away: not an unlink.
        source.stop().await;
        // A value set during the outage is kept (the latest one) and sent on reconnection.
        watchers
            .server
            .command("/watcher/1", "set", 8)
            .await
            .unwrap();
        watchers
            .server
            .command("/watcher/1", "set", 9)
            .await
            .unwrap();
        let source = source_server(addr).await;
        // Relinked and resynced. The new host's agent starts from 0 and the queued write sets 9,
        // possibly before the sync completes (then the downlink syncs straight to 9).
        relinked_to_9(&log).await;
        let lines = log.lines();
        assert_eq!(
            lines.iter().filter(|l| l.starts_with("synced")).count(),
            2,
            "{lines:?}"
        );
        watchers.stop().await;
        source.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn remote_map_downlinks_sync_write_and_keep_operations_made_during_an_outage() {
        let source = source_server("127.0.0.1:0".parse().unwrap()).await;
        let addr = source.server.bound_addr().await.unwrap();
        let plan = Plan::Map("/source/1", "entries", MapDownlinkConfig::default());
        let watchers = watcher_server(plan, format!("warp://{addr}"), None).await;
        watchers.server.start_agent("/watcher/1").await.unwrap();
        let log = watchers.log.clone();
        log.wait_for("synced []").await;
        watchers
            .server
            .command("/watcher/1", "put", "a=1".to_owned())
            .await
            .unwrap();
        log.wait_for("update a None -> 1 (1 keys)").await;
        watchers
            .server
            .command("/watcher/1", "put", "-a".to_owned())
            .await
            .unwrap();
        log.wait_for("remove a 1 (0 keys)").await;

        // Every operation made while the host is away is sent once it is back, in order.
        source.stop().await;
        for op in ["b=2", "c=3", "-b"] {
            watchers
                .server
                .command("/watcher/1", "put", op.to_owned())
                .await
                .unwrap();
        }
        // The new host's agent starts empty. The operations may reach it before, during or
        // after its sync of the relinked downlink: in every case the lane ends with `c` alone.
        let source = source_server(addr).await;
        let resynced = || {
            let lines = log.lines();
            let at = lines.iter().rposition(|l| l == "linked").unwrap();
            lines[at..].to_vec()
        };
        eventually(
            || {
                let lines = resynced();
                lines.contains(&"synced [\"c=3\"]".to_owned())
                    || lines.contains(&"remove b 2 (1 keys)".to_owned())
            },
            || format!("the operations never came: {:?}", log.lines()),
        )
        .await;
        let client = tidal::client::Client::new();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut tx = Some(tx);
        let _remote = client
            .map_downlink::<String, i32>(&format!("ws://{addr}"), "/source/1", "entries")
            .on_synced(move |entries| {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(entries.clone());
                }
            })
            .open()
            .await
            .unwrap();
        let entries = tokio::time::timeout(Duration::from_secs(10), rx).await;
        let expected = std::collections::HashMap::from([("c".to_owned(), 3)]);
        assert_eq!(entries.unwrap().unwrap(), expected, "{:?}", log.lines());
        watchers.stop().await;
        source.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_thousand_remote_downlinks_share_one_connection() {
        let source = source_server("127.0.0.1:0".parse().unwrap()).await;
        let addr = source.server.bound_addr().await.unwrap();
        let watchers = watcher_server(
            value_plan(SimpleDownlinkConfig::default()),
            format!("ws://{addr}"),
            None,
        )
        .await;
        for i in 0..1000 {
            watchers
                .server
                .start_agent(&format!("/watcher/{i}"))
                .await
                .unwrap();
        }
        count(&watchers.log, "synced 0", 1000).await;
        assert_eq!(source.server.open_connections(), 1);
        source
            .server
            .command("/source/1", "value", 3i64)
            .await
            .unwrap();
        count(&watchers.log, "event 3", 1000).await;
        assert_eq!(source.server.open_connections(), 1);
        watchers.stop().await;
        source.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unreachable_host_is_retried_with_backoff_then_fails_without_unlinking() {
        // A port where nothing listens.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let started = Instant::now();
        let watchers = watcher_server(
            value_plan(SimpleDownlinkConfig::default()),
            format!("ws://{addr}"),
            Some(3),
        )
        .await;
        watchers.server.start_agent("/watcher/1").await.unwrap();
        watchers.log.wait_for("failed").await;
        // Three attempts with two waits between them: at least half of 20 ms + 40 ms (jitter).
        assert!(
            started.elapsed() >= Duration::from_millis(30),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(watchers.log.lines(), ["failed"]);
        watchers.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_plain_rust_client_links_writes_and_commands() {
        use tidal::client::Client;

        let source = source_server("127.0.0.1:0".parse().unwrap()).await;
        let host = format!("ws://{}", source.server.bound_addr().await.unwrap());
        let client = Client::new();
        let log = Log::default();
        let (l1, l2, l3) = (log.clone(), log.clone(), log.clone());
        let mut value = client
            .value_downlink::<i64>(&host, "/source/1", "value")
            .on_synced(move |v| l1.push(format!("synced {v}")))
            .on_event(move |v| l2.push(format!("event {v}")))
            .open()
            .await
            .unwrap();
        let entries = client
            .map_downlink::<String, i32>(&host, "/source/1", "entries")
            .on_update(move |_, key, _, v| l3.push(format!("update {key} {v}")))
            .open()
            .await
            .unwrap();
        log.wait_for("synced 0").await;
        client
            .command(&host, "/source/1", "value", 4i64)
            .await
            .unwrap();
        log.wait_for("event 4").await;
        value.set(5).unwrap();
        log.wait_for("event 5").await;
        assert_eq!(value.get(), Some(5));
        entries.update("k".to_owned(), 1).unwrap();
        log.wait_for("update k 1").await;
        assert_eq!(entries.get(&"k".to_owned()), Some(1));
        // Only remote hosts can be reached.
        assert!(client
            .command("http://nowhere", "/a", "b", 1)
            .await
            .is_err());
        value.stop();
        drop(client);
        source.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn terminate_on_unlinked_decides_whether_a_remote_downlink_relinks() {
        let source = source_server("127.0.0.1:0".parse().unwrap()).await;
        let host = format!("ws://{}", source.server.bound_addr().await.unwrap());
        for (terminate, expected) in [(true, 1), (false, 2)] {
            let config = SimpleDownlinkConfig {
                terminate_on_unlinked: terminate,
                ..SimpleDownlinkConfig::default()
            };
            let watchers = watcher_server(value_plan(config), host.clone(), None).await;
            watchers.server.start_agent("/watcher/1").await.unwrap();
            watchers.log.wait_for("synced 0").await;
            // The remote agent stops: a real unlink, unlike a lost connection.
            source.server.command("/source/1", "stop", 0).await.unwrap();
            watchers.log.wait_for("unlinked").await;
            if !terminate {
                // Linked again (the source starts anew on demand) and resynced.
                count(&watchers.log, "synced 0", 2).await;
            }
            let linked = watchers
                .log
                .lines()
                .iter()
                .filter(|l| *l == "linked")
                .count();
            assert_eq!(linked, expected, "{:?}", watchers.log.lines());
            watchers.stop().await;
        }
        source.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lane_linked_again_right_after_an_unlink_syncs() {
        use tidal::client::Client;

        let source = source_server("127.0.0.1:0".parse().unwrap()).await;
        let host = format!("ws://{}", source.server.bound_addr().await.unwrap());
        let client = Client::new();
        let log = Log::default();
        for round in 0..5 {
            let (synced, unlinked) = (log.clone(), log.clone());
            let downlink = client
                .value_downlink::<i64>(&host, "/source/1", "value")
                .on_synced(move |v| synced.push(format!("synced {round} {v}")))
                .on_unlinked(move || unlinked.push(format!("unlinked {round}")))
                .open()
                .await
                .unwrap();
            log.wait_for(&format!("synced {round} 0")).await;
            // Stopping unlinks at once; the next round links the same lane before the remote
            // host has answered the `@unlink`.
            downlink.stop();
            log.wait_for(&format!("unlinked {round}")).await;
        }
        drop(client);
        source.stop().await;
    }

    /// A TLS-terminating proxy on loopback in front of `backend`, with the test certificate for
    /// `localhost` and `127.0.0.1` (see `tests/tls`).
    async fn tls_proxy(backend: SocketAddr) -> (SocketAddr, JoinHandle<()>) {
        use tokio_rustls::rustls::{self, pki_types::pem::PemObject};

        let certificates =
            rustls::pki_types::CertificateDer::pem_slice_iter(include_bytes!("tls/server.pem"))
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
        let key =
            rustls::pki_types::PrivateKeyDer::from_pem_slice(include_bytes!("tls/server.key"))
                .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certificates, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A client that does not trust the certificate ends the handshake.
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut plain = tokio::net::TcpStream::connect(backend).await.unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        (addr, task)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn downlinks_over_tls_trust_the_configured_roots_only() {
        use tidal::client::Client;
        use tidal::remote::{RemoteConfig, TlsConfig};

        let source = source_server("127.0.0.1:0".parse().unwrap()).await;
        let (proxy, proxy_task) = tls_proxy(source.server.bound_addr().await.unwrap()).await;
        let tls = TlsConfig::default()
            .add_root_certificates_pem(include_bytes!("tls/ca.pem"))
            .unwrap();
        let mut config = RemoteConfig::default();
        config.tls = tls;
        let client = Client::with_config(config);
        let log = Log::default();
        let (synced, event) = (log.clone(), log.clone());
        let mut value = client
            .value_downlink::<i64>(&format!("wss://{proxy}"), "/source/1", "value")
            .on_synced(move |v| synced.push(format!("synced {v}")))
            .on_event(move |v| event.push(format!("event {v}")))
            .open()
            .await
            .unwrap();
        log.wait_for("synced 0").await;
        value.set(6).unwrap();
        log.wait_for("event 6").await;
        // `warps://` is the WARP name of `wss://`; the certificate also names `localhost`.
        client
            .command(
                &format!("warps://localhost:{}", proxy.port()),
                "/source/1",
                "value",
                7i64,
            )
            .await
            .unwrap();
        log.wait_for("event 7").await;

        // Without the test authority among its roots, a client cannot connect: that is a
        // connection failure (retried, then given up), never an unlink.
        let mut config = RemoteConfig::default();
        config.initial_delay = Duration::from_millis(10);
        config.max_attempts = Some(2);
        let untrusting = Client::with_config(config);
        let (failed, unlinked) = (log.clone(), log.clone());
        let _refused = untrusting
            .value_downlink::<i64>(&format!("wss://{proxy}"), "/source/1", "value")
            .on_failed(move || failed.push("untrusted failed".into()))
            .on_unlinked(move || unlinked.push("untrusted unlinked".into()))
            .open()
            .await
            .unwrap();
        log.wait_for("untrusted failed").await;
        assert!(!log.contains("untrusted unlinked"), "{:?}", log.lines());
        value.stop();
        drop((client, untrusting));
        proxy_task.abort();
        source.stop().await;
    }

    /// A WARP host serving `/deaf` lane `value`: it answers the sync (followed by frames the
    /// client must ignore), then never reads again, but sends an event for every number on
    /// the channel it returns. Its task ends when a
    /// client connects again (having given up on the first connection).
    ///
    /// Its handshake names no subprotocol, as some WARP servers do not: the client then
    /// connects again without offering `warp0`. Its small receive buffer (accepted sockets
    /// inherit it) keeps the kernel from absorbing what it does not read.
    fn deaf_host() -> (
        SocketAddr,
        tokio::sync::mpsc::UnboundedSender<i64>,
        JoinHandle<()>,
    ) {
        use futures::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;

        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(16 * 1024).unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(8).unwrap();
        let addr = listener.local_addr().unwrap();
        let (send_event, mut event_wanted) = tokio::sync::mpsc::unbounded_channel::<i64>();
        let host = tokio::spawn(async move {
            let mut socket = loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let mut socket = tokio_tungstenite::accept_async(tcp).await.unwrap();
                // The first client declines the handshake and closes.
                if let Some(Ok(request)) = socket.next().await {
                    assert!(request.to_text().unwrap().starts_with("@sync"), "{request}");
                    break socket;
                }
            };
            for frame in [
                "@linked(node:\"/deaf\",lane:value)",
                "@event(node:\"/deaf\",lane:value)0",
                "@synced(node:\"/deaf\",lane:value)",
                // Bad input, which the client ignores: a malformed envelope, an event for a
                // lane nothing links to, an unknown envelope.
                "@event(node:\"/deaf\",lane:",
                "@event(node:\"/nowhere\",lane:value)1",
                "@shout(node:\"/deaf\",lane:value)2",
            ] {
                socket.send(Message::text(frame)).await.unwrap();
            }
            socket.send(Message::binary(vec![0xff, 0])).await.unwrap();
            loop {
                tokio::select! {
                    Some(n) = event_wanted.recv() => {
                        let frame = format!("@event(node:\"/deaf\",lane:value){n}");
                        socket.send(Message::text(frame)).await.unwrap();
                    }
                    _ = listener.accept() => break,
                }
            }
        });
        (addr, send_event, host)
    }

    /// Links to the deaf host and sends it far more than the socket buffers hold, so that
    /// the writes stall.
    async fn stall(client: &tidal::client::Client, target: &str) -> tidal::client::RawLink {
        use tidal::client::RawEvent;

        let mut link = client.raw_link(target, "/deaf", "value", true);
        assert_eq!(next(&mut link).await, Some(RawEvent::Linked));
        assert!(matches!(next(&mut link).await, Some(RawEvent::Event(_))));
        assert_eq!(next(&mut link).await, Some(RawEvent::Synced));
        let big = tidal::recon::Value::Text("x".repeat(1 << 20));
        for _ in 0..64 {
            client
                .command_recon(target, "/deaf", "value", big.clone())
                .await
                .unwrap();
        }
        link
    }

    /// Waits until the client connects to the deaf host again (its task then ends).
    async fn comes_back(host: JoinHandle<()>) {
        let reconnected = tokio::time::timeout(Duration::from_secs(10), host).await;
        assert!(matches!(reconnected, Ok(Ok(()))), "{reconnected:?}");
    }

    async fn next(link: &mut tidal::client::RawLink) -> Option<tidal::client::RawEvent> {
        let next = tokio::time::timeout(Duration::from_secs(10), link.next()).await;
        next.expect("the link reports within 10 s")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_host_that_stops_reading_still_delivers_its_events() {
        use tidal::client::{Client, RawEvent};

        let (addr, send_event, host) = deaf_host();
        let client = Client::new();
        let mut link = stall(&client, &format!("ws://{addr}")).await;
        send_event.send(42).unwrap();
        let event = next(&mut link).await;
        assert!(
            matches!(&event, Some(RawEvent::Event(v)) if v.to_string() == "42"),
            "{event:?}"
        );
        drop((client, send_event));
        host.abort();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_connection_whose_writes_stall_past_the_write_timeout_is_made_again() {
        use tidal::client::Client;
        use tidal::remote::RemoteConfig;

        let (addr, _send_event, host) = deaf_host();
        let mut config = RemoteConfig::default();
        config.write_timeout = Duration::from_millis(500);
        let client = Client::with_config(config);
        let _link = stall(&client, &format!("ws://{addr}")).await;
        comes_back(host).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_host_that_falls_silent_and_answers_no_ping_is_connected_to_again() {
        use tidal::client::{Client, RawEvent};
        use tidal::remote::RemoteConfig;

        // The deaf host sends nothing after the sync, and never reads our pings.
        let (addr, _send_event, host) = deaf_host();
        let mut config = RemoteConfig::default();
        config.keepalive = Duration::from_millis(200);
        let client = Client::with_config(config);
        let mut link = client.raw_link(&format!("ws://{addr}"), "/deaf", "value", true);
        assert_eq!(next(&mut link).await, Some(RawEvent::Linked));
        comes_back(host).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_silent_host_that_answers_pings_keeps_its_connection() {
        use tidal::client::Client;
        use tidal::remote::RemoteConfig;

        let source = source_server("127.0.0.1:0".parse().unwrap()).await;
        let host = format!("ws://{}", source.server.bound_addr().await.unwrap());
        let mut config = RemoteConfig::default();
        config.keepalive = Duration::from_millis(400);
        let client = Client::with_config(config);
        let log = Log::default();
        let (linked, synced) = (log.clone(), log.clone());
        let _downlink = client
            .value_downlink::<i64>(&host, "/source/1", "value")
            .on_linked(move || linked.push("linked".into()))
            .on_synced(move |v| synced.push(format!("synced {v}")))
            .open()
            .await
            .unwrap();
        log.wait_for("synced 0").await;
        // Seven keep-alive periods without a lane event: the pings are answered, so the link
        // stays as it is (a reconnection would link and sync again).
        tokio::time::sleep(Duration::from_millis(2800)).await;
        assert_eq!(log.lines(), ["linked", "synced 0"]);
        assert_eq!(source.server.open_connections(), 1);
        drop(client);
        source.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_idle_connection_closes_and_opens_again_when_needed() {
        use tidal::client::Client;
        use tidal::remote::RemoteConfig;

        let source = source_server("127.0.0.1:0".parse().unwrap()).await;
        let host = format!("ws://{}", source.server.bound_addr().await.unwrap());
        let mut config = RemoteConfig::default();
        config.idle_timeout = Duration::from_millis(100);
        let client = Client::with_config(config);
        let connections = |n: usize| {
            let server = &source.server;
            eventually(
                move || server.open_connections() == n,
                move || format!("{} connections, not {n}", server.open_connections()),
            )
        };
        let log = Log::default();
        for round in 0..2 {
            let synced = log.clone();
            let downlink = client
                .value_downlink::<i64>(&host, "/source/1", "value")
                .on_synced(move |v| synced.push(format!("synced {round} {v}")))
                .open()
                .await
                .unwrap();
            log.wait_for(&format!("synced {round} 0")).await;
            connections(1).await;
            // While a downlink uses it, the connection stays open past the idle timeout.
            let started = Instant::now();
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(
                source.server.open_connections(),
                1,
                "{:?}",
                started.elapsed()
            );
            downlink.stop();
            connections(0).await;
        }
        // A command opens the connection too.
        client
            .command(&host, "/source/1", "value", 3i64)
            .await
            .unwrap();
        connections(1).await;
        drop(client);
        source.stop().await;
    }

    /// Downlinks from tidal agents to a real SwimOS server (swim-rust 0.1.1 from crates.io,
    /// `interop/swimos-server`, built by `scripts/swimos-server.sh`).
    mod swimos_host {
        use super::*;
        use std::io::{BufRead, BufReader};
        use std::process::{Child, Command, Stdio};
        use std::sync::OnceLock;

        /// The SwimOS server's binary, built once per test run (minutes the first time).
        fn binary() -> String {
            static PATH: OnceLock<String> = OnceLock::new();
            PATH.get_or_init(|| {
                let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/swimos-server.sh");
                let built = Command::new("bash")
                    .arg(script)
                    .stderr(Stdio::inherit())
                    .output()
                    .expect("bash runs");
                assert!(built.status.success(), "{script} failed: {}", built.status);
                String::from_utf8(built.stdout).unwrap().trim().to_owned()
            })
            .clone()
        }

        /// A running SwimOS server on 127.0.0.1:`port`, killed when dropped.
        struct SwimServer(Child);

        impl SwimServer {
            /// Starts it and waits until it listens (blocking: call off the runtime).
            fn start(port: u16) -> Self {
                let mut child = Command::new(binary())
                    .arg(port.to_string())
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("the SwimOS server starts");
                let mut line = String::new();
                let stdout = child.stdout.take().unwrap();
                BufReader::new(stdout).read_line(&mut line).unwrap();
                let server = SwimServer(child);
                assert!(
                    line.starts_with("listening on"),
                    "the SwimOS server said {line:?}"
                );
                server
            }
        }

        impl Drop for SwimServer {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }

        async fn start(port: u16) -> SwimServer {
            let started = tokio::task::spawn_blocking(move || SwimServer::start(port));
            tokio::time::timeout(Duration::from_secs(900), started)
                .await
                .expect("the SwimOS server is built and listening within 15 minutes")
                .unwrap()
        }

        /// Waits until the downlink of `/watcher/1` knows its connection is lost.
        async fn lost(watchers: &Running) {
            let probed = tokio::time::timeout(Duration::from_secs(10), async {
                while !watchers.log.contains("status Some(Pending)") {
                    let probe = watchers.server.command("/watcher/1", "probe", 0);
                    probe.await.unwrap();
                    tokio::task::yield_now().await;
                }
            })
            .await;
            assert!(probed.is_ok(), "{:?}", watchers.log.lines());
        }

        fn free_port() -> u16 {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn downlinks_to_a_swimos_server_sync_write_and_survive_its_restart() {
            let port = free_port();
            let swimos = start(port).await;
            let host = format!("ws://127.0.0.1:{port}");
            let values = watcher_server(
                value_plan(SimpleDownlinkConfig::default()),
                host.clone(),
                None,
            )
            .await;
            let maps = watcher_server(
                Plan::Map("/source/1", "entries", MapDownlinkConfig::default()),
                format!("warp://127.0.0.1:{port}"),
                None,
            )
            .await;
            values.server.start_agent("/watcher/1").await.unwrap();
            maps.server.start_agent("/watcher/1").await.unwrap();
            let (log, map_log) = (values.log.clone(), maps.log.clone());
            log.wait_for("synced 0").await;
            map_log.wait_for("synced []").await;
            values.server.command("/watcher/1", "set", 7).await.unwrap();
            log.wait_for("set Some(0) -> 7").await;
            maps.server
                .command("/watcher/1", "put", "a=1".to_owned())
                .await
                .unwrap();
            map_log.wait_for("update a None -> 1 (1 keys)").await;

            // The SwimOS server goes away and comes back on the same port: the downlinks
            // link and sync again, and what was written meanwhile arrives. (The writes wait
            // until the downlinks know: one written into the dying connection could be lost.)
            drop(swimos);
            for watchers in [&values, &maps] {
                lost(watchers).await;
            }
            values.server.command("/watcher/1", "set", 9).await.unwrap();
            maps.server
                .command("/watcher/1", "put", "b=2".to_owned())
                .await
                .unwrap();
            let swimos = start(port).await;
            relinked_to_9(&log).await;
            eventually(
                || {
                    map_log.contains("synced [\"b=2\"]")
                        || map_log.contains("update b None -> 2 (1 keys)")
                },
                || format!("b never came: {:?}", map_log.lines()),
            )
            .await;
            never_unlinked(&log);
            never_unlinked(&map_log);
            values.stop().await;
            maps.stop().await;
            drop(swimos);
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_swimos_server_unlinks_unknown_targets_and_stopped_agents() {
            let port = free_port();
            let _swimos = start(port).await;
            let host = format!("ws://127.0.0.1:{port}");
            let config = SimpleDownlinkConfig::default();
            for plan in [
                Plan::Value("/nowhere", "value", config),
                Plan::Value("/source/1", "nolane", config),
            ] {
                let watchers = watcher_server(plan, host.clone(), None).await;
                watchers.server.start_agent("/watcher/1").await.unwrap();
                watchers.log.wait_for("unlinked").await;
                watchers.stop().await;
            }
            // The remote agent stops: its lanes unlink.
            let watchers = watcher_server(value_plan(config), host.clone(), None).await;
            watchers.server.start_agent("/watcher/1").await.unwrap();
            watchers.log.wait_for("synced 0").await;
            let client = tidal::client::Client::new();
            client.command(&host, "/source/1", "stop", 0).await.unwrap();
            watchers.log.wait_for("unlinked").await;
            watchers.stop().await;
        }
    }
}
