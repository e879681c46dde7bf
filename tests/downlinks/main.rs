//! Downlinks between agents of one server: value, map and event downlinks, their handles,
//! their configuration, bad targets, and many agents at once.

mod join;
mod join_map;
mod local;
mod many;
mod remote;

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
    lanes::{CommandLane, MapLane, ValueLane},
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
    /// Logs the status of the downlink (`status Linked`, ...), and why it closed if it did
    /// (`reason NodeNotFound`).
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
                let value = h.value.as_ref().map(|h| (h.status(), h.unlink_reason()));
                value.or(h.map.as_ref().map(|h| (h.status(), h.unlink_reason())))
            })
            .and_then(move |probed| {
                context.effect(move || {
                    let (status, reason) = probed.unzip();
                    log.push(format!("status {status:?}"));
                    if let Some(reason) = reason.flatten() {
                        log.push(format!("reason {reason:?}"));
                    }
                })
            })
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
    server.start_agent("/watcher").unwrap();
    Running { server, task, log }
}

fn value_plan(config: SimpleDownlinkConfig) -> Plan {
    Plan::Value("/source/1", "value", config)
}
