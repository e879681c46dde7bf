use tidal::agent::{
    agent_lifecycle::HandlerContext,
    event_handler::EventHandler,
    lanes::{CommandLane, ValueLane},
    lifecycle, AgentLaneModel,
};

#[derive(AgentLaneModel)]
pub struct Shop {
    total: ValueLane<i32>,
    buy: CommandLane<i32>,
}

#[lifecycle(Shop)]
#[derive(Clone)]
pub struct ShopLifecycle;

#[allow(dead_code)]
fn handler(context: HandlerContext<Shop>) -> impl EventHandler<Shop> {
    context.effect(|| ())
}

include!("../then_used.rs");
