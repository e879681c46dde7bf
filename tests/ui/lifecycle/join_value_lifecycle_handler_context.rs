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
    fn links(&self, context: HandlerContext<Building>) -> impl EventHandler<Building> {
        context.effect(|| ())
    }
}

fn main() {}
