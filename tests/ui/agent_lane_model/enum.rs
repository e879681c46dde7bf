use tidal::agent::{lanes::ValueLane, AgentLaneModel};

#[derive(AgentLaneModel)]
pub enum Shop {
    Total(ValueLane<i32>),
}

fn main() {}
