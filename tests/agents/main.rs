//! Agents driven through `tidal::testing`: event order, triggers, time, state, errors, and the
//! lane kinds without state (demand, demand-map, supply).

mod basics;
mod errors;
mod lane_kinds;
mod task;
mod time;
mod triggers;
