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
    #[on_event(stock)]
    fn stock_event(&self, context: HandlerContext<Shop>, value: &u32) -> impl EventHandler<Shop> {
        let value = *value;
        context.effect(move || println!("{value}"))
    }

    #[on_remove(stock)]
    fn stock_remove(
        &self,
        context: HandlerContext<Shop>,
        _map: &HashMap<String, u32>,
        key: String,
        _removed: u32,
    ) -> impl EventHandler<Shop> {
        context.effect(move || println!("{key}"))
    }
}

fn main() {}
