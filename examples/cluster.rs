//! One member of a plane of tidal servers: run it several times (on one machine or many) on
//! the same PostgreSQL database, and every agent runs on exactly one of them while a client of
//! any of them reaches every agent. Stop a member with Ctrl-C or SIGTERM: it hands its agents
//! off to the others first. This is the server of `deploy/` (Kubernetes).
//!
//! Configured by environment variables:
//! - `TIDAL_DATABASE` (required): the plane's database, `postgres://user@host:port/db`;
//! - `TIDAL_MEMBER` (required): this member's id, unique in the plane and the same across its
//!   restarts (a pod name);
//! - `TIDAL_BIND` (default `127.0.0.1:9001`): where it listens;
//! - `TIDAL_ADVERTISE` (default `ws://` and the bound address): where the other members reach
//!   it.
//!
//! Run, with a PostgreSQL server (`bash scripts/postgres.sh /tmp/pg 5433` starts one):
//!
//! ```sh
//! TIDAL_DATABASE=postgres://tidal@127.0.0.1:5433/tidal TIDAL_MEMBER=a TIDAL_BIND=127.0.0.1:9001 \
//!     cargo run --example cluster
//! TIDAL_DATABASE=postgres://tidal@127.0.0.1:5433/tidal TIDAL_MEMBER=b TIDAL_BIND=127.0.0.1:9002 \
//!     cargo run --example cluster
//! cargo run -p tidal-cli -- command ws://127.0.0.1:9001 /counters/x add 5
//! cargo run -p tidal-cli -- get ws://127.0.0.1:9002 /counters/x total
//! ```

#[path = "support/logging.rs"]
mod logging;

use tidal::prelude::*;
use tidal::server::ClusterConfig;

/// A counter whose total is kept in the plane's database, wherever it runs.
#[projections]
#[derive(AgentLaneModel)]
pub struct Counter {
    total: ValueLane<i64>,
    add: CommandLane<i64>,
}

#[derive(Clone, Default)]
pub struct CounterLifecycle;

#[lifecycle(Counter)]
impl CounterLifecycle {
    #[on_command(add)]
    fn add(&self, context: HandlerContext<Counter>, amount: &i64) -> impl EventHandler<Counter> {
        let amount = *amount;
        context.transform_value(Counter::TOTAL, move |total| total + amount)
    }
}

fn setting(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("set {name}: see the top of examples/cluster.rs"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    logging::init();
    let database = setting("TIDAL_DATABASE")?;
    let member = setting("TIDAL_MEMBER")?;
    let bind = std::env::var("TIDAL_BIND").unwrap_or_else(|_| "127.0.0.1:9001".to_owned());
    let mut cluster = ClusterConfig::new(database, member.clone());
    if let Ok(address) = std::env::var("TIDAL_ADVERTISE") {
        cluster = cluster.with_advertised_address(address);
    }
    let server = ServerBuilder::with_plane_name("counters")
        .set_bind_addr(bind.as_str())
        .add_route(
            RoutePattern::parse_str("/counters/:id")?,
            AgentModel::new(Counter::default, CounterLifecycle),
        )
        .with_cluster(cluster)
        .build()
        .await?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let (task, handle) = server.run_until(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    });
    let addr = handle.bound_addr().ok_or("the server is not bound")?;
    println!("member {member} of the plane `counters`, on {addr}");
    task.await?;
    println!("member {member} handed its agents off and stopped");
    Ok(())
}
