//! Scenario 4: round-trip latency, with and without `TCP_NODELAY` on the client.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::client::{body_int, connect, link, next_text, send, within};
use crate::report::{header, percentile, row, Samples, Show, SIDES};
use crate::{Counts, REPLY_LIMIT, SCENARIO_LIMIT, STALL, WARM_UP};

/// Scenario 4: round trips command -> event, with and without `TCP_NODELAY` on the client.
pub(crate) async fn scenario_latency(counts: Counts, tidal: SocketAddr, baseline: SocketAddr) {
    let r = counts.round_trips;
    println!();
    println!(
        "== 4. round-trip latency: {r} times (after {WARM_UP} untimed) send a command to a linked \
         value lane, wait for its event =="
    );
    let mut next_base = 0i32;
    for nodelay in [true, false] {
        let mut p50 = [Samples::default(), Samples::default()];
        let mut p99 = [Samples::default(), Samples::default()];
        let mut max = [Samples::default(), Samples::default()];
        let mut stalls = [Samples::default(), Samples::default()];
        for run in 0..counts.runs {
            for (side, addr) in [tidal, baseline].into_iter().enumerate() {
                let mut times = within(
                    SCENARIO_LIMIT,
                    format!("scenario 4 ({}, nodelay {nodelay}, run {run})", SIDES[side]),
                    round_trips(addr, "/unit/r", nodelay, next_base, r),
                )
                .await;
                next_base += (r + WARM_UP) as i32;
                times.sort_unstable();
                let micros = |d: Duration| d.as_secs_f64() * 1e6;
                p50[side].push(micros(percentile(&times, 0.50)));
                p99[side].push(micros(percentile(&times, 0.99)));
                max[side].push(micros(*times.last().expect("round trips")));
                stalls[side].push(times.iter().filter(|t| **t >= STALL).count() as f64);
            }
        }
        println!();
        println!(
            "  client socket {} TCP_NODELAY (server side always sets it)",
            if nodelay { "WITH" } else { "WITHOUT" }
        );
        header();
        row("p50 (lower is better)", &p50, Show::Micros, "~140 µs");
        row("p99", &p99, Show::Micros, "~210-460 µs");
        row("max", &max, Show::Micros, "n/a");
        row(
            &format!("stalls >= {} ms (of {r})", STALL.as_millis()),
            &stalls,
            Show::Count,
            "n/a",
        );
    }
}

/// One run of scenario 4: the timed round trips.
pub(crate) async fn round_trips(
    addr: SocketAddr,
    node: &str,
    nodelay: bool,
    base: i32,
    n: usize,
) -> Vec<Duration> {
    let mut socket = connect(addr, nodelay).await;
    link(&mut socket, node).await;
    let mut times = Vec::with_capacity(n);
    for i in 0..(WARM_UP + n) {
        let value = base + i as i32 + 1;
        let start = Instant::now();
        send(
            &mut socket,
            format!(r#"@command(node:"{node}",lane:value) {value}"#),
        )
        .await;
        within(
            REPLY_LIMIT,
            format!("the event for round trip {i} (value {value})"),
            async {
                while body_int(&next_text(&mut socket, "round-trip events").await)
                    != Some(i64::from(value))
                {}
            },
        )
        .await;
        if i >= WARM_UP {
            times.push(start.elapsed());
        }
    }
    times
}
