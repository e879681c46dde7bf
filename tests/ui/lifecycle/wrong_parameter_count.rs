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
    #[on_update(stock)]
    fn on_stock(
        &self,
        context: HandlerContext<Shop>,
        key: String,
        new_value: &u32,
    ) -> impl EventHandler<Shop> {
        let new_value = *new_value;
        context.effect(move || println!("{key} = {new_value}"))
    }
}

fn main() {}
