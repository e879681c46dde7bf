//! The error policy: failures are reported with node and lane; the agent goes on or stops.

use std::sync::{Arc, Mutex};

use tidal::agent::{
    agent_lifecycle::HandlerContext,
    config::{AgentConfig, HandlerErrorPolicy},
    event_handler::{EventHandler, EventHandlerError, HandlerActionExt},
    lanes::{CommandLane, ValueLane},
    lifecycle, projections, AgentLaneModel,
};
use tidal::testing::AgentHarness;

#[projections]
#[derive(AgentLaneModel)]
pub struct Fragile {
    input: CommandLane<i32>,
    sum: ValueLane<i32>,
    checked: ValueLane<i32>,
}

#[derive(Clone, Default)]
pub struct FragileLifecycle {
    stops: Arc<Mutex<u32>>,
}

#[derive(Debug, thiserror::Error)]
#[error("negative input {0}")]
pub struct Negative(i32);

#[lifecycle(Fragile)]
impl FragileLifecycle {
    #[on_command(input)]
    fn input(&self, context: HandlerContext<Fragile>, n: &i32) -> impl EventHandler<Fragile> {
        let n = *n;
        context
            .transform_value(Fragile::SUM, move |s| s + n)
            .followed_by(context.set_value(Fragile::CHECKED, n))
            .followed_by(context.effect(move || n))
            .and_then(move |n| {
                if n == 0 {
                    context.stop().boxed()
                } else {
                    context.value(()).boxed()
                }
            })
    }

    #[on_event(checked)]
    fn check(&self, context: HandlerContext<Fragile>, n: &i32) -> impl EventHandler<Fragile> {
        let n = *n;
        (n < 0)
            .then(|| context.fail::<(), _>(Negative(n)))
            .discard()
    }

    #[on_stop]
    fn stop(&self, context: HandlerContext<Fragile>) -> impl EventHandler<Fragile> {
        let stops = self.stops.clone();
        context.effect(move || *stops.lock().unwrap() += 1)
    }
}

fn harness(
    policy: HandlerErrorPolicy,
) -> (AgentHarness<Fragile, FragileLifecycle>, Arc<Mutex<u32>>) {
    let lifecycle = FragileLifecycle::default();
    let stops = lifecycle.stops.clone();
    let harness = AgentHarness::builder(Fragile::default(), lifecycle)
        .uri("/fragile/1")
        .config(AgentConfig::default().with_error_policy(policy))
        .build();
    (harness, stops)
}

#[test]
fn a_failure_is_reported_with_node_and_lane_and_the_agent_goes_on() {
    let (mut harness, stops) = harness(HandlerErrorPolicy::Continue);
    harness.start().unwrap();
    let sums = harness.record(Fragile::SUM);
    let failure = harness.command(Fragile::INPUT, -3).unwrap_err();
    assert_eq!(failure.node, "/fragile/1");
    assert_eq!(failure.lane, Some("checked"));
    assert!(matches!(failure.error, EventHandlerError::Effect(_)));
    assert_eq!(
        failure.to_string(),
        "agent /fragile/1 lane checked: handler failed: negative input -3"
    );
    // What happened before the failure stays, and reaches subscribers.
    assert_eq!(harness.value(Fragile::SUM), -3);
    assert_eq!(sums.take(), vec![-3]);
    // The agent goes on.
    harness.command(Fragile::INPUT, 5).unwrap();
    assert_eq!(harness.value(Fragile::SUM), 2);
    assert!(!harness.is_stopped());
    assert_eq!(*stops.lock().unwrap(), 0);
}

#[test]
fn under_the_stop_policy_a_failure_stops_the_agent_after_on_stop() {
    let (mut harness, stops) = harness(HandlerErrorPolicy::Stop);
    harness.start().unwrap();
    harness.command(Fragile::INPUT, -1).unwrap_err();
    assert!(harness.is_stopped());
    assert_eq!(*stops.lock().unwrap(), 1);
}

#[test]
fn a_handler_can_stop_its_agent_cleanly() {
    let (mut harness, stops) = harness(HandlerErrorPolicy::Continue);
    harness.start().unwrap();
    harness.command(Fragile::INPUT, 0).unwrap();
    assert!(harness.is_stopped());
    assert_eq!(*stops.lock().unwrap(), 1);
    // Stopping again does nothing.
    harness.stop().unwrap();
    assert_eq!(*stops.lock().unwrap(), 1);
}
