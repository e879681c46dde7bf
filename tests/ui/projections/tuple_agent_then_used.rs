use tidal::agent::{
    agent_lifecycle::HandlerContext, event_handler::EventHandler, lanes::ValueLane, lifecycle,
    projections, AgentLaneModel,
};

// `#[projections]` and the derive on a tuple struct: one message, the derive's.
#[projections]
#[derive(AgentLaneModel)]
pub struct Shop(ValueLane<i32>);

#[derive(Clone)]
pub struct ShopLifecycle;

#[lifecycle(Shop)]
impl ShopLifecycle {
    #[on_start]
    fn on_start(&self, context: HandlerContext<Shop>) -> impl EventHandler<Shop> {
        context.effect(|| println!("started"))
    }
}

include!("../then_used.rs");
