//! The code samples of `shared/seeds/value-downlinks.md`, with `swimos` replaced by `tidal`,
//! each run twice: in a server next to an agent holding the lane it links to, and against that
//! agent on a second server, reached over WARP.
//!
//! The samples are as printed but for their host argument: `host()` instead of `None`. It has
//! the same type (`Option<&str>`), and is `None` in the local runs and the second server
//! (`Some("ws://127.0.0.1:port")`) in the remote ones.
//!
//! The samples print what happens. A `println!` defined here (macros shadow the prelude's)
//! records each line, so the samples compile unchanged and the tests read what they printed.
//! Every test runs on a current-thread runtime, so the agents run on the test's thread.

// One sample has a doc comment on an expression, as printed in the seed.
#![allow(unused_doc_comments)]

use std::cell::{Cell, RefCell};
use std::time::Duration;

thread_local! {
    static PRINTED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    static HOST: Cell<Option<&'static str>> = const { Cell::new(None) };
}

/// The host argument of the samples: `None` locally, the second server in remote runs.
fn host() -> Option<&'static str> {
    HOST.with(Cell::get)
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
use tidal::server::{Server, ServerBuilder, ServerHandle};

/// Where the lane a sample links to lives.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Place {
    /// On the sample's server (`host()` is `None`).
    Local,
    /// On a second server listening on loopback (`host()` is its URL).
    Remote,
}

/// The servers of a test: the sample's, and the target's if it is another.
struct Servers {
    sample: ServerHandle,
    target: Option<ServerHandle>,
    tasks: Vec<tokio::task::JoinHandle<Result<(), tidal::server::ServerError>>>,
}

impl Servers {
    /// The server holding the target agent.
    fn target(&self) -> &ServerHandle {
        self.target.as_ref().unwrap_or(&self.sample)
    }

    async fn stop(self) {
        self.sample.stop();
        if let Some(target) = &self.target {
            target.stop();
        }
        for task in self.tasks {
            task.await.unwrap().unwrap();
        }
    }
}

fn run(
    server: Server,
) -> (
    ServerHandle,
    tokio::task::JoinHandle<Result<(), tidal::server::ServerError>>,
) {
    let (task, handle) = server.run();
    (handle, tokio::spawn(task))
}

/// The sample agent at `/example/1`, and a `Target<T>` at `target_uri` on the same server or,
/// for [`Place::Remote`], on a second one (then `host()` names it). Targets passivate after
/// 200 ms without links.
async fn serve<A, L, T>(sample: AgentModel<A, L>, target_uri: &str, place: Place) -> Servers
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
    let target = |builder: ServerBuilder| {
        builder
            .add_route(
                RoutePattern::parse_str(target_uri).unwrap(),
                AgentModel::new(Target::<T>::default, TargetLifecycle),
            )
            .update_config(|config| {
                config.agent.inactive_timeout = Some(Duration::from_millis(200));
            })
    };
    let sample = ServerBuilder::with_plane_name("seeds")
        .add_route(RoutePattern::parse_str("/example/1").unwrap(), sample);
    match place {
        Place::Local => {
            let (sample, task) = run(target(sample).build().await.unwrap());
            Servers {
                sample,
                target: None,
                tasks: vec![task],
            }
        }
        Place::Remote => {
            let builder = ServerBuilder::with_plane_name("target").set_bind_addr("127.0.0.1:0");
            let (target, target_task) = run(target(builder).build().await.unwrap());
            let url = format!("ws://{}", target.bound_addr().unwrap());
            HOST.with(|host| host.set(Some(Box::leak(url.into_boxed_str()))));
            let (sample, sample_task) = run(sample.build().await.unwrap());
            Servers {
                sample,
                target: Some(target),
                tasks: vec![sample_task, target_task],
            }
        }
    }
}

