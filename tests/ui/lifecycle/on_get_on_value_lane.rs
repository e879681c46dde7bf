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
    #[on_get(level)]
    fn get(&self, context: HandlerContext<Shop>, _: HttpRequestContext) -> impl HandlerAction<Shop, Completion = Response<i64>> {
        context.value(Response::ok(1))
    }
}

fn main() {}
