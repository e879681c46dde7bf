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

pub struct ShopLifecycle<T>(T);

#[lifecycle(Shop)]
impl<T: std::fmt::Display> ShopLifecycle<T> {
    #[on_event(total)]
    fn on_total(&self, context: HandlerContext<Shop>, value: &i32) -> impl EventHandler<Shop> + '_ {
        let line = format!("{} {value}", self.0);
        context.effect(move || println!("{line}"))
    }
}

fn main() {}
