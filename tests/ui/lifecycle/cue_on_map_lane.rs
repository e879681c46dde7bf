use std::collections::HashMap;

use tidal::prelude::*;

#[projections]
#[derive(AgentLaneModel)]
pub struct Shop {
    stock: MapLane<String, u32>,
    total: DemandLane<u32>,
    sales: SupplyLane<u32>,
}

pub struct ShopLifecycle;

#[lifecycle(Shop)]
impl ShopLifecycle {
    #[on_update(stock)]
    fn restocked(
        &self,
        context: HandlerContext<Shop>,
        _: &HashMap<String, u32>,
        _: String,
        _: Option<u32>,
        n: &u32,
    ) -> impl EventHandler<Shop> {
        let _ = n;
        context.cue(Shop::STOCK)
    }
}

fn main() {}
