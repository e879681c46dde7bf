use tidal::agent::{lanes::ValueLane, AgentLaneModel};

#[derive(AgentLaneModel)]
pub struct Shop {
    total: ValueLane<i32>,
    count: i32,
}

fn main() {}
