use tidal::agent::agent_lifecycle::{JoinValueContext, JoinValueLaneLifecycle};
use tidal::prelude::*;

#[projections]
#[derive(AgentLaneModel)]
pub struct Building {
    rooms: JoinValueLane<String, bool>,
    names: MapLane<String, bool>,
    add: CommandLane<String>,
}

pub struct BuildingLifecycle;

#[lifecycle(Building)]
impl BuildingLifecycle {
    #[join_value_lifecycle(rooms)]
    fn links(&self, context: JoinValueContext<Building, String, u32>) -> impl JoinValueLaneLifecycle<String, u32, Building> {
        context.builder().done()
    }
}

fn main() {}
