use tidal::agent::{lanes::ValueLane, lifecycle, AgentLaneModel};

#[derive(AgentLaneModel)]
pub struct Shop {
    total: ValueLane<i32>,
}

#[lifecycle(Shop)]
pub struct ShopLifecycle;

fn main() {}
