use tidal::agent::AgentLaneModel;

#[derive(AgentLaneModel)]
pub struct Shop;

fn main() {}
