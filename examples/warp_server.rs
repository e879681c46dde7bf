//! A WARP server that SwimOS clients can talk to.
//!
//! Run `cargo run --example warp_server` (it listens on 127.0.0.1:9001 until Ctrl-C; pass
//! another address as the first argument), then point a client at `ws://127.0.0.1:9001`. Each
//! node `/unit/:id` is an agent with:
//!
//! - `value`: a value lane (`i32`);
//! - `map`: a map lane (`String` to `i32`);
//! - `add`: a command lane: `add n` sets `value` to `n` and `map["k<n>"]` to `n`.
//!
//! The lanes are kept in a store directory (`target/tidal-examples/warp_server`): stop the
//! server, start it again, and `tidal get ws://127.0.0.1:9001 /unit/a map` still shows them.
//!
//! With the Python client (`scripts/python-env.sh` installs it into `.venv`):
//!
//! ```text
//! .venv/bin/python - <<'PY'
//! import threading
//! from swimos import SwimClient
//! seen = threading.Event()
//! with SwimClient() as client:
//!     v = client.downlink_value()
//!     v.set_host_uri("ws://127.0.0.1:9001").set_node_uri("/unit/a").set_lane_uri("value")
//!     v.did_set(lambda new, old: (print("value:", old, "->", new), new == 5 and seen.set()))
//!     v.open()
//!     client.command("ws://127.0.0.1:9001", "/unit/a", "add", 5)
//!     seen.wait(5)
//! PY
//! ```

#[path = "support/logging.rs"]
mod logging;

use std::net::SocketAddr;

use tidal::prelude::*;

/// The agent at `/unit/:id`.
#[projections]
#[derive(AgentLaneModel)]
pub struct Unit {
    value: ValueLane<i32>,
    map: MapLane<String, i32>,
    add: CommandLane<i32>,
}

/// Applies `add` commands and logs what changes.
#[derive(Clone)]
pub struct UnitLifecycle;

#[lifecycle(Unit)]
impl UnitLifecycle {
    #[on_start]
    fn start(&self, context: HandlerContext<Unit>) -> impl EventHandler<Unit> {
        context
            .get_agent_uri()
            .and_then(move |uri| context.effect(move || println!("{uri}: started")))
    }

    #[on_command(add)]
    fn add(&self, context: HandlerContext<Unit>, n: &i32) -> impl EventHandler<Unit> {
        let n = *n;
        context
            .update(Unit::MAP, format!("k{n}"), n)
            .followed_by(context.set_value(Unit::VALUE, n))
    }

    #[on_event(value)]
    fn value(&self, context: HandlerContext<Unit>, value: &i32) -> impl EventHandler<Unit> {
        let value = *value;
        context
            .get_agent_uri()
            .and_then(move |uri| context.effect(move || println!("{uri}: value = {value}")))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    logging::init();
    let addr: SocketAddr = match std::env::args().nth(1) {
        Some(addr) => addr.parse()?,
        None => "127.0.0.1:9001".parse()?,
    };
    let server = ServerBuilder::with_plane_name("example")
        .set_bind_addr(addr)
        .with_store_dir("target/tidal-examples/warp_server")
        // The console at http://<addr>/console, metrics at /metrics, swim:meta: nodes.
        .enable_introspection()
        .enable_metrics()
        .add_route(
            RoutePattern::parse_str("/unit/:id")?,
            AgentModel::new(Unit::default, UnitLifecycle),
        )
        .build()
        .await?;
    let (task, handle) = server.run_until(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    if let Some(addr) = handle.bound_addr() {
        println!("listening on ws://{addr} (Ctrl-C to stop)");
    }
    task.await?;
    Ok(())
}
