//! Demand, demand-map, supply and join value lanes on the wire: what a WARP client sees when it links,
//! syncs and watches them, and what happens to commands sent to them.

use super::{serve, Client};

#[tokio::test]
async fn a_demand_lane_syncs_a_value_computed_for_the_requester_then_sends_each_cued_value() {
    let running = serve().await;
    let mut client = Client::connect(&running.url).await;
    client.send(r#"@command(node:"/unit/d",lane:add) 4"#).await;
    client.send(r#"@sync(node:"/unit/d",lane:tenfold)"#).await;
    client
        .expect(&[
            r#"@linked(node:"/unit/d",lane:tenfold)"#,
            r#"@event(node:"/unit/d",lane:tenfold) 40"#,
            r#"@synced(node:"/unit/d",lane:tenfold)"#,
        ])
        .await;
    let mut watcher = Client::connect(&running.url).await;
    watcher.send(r#"@link(node:"/unit/d",lane:tenfold)"#).await;
    watcher
        .expect(&[r#"@linked(node:"/unit/d",lane:tenfold)"#])
        .await;
    client.send(r#"@command(node:"/unit/d",lane:add) 5"#).await;
    for link in [&mut client, &mut watcher] {
        link.expect(&[r#"@event(node:"/unit/d",lane:tenfold) 50"#])
            .await;
    }
    running.stop().await;
}

#[tokio::test]
async fn a_demand_map_lane_syncs_every_listed_key_then_sends_updates_and_removes() {
    let running = serve().await;
    let mut client = Client::connect(&running.url).await;
    for n in [1, 2] {
        client
            .send(&format!(r#"@command(node:"/unit/dm",lane:add) {n}"#))
            .await;
    }
    client.send(r#"@sync(node:"/unit/dm",lane:doubled)"#).await;
    assert_eq!(
        client.recv().await,
        r#"@linked(node:"/unit/dm",lane:doubled)"#
    );
    let mut synced = vec![client.recv().await, client.recv().await];
    synced.sort();
    assert_eq!(
        synced,
        [
            r#"@event(node:"/unit/dm",lane:doubled)@update(key:k1) 2"#,
            r#"@event(node:"/unit/dm",lane:doubled)@update(key:k2) 4"#,
        ]
    );
    client
        .expect(&[r#"@synced(node:"/unit/dm",lane:doubled)"#])
        .await;
    client.send(r#"@command(node:"/unit/dm",lane:add) 3"#).await;
    client
        .expect(&[r#"@event(node:"/unit/dm",lane:doubled)@update(key:k3) 6"#])
        .await;
    // Removing the entry from `map` cues its key, which now computes to nothing: a remove.
    client
        .send(r#"@command(node:"/unit/dm",lane:map)@remove(key:k1)"#)
        .await;
    client
        .expect(&[r#"@event(node:"/unit/dm",lane:doubled)@remove(key:k1)"#])
        .await;
    running.stop().await;
}

#[tokio::test]
async fn a_supply_lane_syncs_empty_and_sends_every_value_in_order() {
    let running = serve().await;
    let mut client = Client::connect(&running.url).await;
    client.send(r#"@command(node:"/unit/s",lane:add) 9"#).await;
    client.send(r#"@sync(node:"/unit/s",lane:added)"#).await;
    // Nothing supplied before the link is kept: the sync has no state to send.
    client
        .expect(&[
            r#"@linked(node:"/unit/s",lane:added)"#,
            r#"@synced(node:"/unit/s",lane:added)"#,
        ])
        .await;
    // Unlike a value lane, which would send only the last, every value arrives.
    for n in 1..=50 {
        client
            .send(&format!(r#"@command(node:"/unit/s",lane:add) {n}"#))
            .await;
    }
    for n in 1..=50 {
        assert_eq!(
            client.recv().await,
            format!(r#"@event(node:"/unit/s",lane:added) {n}"#)
        );
    }
    running.stop().await;
}

#[tokio::test]
async fn commands_to_demand_and_supply_lanes_are_dropped_and_the_connection_goes_on() {
    let running = serve().await;
    let mut client = Client::connect(&running.url).await;
    for lane in ["tenfold", "doubled", "added"] {
        client
            .send(&format!(r#"@command(node:"/unit/c",lane:{lane}) 1"#))
            .await;
    }
    client.send(r#"@sync(node:"/unit/c",lane:tenfold)"#).await;
    client
        .expect(&[
            r#"@linked(node:"/unit/c",lane:tenfold)"#,
            r#"@event(node:"/unit/c",lane:tenfold) 0"#,
            r#"@synced(node:"/unit/c",lane:tenfold)"#,
        ])
        .await;
    running.stop().await;
}

#[tokio::test]
async fn a_join_value_lane_looks_like_a_map_lane_to_its_subscribers() {
    let running = serve().await;
    let mut client = Client::connect(&running.url).await;
    client.send(r#"@command(node:"/unit/jb",lane:add) 5"#).await;
    client.send(r#"@command(node:"/unit/jc",lane:add) 6"#).await;
    for name in ["jb", "jc"] {
        client
            .send(&format!(r#"@command(node:"/unit/ja",lane:join) {name}"#))
            .await;
    }
    // The links are made after the commands: wait until both entries are in.
    client.send(r#"@link(node:"/unit/ja",lane:joined)"#).await;
    client
        .expect(&[r#"@linked(node:"/unit/ja",lane:joined)"#])
        .await;
    let mut updates = Vec::new();
    while updates.len() < 2 {
        let frame = client.recv().await;
        if !updates.contains(&frame) {
            updates.push(frame);
        }
    }
    updates.sort();
    assert_eq!(
        updates,
        [
            r#"@event(node:"/unit/ja",lane:joined)@update(key:jb) 5"#,
            r#"@event(node:"/unit/ja",lane:joined)@update(key:jc) 6"#,
        ]
    );
    let mut syncing = Client::connect(&running.url).await;
    syncing.send(r#"@sync(node:"/unit/ja",lane:joined)"#).await;
    assert_eq!(
        syncing.recv().await,
        r#"@linked(node:"/unit/ja",lane:joined)"#
    );
    let mut synced = vec![syncing.recv().await, syncing.recv().await];
    synced.sort();
    assert_eq!(synced, updates);
    syncing
        .expect(&[r#"@synced(node:"/unit/ja",lane:joined)"#])
        .await;
    // A new value of a joined lane is an update of its entry.
    client.send(r#"@command(node:"/unit/jb",lane:add) 7"#).await;
    for link in [&mut client, &mut syncing] {
        link.expect(&[r#"@event(node:"/unit/ja",lane:joined)@update(key:jb) 7"#])
            .await;
    }
    // Join lanes take no commands; the connection goes on.
    client
        .send(r#"@command(node:"/unit/ja",lane:joined)@update(key:jz) 1"#)
        .await;
    client.send(r#"@command(node:"/unit/jc",lane:add) 8"#).await;
    client
        .expect(&[r#"@event(node:"/unit/ja",lane:joined)@update(key:jc) 8"#])
        .await;
    running.stop().await;
}
