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
    fn on_total<T: std::fmt::Display>(
        &self,
        context: HandlerContext<Shop>,
        value: &T,
    ) -> impl EventHandler<Shop> {
        let value = value.to_string();
        context.effect(move || println!("{value}"))
    }
}

fn main() {}
