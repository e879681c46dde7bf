//! The compact and pretty printers.

use super::{p, reprint};
use crate::recon::{
    parse, parse_attr_then_body, print_into, to_string_pretty, write_attr_then_body, Attr, Record,
    Value,
};

#[test]
fn compact_primitives() {
    assert_eq!(Value::Float(1000.0).to_string(), "1000.0");
    assert_eq!(Value::Float(0.1).to_string(), "0.1");
    assert_eq!(Value::Float(-2.5e-3).to_string(), "-0.0025");
    assert_eq!(Value::Float(1e300).to_string(), "1e300");
    assert_eq!(Value::Float(f64::INFINITY).to_string(), "inf");
    assert_eq!(Value::Float(f64::NEG_INFINITY).to_string(), "\"-inf\"");
    assert_eq!(Value::Float(f64::NAN).to_string(), "nan");
    assert_eq!(Value::Data(vec![0, 1, 2, 3]).to_string(), "%AAECAw==");
    assert_eq!(Value::Data(vec![]).to_string(), "%");
    assert_eq!(Value::text("a\"b\\c\nd").to_string(), r#""a\"b\\c\nd""#);
    assert_eq!(
        Value::text("\u{0}\u{1f}é").to_string(),
        "\"\\u0000\\u001fé\""
    );
    assert_eq!(Value::text("-x").to_string(), "\"-x\"");
    assert_eq!(Value::text("x-").to_string(), "x-");
    assert_eq!(Value::Absent.to_string(), "");
    assert_eq!(Value::Extant.to_string(), "");
}

#[test]
fn compact_records() {
    let rec = Record::new().with_attr(Attr::new("true", 1)).with_item("x");
    assert_eq!(Value::Record(rec).to_string(), "@\"true\"(1) x");
    let single_record = Record::new()
        .with_attr(Attr::of("a"))
        .with_item(Value::of_items([1]));
    assert_eq!(Value::Record(single_record).to_string(), "@a{{1}}");
    let arg_record = Value::of_attr_with(
        "a",
        Value::of_attr_with("b", Value::of_items(Vec::<Value>::new())),
    );
    assert_eq!(arg_record.to_string(), "@a(@b({}))");
    // No text of their own: a lone empty item prints like no item.
    let lone = Value::of_items([Value::Extant]);
    assert_eq!(lone.to_string(), "{}");
    let tagged_lone = Record::new()
        .with_attr(Attr::of("a"))
        .with_item(Value::Extant);
    assert_eq!(Value::Record(tagged_lone).to_string(), "@a");
    let mut out = String::from("> ");
    print_into(&mut out, &p("{a: 1}"));
    assert_eq!(out, "> {a:1}");
}

#[test]
fn envelope_writer() {
    let head = Attr::new(
        "event",
        Value::of_slots([("node", "/unit/a"), ("lane", "map")]),
    );
    let cases = [
        (Value::Absent, "@event(node:\"/unit/a\",lane:map)"),
        (Value::Int(5), "@event(node:\"/unit/a\",lane:map) 5"),
        (
            p("@update(key:k5) 5"),
            "@event(node:\"/unit/a\",lane:map)@update(key:k5) 5",
        ),
        (p("{5}"), "@event(node:\"/unit/a\",lane:map) {5}"),
        (p("{a:1}"), "@event(node:\"/unit/a\",lane:map) {a:1}"),
        (
            Value::text("Link closed."),
            "@event(node:\"/unit/a\",lane:map) \"Link closed.\"",
        ),
    ];
    for (body, expected) in cases {
        let mut out = String::new();
        write_attr_then_body(&mut out, &head, &body).expect("string write");
        assert_eq!(out, expected);
        let (h, b) = parse_attr_then_body(&out).expect("parses");
        assert_eq!((h, b), (head.clone(), body));
    }
}

#[test]
fn pretty_small_records_stay_on_one_line() {
    assert_eq!(to_string_pretty(&p("{1,2,3}")), "{ 1, 2, 3 }");
    assert_eq!(
        to_string_pretty(&p("{a:1,b:\"x y\"}")),
        "{ a: 1, b: \"x y\" }"
    );
    assert_eq!(
        to_string_pretty(&p("@tag(a:1,b:2) 2")),
        "@tag(a: 1, b: 2) 2"
    );
    assert_eq!(to_string_pretty(&p("@a@b 1")), "@a @b 1");
    assert_eq!(
        to_string_pretty(&p("@point{x:1,y:2}")),
        "@point { x: 1, y: 2 }"
    );
    assert_eq!(to_string_pretty(&p("{a:,1}")), "{ a:, 1 }");
    assert_eq!(to_string_pretty(&p("{}")), "{}");
    assert_eq!(to_string_pretty(&p("42")), "42");
}

#[test]
fn pretty_nested_records_are_indented() {
    let v = p("@config{name:\"tidal agent\",limits:{read:10,write:20},tags:{a,b}}");
    let expected = "@config {\n  name: \"tidal agent\",\n  limits: { read: 10, write: 20 },\n  tags: { a, b }\n}";
    assert_eq!(v.to_string_pretty(), expected);
    let deep = p("{a:{b:{c:1}},d}");
    assert_eq!(
        to_string_pretty(&deep),
        "{\n  a: {\n    b: { c: 1 }\n  },\n  d\n}"
    );
    let long = Value::of_items((0..40).map(|i| i * 1000));
    assert!(to_string_pretty(&long).contains("\n  39000\n}"));
}

#[test]
fn pretty_reparses_to_the_same_value() {
    let inputs = [
        "{1,,3}",
        "{,1}",
        "{1,}",
        "{{1},{},{,}}",
        "@a(@b 1){c:{d:},e:{f,g}}",
        "{a:{b:,c:}}",
        "@a({1}) {{x}}",
        "{@a 1:{2}, :3}",
    ];
    for input in inputs {
        let v = p(input);
        let pretty = to_string_pretty(&v);
        assert_eq!(
            parse(&pretty).ok(),
            Some(v),
            "{:?} printed as {:?}",
            input,
            pretty
        );
    }
}

#[test]
fn compact_is_idempotent_on_samples() {
    for input in [
        "@a @b(x: 1, y: {2}) { 1, , k: v }",
        "{ \"k\": 1, 2: two }",
        "a: 1\nb: {c: d}",
    ] {
        let once = reprint(input);
        assert_eq!(reprint(&once), once);
    }
}
