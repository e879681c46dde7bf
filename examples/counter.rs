//! A small agent run in-process: a counter that takes commands, keeps a running total and a
//! history of the last few amounts, and reports on a timer.
//!
//! Run: `cargo run --example counter`

use std::collections::HashMap;
use std::time::Duration;

use tidal::prelude::*;

#[projections]
#[derive(AgentLaneModel)]
pub struct CounterAgent {
    /// The running total.
    total: ValueLane<i64>,
    /// Amounts to add.
    add: CommandLane<i64>,
    /// How many times each amount was added.
    tally: MapLane<i64, u32>,
}

pub struct CounterLifecycle {
    recent: History<CounterAgent, i64>,
    done: tokio::sync::mpsc::UnboundedSender<i64>,
}

#[lifecycle(CounterAgent)]
impl CounterLifecycle {
    #[on_start]
    fn start(&self, context: HandlerContext<CounterAgent>) -> impl EventHandler<CounterAgent> {
        context
            .get_agent_uri()
            .and_then(move |uri| context.effect(move || println!("{uri}: started")))
            .followed_by(context.schedule_timer_event(Duration::from_millis(50), 1))
    }

    #[on_command(add)]
    fn add(
        &self,
        context: HandlerContext<CounterAgent>,
        amount: &i64,
    ) -> impl EventHandler<CounterAgent> + '_ {
        let amount = *amount;
        self.recent
            .push(amount)
            .followed_by(context.transform_value(CounterAgent::TOTAL, move |total| total + amount))
            .followed_by(context.transform_entry(CounterAgent::TALLY, amount, |n| {
                Some(n.copied().unwrap_or(0) + 1)
            }))
    }

    #[on_set(total)]
    fn total_set(
        &self,
        context: HandlerContext<CounterAgent>,
        total: &i64,
        previous: Option<i64>,
    ) -> impl EventHandler<CounterAgent> {
        let total = *total;
        context.effect(move || println!("total: {} -> {total}", previous.unwrap_or_default()))
    }

    #[on_timer]
    fn report(
        &self,
        context: HandlerContext<CounterAgent>,
        _id: u64,
    ) -> impl EventHandler<CounterAgent> + '_ {
        let done = self.done.clone();
        self.recent
            .with(|recent| recent.iter().copied().collect::<Vec<_>>())
            .and_then(move |recent| {
                context
                    .get_value(CounterAgent::TOTAL)
                    .and_then(move |total| {
                        context.effect(move || {
                            println!("report: total {total}, most recent amounts {recent:?}");
                            let _ = done.send(total);
                        })
                    })
            })
    }

    #[on_stop]
    fn stop(&self, context: HandlerContext<CounterAgent>) -> impl EventHandler<CounterAgent> {
        context.effect(|| println!("stopped"))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (done, mut reports) = tokio::sync::mpsc::unbounded_channel();
    let model = AgentModel::from_fn(CounterAgent::default, move || CounterLifecycle {
        recent: History::new(3),
        done: done.clone(),
    });
    let (agent, task) = model.spawn("/counter/1", HashMap::new(), AgentConfig::default());
    for amount in [5, 10, -3, 10] {
        agent.command("add", amount as i64).await?;
    }
    let total = reports.recv().await.ok_or("the agent stopped early")?;
    assert_eq!(total, 22);
    agent.stop().await?;
    task.await?;
    Ok(())
}
