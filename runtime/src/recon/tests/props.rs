//! Property tests: printing and parsing round trips, and serde round trips.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::strategies::{finite_f64, outer, shape, text, value, Outer, Shape};
use crate::recon::{
    from_str, from_value, from_value_ref, parse, parse_attr_then_body, to_string, to_string_pretty,
    to_value, write_attr_then_body, write_to, Attr, Value,
};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn compact_round_trip(v in value()) {
        let text = v.to_string();
        let back = parse(&text);
        prop_assert_eq!(back.as_ref().ok(), Some(&v), "printed {:?}, got {:?}", text, back);
    }

    #[test]
    fn pretty_round_trip(v in value()) {
        let text = to_string_pretty(&v);
        let back = parse(&text);
        prop_assert_eq!(back.as_ref().ok(), Some(&v), "printed {:?}, got {:?}", text, back);
    }

    #[test]
    fn printing_is_a_fixed_point(v in value()) {
        let once = v.to_string();
        let twice = parse(&once).map(|w| w.to_string());
        prop_assert_eq!(twice.ok(), Some(once));
    }

    #[test]
    fn envelope_round_trip(name in "[a-z]{1,8}", header in value(), body in value()) {
        let head = Attr::new(name, header);
        let mut out = String::new();
        prop_assert!(write_attr_then_body(&mut out, &head, &body).is_ok());
        let expected_body = if body.is_empty_value() { Value::Absent } else { body };
        let back = parse_attr_then_body(&out);
        prop_assert_eq!(back.ok(), Some((head, expected_body)), "printed {:?}", out);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn serde_outer_round_trip(x in outer()) {
        let text = to_string(&x);
        prop_assert!(text.is_ok());
        let text = text.unwrap_or_default();
        let back: Result<Outer, _> = from_str(&text);
        prop_assert_eq!(back.as_ref().ok(), Some(&x), "text {:?}, got {:?}", text, back);
        let value = to_value(&x);
        prop_assert!(value.is_ok());
        let value = value.unwrap_or_default();
        prop_assert_eq!(&value.to_string(), &text);
        prop_assert_eq!(from_value_ref::<Outer>(&value).ok(), Some(x.clone()));
        prop_assert_eq!(from_value::<Outer>(value).ok(), Some(x));
    }

    #[test]
    fn serde_shape_round_trip(s in shape()) {
        let text = to_string(&s).unwrap_or_default();
        prop_assert_eq!(from_str::<Shape>(&text).ok(), Some(s.clone()), "text {:?}", text);
        prop_assert_eq!(to_value(&s).map(|v| v.to_string()).ok(), Some(text));
    }

    #[test]
    fn serde_strings(s in text()) {
        let out = to_string(&s).unwrap_or_default();
        prop_assert_eq!(from_str::<String>(&out).ok(), Some(s.clone()), "text {:?}", out);
        let mut appended = String::from("prefix ");
        prop_assert!(write_to(&mut appended, &s).is_ok());
        prop_assert_eq!(appended, format!("prefix {}", out));
    }

    #[test]
    fn serde_floats(f in finite_f64()) {
        let out = to_string(&f).unwrap_or_default();
        prop_assert!(out.contains('.') || out.contains('e'), "{}", out);
        prop_assert_eq!(from_str::<f64>(&out).ok(), Some(f));
    }

    #[test]
    fn serde_int_maps(m in proptest::collection::btree_map(any::<i64>(), any::<Option<u8>>(), 0..6)) {
        let out = to_string(&m).unwrap_or_default();
        prop_assert_eq!(from_str::<BTreeMap<i64, Option<u8>>>(&out).ok(), Some(m));
    }

    #[test]
    fn serde_nested_vecs(v in proptest::collection::vec(proptest::collection::vec(any::<i16>(), 0..3), 0..4)) {
        let out = to_string(&v).unwrap_or_default();
        prop_assert_eq!(from_str::<Vec<Vec<i16>>>(&out).ok(), Some(v));
    }
}
