use tidal::agent::{lanes::ValueLane, projections};

#[projections]
pub struct Shop(ValueLane<i32>);

fn main() {}
