//! Scenario 6: what introspection and metrics cost. Scenarios 1 and 2 against two tidal
//! servers in the same run, alternating: one with `enable_introspection()` and
//! `enable_metrics()` (a client watches the host's pulse meanwhile, and `/metrics` is scraped
//! after each run, as an operator would), one without.

use std::net::SocketAddr;

use crate::client::{connect, send, within};
use crate::commands::command_throughput;
use crate::fanout::fanout;
use crate::report::{header_with, row, Samples, Show};
use crate::{Counts, SCENARIO_LIMIT};

/// Scenario 6: scenarios 1 and 2, with introspection and metrics on, against off.
pub(crate) async fn scenario_observed(counts: Counts, observed: SocketAddr, plain: SocketAddr) {
    let (c, f, u) = (
        counts.commands,
        counts.fanout_clients,
        counts.fanout_updates,
    );
    println!();
    println!(
        "== 6. introspection and metrics on against off: scenario 1 ({c} commands) and \
         scenario 2 ({f} clients, {u} updates), the host's pulse watched and /metrics scraped =="
    );
    // A watcher of the host's pulse, for the whole scenario.
    let mut watcher = connect(observed, true).await;
    send(
        &mut watcher,
        r#"@sync(node:"swim:meta:host",lane:pulse)"#.to_owned(),
    )
    .await;
    let mut rates = [Samples::default(), Samples::default()];
    let mut fanouts = [Samples::default(), Samples::default()];
    for run in 0..counts.runs {
        for (side, addr) in [observed, plain].into_iter().enumerate() {
            let base = (counts.runs + run) as i32 * c;
            let (elapsed, _) = within(
                SCENARIO_LIMIT,
                format!("scenario 6 (commands, side {side}, run {run})"),
                command_throughput(addr, "/unit/o", base, c),
            )
            .await;
            rates[side].push(c as f64 / elapsed.as_secs_f64());
            let base = (counts.runs + run) as i32 * u;
            let (elapsed, _) = within(
                SCENARIO_LIMIT,
                format!("scenario 6 (fan-out, side {side}, run {run})"),
                fanout(addr, "/unit/of", f, base, u),
            )
            .await;
            fanouts[side].push(elapsed.as_secs_f64());
            if side == 0 {
                scrape(addr).await;
            }
        }
    }
    header_with("on", "off", "on/off");
    row("commands/s (higher is better)", &rates, Show::Rate, "n/a");
    row(
        "fan-out: time to the last value",
        &fanouts,
        Show::Seconds,
        "n/a",
    );
    drop(watcher);
}

/// `GET /metrics`, read to the end.
async fn scrape(addr: SocketAddr) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects for /metrics");
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n\r\n")
        .await
        .expect("asks for /metrics");
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer).await.expect("reads /metrics");
    assert!(answer.starts_with(b"HTTP/1.1 200"), "/metrics answered");
}
