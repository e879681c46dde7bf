use tidal::agent::{lanes::ValueLane, AgentLaneModel};

#[allow(non_snake_case)]
#[derive(AgentLaneModel)]
pub struct Shop {
    #[item(convention = "camel")]
    first_lane: ValueLane<i32>,
    firstLane: ValueLane<i32>,
}

fn main() {}
