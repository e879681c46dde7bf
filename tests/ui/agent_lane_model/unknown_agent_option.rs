use tidal::agent::{lanes::ValueLane, AgentLaneModel};

#[derive(AgentLaneModel)]
#[agent(naming = "camel")]
pub struct Shop {
    total: ValueLane<i32>,
}

fn main() {}
