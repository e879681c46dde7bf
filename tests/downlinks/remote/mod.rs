//! Downlinks to lanes of another server, over WARP.

mod connections;
mod restart;
mod stalls;
mod swimos_host;
mod tls;

use super::*;
use std::net::SocketAddr;

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
