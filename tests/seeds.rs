//! The code samples of `shared/seeds/value-downlinks.md`, with `swimos` replaced by `tidal`,
//! each run in a server next to an agent holding the lane it links to.
//!
//! The samples print what happens. A `println!` defined here (macros shadow the prelude's)
//! records each line, so the samples compile unchanged and the tests read what they printed.
//! Every test runs on a current-thread runtime, so the agents run on the test's thread.

// One sample has a doc comment on an expression, as printed in the seed.
#![allow(unused_doc_comments)]

use std::cell::RefCell;
use std::time::Duration;

thread_local! {
    static PRINTED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

macro_rules! println {
    ($($arg:tt)*) => {
        $crate::PRINTED.with(|printed| printed.borrow_mut().push(format!($($arg)*)))
    };
}

fn printed() -> Vec<String> {
    PRINTED.with(|printed| printed.borrow().clone())
}

/// Lets the agents run until `done` holds (at most 5 s).
async fn until(mut done: impl FnMut() -> bool) {
    tokio::time::timeout(Duration::from_secs(5), async {
        while !done() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out; printed so far: {:?}", printed()))
}

/// The agent the samples link to: a value lane `lane`, and a command lane `stop` that stops it.
mod target {
    use serde::{de::DeserializeOwned, Serialize};
    use tidal::agent::{
        agent_lifecycle::{AgentLifecycle, HandlerContext, HandlerRunner},
        event_handler::EventHandlerError,
        lanes::{AgentItem, CommandLane, ValueLane},
        projections, AgentLaneModel,
    };

    #[projections]
    #[derive(AgentLaneModel)]
    pub struct Target<T> {
        pub lane: ValueLane<T>,
        pub stop: CommandLane<i32>,
    }

    /// Written by hand (the macro takes concrete lifecycles): prints each value of `lane`.
    #[derive(Clone)]
    pub struct TargetLifecycle;

    impl<T> AgentLifecycle<Target<T>> for TargetLifecycle
    where
        T: Clone + Default + std::fmt::Debug + Serialize + DeserializeOwned + Send + 'static,
    {
        fn run_item_event<R: HandlerRunner<Target<T>>>(
            &self,
            agent: &Target<T>,
            item_id: u64,
            runner: &mut R,
        ) -> Result<(), EventHandlerError> {
            let context = HandlerContext::<Target<T>>::default();
            if item_id == agent.lane.id() {
                let value = agent.lane.get();
                runner.run(context.effect(move || println!("target lane = {value:?}")))
            } else if item_id == agent.stop.id() {
                runner.run(context.stop())
            } else {
                Ok(())
            }
        }
    }
}

use target::{Target, TargetLifecycle};
use tidal::agent::agent_model::AgentModel;
use tidal::route::RoutePattern;
use tidal::server::{ServerBuilder, ServerHandle};

/// A server with the sample agent at `/example/1` and a `Target<T>` at `target_uri`.
async fn serve<A, L, T>(
    sample: AgentModel<A, L>,
    target_uri: &str,
) -> (
    ServerHandle,
    tokio::task::JoinHandle<Result<(), tidal::server::ServerError>>,
)
where
    A: tidal::agent::AgentLaneModel,
    L: tidal::agent::agent_lifecycle::AgentLifecycle<A>,
    T: Clone
        + Default
        + std::fmt::Debug
        + serde::Serialize
        + serde::de::DeserializeOwned
        + Send
        + 'static,
{
    let server = ServerBuilder::with_plane_name("seeds")
        .add_route(RoutePattern::parse_str("/example/1").unwrap(), sample)
        .add_route(
            RoutePattern::parse_str(target_uri).unwrap(),
            AgentModel::new(Target::<T>::default, TargetLifecycle),
        )
        .update_config(|config| {
            config.agent.inactive_timeout = Some(Duration::from_millis(200));
        })
        .build()
        .await
        .unwrap();
    let (task, handle) = server.run();
    (handle, tokio::spawn(task))
}

/// "A complete example for opening a Value Downlink".
mod complete_example {
    use tidal::agent::{
        agent_lifecycle::utility::HandlerContext,
        agent_model::downlink::hosted::ValueDownlinkHandle,
        config::SimpleDownlinkConfig,
        event_handler::{EventHandler, HandlerActionExt},
        lanes::ValueLane,
        lifecycle, projections,
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
        handle: State<ExampleAgent, Option<ValueDownlinkHandle<i32>>>,
    }

    #[lifecycle(ExampleAgent, no_clone)]
    impl ExampleLifecycle {
        #[on_start]
        pub fn on_start(
            &self,
            context: HandlerContext<ExampleAgent>,
        ) -> impl EventHandler<ExampleAgent> + '_ {
            let ExampleLifecycle { handle } = self;

            context
                .value_downlink_builder(None, "/example/2", "lane", SimpleDownlinkConfig::default())
                .on_linked(|context| context.effect(|| println!("Link opened.")))
                .on_synced(|context, v| {
                    let value = *v;
                    context.effect(move || println!("Link synchronized: {}", value))
                })
                .on_event(|context, v| {
                    let value = *v;
                    context.effect(move || println!("Received value on link: {}", value))
                })
                .on_unlinked(|context| context.effect(|| println!("Link closed.")))
                .on_failed(|context| context.effect(|| println!("Link failed.")))
                .done()
                .and_then(move |downlink_handle| handle.set(Some(downlink_handle)))
        }
    }

    use super::*;

    fn sample() -> AgentModel<ExampleAgent, ExampleLifecycle> {
        AgentModel::from_fn(ExampleAgent::default, ExampleLifecycle::default)
    }

    fn sample_lines() -> Vec<String> {
        printed()
            .into_iter()
            .filter(|line| !line.starts_with("target"))
            .collect()
    }

    #[tokio::test]
    async fn linked_synced_events_and_unlinked_arrive_in_order() {
        let (server, task) = serve::<_, _, i32>(sample(), "/example/2").await;
        server.start_agent("/example/1").await.unwrap();
        until(|| sample_lines().len() == 2).await;
        assert_eq!(sample_lines(), ["Link opened.", "Link synchronized: 0"]);

        // Each value is awaited before the next: a downlink that falls behind receives only the
        // latest value (see `a_slow_downlink_sees_the_latest_value` in tests/downlinks.rs).
        server.command("/example/2", "lane", 5).await.unwrap();
        until(|| sample_lines().len() == 3).await;
        server.command("/example/2", "lane", 6).await.unwrap();
        until(|| sample_lines().len() == 4).await;
        // The remote lane stops: the link closes.
        server.command("/example/2", "stop", 0).await.unwrap();
        until(|| sample_lines().len() == 5).await;
        assert_eq!(
            sample_lines(),
            [
                "Link opened.",
                "Link synchronized: 0",
                "Received value on link: 5",
                "Received value on link: 6",
                "Link closed.",
            ]
        );
        server.stop();
        task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_lane_value_that_is_not_an_i32_fails_the_link() {
        let (server, task) = serve::<_, _, String>(sample(), "/example/2").await;
        server.start_agent("/example/1").await.unwrap();
        until(|| sample_lines().len() == 2).await;
        assert_eq!(sample_lines(), ["Link opened.", "Link failed."]);
        server.stop();
        task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_missing_node_unlinks_without_hanging() {
        let server = ServerBuilder::with_plane_name("seeds")
            .add_route(RoutePattern::parse_str("/example/1").unwrap(), sample())
            .build()
            .await
            .unwrap();
        let (task, server) = server.run();
        let task = tokio::spawn(task);
        server.start_agent("/example/1").await.unwrap();
        until(|| sample_lines().len() == 1).await;
        assert_eq!(sample_lines(), ["Link closed."]);
        server.stop();
        task.await.unwrap().unwrap();
    }
}

/// "A worked example for publishing a downlink's event count".
mod shared_state_example {
    use std::cell::Cell;
    use tidal::agent::{
        agent_lifecycle::HandlerContext,
        agent_model::downlink::hosted::ValueDownlinkHandle,
        config::SimpleDownlinkConfig,
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
        handle: State<ExampleAgent, Option<ValueDownlinkHandle<i32>>>,
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

            context
                .value_downlink_builder(None, "node", "lane", SimpleDownlinkConfig::default())
                .with_shared_state(state)
                .on_event(|state: &Cell<_>, context: HandlerContext<_>, _: &i32| {
                    let count = state.get() + 1;
                    state.set(count);
                    context.set_value(ExampleAgent::EVENT_COUNT, count)
                })
                .done()
                .and_then(move |downlink_handle| handle.set(Some(downlink_handle)))
        }
    }

    use super::*;
    use tokio::sync::oneshot;

    async fn event_count(server: &ServerHandle) -> u64 {
        let agent = server
            .agent_ref::<ExampleAgent>("/example/1")
            .await
            .unwrap();
        let (tx, rx) = oneshot::channel();
        let context = HandlerContext::<ExampleAgent>::default();
        agent
            .run(
                context
                    .get_value(ExampleAgent::EVENT_COUNT)
                    .and_then(move |count| context.effect(move || tx.send(count).unwrap())),
            )
            .await
            .unwrap();
        rx.await.unwrap()
    }

    #[tokio::test]
    async fn the_shared_state_counts_events_into_the_lane() {
        let sample = AgentModel::from_fn(ExampleAgent::default, ExampleLifecycle::default);
        let (server, task) = serve::<_, _, i32>(sample, "node").await;
        server.start_agent("/example/1").await.unwrap();
        // The sync is not an event: the count starts at 0.
        until(|| printed().contains(&"target lane = 0".to_owned()) || server.running_agents() == 2)
            .await;
        for (value, expected) in [(10, 1), (20, 2), (30, 3)] {
            server.command("node", "lane", value).await.unwrap();
            let mut count = 0;
            tokio::time::timeout(Duration::from_secs(5), async {
                while count < expected {
                    count = event_count(&server).await;
                }
            })
            .await
            .expect("the event is counted");
            assert_eq!(count, expected);
        }
        server.stop();
        task.await.unwrap().unwrap();
    }
}

/// "It is desirable to keep the handle to the downlink by placing it inside of the agent's
/// lifecycle": a lifecycle that is not `Clone`, without `no_clone`.
mod handle_example {
    use tidal::agent::{
        agent_lifecycle::utility::HandlerContext,
        agent_model::downlink::hosted::ValueDownlinkHandle,
        config::SimpleDownlinkConfig,
        event_handler::{EventHandler, HandlerActionExt},
        lanes::ValueLane,
        lifecycle, projections,
        state::State,
        AgentLaneModel,
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
        handle: State<ExampleAgent, Option<ValueDownlinkHandle<i32>>>,
    }

    #[lifecycle(ExampleAgent)]
    impl ExampleLifecycle {
        #[on_start]
        pub fn on_start(
            &self,
            context: HandlerContext<ExampleAgent>,
        ) -> impl EventHandler<ExampleAgent> + '_ {
            let ExampleLifecycle { handle } = self;

            context
                .value_downlink_builder(None, "node", "lane", SimpleDownlinkConfig::default())
                .done()
                .and_then(move |downlink_handle| {
                    /// Set the value of the State to be the downlink handle.
                    handle.set(Some(downlink_handle))
                })
        }
    }

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_kept_handle_keeps_the_link_and_its_target_alive() {
        let sample = AgentModel::from_fn(ExampleAgent::default, ExampleLifecycle::default);
        let (server, task) = serve::<_, _, i32>(sample, "node").await;
        server.start_agent("/example/1").await.unwrap();
        // The downlink starts the agent at `node`.
        until(|| server.running_agents() == 2).await;
        // The link keeps `node` from passivating (its inactivity limit is 200 ms): it is still
        // there after a value goes through it.
        server.command("node", "lane", 1).await.unwrap();
        until(|| printed().contains(&"target lane = 1".to_owned())).await;
        // Ten times the inactivity limit, in virtual time: the link keeps `node` running.
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(server.is_running("node"));
        assert!(server.is_running("/example/1"));
        server.stop();
        task.await.unwrap().unwrap();
    }
}

/// "Setting the state of a downlink to double what a lane receives".
mod set_example {
    use tidal::agent::{
        agent_lifecycle::utility::HandlerContext,
        agent_model::downlink::hosted::ValueDownlinkHandle,
        config::SimpleDownlinkConfig,
        event_handler::{EventHandler, HandlerActionExt},
        lanes::ValueLane,
        lifecycle, projections,
        state::State,
        AgentLaneModel,
    };

    #[projections]
    #[derive(AgentLaneModel)]
    pub struct ExampleAgent {
        lane: ValueLane<u64>,
    }

    #[derive(Debug, Default)]
    pub struct ExampleLifecycle {
        handle: State<ExampleAgent, Option<ValueDownlinkHandle<u64>>>,
    }

    #[lifecycle(ExampleAgent, no_clone)]
    impl ExampleLifecycle {
        #[on_start]
        pub fn on_start(
            &self,
            context: HandlerContext<ExampleAgent>,
        ) -> impl EventHandler<ExampleAgent> + '_ {
            let ExampleLifecycle { handle } = self;
            context
                .value_downlink_builder(None, "node", "lane", SimpleDownlinkConfig::default())
                .done()
                .and_then(move |downlink_handle| handle.set(Some(downlink_handle)))
        }

        #[on_event(lane)]
        pub fn on_event<'s>(
            &'s self,
            _context: HandlerContext<ExampleAgent>,
            value: &u64,
        ) -> impl EventHandler<ExampleAgent> + 's {
            let value = *value;
            self.handle.with_mut(move |state| {
                if let Some(handle) = state.as_mut() {
                    // If the there is an error setting the state of the downlink
                    // then clear it from the State.
                    if handle.set(value * 2).is_err() {
                        *state = None;
                    }
                }
            })
        }
    }

    use super::*;

    #[tokio::test]
    async fn values_set_on_the_lane_arrive_doubled_at_the_remote_lane() {
        let sample = AgentModel::from_fn(ExampleAgent::default, ExampleLifecycle::default);
        let (server, task) = serve::<_, _, u64>(sample, "node").await;
        server.start_agent("/example/1").await.unwrap();
        until(|| server.running_agents() == 2).await;
        server.command("/example/1", "lane", 21u64).await.unwrap();
        until(|| printed().contains(&"target lane = 42".to_owned())).await;
        server.command("/example/1", "lane", 50u64).await.unwrap();
        until(|| printed().contains(&"target lane = 100".to_owned())).await;
        server.stop();
        task.await.unwrap().unwrap();
    }
}

