use tidal::prelude::*;

#[projections]
#[derive(AgentLaneModel)]
pub struct Shop {
    stock: MapLane<String, u32>,
    total: DemandLane<u32>,
    labels: DemandMapLane<String, String>,
    sales: SupplyLane<u32>,
}

pub struct ShopLifecycle;

#[lifecycle(Shop)]
impl ShopLifecycle {
    #[on_cue(total)]
    fn total(&self, context: HandlerContext<Shop>) -> impl EventHandler<Shop> {
        context.effect(|| ())
    }
}

fn main() {}
