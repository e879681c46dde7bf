//! A small agent in a server: a counter that takes commands, keeps a running total and a
//! history of the last few amounts, and reports on a timer. Its state is kept in a store
//! directory (`target/tidal-examples/counter`): run it twice and the total carries on from
//! where the first run left it (the history, in the lifecycle, starts afresh).
//!
//! Run: `cargo run --example counter`

#[path = "support/logging.rs"]
mod logging;

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
            .and_then(move |uri| {
                context
                    .get_value(CounterAgent::TOTAL)
                    .and_then(move |total| {
                        context.effect(move || println!("{uri}: started, total {total} (restored)"))
                    })
            })
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

/// Where the counter keeps its state between runs.
const STORE: &str = "target/tidal-examples/counter";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    logging::init();
    let (done, mut reports) = tokio::sync::mpsc::unbounded_channel();
    let model = AgentModel::from_fn(CounterAgent::default, move || CounterLifecycle {
        recent: History::new(3),
        done: done.clone(),
    });
    let server = ServerBuilder::with_plane_name("counter")
        .with_store_dir(STORE)
        .add_route("/counter/:id".parse()?, model)
        .build()
        .await?;
    let (task, handle) = server.run();
    let running = tokio::spawn(task);
    for amount in [5, 10, -3, 10] {
        handle.command("/counter/1", "add", amount as i64).await?;
    }
    let total = reports.recv().await.ok_or("the agent stopped early")?;
    // Each run adds 22 to what the store kept.
    assert_eq!(total % 22, 0);
    println!("total {total} is in {STORE}: run again and it carries on");
    handle.stop();
    running.await??;
    Ok(())
}
