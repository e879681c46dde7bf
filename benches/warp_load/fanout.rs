//! Scenario 2: fan-out of one value lane to many connections.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::client::{body_int, connect, feed, flush, next_text, send, wait_linked, within, Seen};
use crate::report::{header, row, Samples, Show, SIDES};
use crate::{Counts, BATCH, SCENARIO_LIMIT};

/// Scenario 2: fan-out of one value lane to many connections.
pub(crate) async fn scenario_fanout(counts: Counts, tidal: SocketAddr, baseline: SocketAddr) {
    let (f, u) = (counts.fanout_clients, counts.fanout_updates);
    println!();
    println!(
        "== 2. fan-out: {f} connections linked to one value lane, {u} updates sent from one more \
         connection; at most {} events can be delivered ==",
        f as u64 * u as u64
    );
    let mut seconds = [Samples::default(), Samples::default()];
    let mut delivered = [Samples::default(), Samples::default()];
    let mut rates = [Samples::default(), Samples::default()];
    let mut fewest = [Samples::default(), Samples::default()];
    let mut backwards = [Samples::default(), Samples::default()];
    for run in 0..counts.runs {
        for (side, addr) in [tidal, baseline].into_iter().enumerate() {
            let base = run as i32 * u;
            let (elapsed, per_client) = within(
                SCENARIO_LIMIT,
                format!("scenario 2 ({}, run {run})", SIDES[side]),
                fanout(addr, "/unit/f", f, base, u),
            )
            .await;
            let total: u64 = per_client.iter().map(|seen| seen.events).sum();
            seconds[side].push(elapsed.as_secs_f64());
            delivered[side].push(total as f64);
            rates[side].push(total as f64 / elapsed.as_secs_f64());
            let least = per_client.iter().map(|seen| seen.events).min();
            fewest[side].push(least.unwrap_or(0) as f64);
            backwards[side].push(per_client.iter().map(|seen| seen.backwards).sum::<u64>() as f64);
        }
    }
    header();
    row(
        "time until every client has the last value",
        &seconds,
        Show::Seconds,
        "~2.6 s",
    );
    row(
        "events delivered (all clients)",
        &delivered,
        Show::Count,
        "~1M",
    );
    row("events delivered/s", &rates, Show::Rate, "~380k/s");
    row(
        "events at the client that got fewest",
        &fewest,
        Show::Count,
        "n/a",
    );
    row(
        "events out of order (must be 0)",
        &backwards,
        Show::Count,
        "n/a",
    );
}

/// One run of scenario 2; returns the time until the last client saw the last value, and the
/// events each client received.
pub(crate) async fn fanout(
    addr: SocketAddr,
    node: &'static str,
    clients: usize,
    base: i32,
    updates: i32,
) -> (Duration, Vec<Seen>) {
    let mut sockets = Vec::with_capacity(clients);
    for _ in 0..clients {
        let mut socket = connect(addr, true).await;
        send(&mut socket, format!(r#"@link(node:"{node}",lane:value)"#)).await;
        sockets.push(socket);
    }
    for socket in &mut sockets {
        wait_linked(socket).await;
    }
    let last = i64::from(base + updates);
    let start = Instant::now();
    let readers: Vec<_> = sockets
        .into_iter()
        .map(|mut socket| {
            tokio::spawn(async move {
                let mut seen = Seen::default();
                loop {
                    let text = next_text(&mut socket, "fan-out events").await;
                    if let Some(value) = body_int(&text) {
                        seen.record(value);
                        if value == last {
                            return (Instant::now(), seen);
                        }
                    }
                }
            })
        })
        .collect();
    let mut sender = connect(addr, true).await;
    for i in 1..=updates {
        feed(
            &mut sender,
            format!(r#"@command(node:"{node}",lane:value) {}"#, base + i),
        )
        .await;
        if i % BATCH == 0 {
            flush(&mut sender).await;
        }
    }
    flush(&mut sender).await;
    let mut latest = start;
    let mut per_client = Vec::with_capacity(clients);
    for reader in readers {
        let (at, seen) = reader.await.expect("a fan-out reader panicked");
        latest = latest.max(at);
        per_client.push(seen);
    }
    (latest - start, per_client)
}
