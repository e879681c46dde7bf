use tidal::agent::{
    agent_lifecycle::HandlerContext,
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
    #[on_start]
    fn start(&self, _context: HandlerContext<Shop>) -> String {
        "started".to_owned()
    }
}

fn main() {}
