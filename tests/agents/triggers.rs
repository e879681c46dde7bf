//! Handler chains that set other lanes, and the depth limit on triggers.

use tidal::agent::{
    agent_lifecycle::HandlerContext,
    config::AgentConfig,
    event_handler::{EventHandler, EventHandlerError, HandlerActionExt},
    lanes::ValueLane,
    lifecycle, projections, AgentLaneModel,
};
use tidal::testing::AgentHarness;

#[projections]
#[derive(AgentLaneModel)]
pub struct Relay {
    celsius: ValueLane<f64>,
    fahrenheit: ValueLane<f64>,
    alarm: ValueLane<bool>,
    ping: ValueLane<u64>,
    pong: ValueLane<u64>,
}

#[derive(Clone)]
pub struct RelayLifecycle;

#[lifecycle(Relay)]
impl RelayLifecycle {
    #[on_event(celsius)]
    fn convert(&self, context: HandlerContext<Relay>, c: &f64) -> impl EventHandler<Relay> {
        context.set_value(Relay::FAHRENHEIT, c * 9.0 / 5.0 + 32.0)
    }

    #[on_event(fahrenheit)]
    fn check(&self, context: HandlerContext<Relay>, f: &f64) -> impl EventHandler<Relay> {
        context.set_value(Relay::ALARM, *f > 100.0)
    }

    // ping and pong set each other forever: the depth limit must stop them.
    #[on_event(ping)]
    fn ping(&self, context: HandlerContext<Relay>, n: &u64) -> impl EventHandler<Relay> {
        context.set_value(Relay::PONG, n + 1)
    }

    #[on_event(pong)]
    fn pong(&self, context: HandlerContext<Relay>, n: &u64) -> impl EventHandler<Relay> {
        context.set_value(Relay::PING, n + 1)
    }
}

#[test]
fn a_handler_chain_sets_other_lanes_before_the_event_ends() {
    let mut harness = AgentHarness::new(Relay::default(), RelayLifecycle);
    let alarms = harness.record(Relay::ALARM);
    harness.start().unwrap();
    harness.set_value(Relay::CELSIUS, 40.0).unwrap();
    assert_eq!(harness.value(Relay::FAHRENHEIT), 104.0);
    assert!(harness.value(Relay::ALARM));
    assert_eq!(alarms.take(), vec![true]);
}

#[test]
fn endless_triggers_fail_at_the_depth_limit_naming_the_lanes() {
    let mut harness = AgentHarness::new(Relay::default(), RelayLifecycle);
    harness.start().unwrap();
    let failure = harness.set_value(Relay::PING, 0).unwrap_err();
    match &failure.error {
        EventHandlerError::TriggerDepthExceeded { limit, chain } => {
            assert_eq!(*limit, 256);
            assert_eq!(chain, &["ping", "pong", "ping"]);
        }
        other => panic!("unexpected error {other}"),
    }
    assert!(
        failure.to_string().contains("ping -> pong -> ping"),
        "{failure}"
    );
    // Changes made before the limit stay; the agent goes on (default policy).
    assert_eq!(harness.value(Relay::PING) + harness.value(Relay::PONG), 511);
    assert!(!harness.is_stopped());
    harness.set_value(Relay::CELSIUS, 0.0).unwrap();
    assert_eq!(harness.value(Relay::FAHRENHEIT), 32.0);
}

#[test]
fn the_depth_limit_is_configurable_and_deep_chains_do_not_overflow_the_stack() {
    // A deep limit: each level costs stack, which grows on demand instead of overflowing.
    let config = AgentConfig::default().with_max_trigger_depth(100_000);
    let mut harness = AgentHarness::builder(Relay::default(), RelayLifecycle)
        .config(config)
        .build();
    harness.start().unwrap();
    let result = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            let failure = harness.set_value(Relay::PING, 0).unwrap_err();
            matches!(
                failure.error,
                EventHandlerError::TriggerDepthExceeded { limit: 100_000, .. }
            )
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(result);
}

#[test]
fn a_lower_limit_fails_earlier() {
    let config = AgentConfig::default().with_max_trigger_depth(3);
    let mut harness = AgentHarness::builder(Relay::default(), RelayLifecycle)
        .config(config)
        .build();
    harness.start().unwrap();
    // celsius -> fahrenheit -> alarm is 3 levels deep: allowed.
    harness.set_value(Relay::CELSIUS, 50.0).unwrap();
    let failure = harness.set_value(Relay::PING, 0).unwrap_err();
    assert!(matches!(
        failure.error,
        EventHandlerError::TriggerDepthExceeded { limit: 3, .. }
    ));
    assert_eq!(failure.lane, Some("ping"));
    assert_eq!(harness.value(Relay::PING), 2);
}

#[test]
fn handlers_compose_with_combinators() {
    let mut harness = AgentHarness::new(Relay::default(), RelayLifecycle);
    harness.start().unwrap();
    harness
        .run_with(|context| {
            context
                .get_value(Relay::PONG)
                .map(|n| n + 10)
                .and_then(move |n| context.set_value(Relay::CELSIUS, n as f64))
        })
        .unwrap();
    assert_eq!(harness.value(Relay::CELSIUS), 10.0);
    assert_eq!(harness.value(Relay::FAHRENHEIT), 50.0);
}

#[projections]
#[derive(AgentLaneModel)]
pub struct Counter {
    count: ValueLane<u32>,
    changes: ValueLane<u32>,
}

#[derive(Clone)]
pub struct CounterLifecycle;

#[lifecycle(Counter)]
impl CounterLifecycle {
    /// Runs first, with lane handlers disabled: initial values do not count as changes.
    #[on_init]
    fn init(&self, context: HandlerContext<Counter>) -> impl EventHandler<Counter> {
        context
            .get_parameter("start")
            .map(|start| start.and_then(|s| s.parse().ok()).unwrap_or(0))
            .and_then(move |start| context.set_value(Counter::COUNT, start))
    }

    #[on_start]
    fn start(&self, context: HandlerContext<Counter>) -> impl EventHandler<Counter> {
        context.transform_value(Counter::COUNT, |n| n + 1)
    }

    #[on_event(count)]
    fn changed(&self, context: HandlerContext<Counter>, _n: &u32) -> impl EventHandler<Counter> {
        context.transform_value(Counter::CHANGES, |n| n + 1)
    }
}

#[test]
fn on_init_runs_before_on_start_without_lane_handlers() {
    let mut harness = AgentHarness::builder(Counter::default(), CounterLifecycle)
        .parameter("start", "41")
        .build();
    harness.start().unwrap();
    assert_eq!(harness.value(Counter::COUNT), 42);
    assert_eq!(harness.value(Counter::CHANGES), 1);
}
