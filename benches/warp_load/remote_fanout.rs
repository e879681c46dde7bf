//! Scenario 5: remote fan-out, agent to agent across two servers.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tidal::agent::{
    agent_lifecycle::HandlerContext,
    agent_model::downlink::hosted::ValueDownlinkHandle,
    agent_model::AgentModel,
    config::SimpleDownlinkConfig,
    event_handler::{EventHandler, HandlerActionExt},
    lanes::ValueLane,
    lifecycle, projections,
    state::State,
    AgentLaneModel,
};
use tidal::route::RoutePattern;
use tidal::server::{ServerBuilder, ServerError, ServerHandle};
use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::client::{connect, feed, flush, within};
use crate::report::{header_with, row, Samples, Show};
use crate::{Counts, Unit, UnitLifecycle, BATCH, REPLY_LIMIT, SCENARIO_LIMIT};

/// Scenario 5: the node every follower links to (on server A).
const FOLLOWED: &str = "/unit/f";
/// Scenario 5: how long the followers may take to sync, or to see the last value.
const FOLLOW_LIMIT: Duration = Duration::from_secs(30);
/// Scenario 5: how long a server may take to stop.
const STOP_LIMIT: Duration = Duration::from_secs(30);

/// Scenario 5: an agent following `/unit/f` lane `value` through a value downlink.
#[projections]
#[derive(AgentLaneModel)]
pub struct Follower {
    /// The latest value its downlink delivered.
    seen: ValueLane<i32>,
}

/// The lifecycle of [`Follower`].
pub struct FollowerLifecycle {
    /// The host of the followed lane (`ws://...`); `None`: this server.
    host: Option<String>,
    tally: Arc<Tally>,
    /// The downlink's handle (dropping it would stop the downlink).
    handle: State<Follower, Option<ValueDownlinkHandle<i32>>>,
}

#[lifecycle(Follower)]
impl FollowerLifecycle {
    #[on_start]
    fn start(&self, context: HandlerContext<Follower>) -> impl EventHandler<Follower> + '_ {
        let (on_synced, on_event) = (self.tally.clone(), self.tally.clone());
        context
            .value_downlink_builder::<i32>(
                self.host.as_deref(),
                FOLLOWED,
                "value",
                SimpleDownlinkConfig::default(),
            )
            .on_synced(move |context, _| {
                let tally = on_synced.clone();
                context.effect(move || tally.count(&tally.synced))
            })
            .on_event(move |context, value| {
                let (value, tally) = (*value, on_event.clone());
                context.get_value(Follower::SEEN).and_then(move |previous| {
                    context
                        .set_value(Follower::SEEN, value)
                        .followed_by(context.effect(move || tally.event(previous, value)))
                })
            })
            .done()
            .and_then(move |handle| self.handle.set(Some(handle)))
    }
}

/// What the followers of one run of scenario 5 saw, counted by all of them.
struct Tally {
    followers: usize,
    /// The last value sent to the followed lane.
    last: i32,
    /// `on_synced` calls: one per follower (more if a downlink had to sync again).
    synced: AtomicUsize,
    /// Followers that have seen `last`.
    reached: AtomicUsize,
    /// `on_event` calls.
    events: AtomicU64,
    /// Events whose value was not above the follower's previous one (must stay 0).
    backwards: AtomicU64,
    /// Woken when `synced` or `reached` gets to `followers`.
    complete: Notify,
}

impl Tally {
    fn new(followers: usize, last: i32) -> Self {
        Tally {
            followers,
            last,
            synced: AtomicUsize::new(0),
            reached: AtomicUsize::new(0),
            events: AtomicU64::new(0),
            backwards: AtomicU64::new(0),
            complete: Notify::new(),
        }
    }

    /// Counts one follower in `counter`; the last one wakes the waiter.
    fn count(&self, counter: &AtomicUsize) {
        if counter.fetch_add(1, Ordering::AcqRel) + 1 == self.followers {
            self.complete.notify_one();
        }
    }

    fn event(&self, previous: i32, value: i32) {
        self.events.fetch_add(1, Ordering::Relaxed);
        if value <= previous {
            self.backwards.fetch_add(1, Ordering::Relaxed);
        }
        if value == self.last {
            self.count(&self.reached);
        }
    }

