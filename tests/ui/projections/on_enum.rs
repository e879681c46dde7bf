use tidal::agent::projections;

#[projections]
pub enum Shop {
    Total(i32),
}

fn main() {}
