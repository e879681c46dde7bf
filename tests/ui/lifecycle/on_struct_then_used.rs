use tidal::agent::{
    agent_lifecycle::HandlerContext,
    agent_model::AgentModel,
    event_handler::EventHandler,
    lanes::{CommandLane, ValueLane},
    lifecycle, AgentLaneModel,
};
use tidal::route::RoutePattern;
use tidal::server::ServerBuilder;
use tidal::testing::AgentHarness;

#[derive(AgentLaneModel)]
pub struct Shop {
    total: ValueLane<i32>,
    buy: CommandLane<i32>,
}

#[lifecycle(Shop)]
#[derive(Clone)]
pub struct ShopLifecycle;

#[allow(dead_code)]
fn handler(context: HandlerContext<Shop>) -> impl EventHandler<Shop> {
    context.effect(|| ())
}

fn main() {
    // The mistake above is the only error: the agent and lifecycle still work everywhere.
    let _harness = AgentHarness::new(Shop::default(), ShopLifecycle);
    let _builder = ServerBuilder::with_plane_name("shop").add_route(
        RoutePattern::parse_str("/shop").unwrap(),
        AgentModel::new(Shop::default, ShopLifecycle),
    );
}
