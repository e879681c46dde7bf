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

#[lifecycle]
impl ShopLifecycle {
    #[on_command(buy)]
    fn on_buy(&self, context: HandlerContext<Shop>, value: &i32) -> impl EventHandler<Shop> {
        let value = *value;
        context.effect(move || println!("{value}"))
    }
}

include!("../then_used.rs");
