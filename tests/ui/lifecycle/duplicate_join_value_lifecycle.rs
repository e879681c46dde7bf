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
    fn links(&self, context: JoinValueContext<Building, String, bool>) -> impl JoinValueLaneLifecycle<String, bool, Building> {
        context.builder().done()
    }

    #[join_value_lifecycle(rooms)]
    fn more_links(&self, context: JoinValueContext<Building, String, bool>) -> impl JoinValueLaneLifecycle<String, bool, Building> {
        context.builder().done()
    }
}

fn main() {}
