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
    #[on_cue(stock)]
    fn total(&self, context: HandlerContext<Shop>) -> impl HandlerAction<Shop, Completion = u32> {
        context.value(0)
    }
}

fn main() {}
