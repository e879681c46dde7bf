use tidal::agent::{
    agent_lifecycle::AgentLifecycle, lanes::ValueLane, lifecycle, AgentLaneModel,
};

#[derive(AgentLaneModel)]
pub struct Shop {
    total: ValueLane<i32>,
}

pub struct ShopLifecycle;

// `#[lifecycle]` on an impl of `AgentLifecycle` itself: one message, no conflicting impl.
#[lifecycle(Shop)]
impl AgentLifecycle<Shop> for ShopLifecycle {}

fn main() {}
