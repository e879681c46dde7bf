//! Property tests: every envelope round-trips through write and parse, and no input
//! makes the parser panic.

use proptest::collection::vec;
use proptest::prelude::*;

use super::written;
use crate::recon::{print_into, Attr, Item, Record, Value};
use crate::warp::{write_frame, Envelope, EnvelopeKind};

/// Texts for addresses and record contents: identifiers, URIs, odd characters, anything.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z_][a-zA-Z0-9_-]{0,8}",
        "(/[a-z0-9%:?=]{1,6}){1,3}",
        Just("true".to_owned()),
        "[\"\\\\/\n\t\u{0}-\u{1f}é€😀@{}()#:,; ]{0,8}",
        any::<String>(),
    ]
}

/// Finite, non-zero `f32`s (0 is the default and is not written).
fn rate() -> impl Strategy<Value = f32> {
    use proptest::num::f32 as f;
    (f::POSITIVE | f::NEGATIVE | f::NORMAL | f::SUBNORMAL).prop_filter("not zero", |x| *x != 0.0)
}

/// Values the Recon parser can produce (no `Absent`, no record whose only item is empty).
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<u64>().prop_map(Value::from_u64),
        any::<i128>().prop_map(Value::from_i128),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::Float),
        text().prop_map(Value::Text),
        vec(any::<u8>(), 0..8).prop_map(Value::Data),
        Just(Value::Extant),
    ];
    leaf.prop_recursive(3, 32, 4, |inner| {
        let item = prop_oneof![
            inner.clone().prop_map(Item::ValueItem),
            (inner.clone(), inner.clone()).prop_map(|(k, v)| Item::Slot(k, v)),
        ];
        let attr = ("[a-zA-Z_][a-zA-Z0-9_]{0,6}", inner).prop_map(|(n, v)| Attr::new(n, v));
        (vec(attr, 0..3), vec(item, 0..4)).prop_map(|(attrs, mut items)| {
            if matches!(items.as_slice(), [Item::ValueItem(v)] if v.is_empty_value()) {
                items.push(Item::ValueItem(Value::Extant));
            }
            Value::Record(Record { attrs, items })
        })
    })
}

/// Valid envelopes of every kind, as the parser would return them.
fn envelope() -> impl Strategy<Value = Envelope> {
    let kind = proptest::sample::select(EnvelopeKind::ALL.to_vec());
    let body = prop_oneof![1 => Just(Value::Absent), 4 => value()
        .prop_filter("a body is never Extant", |v| !v.is_extant())];
    (
        kind,
        text(),
        text(),
        proptest::option::of(rate()),
        proptest::option::of(rate()),
        body,
    )
        .prop_map(|(kind, node, lane, prio, rate, body)| {
            let mut e = if kind.is_host_addressed() {
                Envelope::host(kind, body)
            } else {
                Envelope::new(kind, node, lane).with_body(body)
            };
            if kind.takes_prio_and_rate() {
                e.prio = prio;
                e.rate = rate;
            }
            e
        })
}

/// Feeds `input` to the parser; whatever parses must write and parse back to a fixed
/// point.
fn exercise(input: &str) {
    if let Ok(e) = Envelope::parse(input) {
        let once = written(&e);
        let again = Envelope::parse(&once);
        let twice = again.as_ref().map(written);
        assert_eq!(
            twice.as_ref().ok(),
            Some(&once),
            "{:?} -> {:?}",
            input,
            again
        );
    }
}

/// Characters that matter to envelopes, plus a few others.
const SOUP: &[&str] = &[
    "@", "(", ")", "{", "}", ":", ",", ";", "\n", " ", "\"", "\\", "#", "%", "-", ".", "0", "1",
    "e", "x", "link", "sync", "command", "event", "auth", "node", "lane", "prio", "rate", "/a",
    "\"/a\"", "[", "é",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn write_then_parse_round_trips(e in envelope()) {
        let text = written(&e);
        let back = Envelope::parse(&text);
        prop_assert_eq!(back.as_ref().ok(), Some(&e), "{:?} -> {:?}", text, back);
        prop_assert_eq!(e.to_string(), text);
    }

    #[test]
    fn write_frame_matches_write_envelope(mut e in envelope()) {
        e.prio = None;
        e.rate = None;
        let mut body = String::new();
        print_into(&mut body, &e.body);
        let mut framed = String::new();
        write_frame(&mut framed, e.kind, &e.node, &e.lane, Some(&body));
        prop_assert_eq!(framed, written(&e));
    }

    #[test]
    fn every_prefix_is_handled(e in envelope()) {
        let text = written(&e);
        for (i, _) in text.char_indices() {
            exercise(&text[..i]);
        }
    }

    #[test]
    fn mutated_envelopes(
        e in envelope(),
        edits in vec((any::<prop::sample::Index>(), 0..SOUP.len(), 0..3u8), 1..5),
    ) {
        let mut text = written(&e);
        for (at, pick, op) in edits {
            let boundaries: Vec<usize> = text
                .char_indices()
                .map(|(i, _)| i)
                .chain(std::iter::once(text.len()))
                .collect();
            let i = boundaries[at.index(boundaries.len())];
            match op {
                0 => text.insert_str(i, SOUP[pick]),
                1 => {
                    let end = text[i..].chars().next().map_or(i, |c| i + c.len_utf8());
                    text.replace_range(i..end, "");
                }
                _ => {
                    let end = text[i..].chars().next().map_or(i, |c| i + c.len_utf8());
                    text.replace_range(i..end, SOUP[pick]);
                }
            }
        }
        exercise(&text);
    }

    #[test]
    fn random_strings(s in any::<String>()) {
        exercise(&s);
    }

    #[test]
    fn envelope_soup(picks in vec(0..SOUP.len(), 0..40)) {
        let s: String = picks.iter().map(|i| SOUP[*i]).collect();
        exercise(&s);
    }

    #[test]
    fn random_headers(
        kind in "[a-z]{1,9}",
        slots in vec(("node|lane|prio|rate|foo|", value()), 0..5),
        body in value(),
    ) {
        let mut text = format!("@{}(", kind);
        for (i, (key, v)) in slots.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            if !key.is_empty() {
                text.push_str(key);
                text.push(':');
            }
            print_into(&mut text, v);
        }
        text.push_str(") ");
        print_into(&mut text, &body);
        exercise(&text);
    }
}