    /// Waits until every follower is counted in `counter` (woken by the last one, no polling).
    async fn wait_all(&self, counter: &AtomicUsize, what: &str) {
        let all = async {
            while counter.load(Ordering::Acquire) < self.followers {
                self.complete.notified().await;
            }
        };
        if tokio::time::timeout(FOLLOW_LIMIT, all).await.is_err() {
            panic!(
                "timed out after {FOLLOW_LIMIT:?} waiting for {what}: {} of {} followers got there",
                counter.load(Ordering::Acquire),
                self.followers
            );
        }
    }
}

/// The follower agents, following `/unit/f` on `host` (`None`: on their own server).
fn follower_model(
    host: Option<String>,
    tally: Arc<Tally>,
) -> AgentModel<Follower, FollowerLifecycle> {
    AgentModel::from_fn(Follower::default, move || FollowerLifecycle {
        host: host.clone(),
        tally: tally.clone(),
        handle: State::default(),
    })
}

/// A tidal server of scenario 5, running on the server runtime.
struct Serving {
    handle: Arc<ServerHandle>,
    task: JoinHandle<Result<(), ServerError>>,
}

impl Serving {
    /// Builds and runs a server on the server runtime.
    async fn start(server: &Handle, builder: ServerBuilder) -> Serving {
        let (handle, task) = server
            .spawn(async move {
                let server = builder.build().await.expect("a scenario 5 server builds");
                let (task, handle) = server.run();
                (handle, tokio::spawn(task))
            })
            .await
            .expect("building a scenario 5 server panicked");
        Serving {
            handle: Arc::new(handle),
            task,
        }
    }

    /// Starts the agent `node` (on the server runtime, where its task must run).
    async fn start_agents(&self, server: &Handle, nodes: Vec<String>) {
        let handle = self.handle.clone();
        let count = nodes.len();
        let starting = server.spawn(async move {
            for node in nodes {
                handle
                    .start_agent(&node)
                    .unwrap_or_else(|err| panic!("cannot start {node}: {err}"));
            }
        });
        within(REPLY_LIMIT, format!("{count} agents to start"), starting)
            .await
            .expect("starting the agents panicked");
    }

    async fn stop(self, name: &str) {
        self.handle.stop();
        within(STOP_LIMIT, format!("server {name} to stop"), self.task)
            .await
            .unwrap_or_else(|err| panic!("server {name} panicked: {err}"))
            .unwrap_or_else(|err| panic!("server {name} failed: {err}"));
    }
}

/// The figures of one run of scenario 5.
struct FollowRun {
    startup: Duration,
    update: Duration,
    events: u64,
    backwards: u64,
    /// `on_synced` calls beyond one per follower.
    resyncs: u64,
    /// WARP connections open at server A once the followers are synced.
    connections: usize,
    /// Tasks still alive on the server runtime after both servers stopped, beyond those
    /// alive before the run.
    tasks_left: i64,
}

/// Scenario 5: remote fan-out, agent to agent across two servers, against the same followers
/// on the followed lane's own server.
pub(crate) async fn scenario_remote_fanout(counts: Counts, server: &Handle) {
    let (f, u) = (counts.followers, counts.follower_updates);
    println!();
    println!(
        "== 5. remote fan-out, agent to agent: {f} follower agents on server B, each with a value \
         downlink to {FOLLOWED} lane value on server A (all over one WebSocket); {u} updates sent \
         to A by a WARP client; at most {} events. Compared with the same followers on A itself \
         (host None: same code path minus the network). A and B share the server runtime's \
         worker ==",
        f as u64 * u as u64
    );
    const KINDS: [&str; 2] = ["remote", "local"];
    let mut startup = [Samples::default(), Samples::default()];
    let mut rates = [Samples::default(), Samples::default()];
    let mut update = [Samples::default(), Samples::default()];
    let mut events = [Samples::default(), Samples::default()];
    let mut event_rates = [Samples::default(), Samples::default()];
    let mut backwards = [Samples::default(), Samples::default()];
    let mut resyncs = [Samples::default(), Samples::default()];
    let mut connections = [Samples::default(), Samples::default()];
    let mut tasks_left = [Samples::default(), Samples::default()];
    for run in 0..counts.runs {
        for (side, remote) in [true, false].into_iter().enumerate() {
            let result = within(
                SCENARIO_LIMIT,
                format!("scenario 5 ({}, run {run})", KINDS[side]),
                follow(server, remote, f, u),
            )
            .await;
            startup[side].push(result.startup.as_secs_f64());
            rates[side].push(f as f64 / result.startup.as_secs_f64());
            update[side].push(result.update.as_secs_f64());
            events[side].push(result.events as f64);
            event_rates[side].push(result.events as f64 / result.update.as_secs_f64());
            backwards[side].push(result.backwards as f64);
            resyncs[side].push(result.resyncs as f64);
            connections[side].push(result.connections as f64);
            tasks_left[side].push(result.tasks_left as f64);
        }
    }
    header_with("remote (B -> A)", "local (on A)", "remote/local");
    row(
        "start-up: all followers linked and synced",
        &startup,
        Show::Millis,
        "n/a",
    );
    row("followers synced/s", &rates, Show::Rate, "n/a");
    row(
        "time until every follower has the last value",
        &update,
        Show::Millis,
        "n/a",
    );
    row(
        "events delivered to on_event (all followers)",
        &events,
        Show::Count,
        "n/a",
    );
    row("on_event calls/s", &event_rates, Show::Rate, "n/a");
    row(
        "events out of order (must be 0)",
        &backwards,
        Show::Count,
        "n/a",
    );
    row(
        "extra on_synced calls (must be 0)",
        &resyncs,
        Show::Count,
        "n/a",
    );
    row(
        "WARP connections at A after start-up (1 | 0)",
        &connections,
        Show::Count,
        "n/a",
    );
    row(
        "server-runtime tasks left after stop",
        &tasks_left,
        Show::Count,
        "n/a",
    );
}

