use tidal::agent::{lanes::ValueLane, AgentLaneModel};

#[derive(AgentLaneModel)]
pub struct Shop(ValueLane<i32>);

fn main() {}
