//! Any text: the envelope scanner (`Envelope::scan`, the server's fast path) gives exactly what
//! the full parser (`Envelope::parse`) gives: the same envelope or the same error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidal_runtime::warp::{Envelope, EnvelopeRef};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let scanned = Envelope::scan(text).map(EnvelopeRef::into_owned);
    let parsed = Envelope::parse(text);
    // Compared by their debug form, where a NaN equals itself.
    assert_eq!(
        format!("{scanned:?}"),
        format!("{parsed:?}"),
        "scanner and parser disagree on {text:?}"
    );
});