/// "Terminating a downlink if a sentinel value is received".
mod stop_example {
    use tidal::agent::{
        agent_lifecycle::utility::HandlerContext,
        agent_model::downlink::hosted::ValueDownlinkHandle,
        config::SimpleDownlinkConfig,
        event_handler::{EventHandler, HandlerActionExt},
        lanes::ValueLane,
        lifecycle, projections,
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
        handle: State<ExampleAgent, Option<ValueDownlinkHandle<i32>>>,
    }

    #[lifecycle(ExampleAgent, no_clone)]
    impl ExampleLifecycle {
        #[on_start]
        pub fn on_start(
            &self,
            context: HandlerContext<ExampleAgent>,
        ) -> impl EventHandler<ExampleAgent> + '_ {
            let ExampleLifecycle { handle } = self;
            context
                .value_downlink_builder(None, "node", "lane", SimpleDownlinkConfig::default())
                .done()
                .and_then(move |downlink_handle| handle.set(Some(downlink_handle)))
        }

        #[on_event(lane)]
        pub fn on_event<'s>(
            &'s self,
            _context: HandlerContext<ExampleAgent>,
            value: &i32,
        ) -> impl EventHandler<ExampleAgent> + 's {
            let value = *value;
            self.handle.with_mut(move |state| {
                if let Some(handle) = state.as_mut() {
                    if value == -1 {
                        handle.stop();
                        *state = None;
                    }
                }
            })
        }
    }

    use super::*;

    #[tokio::test]
    async fn the_sentinel_stops_the_downlink_and_releases_the_remote_agent() {
        let sample = AgentModel::from_fn(ExampleAgent::default, ExampleLifecycle::default);
        let (server, task) = serve::<_, _, i32>(sample, "node").await;
        server.start_agent("/example/1").await.unwrap();
        until(|| server.running_agents() == 2).await;
        server.command("/example/1", "lane", 7).await.unwrap();
        server.command("/example/1", "lane", -1).await.unwrap();
        // The stopped downlink unlinks from the remote lane; with nothing linked any more,
        // `node` passivates after its 200 ms inactivity limit.
        until(|| !server.is_running("node")).await;
        server.stop();
        task.await.unwrap().unwrap();
    }
}

