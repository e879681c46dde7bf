//! Many agents at once: a thousand followers of one lane.

use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A thousand agents, each with a value downlink to one lane.
#[projections]
#[derive(AgentLaneModel)]
pub struct Follower {
    seen: ValueLane<i64>,
}

pub struct FollowerLifecycle {
    linked: Arc<AtomicUsize>,
    latest: Arc<AtomicUsize>,
    handle: State<Follower, Option<ValueDownlinkHandle<i64>>>,
}

#[lifecycle(Follower)]
impl FollowerLifecycle {
    #[on_start]
    fn start(&self, context: HandlerContext<Follower>) -> impl EventHandler<Follower> + '_ {
        let (linked, latest) = (self.linked.clone(), self.latest.clone());
        context
            .value_downlink_builder::<i64>(
                None,
                "/source/1",
                "value",
                SimpleDownlinkConfig::default(),
            )
            .on_synced(move |context, _| {
                let linked = linked.clone();
                context.effect(move || {
                    linked.fetch_add(1, Ordering::SeqCst);
                })
            })
            .on_event(move |context, value| {
                let (value, latest) = (*value, latest.clone());
                context
                    .set_value(Follower::SEEN, value)
                    .followed_by(context.effect(move || {
                        if value == 1000 {
                            latest.fetch_add(1, Ordering::SeqCst);
                        }
                    }))
            })
            .done()
            .and_then(move |handle| self.handle.set(Some(handle)))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_agents_follow_one_lane() {
    let linked = Arc::new(AtomicUsize::new(0));
    let latest = Arc::new(AtomicUsize::new(0));
    let (l, t) = (linked.clone(), latest.clone());
    let server = ServerBuilder::with_plane_name("many")
        .add_route(
            RoutePattern::parse_str("/source/:id").unwrap(),
            AgentModel::new(Source::default, SourceLifecycle),
        )
        .add_route(
            RoutePattern::parse_str("/follower/:id").unwrap(),
            AgentModel::from_fn(Follower::default, move || FollowerLifecycle {
                linked: l.clone(),
                latest: t.clone(),
                handle: State::default(),
            }),
        )
        .build()
        .await
        .unwrap();
    let (task, server) = server.run();
    let task = tokio::spawn(task);
    for i in 0..1000 {
        server.start_agent(&format!("/follower/{i}")).unwrap();
    }
    let wait = |counter: Arc<AtomicUsize>| async move {
        eventually(
            || counter.load(Ordering::SeqCst) >= 1000,
            || {
                format!(
                    "{} followers got there, not 1000",
                    counter.load(Ordering::SeqCst)
                )
            },
        )
        .await
    };
    wait(linked.clone()).await;
    for value in 1..=1000i64 {
        server.command("/source/1", "value", value).await.unwrap();
    }
    wait(latest.clone()).await;
    assert_eq!(server.running_agents(), 1001);
    let follower = server.agent_ref::<Follower>("/follower/999").unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let context = HandlerContext::<Follower>::default();
    follower
        .run(
            context
                .get_value(Follower::SEEN)
                .and_then(move |v| context.effect(move || tx.send(v).unwrap())),
        )
        .await
        .unwrap();
    assert_eq!(rx.await.unwrap(), 1000);
    server.stop();
    task.await.unwrap().unwrap();
}
