use std::collections::HashMap;
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
    #[on_remove(stock)]
    fn on_stock(
        &self,
        context: HandlerContext<Shop>,
        map: &HashMap<String, i64>,
        key: String,
        _removed: u32,
    ) -> impl EventHandler<Shop> {
        let left = map.len();
        context.effect(move || println!("{key} removed, {left} left"))
    }
}

fn main() {}