/// The complete example once more, with `host = Some(..)`: the lane is on a second server,
/// reached over WARP. The sample is unchanged but for the host argument.
mod complete_example_remote {
    use std::sync::OnceLock;
    use tidal::agent::{
        agent_lifecycle::utility::HandlerContext,
        agent_model::downlink::hosted::ValueDownlinkHandle,
        config::SimpleDownlinkConfig,
        event_handler::{EventHandler, HandlerActionExt},
        lanes::ValueLane,
        lifecycle, projections,
        state::State,
        AgentLaneModel,
    };

    /// The host of the second server, known once it is listening.
    static REMOTE: OnceLock<String> = OnceLock::new();

    fn remote() -> Option<&'static str> {
        REMOTE.get().map(String::as_str)
    }

    #[projections]
    #[derive(AgentLaneModel)]
    pub struct ExampleAgent {
        lane: ValueLane<i32>,
    }

    #[derive(Debug, Default)]
    pub struct ExampleLifecycle {
        handle: State<ExampleAgent, Option<ValueDownlinkHandle<i32>>>,
    }

    #[lifecycle(ExampleAgent, no_clone)]
    impl ExampleLifecycle {
        #[on_start]
        pub fn on_start(
            &self,
            context: HandlerContext<ExampleAgent>,
        ) -> impl EventHandler<ExampleAgent> + '_ {
            let ExampleLifecycle { handle } = self;

            context
                .value_downlink_builder(
                    remote(),
                    "/example/2",
                    "lane",
                    SimpleDownlinkConfig::default(),
                )
                .on_linked(|context| context.effect(|| println!("Link opened.")))
                .on_synced(|context, v| {
                    let value = *v;
                    context.effect(move || println!("Link synchronized: {}", value))
                })
                .on_event(|context, v| {
                    let value = *v;
                    context.effect(move || println!("Received value on link: {}", value))
                })
                .on_unlinked(|context| context.effect(|| println!("Link closed.")))
                .on_failed(|context| context.effect(|| println!("Link failed.")))
                .done()
                .and_then(move |downlink_handle| handle.set(Some(downlink_handle)))
        }
    }

    use super::*;

    fn sample_lines() -> Vec<String> {
        printed()
            .into_iter()
            .filter(|line| !line.starts_with("target"))
            .collect()
    }

    #[tokio::test]
    async fn the_sample_runs_against_a_second_server() {
        // The server holding the lane.
        let target = ServerBuilder::with_plane_name("target")
            .set_bind_addr("127.0.0.1:0".parse().unwrap())
            .add_route(
                RoutePattern::parse_str("/example/2").unwrap(),
                AgentModel::new(Target::<i32>::default, TargetLifecycle),
            )
            .build()
            .await
            .unwrap();
        let (target_task, target) = target.run();
        let target_task = tokio::spawn(target_task);
        let addr = target.bound_addr().await.unwrap();
        REMOTE.set(format!("ws://{addr}")).unwrap();
        // The server of the sample.
        let sample = ServerBuilder::with_plane_name("sample")
            .add_route(
                RoutePattern::parse_str("/example/1").unwrap(),
                AgentModel::from_fn(ExampleAgent::default, ExampleLifecycle::default),
            )
            .build()
            .await
            .unwrap();
        let (sample_task, sample) = sample.run();
        let sample_task = tokio::spawn(sample_task);
        sample.start_agent("/example/1").await.unwrap();
        until(|| sample_lines().len() == 2).await;
        assert_eq!(sample_lines(), ["Link opened.", "Link synchronized: 0"]);
        target.command("/example/2", "lane", 5).await.unwrap();
        until(|| sample_lines().len() == 3).await;
        // The remote agent stops: its lane unlinks the downlink.
        target.command("/example/2", "stop", 0).await.unwrap();
        until(|| sample_lines().len() == 4).await;
        assert_eq!(
            sample_lines(),
            [
                "Link opened.",
                "Link synchronized: 0",
                "Received value on link: 5",
                "Link closed."
            ]
        );
        sample.stop();
        sample_task.await.unwrap().unwrap();
        target.stop();
        target_task.await.unwrap().unwrap();
    }
}
