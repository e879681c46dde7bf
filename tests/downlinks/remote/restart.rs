//! Remote downlinks across a restart of their host, an unreachable host, and unlinks.

use super::*;
use std::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_downlink_survives_a_restart_of_its_host_and_delivers_writes_made_meanwhile() {
    let source = source_server("127.0.0.1:0".parse().unwrap()).await;
    let addr = source.server.bound_addr().unwrap();
    let watchers = watcher_server(
        value_plan(SimpleDownlinkConfig::default()),
        format!("ws://{addr}"),
        None,
    )
    .await;
    watchers.server.start_agent("/watcher/1").unwrap();
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
    let addr = source.server.bound_addr().unwrap();
    let plan = Plan::Map("/source/1", "entries", MapDownlinkConfig::default());
    let watchers = watcher_server(plan, format!("warp://{addr}"), None).await;
    watchers.server.start_agent("/watcher/1").unwrap();
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
    watchers.server.start_agent("/watcher/1").unwrap();
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
async fn terminate_on_unlinked_decides_whether_a_remote_downlink_relinks() {
    let source = source_server("127.0.0.1:0".parse().unwrap()).await;
    let host = format!("ws://{}", source.server.bound_addr().unwrap());
    for (terminate, expected) in [(true, 1), (false, 2)] {
        let config = SimpleDownlinkConfig {
            terminate_on_unlinked: terminate,
            ..SimpleDownlinkConfig::default()
        };
        let watchers = watcher_server(value_plan(config), host.clone(), None).await;
        watchers.server.start_agent("/watcher/1").unwrap();
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
