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
    #[on_event(sales)]
    fn sold(&self, context: HandlerContext<Shop>, n: &u32) -> impl EventHandler<Shop> {
        let n = *n;
        context.effect(move || println!("{n}"))
    }
}

fn main() {}
