// A handler built and then dropped (a statement ending in `;`) does nothing. With warnings
// denied, as in CI, the build says so.
#![deny(unused_must_use)]

use tidal::prelude::*;

#[projections]
#[derive(AgentLaneModel)]
pub struct Counter {
    count: ValueLane<i64>,
    add: CommandLane<i64>,
}

#[derive(Clone)]
pub struct CounterLifecycle;

#[lifecycle(Counter)]
impl CounterLifecycle {
    #[on_command(add)]
    fn add(&self, context: HandlerContext<Counter>, amount: &i64) -> impl EventHandler<Counter> {
        context.set_value(Counter::COUNT, *amount);
        context.effect(|| println!("added"))
    }
}

fn main() {}
