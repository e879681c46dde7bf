use tidal::agent::{
    agent_lifecycle::HandlerContext,
    event_handler::EventHandler,
    lanes::{CommandLane, MapLane, ValueLane},
    lifecycle, AgentLaneModel,
};

#[derive(AgentLaneModel)]
pub struct Shop {
    total: ValueLane<i32>,
    stock: MapLane<String, u32>,
    buy: CommandLane<i32>,
}

pub struct ShopLifecycle;

#[lifecycle(Shop)]
impl ShopLifecycle {
    #[on_event(total)]
    fn on_total(self, context: HandlerContext<Shop>, value: &i32) -> impl EventHandler<Shop> {
        let value = *value;
        context.effect(move || println!("{value}"))
    }
}

fn main() {}
