use tidal::prelude::*;

#[projections]
#[derive(AgentLaneModel)]
pub struct Shop {
    level: ValueLane<i64>,
    stock: HttpLane<i64, String>,
}

pub struct ShopLifecycle;

#[lifecycle(Shop)]
impl ShopLifecycle {
    #[on_post(stock)]
    fn add(&self, context: HandlerContext<Shop>, _: HttpRequestContext, n: i64) -> impl HandlerAction<Shop, Completion = UnitResponse> {
        let _ = n;
        context.value(UnitResponse::default())
    }
}

fn main() {}
