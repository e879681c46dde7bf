//! Scenario 3: `@sync` of many distinct agents over one connection.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::client::{connect, feed, flush, next_text, vm_rss_kib, within};
use crate::report::{header, row, Samples, Show};
use crate::{Client, Counts, BATCH, SCENARIO_LIMIT};

/// Scenario 3: `@sync` of many distinct agents over one connection.
pub(crate) async fn scenario_sync(counts: Counts, tidal: SocketAddr) {
    let n = counts.agents;
    println!();
    println!(
        "== 3. sync of {n} distinct agents (new ones each run) over one connection, pipelined; \
         RSS = this whole process (server + client, client keeps a counter) =="
    );
    let mut seconds = Samples::default();
    let mut rates = Samples::default();
    let mut per_agent = Samples::default();
    let mut kept = Vec::new();
    for run in 0..counts.runs {
        let before = vm_rss_kib();
        let (elapsed, socket) = within(
            SCENARIO_LIMIT,
            format!("scenario 3 (run {run}): {n} @synced replies"),
            sync_agents(tidal, "/unit/s", run as i32 * n, n),
        )
        .await;
        let after = vm_rss_kib();
        kept.push(socket);
        seconds.push(elapsed.as_secs_f64());
        rates.push(n as f64 / elapsed.as_secs_f64());
        per_agent.push((after as f64 - before as f64) / n as f64);
    }
    header();
    let none = Samples::default();
    row(
        "time to activate and sync all",
        &[seconds, none.clone()],
        Show::Seconds,
        "~3.3 s",
    );
    row(
        "agents synced/s",
        &[rates, none.clone()],
        Show::Rate,
        "~3.0k/s (derived)",
    );
    row(
        "RSS growth per synced agent",
        &[per_agent, none],
        Show::KiB,
        "~232 KB",
    );
    println!("  (baseline n/a: a bare WebSocket server has no agents)");
    drop(kept);
}

/// One run of scenario 3: syncs `<prefix><first>`.. (e.g. `/unit/s0`) and returns the time to
/// the last `@synced` and the still open connection.
pub(crate) async fn sync_agents(
    addr: SocketAddr,
    prefix: &str,
    first: i32,
    n: i32,
) -> (Duration, Client) {
    let socket = connect(addr, true).await;
    let (mut sink, mut stream) = socket.split();
    let start = Instant::now();
    let send = async {
        for i in 0..n {
            let text = format!(r#"@sync(node:"{prefix}{}",lane:value)"#, first + i);
            feed(&mut sink, text).await;
            if (i + 1) % BATCH == 0 {
                flush(&mut sink).await;
            }
        }
        flush(&mut sink).await;
    };
    let count = async {
        let mut synced = 0;
        while synced < n {
            if next_text(&mut stream, "@synced replies")
                .await
                .starts_with("@synced")
            {
                synced += 1;
            }
        }
        start.elapsed()
    };
    let ((), elapsed) = tokio::join!(send, count);
    let socket = sink
        .reunite(stream)
        .expect("the halves of one socket reunite");
    (elapsed, socket)
}
