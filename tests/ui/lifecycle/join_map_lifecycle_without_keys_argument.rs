use tidal::prelude::*;

#[projections]
#[derive(AgentLaneModel)]
pub struct Inventory {
    stock: JoinMapLane<String, String, u32>,
}

pub struct InventoryLifecycle;

#[lifecycle(Inventory)]
impl InventoryLifecycle {
    #[join_map_lifecycle(stock)]
    fn links(
        &self,
        context: JoinMapContext<Inventory, String, String, u32>,
    ) -> impl JoinMapLaneLifecycle<String, String, u32, Inventory> {
        context
            .builder()
            .on_unlinked(|context, _, _, _| context.value(LinkClosedResponse::Delete))
            .done()
    }
}

fn main() {}
