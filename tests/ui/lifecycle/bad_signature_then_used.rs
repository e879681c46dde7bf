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

#[derive(Clone)]
pub struct ShopLifecycle;

#[lifecycle(Shop)]
impl ShopLifecycle {
    #[on_command(buy)]
    fn on_buy(&self, context: HandlerContext<Shop>) -> impl EventHandler<Shop> {
        context.effect(|| println!("bought"))
    }
}

include!("../then_used.rs");
