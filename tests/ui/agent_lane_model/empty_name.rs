use tidal::agent::{lanes::ValueLane, AgentLaneModel};

#[derive(AgentLaneModel)]
pub struct Shop {
    #[item(name = "")]
    total: ValueLane<i32>,
}

fn main() {}
