// Shared by the `*_then_used.rs` cases (`include!`d, not a case itself): the agent `Shop` and
// its lifecycle `ShopLifecycle` used as any program uses them. The mistake in the including
// file must be the only error: nothing here may add a second one.

fn main() {
    let _harness = ::tidal::testing::AgentHarness::new(Shop::default(), ShopLifecycle);
    let _builder = ::tidal::server::ServerBuilder::with_plane_name("shop").add_route(
        "/shop".parse().unwrap(),
        ::tidal::agent::agent_model::AgentModel::new(Shop::default, ShopLifecycle),
    );
}
