use tidal::agent::{lanes::ValueLane, AgentLaneModel};

#[derive(AgentLaneModel)]
#[agent(convention = "camelCase")]
pub struct Shop {
    total_count: ValueLane<i32>,
}

fn main() {}
