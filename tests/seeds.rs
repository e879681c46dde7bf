//! The code samples of `shared/seeds/value-downlinks.md`, with `swimos` replaced by `tidal`.
//!
//! The agent and lifecycle parts compile as written. The downlink parts arrive with the
//! downlinks themselves; where a sample uses them, a `// downlinks: later` marker stands in.

/// "A complete example for opening a Value Downlink".
mod complete_example {
    use tidal::agent::{
        agent_lifecycle::utility::HandlerContext,
        // downlinks: later (agent_model::downlink::hosted::ValueDownlinkHandle, config::SimpleDownlinkConfig)
        event_handler::EventHandler,
        lanes::ValueLane,
        lifecycle,
        projections,
        state::State,
        AgentLaneModel,
    };

    #[projections]
    #[derive(AgentLaneModel)]
    pub struct ExampleAgent {
        lane: ValueLane<i32>,
    }

    #[derive(Debug, Default)]
    pub struct ExampleLifecycle {
        handle: State<ExampleAgent, Option<i32>>, // downlinks: later (ValueDownlinkHandle<i32>)
    }

    #[lifecycle(ExampleAgent, no_clone)]
    impl ExampleLifecycle {
        #[on_start]
        pub fn on_start(
            &self,
            context: HandlerContext<ExampleAgent>,
        ) -> impl EventHandler<ExampleAgent> + '_ {
            let ExampleLifecycle { handle } = self;
            let _ = context;
            handle.set(None) // downlinks: later (value_downlink_builder ... done().and_then(..))
        }
    }
}

/// "A worked example for publishing a downlink's event count".
mod shared_state_example {
    use std::cell::Cell;
    use tidal::agent::{
        agent_lifecycle::HandlerContext,
        event_handler::{EventHandler, HandlerActionExt},
        lanes::ValueLane,
        lifecycle, projections,
        state::State,
        AgentLaneModel,
    };

    #[projections]
    #[derive(AgentLaneModel)]
    pub struct ExampleAgent {
        event_count: ValueLane<u64>,
    }

    #[derive(Debug, Default)]
    pub struct ExampleLifecycle {
        handle: State<ExampleAgent, Option<i32>>, // downlinks: later (ValueDownlinkHandle<i32>)
    }

    #[lifecycle(ExampleAgent, no_clone)]
    impl ExampleLifecycle {
        #[on_start]
        pub fn on_start(
            &self,
            context: HandlerContext<ExampleAgent>,
        ) -> impl EventHandler<ExampleAgent> + '_ {
            let ExampleLifecycle { handle } = self;
            let state: Cell<u64> = Default::default();
            // downlinks: later (the `on_event` handler below runs per downlink event)
            let count = state.get() + 1;
            state.set(count);
            context
                .set_value(ExampleAgent::EVENT_COUNT, count)
                .followed_by(handle.set(None))
        }
    }
}

/// "Here we use a State instance which enables using interior mutability": a lifecycle that is
/// not `Clone`, without `no_clone`.
mod handle_example {
    use tidal::agent::{
        agent_lifecycle::utility::HandlerContext, event_handler::EventHandler, lanes::ValueLane,
        lifecycle, projections, state::State, AgentLaneModel,
    };

    #[projections]
    #[derive(AgentLaneModel)]
    pub struct ExampleAgent {
        lane: ValueLane<u64>,
    }

    #[derive(Debug, Default)]
    pub struct ExampleLifecycle {
        /// Here we use a State instance which enables using interior
        /// mutability in agent lifecycles. Since the downlink is not
        /// opened until the agent has started the handle must be wrapped
        /// in an Option.
        handle: State<ExampleAgent, Option<i32>>, // downlinks: later (ValueDownlinkHandle<i32>)
    }

    #[lifecycle(ExampleAgent)]
    impl ExampleLifecycle {
        #[on_start]
        pub fn on_start(
            &self,
            context: HandlerContext<ExampleAgent>,
        ) -> impl EventHandler<ExampleAgent> + '_ {
            let ExampleLifecycle { handle } = self;
            let _ = context;
            // downlinks: later (value_downlink_builder(None, "node", "lane", ..).done())
            handle.set(None)
        }
    }
}

/// "Setting the state of a downlink to double what a lane receives" and "terminating a
/// downlink if a sentinel value is received": the `on_event(lane)` handlers.
mod set_and_stop_examples {
    use tidal::agent::{
        agent_lifecycle::utility::HandlerContext, event_handler::EventHandler, lanes::ValueLane,
        lifecycle, projections, state::State, AgentLaneModel,
    };

    #[projections]
    #[derive(AgentLaneModel)]
    pub struct ExampleAgent {
        lane: ValueLane<u64>,
    }

    #[derive(Debug, Default)]
    pub struct ExampleLifecycle {
        handle: State<ExampleAgent, Option<Vec<u64>>>, // downlinks: later (ValueDownlinkHandle<u64>)
    }

    #[lifecycle(ExampleAgent, no_clone)]
    impl ExampleLifecycle {
        #[on_event(lane)]
        pub fn on_event<'s>(
            &'s self,
            _context: HandlerContext<ExampleAgent>,
            value: &u64,
        ) -> impl EventHandler<ExampleAgent> + 's {
            let value = *value;
            self.handle.with_mut(move |state| {
                if let Some(handle) = state.as_mut() {
                    // downlinks: later (`handle.set(value * 2)`; on error the State is cleared)
                    handle.push(value * 2);
                }
            })
        }
    }

    #[test]
    fn the_lane_handler_doubles_into_the_state() {
        let lifecycle = ExampleLifecycle::default();
        let mut harness = tidal::testing::AgentHarness::new(ExampleAgent::default(), lifecycle);
        harness.start().unwrap();
        harness.set_value(ExampleAgent::LANE, 4).unwrap();
    }
}
