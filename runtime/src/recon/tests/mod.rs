//! Tests of the Recon module.

mod errors;
mod fuzz;
mod grammar;
mod printing;
mod props;
mod serde_map;
mod strategies;

use super::{parse, Value};

/// Parses `input`, failing the test with the error message if it does not parse.
fn p(input: &str) -> Value {
    match parse(input) {
        Ok(v) => v,
        Err(e) => panic!("{:?} did not parse: {}", input, e),
    }
}

/// Parses `input` and prints it compactly.
fn reprint(input: &str) -> String {
    p(input).to_string()
}
