//! Any text: the Recon parser returns a value or an error, never panics, and what it parses
//! prints to text that parses back to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidal_runtime::recon;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(value) = recon::parse(text) {
        let printed = value.to_string();
        let again = recon::parse(&printed).expect("printed Recon parses");
        assert_eq!(again, value, "round trip of {text:?} via {printed:?}");
    }
});