/// One run of scenario 5, with fresh servers: the followers on B linking to A (`remote`) or
/// on A itself.
async fn follow(server: &Handle, remote: bool, followers: usize, updates: i32) -> FollowRun {
    let tasks_before = server.metrics().num_alive_tasks();
    let tally = Arc::new(Tally::new(followers, updates));
    let mut a = ServerBuilder::with_plane_name("follow-a")
        .set_bind_addr("127.0.0.1:0")
        .add_route(
            RoutePattern::parse_str("/unit/:id").unwrap(),
            AgentModel::new(Unit::default, UnitLifecycle),
        );
    if !remote {
        a = a.add_route(
            RoutePattern::parse_str("/follower/:id").unwrap(),
            follower_model(None, tally.clone()),
        );
    }
    let a = Serving::start(server, a).await;
    let addr = a.handle.bound_addr().expect("server A is bound");
    let b = if remote {
        let b = ServerBuilder::with_plane_name("follow-b").add_route(
            RoutePattern::parse_str("/follower/:id").unwrap(),
            follower_model(Some(format!("ws://{addr}")), tally.clone()),
        );
        Some(Serving::start(server, b).await)
    } else {
        None
    };
    // The followed agent runs before the clock starts, in both cases.
    a.start_agents(server, vec![FOLLOWED.to_owned()]).await;

    let start = Instant::now();
    let nodes = (0..followers).map(|i| format!("/follower/{i}")).collect();
    b.as_ref().unwrap_or(&a).start_agents(server, nodes).await;
    tally
        .wait_all(&tally.synced, "the followers to link and sync")
        .await;
    let startup = start.elapsed();
    let connections = a.handle.open_connections();
    assert_eq!(
        connections,
        usize::from(remote),
        "WARP connections open at server A once the {followers} followers are synced \
         (remote: {remote})"
    );

    let mut sender = connect(addr, true).await;
    let start = Instant::now();
    for i in 1..=updates {
        feed(
            &mut sender,
            format!(r#"@command(node:"{FOLLOWED}",lane:value) {i}"#),
        )
        .await;
        if i % BATCH == 0 {
            flush(&mut sender).await;
        }
    }
    flush(&mut sender).await;
    tally
        .wait_all(
            &tally.reached,
            &format!("every follower to see the last value ({updates})"),
        )
        .await;
    let update = start.elapsed();

    drop(sender);
    if let Some(b) = b {
        b.stop("B").await;
    }
    a.stop("A").await;
    FollowRun {
        startup,
        update,
        events: tally.events.load(Ordering::Acquire),
        backwards: tally.backwards.load(Ordering::Acquire),
        resyncs: (tally.synced.load(Ordering::Acquire) - followers) as u64,
        connections,
        tasks_left: server.metrics().num_alive_tasks() as i64 - tasks_before as i64,
    }
}
