//! Scenario 1: command throughput into one value lane.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::client::{body_int, connect, feed, flush, link, next_text, within, Seen};
use crate::report::{header, row, Samples, Show, SIDES};
use crate::{Counts, BATCH, SCENARIO_LIMIT};

/// Scenario 1: commands into one value lane, until a linked watcher sees the last one.
pub(crate) async fn scenario_commands(counts: Counts, tidal: SocketAddr, baseline: SocketAddr) {
    let c = counts.commands;
    println!();
    println!(
        "== 1. command throughput into one value lane: {c} commands, pipelined (flush every \
         {BATCH}), until a linked watcher sees the last value =="
    );
    let mut rates = [Samples::default(), Samples::default()];
    let mut seconds = [Samples::default(), Samples::default()];
    let mut events = [Samples::default(), Samples::default()];
    let mut backwards = [Samples::default(), Samples::default()];
    for run in 0..counts.runs {
        for (side, addr) in [tidal, baseline].into_iter().enumerate() {
            let base = run as i32 * c;
            let (elapsed, seen) = within(
                SCENARIO_LIMIT,
                format!("scenario 1 ({}, run {run})", SIDES[side]),
                command_throughput(addr, "/unit/t", base, c),
            )
            .await;
            rates[side].push(c as f64 / elapsed.as_secs_f64());
            seconds[side].push(elapsed.as_secs_f64());
            events[side].push(seen.events as f64);
            backwards[side].push(seen.backwards as f64);
        }
    }
    header();
    row(
        "commands/s (higher is better)",
        &rates,
        Show::Rate,
        "~104k/s",
    );
    row("time to the last value", &seconds, Show::Seconds, "n/a");
    row("events seen by the watcher", &events, Show::Count, "n/a");
    row(
        "events out of order (must be 0)",
        &backwards,
        Show::Count,
        "n/a",
    );
}

/// One run of scenario 1; returns the time to the last value and the events the watcher saw.
pub(crate) async fn command_throughput(
    addr: SocketAddr,
    node: &str,
    base: i32,
    c: i32,
) -> (Duration, Seen) {
    let mut watcher = connect(addr, true).await;
    link(&mut watcher, node).await;
    let mut sender = connect(addr, true).await;
    let last = i64::from(base + c);
    let start = Instant::now();
    let send = async {
        for i in 1..=c {
            let text = format!(r#"@command(node:"{node}",lane:value) {}"#, base + i);
            feed(&mut sender, text).await;
            if i % BATCH == 0 {
                flush(&mut sender).await;
            }
        }
        flush(&mut sender).await;
    };
    let watch = async {
        let mut seen = Seen::default();
        loop {
            let text = next_text(&mut watcher, "the watcher's events").await;
            if let Some(value) = body_int(&text) {
                seen.record(value);
                if value == last {
                    return (start.elapsed(), seen);
                }
            }
        }
    };
    let ((), result) = tokio::join!(send, watch);
    result
}
