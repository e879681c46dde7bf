//! Downlinks from tidal agents to a real SwimOS server (swim-rust 0.1.1 from crates.io,
//! `interop/swimos-server`, built by `scripts/swimos-server.sh`).

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
    values.server.start_agent("/watcher/1").unwrap();
    maps.server.start_agent("/watcher/1").unwrap();
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
        || map_log.contains("synced [\"b=2\"]") || map_log.contains("update b None -> 2 (1 keys)"),
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
        watchers.server.start_agent("/watcher/1").unwrap();
        watchers.log.wait_for("unlinked").await;
        watchers.stop().await;
    }
    // The remote agent stops: its lanes unlink.
    let watchers = watcher_server(value_plan(config), host.clone(), None).await;
    watchers.server.start_agent("/watcher/1").unwrap();
    watchers.log.wait_for("synced 0").await;
    let client = tidal::client::Client::new();
    client.command(&host, "/source/1", "stop", 0).await.unwrap();
    watchers.log.wait_for("unlinked").await;
    watchers.stop().await;
}
