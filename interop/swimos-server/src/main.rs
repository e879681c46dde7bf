//! A SwimOS server with the agent tidal's remote downlink tests link to, mirroring their
//! `Source`: `/source/:id` with a value lane `value` (i64), a map lane `entries`
//! (String -> i32), a command lane `shout` (String) and a command lane `stop` that stops the
//! agent.
//!
//! Usage: `swimos-server PORT`. It listens on 127.0.0.1:PORT and prints `listening on ADDR`
//! once bound.

use std::error::Error;

use swimos::{
    agent::{
        agent_lifecycle::HandlerContext,
        agent_model::AgentModel,
        event_handler::EventHandler,
        lanes::{CommandLane, MapLane, ValueLane},
        lifecycle, projections, AgentLaneModel,
    },
    route::RoutePattern,
    server::{Server, ServerBuilder},
};

#[derive(AgentLaneModel)]
#[projections]
pub struct Source {
    value: ValueLane<i64>,
    entries: MapLane<String, i32>,
    shout: CommandLane<String>,
    stop: CommandLane<i32>,
}

#[derive(Clone)]
pub struct SourceLifecycle;

#[lifecycle(Source)]
impl SourceLifecycle {
    #[on_command(stop)]
    pub fn stop(&self, context: HandlerContext<Source>, _: &i32) -> impl EventHandler<Source> {
        context.stop()
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let port: u16 = std::env::args()
        .nth(1)
        .ok_or("usage: swimos-server PORT")?
        .parse()?;
    let server = ServerBuilder::with_plane_name("swimos")
        .set_bind_addr(([127, 0, 0, 1], port).into())
        .add_route(
            RoutePattern::parse_str("/source/:id")?,
            AgentModel::new(Source::default, SourceLifecycle.into_lifecycle()),
        )
        .build()
        .await?;
    let (task, mut handle) = server.run();
    let task = tokio::spawn(task);
    match handle.bound_addr().await {
        Some(addr) => println!("listening on {addr}"),
        None => return Err("the server did not bind".into()),
    }
    task.await??;
    Ok(())
}
