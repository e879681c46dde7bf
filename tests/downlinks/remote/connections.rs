//! Remote connections: one shared by many downlinks, the plain Rust client, links made
//! again at once, and idle connections.

use super::*;
use std::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_remote_downlinks_share_one_connection() {
    let source = source_server("127.0.0.1:0".parse().unwrap()).await;
    let addr = source.server.bound_addr().unwrap();
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
async fn a_plain_rust_client_links_writes_and_commands() {
    use tidal::client::Client;

    let source = source_server("127.0.0.1:0".parse().unwrap()).await;
    let host = format!("ws://{}", source.server.bound_addr().unwrap());
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
async fn a_lane_linked_again_right_after_an_unlink_syncs() {
    use tidal::client::Client;

    let source = source_server("127.0.0.1:0".parse().unwrap()).await;
    let host = format!("ws://{}", source.server.bound_addr().unwrap());
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
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_closes_and_opens_again_when_needed() {
    use tidal::client::Client;
    use tidal::remote::RemoteConfig;

    let source = source_server("127.0.0.1:0".parse().unwrap()).await;
    let host = format!("ws://{}", source.server.bound_addr().unwrap());
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spellings_of_one_host_share_one_connection() {
    use tidal::client::Client;

    let source = source_server("127.0.0.1:0".parse().unwrap()).await;
    let port = source.server.bound_addr().unwrap().port();
    let client = Client::new();
    let log = Log::default();
    let mut handles = Vec::new();
    for host in [
        format!("ws://127.0.0.1:{port}"),
        format!("ws://127.0.0.1:{port}/"),
        format!("warp://127.0.0.1:{port}"),
        format!("WS://127.0.0.1:{port}/"),
    ] {
        let log = log.clone();
        let handle = client
            .value_downlink::<i64>(&host, "/source/1", "value")
            .on_synced(move |v| log.push(format!("synced {v}")))
            .open()
            .await
            .unwrap();
        handles.push(handle);
    }
    count(&log, "synced 0", 4).await;
    assert_eq!(source.server.open_connections(), 1);
    drop(handles);
    drop(client);
    source.stop().await;
}
