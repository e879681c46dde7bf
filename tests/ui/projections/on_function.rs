use tidal::agent::projections;

#[projections]
pub fn shop() {}

fn main() {}
