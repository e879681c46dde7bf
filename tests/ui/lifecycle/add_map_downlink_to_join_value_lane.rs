use tidal::prelude::*;

#[projections]
#[derive(AgentLaneModel)]
pub struct Inventory {
    stock: JoinMapLane<String, String, u32>,
    lights: JoinValueLane<String, bool>,
    add: CommandLane<String>,
}

pub struct InventoryLifecycle;

#[lifecycle(Inventory)]
impl InventoryLifecycle {
    #[on_command(add)]
    fn add(&self, context: HandlerContext<Inventory>, shop: &String) -> impl EventHandler<Inventory> {
        context.add_map_downlink(Inventory::LIGHTS, shop.clone(), None, "/shop", "items")
    }
}

fn main() {}
