use tidal::agent::{lanes::ValueLane, AgentLaneModel};

#[derive(AgentLaneModel)]
pub struct Shop {
    #[item(on_decode_error = ignore)]
    total: ValueLane<i32>,
}

fn main() {}
