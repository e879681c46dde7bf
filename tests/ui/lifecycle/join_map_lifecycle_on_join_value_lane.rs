use tidal::prelude::*;

#[projections]
#[derive(AgentLaneModel)]
pub struct Inventory {
    stock: JoinMapLane<String, String, u32>,
    lights: JoinValueLane<String, bool>,
}

pub struct InventoryLifecycle;

#[lifecycle(Inventory)]
impl InventoryLifecycle {
    #[join_map_lifecycle(lights)]
    fn links(
        &self,
        context: JoinMapContext<Inventory, String, String, u32>,
    ) -> impl JoinMapLaneLifecycle<String, String, u32, Inventory> {
        context.builder().done()
    }
}

fn main() {}
