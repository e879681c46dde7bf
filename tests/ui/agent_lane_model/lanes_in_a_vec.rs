use tidal::agent::{lanes::ValueLane, AgentLaneModel};

#[derive(AgentLaneModel)]
pub struct Shop {
    total: ValueLane<i32>,
    history: Vec<ValueLane<i32>>,
}

fn main() {}
