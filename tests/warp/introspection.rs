//! Introspection over WARP: the meta nodes `swim:meta:host`, `swim:meta:node/<node>` and
//! `swim:meta:node/<node>/lane/<lane>` (and their `swimos:meta:` twins), their syncs and
//! updates, and what they refuse.

use std::time::Duration;

use tidal::agent::agent_model::AgentModel;
use tidal::introspection::{meta_node_uri, IntrospectionConfig};
use tidal::route::RoutePattern;
use tidal::server::{ServerBuilder, ServerBuilderError, ServerConfig};
use tidal::store::{Durability, StoreConfig};

use super::{serve_built, serve_with, Client, Running, Unit, UnitLifecycle};

/// Introspection on, with pulses 50 ms apart.
pub(super) fn introspected(config: &mut ServerConfig) {
    let mut introspection = IntrospectionConfig::default();
    introspection.pulse_interval = Duration::from_millis(50);
    config.introspection = Some(introspection);
}

async fn serve_introspected() -> Running {
    serve_with(introspected).await
}

/// Starts the agent at `node` with a command to its `add` lane, and waits for its effect.
async fn start(client: &mut Client, node: &str) {
    client
        .send(&format!(r#"@command(node:"{node}",lane:add) 1"#))
        .await;
    client
        .send(&format!(r#"@sync(node:"{node}",lane:value)"#))
        .await;
    client
        .expect(&[
            &format!(r#"@linked(node:"{node}",lane:value)"#),
            &format!(r#"@event(node:"{node}",lane:value) 1"#),
            &format!(r#"@synced(node:"{node}",lane:value)"#),
        ])
        .await;
}

/// The body of an `@event` frame of `lane` of `node`.
fn body<'a>(frame: &'a str, node: &str, lane: &str) -> &'a str {
    let head = format!(r#"@event(node:"{node}",lane:{lane})"#);
    frame
        .strip_prefix(&head)
        .unwrap_or_else(|| panic!("not an event of {node} {lane}: {frame}"))
        .trim_start()
}

/// Reads frames until an event of `lane` of `node` satisfies `done` (others are skipped);
/// returns its body.
async fn until(client: &mut Client, node: &str, lane: &str, done: impl Fn(&str) -> bool) -> String {
    let head = format!(r#"@event(node:"{node}",lane:{lane})"#);
    loop {
        let frame = client.recv().await;
        if let Some(body) = frame.strip_prefix(&head).map(str::trim_start) {
            if done(body) {
                return body.to_owned();
            }
        }
    }
}

#[tokio::test]
async fn the_host_lists_running_agents_and_follows_starts_and_stops() {
    let running = serve_with(|config| {
        introspected(config);
        config.agent.inactive_timeout = Some(Duration::from_millis(300));
    })
    .await;
    let mut watcher = Client::connect(&running.url).await;
    watcher
        .send(r#"@sync(node:"swim:meta:host",lane:nodes)"#)
        .await;
    watcher
        .expect(&[
            r#"@linked(node:"swim:meta:host",lane:nodes)"#,
            r#"@synced(node:"swim:meta:host",lane:nodes)"#,
        ])
        .await;
    // An agent starts: it is listed, with its start time.
    let mut client = Client::connect(&running.url).await;
    client.send(r#"@command(node:"/unit/a",lane:add) 1"#).await;
    let added = body(&watcher.recv().await, "swim:meta:host", "nodes").to_owned();
    assert!(
        added.starts_with(r#"@update(key:"/unit/a"){nodeUri:"/unit/a",created:"#),
        "{added}"
    );
    let created: u64 = added
        .rsplit_once("created:")
        .and_then(|(_, rest)| rest.trim_end_matches('}').parse().ok())
        .expect("a start time");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        created <= now && now - created < 10_000,
        "{created} vs {now}"
    );
    // A second watcher's sync lists it; `swimos:meta:` is the same node.
    let mut second = Client::connect(&running.url).await;
    second
        .send(r#"@sync(node:"swimos:meta:host",lane:nodes)"#)
        .await;
    second
        .expect(&[
            r#"@linked(node:"swimos:meta:host",lane:nodes)"#,
            &format!(r#"@event(node:"swimos:meta:host",lane:nodes){added}"#),
            r#"@synced(node:"swimos:meta:host",lane:nodes)"#,
        ])
        .await;
    // Idle, it passivates: it is removed.
    watcher
        .expect(&[r#"@event(node:"swim:meta:host",lane:nodes)@remove(key:"/unit/a")"#])
        .await;
    assert!(!running.server.is_running("/unit/a"));
    running.stop().await;
}

#[tokio::test]
async fn a_node_lists_its_lanes_with_their_kinds_as_java_names_them() {
    let running = serve_introspected().await;
    let mut client = Client::connect(&running.url).await;
    start(&mut client, "/unit/a").await;
    let meta = meta_node_uri("/unit/a");
    assert_eq!(meta, "swim:meta:node/%2Funit%2Fa");
    client
        .send(&format!(r#"@sync(node:"{meta}",lane:lanes)"#))
        .await;
    assert_eq!(
        client.recv().await,
        format!(r#"@linked(node:"{meta}",lane:lanes)"#)
    );
    let mut lanes = Vec::new();
    loop {
        let frame = client.recv().await;
        if frame == format!(r#"@synced(node:"{meta}",lane:lanes)"#) {
            break;
        }
        lanes.push(body(&frame, &meta, "lanes").to_owned());
    }
    let expected = [
        ("value", "value"),
        ("map", "map"),
        ("add", "command"),
        ("text", "value"),
        ("tenfold", "demand"),
        ("doubled", "map"),
        ("added", "supply"),
        ("joined", "map"),
        ("join", "command"),
        ("forbidden", "value"),
    ]
    .map(|(lane, kind)| format!(r#"@update(key:{lane}){{laneUri:{lane},laneType:{kind}}}"#));
    assert_eq!(lanes, expected);
    running.stop().await;
}

#[tokio::test]
async fn node_and_lane_pulses_count_links_events_and_commands() {
    let running = serve_introspected().await;
    let mut client = Client::connect(&running.url).await;
    start(&mut client, "/unit/p").await;
    let meta = meta_node_uri("/unit/p");
    let mut watcher = Client::connect(&running.url).await;
    watcher
        .send(&format!(r#"@sync(node:"{meta}",lane:pulse)"#))
        .await;
    watcher
        .send(&format!(r#"@sync(node:"{meta}/lane/value",lane:pulse)"#))
        .await;
    // Five more commands to `add`, each setting `value` (one client links it). Each is sent
    // once the previous one's event came: consecutive commands that reach the agent together
    // publish once, and the lane's pulse counts what it published.
    for n in 2..=6 {
        client
            .send(&format!(r#"@command(node:"/unit/p",lane:add) {n}"#))
            .await;
        client
            .expect(&[&format!(r#"@event(node:"/unit/p",lane:value) {n}"#)])
            .await;
    }
    watcher
        .send(r#"@link(node:"swim:meta:host",lane:pulse)"#)
        .await;
    let (mut node, mut lane, mut host) = (String::new(), String::new(), String::new());
    while !(node.contains("commandCount:6")
        && lane.contains("eventCount:5")
        && host.contains("commandCount:6"))
    {
        let frame = watcher.recv().await;
        if frame.starts_with(r#"@event(node:"swim:meta:host",lane:pulse)"#) {
            host = body(&frame, "swim:meta:host", "pulse").to_owned();
        } else if frame.starts_with(&format!(r#"@event(node:"{meta}",lane:pulse)"#)) {
            node = body(&frame, &meta, "pulse").to_owned();
        } else if frame.starts_with(&format!(r#"@event(node:"{meta}/lane/value",lane:pulse)"#)) {
            lane = body(&frame, &format!("{meta}/lane/value"), "pulse").to_owned();
        }
    }
    // The node: one agent, the client's link to `value`, six commands and the events they
    // caused; the lane: its link and its five events (the first command came before the
    // link).
    assert!(node.starts_with("{agents:{agentCount:1,"), "{node}");
    assert!(node.contains("uplinks:{linkCount:1,"), "{node}");
    assert!(lane.starts_with("{uplinks:{linkCount:1,"), "{lane}");
    assert!(!lane.contains("commandCount"), "{lane}");
    // The host: the same agent, seen from the top.
    assert!(
        host.starts_with("{nodeCount:1,agents:{agentCount:1,"),
        "{host}"
    );
    // Quiet, the pulses stop changing (the rates fall to zero once, then nothing is sent).
    let node_quiet = until(&mut watcher, &meta, "pulse", |body| !body.contains("Rate")).await;
    assert!(node_quiet.contains("commandCount:6"), "{node_quiet}");
    running.stop().await;
}

#[tokio::test]
async fn a_lane_lists_its_uplinks_as_they_come_and_go() {
    let running = serve_introspected().await;
    let mut first = Client::connect(&running.url).await;
    start(&mut first, "/unit/u").await;
    let meta = format!("{}/lane/value", meta_node_uri("/unit/u"));
    let mut watcher = Client::connect(&running.url).await;
    watcher
        .send(&format!(r#"@sync(node:"{meta}",lane:uplinks)"#))
        .await;
    assert_eq!(
        watcher.recv().await,
        format!(r#"@linked(node:"{meta}",lane:uplinks)"#)
    );
    let listed = body(&watcher.recv().await, &meta, "uplinks").to_owned();
    assert!(listed.starts_with("@update(key:"), "{listed}");
    watcher
        .expect(&[&format!(r#"@synced(node:"{meta}",lane:uplinks)"#)])
        .await;
    // A second subscriber is added; the first one leaving is removed.
    let mut second = Client::connect(&running.url).await;
    second.send(r#"@link(node:"/unit/u",lane:value)"#).await;
    second
        .expect(&[r#"@linked(node:"/unit/u",lane:value)"#])
        .await;
    let added = until(&mut watcher, &meta, "uplinks", |body| body != listed).await;
    assert!(added.starts_with("@update(key:"), "{added}");
    first.send(r#"@unlink(node:"/unit/u",lane:value)"#).await;
    let key = listed
        .strip_prefix("@update(key:")
        .and_then(|rest| rest.split_once(')'))
        .map(|(key, _)| key)
        .unwrap();
    watcher
        .expect(&[&format!(
            r#"@event(node:"{meta}",lane:uplinks)@remove(key:{key})"#
        )])
        .await;
    running.stop().await;
}

#[tokio::test]
async fn meta_nodes_of_agents_not_running_are_not_found_and_never_start_them() {
    let running = serve_introspected().await;
    let mut client = Client::connect(&running.url).await;
    let meta = meta_node_uri("/unit/absent");
    for lane in ["pulse", "lanes", "infoLog"] {
        client
            .send(&format!(r#"@sync(node:"{meta}",lane:{lane})"#))
            .await;
        client
            .expect(&[&format!(
                r#"@unlinked(node:"{meta}",lane:{lane})@nodeNotFound"#
            )])
            .await;
    }
    client
        .send(&format!(r#"@sync(node:"{meta}/lane/value",lane:uplinks)"#))
        .await;
    client
        .expect(&[&format!(
            r#"@unlinked(node:"{meta}/lane/value",lane:uplinks)@nodeNotFound"#
        )])
        .await;
    assert!(!running.server.is_running("/unit/absent"));
    // Unknown meta nodes and lanes; a lane the agent does not have; commands are dropped.
    start(&mut client, "/unit/here").await;
    let here = meta_node_uri("/unit/here");
    for (node, lane, reason) in [
        ("swim:meta:mesh", "nodes", "nodeNotFound"),
        ("swim:meta:host", "lanes", "laneNotFound"),
        (here.as_str(), "nodes", "laneNotFound"),
        (&format!("{here}/lane/nolane"), "pulse", "nodeNotFound"),
    ] {
        client
            .send(&format!(r#"@sync(node:"{node}",lane:{lane})"#))
            .await;
        client
            .expect(&[&format!(r#"@unlinked(node:"{node}",lane:{lane})@{reason}"#)])
            .await;
    }
    client
        .send(r#"@command(node:"swim:meta:host",lane:nodes) 1"#)
        .await;
    client
        .send(r#"@command(node:"/unit/here",lane:add) 2"#)
        .await;
    client
        .expect(&[r#"@event(node:"/unit/here",lane:value) 2"#])
        .await;
    running.stop().await;
}

#[tokio::test]
async fn without_introspection_there_are_no_meta_nodes() {
    let running = serve_with(|_| {}).await;
    let mut client = Client::connect(&running.url).await;
    client
        .send(r#"@sync(node:"swim:meta:host",lane:nodes)"#)
        .await;
    client
        .expect(&[r#"@unlinked(node:"swim:meta:host",lane:nodes)@nodeNotFound"#])
        .await;
    running.stop().await;
}

#[tokio::test]
async fn a_route_that_takes_meta_node_uris_fails_the_build() {
    let built = ServerBuilder::with_plane_name("clash")
        .enable_introspection()
        .add_route(
            RoutePattern::parse_str(":name").unwrap(),
            AgentModel::new(Unit::default, UnitLifecycle),
        )
        .build()
        .await;
    let Err(error) = built else {
        panic!("the build succeeded");
    };
    assert!(
        matches!(&error, ServerBuilderError::MetaRoute { route, .. } if route == ":name"),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "the route `:name` matches `swim:meta:host`, a meta node of introspection; give it a path that starts with `/`"
    );
}

#[tokio::test]
async fn log_lanes_carry_the_agents_own_tracing_events_by_level() {
    let running = serve_introspected().await;
    let mut client = Client::connect(&running.url).await;
    start(&mut client, "/unit/l").await;
    let meta = meta_node_uri("/unit/l");
    let mut watcher = Client::connect(&running.url).await;
    for lane in ["warnLog", "errorLog"] {
        watcher
            .send(&format!(r#"@sync(node:"{meta}",lane:{lane})"#))
            .await;
        watcher
            .expect(&[
                &format!(r#"@linked(node:"{meta}",lane:{lane})"#),
                &format!(r#"@synced(node:"{meta}",lane:{lane})"#),
            ])
            .await;
    }
    // A command that does not fit its lane: the agent drops it with a warning.
    client
        .send(r#"@command(node:"/unit/l",lane:value) "seven""#)
        .await;
    let entry = body(&watcher.recv().await, &meta, "warnLog").to_owned();
    assert!(entry.starts_with("@warn(time:"), "{entry}");
    assert!(
        entry.contains(r#",node:"/unit/l",lane:value) "command dropped (bad_command)"#),
        "{entry}"
    );
    assert!(entry.contains("seven"), "{entry}");
    running.stop().await;
}

/// `GET /metrics` over a plain HTTP/1.1 connection: the status line and the body.
async fn get_metrics(addr: std::net::SocketAddr) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nhost: tidal\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_string(&mut answer))
        .await
        .expect("an answer within 5 s")
        .unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    (
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    )
}

/// The samples of a metrics text: each series (name and labels) and its value.
fn samples(text: &str) -> std::collections::HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("`series value`");
            (series.to_owned(), value.parse().expect("a number"))
        })
        .collect()
}

/// A scrape of `/metrics`: its text, and its samples by series.
struct Scrape {
    body: String,
    samples: std::collections::HashMap<String, f64>,
}

impl Scrape {
    async fn of(addr: std::net::SocketAddr) -> Scrape {
        let (status, body) = get_metrics(addr).await;
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(
            body.ends_with("# EOF\n"),
            "OpenMetrics text ends with # EOF"
        );
        Scrape {
            samples: samples(&body),
            body,
        }
    }

    /// The value of `series` (name and labels).
    fn value(&self, series: &str) -> f64 {
        *self
            .samples
            .get(series)
            .unwrap_or_else(|| panic!("no {series} in\n{}", self.body))
    }
}

#[tokio::test]
async fn metrics_count_agents_connections_links_commands_and_store_writes() {
    let running = serve_built(|builder| builder.enable_metrics().with_in_memory_store()).await;
    let mut client = Client::connect(&running.url).await;
    // One agent, one link to a value lane, three commands that each set it.
    start(&mut client, "/unit/m").await;
    for n in 2..=3 {
        client
            .send(&format!(r#"@command(node:"/unit/m",lane:add) {n}"#))
            .await;
        client
            .expect(&[&format!(r#"@event(node:"/unit/m",lane:value) {n}"#)])
            .await;
    }
    let scrape = Scrape::of(running.addr).await;
    let value = |series: &str| scrape.value(series);
    assert_eq!(value("tidal_agents_running"), 1.0);
    assert_eq!(value("tidal_agents_started_total"), 1.0);
    assert_eq!(value("tidal_agents_stopped_total"), 0.0);
    assert_eq!(value("tidal_commands_received_total"), 3.0);
    assert_eq!(value(r#"tidal_links_open{kind="value"}"#), 1.0);
    assert_eq!(value(r#"tidal_links_open{kind="map"}"#), 0.0);
    // The two commands after the link each sent one event to it.
    assert_eq!(value("tidal_events_sent_total"), 2.0);
    assert_eq!(value("tidal_warp_connections_open"), 1.0);
    assert_eq!(value("tidal_warp_connections_accepted_total"), 1.0);
    assert!(value("tidal_warp_received_bytes_total") > 100.0);
    assert!(value("tidal_warp_sent_bytes_total") > 100.0);
    assert_eq!(value("tidal_handler_failures_total"), 0.0);
    assert_eq!(value("tidal_remote_connect_attempts_total"), 0.0);
    // Each command's turn is one store write (map and value changed together), made on the
    // agent's task: an in-memory store never blocks, so nothing waits in a queue for it.
    let writes = value(r#"tidal_store_writes_total{backend="memory"}"#);
    assert!(writes >= 3.0, "{}", scrape.body);
    assert_eq!(
        value(r#"tidal_store_write_changes_count{backend="memory"}"#),
        writes
    );
    assert_eq!(
        value(r#"tidal_store_group_turns_sum{backend="memory"}"#),
        writes
    );
    assert!(scrape
        .samples
        .contains_key(r#"tidal_store_write_duration_seconds_bucket{le="+Inf",backend="memory"}"#));
    running.stop().await;
}

/// With a store on disk under `Sync`, turns wait for their commit on the store's thread: the
/// metrics show how long they waited, how many turns each write carried, and none left waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_the_commits_turns_wait_for() {
    let dir = tempfile::tempdir().unwrap();
    let running = serve_built(|builder| {
        builder
            .enable_metrics()
            .with_store_dir(dir.path())
            .update_config(|config| {
                config.store = StoreConfig::default().with_durability(Durability::Sync);
            })
    })
    .await;
    let mut client = Client::connect(&running.url).await;
    start(&mut client, "/unit/d").await;
    client.send(r#"@command(node:"/unit/d",lane:add) 2"#).await;
    client
        .expect(&[r#"@event(node:"/unit/d",lane:value) 2"#])
        .await;
    let scrape = Scrape::of(running.addr).await;
    let value = |series: &str| scrape.value(series);
    let waited = value(r#"tidal_store_commit_duration_seconds_count{backend="fjall"}"#);
    assert!(waited >= 2.0, "{}", scrape.body);
    assert_eq!(
        value(r#"tidal_store_commits_in_flight{backend="fjall"}"#),
        0.0
    );
    let writes = value(r#"tidal_store_writes_total{backend="fjall"}"#);
    assert!(writes >= 1.0 && writes <= waited, "{}", scrape.body);
    assert_eq!(
        value(r#"tidal_store_group_turns_sum{backend="fjall"}"#),
        waited
    );
    running.stop().await;
}

#[tokio::test]
async fn without_metrics_there_is_no_metrics_endpoint() {
    let running = serve_with(|_| {}).await;
    let (status, _) = get_metrics(running.addr).await;
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    running.stop().await;
}

#[tokio::test]
async fn the_host_lists_only_the_nodes_a_search_asks_for() {
    let running = serve_introspected().await;
    let mut client = Client::connect(&running.url).await;
    start(&mut client, "/unit/pump1").await;
    start(&mut client, "/unit/fan1").await;
    let mut watcher = Client::connect(&running.url).await;
    watcher
        .send(r#"@sync(node:"swim:meta:host",lane:"nodes?q=pump")"#)
        .await;
    let lane = r#""nodes?q=pump""#;
    assert_eq!(
        watcher.recv().await,
        format!(r#"@linked(node:"swim:meta:host",lane:{lane})"#)
    );
    let listed = body(&watcher.recv().await, "swim:meta:host", lane).to_owned();
    assert!(
        listed.starts_with(r#"@update(key:"/unit/pump1")"#),
        "{listed}"
    );
    watcher
        .expect(&[&format!(r#"@synced(node:"swim:meta:host",lane:{lane})"#)])
        .await;
    // A fan starts (not listed), then a pump (listed).
    start(&mut client, "/unit/fan2").await;
    start(&mut client, "/unit/pump2").await;
    let next = body(&watcher.recv().await, "swim:meta:host", lane).to_owned();
    assert!(next.starts_with(r#"@update(key:"/unit/pump2")"#), "{next}");
    running.stop().await;
}

/// An agent whose `input` handler fails on negative numbers.
#[tidal::agent::projections]
#[derive(tidal::agent::AgentLaneModel)]
pub struct Fragile {
    input: tidal::agent::lanes::CommandLane<i32>,
}

#[derive(Clone)]
pub struct FragileLifecycle;

#[derive(Debug, thiserror::Error)]
#[error("negative input {0}")]
pub struct Negative(i32);

#[tidal::agent::lifecycle(Fragile)]
impl FragileLifecycle {
    #[on_command(input)]
    fn input(
        &self,
        context: tidal::agent::agent_lifecycle::HandlerContext<Fragile>,
        n: &i32,
    ) -> impl tidal::agent::event_handler::EventHandler<Fragile> {
        use tidal::agent::event_handler::HandlerActionExt;
        let n = *n;
        (n < 0)
            .then(|| context.fail::<(), _>(Negative(n)))
            .discard()
    }
}

#[tokio::test]
async fn a_failure_that_stops_an_agent_goes_to_its_fail_log() {
    let (task, handle) = ServerBuilder::with_plane_name("fragile")
        .set_bind_addr("127.0.0.1:0")
        .enable_introspection()
        .update_config(|config| {
            config.agent.on_handler_error = tidal::agent::config::HandlerErrorPolicy::Stop;
        })
        .add_route(
            RoutePattern::parse_str("/fragile/:id").unwrap(),
            AgentModel::new(Fragile::default, FragileLifecycle),
        )
        .build()
        .await
        .unwrap()
        .run();
    let task = tokio::spawn(task);
    let url = format!("ws://{}/", handle.bound_addr().unwrap());
    let mut client = Client::connect(&url).await;
    client.send(r#"@link(node:"/fragile/1",lane:input)"#).await;
    client
        .expect(&[r#"@linked(node:"/fragile/1",lane:input)"#])
        .await;
    let meta = meta_node_uri("/fragile/1");
    client
        .send(&format!(r#"@link(node:"{meta}",lane:failLog)"#))
        .await;
    client
        .expect(&[&format!(r#"@linked(node:"{meta}",lane:failLog)"#)])
        .await;
    client
        .send(r#"@command(node:"/fragile/1",lane:input) -4"#)
        .await;
    // The command's echo, then the entry, then the agent is gone.
    let mut entry = None;
    while entry.is_none() {
        let frame = client.recv().await;
        if let Some(body) = frame.strip_prefix(&format!(r#"@event(node:"{meta}",lane:failLog)"#)) {
            entry = Some(body.trim_start().to_owned());
        }
    }
    let entry = entry.unwrap();
    assert!(entry.starts_with("@fail(time:"), "{entry}");
    assert!(
        entry.contains(
            r#",node:"/fragile/1",lane:input) "event handler failed; stopping the agent error="#
        ),
        "{entry}"
    );
    assert!(entry.contains("negative input -4"), "{entry}");
    handle.stop();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
}

/// A writer that keeps what is written, for a `tracing` subscriber of one test.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One client sends 200 each of: commands whose 50 KB bodies do not fit their lane, commands
/// to a lane the agent lacks, to a node no route serves, to a lane the policy forbids. The log
/// gets one short line for each kind (the connection and the agent log each kind at most once
/// per interval, with what they held back counted), and the metrics count all of them.
// One thread: the subscriber of this test sees what the server's tasks log.
#[tokio::test(flavor = "current_thread")]
async fn a_client_sending_garbage_gets_a_line_per_interval_in_the_log_and_every_one_counted() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _log = tracing::subscriber::set_default(subscriber);

    let running = serve_with(|config| config.metrics = true).await;
    let mut client = Client::connect(&running.url).await;
    start(&mut client, "/unit/g").await;
    let big = "x".repeat(50 * 1024);
    for _ in 0..200 {
        for (node, lane, body) in [
            ("/unit/g", "value", format!("\"{big}\"")),
            ("/unit/g", "nolane", "1".to_owned()),
            ("/nowhere/g", "value", "1".to_owned()),
            ("/unit/g", "forbidden", "1".to_owned()),
        ] {
            client
                .send(&format!(r#"@command(node:"{node}",lane:{lane}) {body}"#))
                .await;
        }
    }
    // The agent has handled everything before this command once its event comes.
    client.send(r#"@command(node:"/unit/g",lane:add) 2"#).await;
    until(&mut client, "/unit/g", "value", |body| body == "2").await;

    let (_, metrics) = get_metrics(running.addr).await;
    let samples = samples(&metrics);
    for reason in ["bad_command", "unknown_lane", "unknown_node", "denied"] {
        let series = format!(r#"tidal_client_input_rejected_total{{reason="{reason}"}}"#);
        assert_eq!(samples.get(&series), Some(&200.0), "{series} in\n{metrics}");
    }
    running.stop().await;
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    let count = |text: &str| lines.iter().filter(|line| line.contains(text)).count();
    assert_eq!(count("command dropped (bad_command)"), 1, "{log}");
    assert_eq!(count("command dropped (unknown_lane)"), 1, "{log}");
    // The agent's lines are in its own span, not in that of the connection that started it.
    assert_eq!(count("}:agent{"), 0, "{log}");
    assert!(count("agent{node=/unit/g}") >= 2, "{log}");
    assert_eq!(count("no route serves was dropped"), 1, "{log}");
    assert_eq!(count("the policy denied a request"), 1, "{log}");
    let longest = lines.iter().map(|line| line.len()).max().unwrap_or(0);
    assert!(longest < 1024, "a line of {longest} bytes");
    assert!(log.len() < 16 * 1024, "{} bytes of log", log.len());
}