/// Defines `local` and `remote` tests running `check` with each [`Place`].
macro_rules! both_places {
    ($check:ident) => {
        mod $check {
            #[tokio::test]
            async fn local() {
                super::$check(super::Place::Local).await
            }

            #[tokio::test]
            async fn remote() {
                super::$check(super::Place::Remote).await
            }
        }
    };
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
                .value_downlink_builder(
                    host(),
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

    fn sample() -> AgentModel<ExampleAgent, ExampleLifecycle> {
        AgentModel::from_fn(ExampleAgent::default, ExampleLifecycle::default)
    }

    fn sample_lines() -> Vec<String> {
        printed()
            .into_iter()
            .filter(|line| !line.starts_with("target"))
            .collect()
    }

    async fn linked_synced_events_and_unlinked_arrive_in_order(place: Place) {
        let servers = serve::<_, _, i32>(sample(), "/example/2", place).await;
        servers.sample.start_agent("/example/1").unwrap();
        until(|| sample_lines().len() == 2).await;
        assert_eq!(sample_lines(), ["Link opened.", "Link synchronized: 0"]);

        // Each value is awaited before the next: a downlink that falls behind receives only the
        // latest value (see `value_lane_publishes_the_latest_value_once_per_flush` in the
        // runtime's lane tests).
        let target = servers.target();
        target.command("/example/2", "lane", 5).await.unwrap();
        until(|| sample_lines().len() == 3).await;
        target.command("/example/2", "lane", 6).await.unwrap();
        until(|| sample_lines().len() == 4).await;
        // The remote lane stops: the link closes.
        target.command("/example/2", "stop", 0).await.unwrap();
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
        servers.stop().await;
    }
    both_places!(linked_synced_events_and_unlinked_arrive_in_order);

    async fn a_lane_value_that_is_not_an_i32_fails_the_link(place: Place) {
        let servers = serve::<_, _, String>(sample(), "/example/2", place).await;
        servers.sample.start_agent("/example/1").unwrap();
        until(|| sample_lines().len() == 2).await;
        assert_eq!(sample_lines(), ["Link opened.", "Link failed."]);
        servers.stop().await;
    }
    both_places!(a_lane_value_that_is_not_an_i32_fails_the_link);

    async fn a_missing_node_unlinks_without_hanging(place: Place) {
        // The target server has no agent at `/example/2`.
        let servers = serve::<_, _, i32>(sample(), "/elsewhere", place).await;
        servers.sample.start_agent("/example/1").unwrap();
        until(|| sample_lines().len() == 1).await;
        assert_eq!(sample_lines(), ["Link closed."]);
        servers.stop().await;
    }
    both_places!(a_missing_node_unlinks_without_hanging);
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
                .value_downlink_builder(host(), "node", "lane", SimpleDownlinkConfig::default())
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
        let agent = server.agent_ref::<ExampleAgent>("/example/1").unwrap();
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

    async fn the_shared_state_counts_events_into_the_lane(place: Place) {
        let sample = AgentModel::from_fn(ExampleAgent::default, ExampleLifecycle::default);
        let servers = serve::<_, _, i32>(sample, "node", place).await;
        servers.sample.start_agent("/example/1").unwrap();
        // The sync is not an event: the count starts at 0.
        until(|| {
            printed().contains(&"target lane = 0".to_owned()) || servers.target().is_running("node")
        })
        .await;
        for (value, expected) in [(10, 1), (20, 2), (30, 3)] {
            servers
                .target()
                .command("node", "lane", value)
                .await
                .unwrap();
            let mut count = 0;
            tokio::time::timeout(Duration::from_secs(5), async {
                while count < expected {
                    count = event_count(&servers.sample).await;
                }
            })
            .await
            .expect("the event is counted");
            assert_eq!(count, expected);
        }
        servers.stop().await;
    }
    both_places!(the_shared_state_counts_events_into_the_lane);
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
                .value_downlink_builder(host(), "node", "lane", SimpleDownlinkConfig::default())
                .done()
                .and_then(move |downlink_handle| {
                    /// Set the value of the State to be the downlink handle.
                    handle.set(Some(downlink_handle))
                })
        }
    }

    use super::*;

    /// The link keeps `node` from passivating (its inactivity limit is 200 ms): it is still
    /// there well past that limit, after a value goes through it.
    async fn the_kept_handle_keeps_the_link_and_its_target_alive(place: Place) {
        let sample = AgentModel::from_fn(ExampleAgent::default, ExampleLifecycle::default);
        let servers = serve::<_, _, i32>(sample, "node", place).await;
        servers.sample.start_agent("/example/1").unwrap();
        // The downlink starts the agent at `node`.
        until(|| servers.target().is_running("node")).await;
        servers.target().command("node", "lane", 1).await.unwrap();
        until(|| printed().contains(&"target lane = 1".to_owned())).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(servers.target().is_running("node"));
        assert!(servers.sample.is_running("/example/1"));
        servers.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn local() {
        // Ten times the inactivity limit, in virtual time.
        the_kept_handle_keeps_the_link_and_its_target_alive(Place::Local).await
    }

    #[tokio::test]
    async fn remote() {
        // Five times the inactivity limit, in real time: virtual time would also hurry the
        // network's timeouts.
        the_kept_handle_keeps_the_link_and_its_target_alive(Place::Remote).await
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
                .value_downlink_builder(host(), "node", "lane", SimpleDownlinkConfig::default())
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

    async fn values_set_on_the_lane_arrive_doubled_at_the_remote_lane(place: Place) {
        let sample = AgentModel::from_fn(ExampleAgent::default, ExampleLifecycle::default);
        let servers = serve::<_, _, u64>(sample, "node", place).await;
        servers.sample.start_agent("/example/1").unwrap();
        until(|| servers.target().is_running("node")).await;
        let sample = &servers.sample;
        sample.command("/example/1", "lane", 21u64).await.unwrap();
        until(|| printed().contains(&"target lane = 42".to_owned())).await;
        sample.command("/example/1", "lane", 50u64).await.unwrap();
        until(|| printed().contains(&"target lane = 100".to_owned())).await;
        servers.stop().await;
    }
    both_places!(values_set_on_the_lane_arrive_doubled_at_the_remote_lane);
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
                .value_downlink_builder(host(), "node", "lane", SimpleDownlinkConfig::default())
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

    async fn the_sentinel_stops_the_downlink_and_releases_the_remote_agent(place: Place) {
        let sample = AgentModel::from_fn(ExampleAgent::default, ExampleLifecycle::default);
        let servers = serve::<_, _, i32>(sample, "node", place).await;
        servers.sample.start_agent("/example/1").unwrap();
        until(|| servers.target().is_running("node")).await;
        servers
            .sample
            .command("/example/1", "lane", 7)
            .await
            .unwrap();
        servers
            .sample
            .command("/example/1", "lane", -1)
            .await
            .unwrap();
        // The stopped downlink unlinks from the remote lane; with nothing linked any more,
        // `node` passivates after its 200 ms inactivity limit.
        until(|| !servers.target().is_running("node")).await;
        servers.stop().await;
    }
    both_places!(the_sentinel_stops_the_downlink_and_releases_the_remote_agent);
}
