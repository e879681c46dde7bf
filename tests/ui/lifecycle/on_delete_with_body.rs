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
    #[on_delete(stock)]
    fn delete(&self, context: HandlerContext<Shop>, _: HttpRequestContext, body: String) -> impl HandlerAction<Shop, Completion = UnitResponse> {
        let _ = body;
        context.value(UnitResponse::default())
    }
}

fn main() {}
