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
    #[on_command(add)]
    fn add(&self, context: HandlerContext<Building>, name: &String) -> impl EventHandler<Building> {
        context.add_downlink(Building::NAMES, name.clone(), None, "/room", "on")
    }
}

fn main() {}
