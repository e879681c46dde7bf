//! Fuzz-like tests: arbitrary input must give a value or an error, never a panic.

use proptest::collection::vec;
use proptest::prelude::*;

use super::strategies::{value, Outer, Shape};
use crate::recon::{from_str, parse, parse_attr_then_body, to_string_pretty};

/// Feeds `input` to every entry point; they may fail but must not panic.
fn exercise(input: &str) {
    if let Ok(v) = parse(input) {
        // Whatever parses must print and re-parse to the same value.
        let printed = v.to_string();
        assert_eq!(
            parse(&printed).ok(),
            Some(v.clone()),
            "{:?} -> {:?}",
            input,
            printed
        );
        let _ = to_string_pretty(&v);
    }
    let _ = parse_attr_then_body(input);
    let _ = from_str::<Outer>(input);
    let _ = from_str::<Shape>(input);
    let _ = from_str::<Vec<Option<i32>>>(input);
}

/// Characters that matter to Recon, plus a few others.
const SOUP: &[u8] = b"{}()[]@:,;\n\r\t #\"\\%-+.eE0123456789xXbBabcuD_/=AZz";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn random_bytes(bytes in vec(any::<u8>(), 0..64)) {
        exercise(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn recon_soup(picks in vec(0..SOUP.len(), 0..48)) {
        let s: String = picks.iter().map(|i| SOUP[*i] as char).collect();
        exercise(&s);
    }

    #[test]
    fn mutated_values(v in value(), edits in vec((any::<prop::sample::Index>(), 0..SOUP.len()), 1..4)) {
        let mut bytes = v.to_string().into_bytes();
        for (at, pick) in edits {
            if bytes.is_empty() {
                bytes.push(SOUP[pick]);
            } else {
                let i = at.index(bytes.len());
                bytes[i] = SOUP[pick];
            }
        }
        exercise(&String::from_utf8_lossy(&bytes));
    }
}
