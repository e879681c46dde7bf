use tidal::agent::{lanes::ValueLane, AgentLaneModel};

#[derive(AgentLaneModel)]
pub struct Shop {
    #[item(transent)]
    total: ValueLane<i32>,
}

fn main() {}
