//! Any text: the envelope decoder returns an envelope or an error, never panics, and a decoded
//! envelope writes to text that decodes to the same envelope.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidal_runtime::warp::Envelope;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(envelope) = Envelope::parse(text) {
        let written = envelope.to_string();
        let again = Envelope::parse(&written).expect("written envelopes parse");
        assert_eq!(again.kind, envelope.kind);
        assert_eq!(again.node, envelope.node);
        assert_eq!(again.lane, envelope.lane);
        assert_eq!(again.body, envelope.body, "round trip of {text:?} via {written:?}");
    }
});
