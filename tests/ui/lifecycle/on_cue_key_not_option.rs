use std::collections::HashSet;

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
    #[keys(labels)]
    fn keys(&self, context: HandlerContext<Shop>) -> impl HandlerAction<Shop, Completion = HashSet<String>> {
        context.value(HashSet::new())
    }

    #[on_cue_key(labels)]
    fn label(&self, context: HandlerContext<Shop>, key: String) -> impl HandlerAction<Shop, Completion = String> {
        context.value(key)
    }
}

fn main() {}
