use tidal::agent::{
    agent_lifecycle::HandlerContext,
    event_handler::{EventHandler, UnitHandler},
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

#[derive(AgentLaneModel)]
pub struct Other {
    total: ValueLane<i32>,
}

#[lifecycle(Shop)]
impl ShopLifecycle {
    #[on_event(total)]
    fn on_total(&self, _context: HandlerContext<Other>, _value: &i32) -> impl EventHandler<Shop> {
        UnitHandler::default()
    }
}

fn main() {}
