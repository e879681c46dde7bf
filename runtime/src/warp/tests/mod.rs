//! Tests of the WARP envelope module.

mod errors;
mod map_body;
mod props;
mod wire;

use super::{write_envelope, Envelope, EnvelopeError};

/// Parses `text`, failing the test with the error message if it is not an envelope.
fn env(text: &str) -> Envelope {
    match Envelope::parse(text) {
        Ok(e) => e,
        Err(e) => panic!("{:?} did not parse: {}", text, e),
    }
}

/// Parses `text`, failing the test if it *is* an envelope.
fn err(text: &str) -> EnvelopeError {
    match Envelope::parse(text) {
        Ok(e) => panic!("{:?} parsed as {:?}", text, e),
        Err(e) => e,
    }
}

/// Writes `envelope` with [`write_envelope`].
fn written(envelope: &Envelope) -> String {
    let mut out = String::new();
    write_envelope(&mut out, envelope);
    out
}
