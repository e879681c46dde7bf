use tidal::agent::{lanes::ValueLane, projections};

#[projections(upper)]
pub struct Shop {
    total: ValueLane<i32>,
}

fn main() {}
