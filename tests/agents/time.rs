//! Timers, delays, repetition and suspended futures, in virtual time.

use std::time::Duration;

use tidal::agent::{
    agent_lifecycle::HandlerContext,
    event_handler::{EventHandler, HandlerActionExt},
    lanes::{CommandLane, ValueLane},
    lifecycle, projections, AgentLaneModel,
};
use tidal::testing::AgentHarness;
use tokio::sync::oneshot;

#[projections]
#[derive(AgentLaneModel)]
pub struct Clock {
    ticks: ValueLane<u32>,
    timers: ValueLane<Vec<u64>>,
    status: ValueLane<String>,
    fetch: CommandLane<u64>,
}

pub struct ClockLifecycle {
    reply: std::sync::Mutex<Option<oneshot::Receiver<String>>>,
}

#[lifecycle(Clock)]
impl ClockLifecycle {
    #[on_start]
    fn start(&self, context: HandlerContext<Clock>) -> impl EventHandler<Clock> {
        let mut left = 3;
        context
            .schedule_repeatedly(Duration::from_secs(1), move || {
                left -= 1;
                (left >= 0).then(|| context.transform_value(Clock::TICKS, |n| n + 1))
            })
            .followed_by(context.schedule_timer_event(Duration::from_millis(2500), 7))
            .followed_by(context.schedule_timer_event(Duration::from_millis(500), 9))
            .followed_by(context.run_after(
                Duration::from_secs(10),
                context.set_value(Clock::STATUS, "late".to_owned()),
            ))
    }

    #[on_timer]
    fn timer(&self, context: HandlerContext<Clock>, id: u64) -> impl EventHandler<Clock> {
        context.transform_value(Clock::TIMERS, move |ids| {
            let mut ids = ids.clone();
            ids.push(id);
            ids
        })
    }

    #[on_command(fetch)]
    fn fetch(&self, context: HandlerContext<Clock>, _id: &u64) -> impl EventHandler<Clock> {
        let reply = self.reply.lock().unwrap().take();
        context.suspend(async move {
            let text = match reply {
                Some(reply) => reply.await.unwrap_or_else(|_| "dropped".to_owned()),
                None => "nothing".to_owned(),
            };
            context.set_value(Clock::STATUS, text)
        })
    }
}

fn harness() -> (AgentHarness<Clock, ClockLifecycle>, oneshot::Sender<String>) {
    let (tx, rx) = oneshot::channel();
    let lifecycle = ClockLifecycle {
        reply: std::sync::Mutex::new(Some(rx)),
    };
    (AgentHarness::new(Clock::default(), lifecycle), tx)
}

#[tokio::test(start_paused = true)]
async fn timers_and_schedules_fire_in_virtual_time_order() {
    let (mut harness, _tx) = harness();
    let ticks = harness.record(Clock::TICKS);
    harness.start().unwrap();
    assert_eq!(harness.pending(), 4);

    harness.advance(Duration::from_millis(600)).await;
    assert_eq!(harness.value(Clock::TIMERS), vec![9]);
    assert_eq!(harness.value(Clock::TICKS), 0);

    harness.advance(Duration::from_millis(2000)).await;
    assert_eq!(harness.value(Clock::TIMERS), vec![9, 7]);
    assert_eq!(harness.value(Clock::TICKS), 2);

    harness.advance(Duration::from_secs(5)).await;
    assert_eq!(ticks.take(), vec![1, 2, 3]);
    // The schedule ended after three ticks; only the 10 s delay is left.
    assert_eq!(harness.pending(), 1);
    assert_eq!(harness.value(Clock::STATUS), "");

    harness.advance(Duration::from_secs(3)).await;
    assert_eq!(harness.value(Clock::STATUS), "late");
    assert_eq!(harness.pending(), 0);
    assert!(harness.take_failures().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_suspended_future_runs_its_handler_when_it_completes() {
    let (mut harness, tx) = harness();
    harness.start().unwrap();
    harness.command(Clock::FETCH, 1).unwrap();
    assert_eq!(harness.run_ready(), 0);
    tx.send("fetched".to_owned()).unwrap();
    assert_eq!(harness.run_ready(), 1);
    assert_eq!(harness.value(Clock::STATUS), "fetched");
}

#[tokio::test(start_paused = true)]
async fn next_wakeup_waits_for_the_earliest_timer() {
    let (mut harness, _tx) = harness();
    harness.start().unwrap();
    let before = tokio::time::Instant::now();
    assert!(harness.next_wakeup().await);
    assert_eq!(before.elapsed(), Duration::from_millis(500));
    assert_eq!(harness.value(Clock::TIMERS), vec![9]);
}
