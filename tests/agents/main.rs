//! Agents driven through `tidal::testing`: event order, triggers, time, state and errors.

mod basics;
mod errors;
mod task;
mod time;
mod triggers;
