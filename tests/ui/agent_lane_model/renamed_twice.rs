use tidal::agent::{lanes::ValueLane, AgentLaneModel};

#[derive(AgentLaneModel)]
pub struct Shop {
    #[item(name = "totalCount", convention = "camel")]
    total_count: ValueLane<i32>,
}

fn main() {}
