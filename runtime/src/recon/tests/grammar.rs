//! The grammar of warp.md section 5, row by row, and the wire examples of sections 2-3.

use num_bigint::BigInt;

use super::{p, reprint};
use crate::recon::{parse, parse_attr_then_body, Attr, Item, Record, Value};

/// The "input → printed (compact)" table of warp.md section 5, verbatim.
#[test]
fn warp_md_table_prints_exactly() {
    let rows: &[(&str, &str)] = &[
        ("42", "42"),
        ("-7", "-7"),
        ("0x1F", "31"),
        ("2.5", "2.5"),
        ("1e3", "1000.0"),
        ("6.02e23", "6.02e23"),
        ("18446744073709551616", "18446744073709551616"),
        ("true", "true"),
        ("hello", "hello"),
        ("\"hello world\"", "\"hello world\""),
        ("\"true\"", "\"true\""),
        (
            r#""with \"quote\" and \\ \n""#,
            r#""with \"quote\" and \\ \n""#,
        ),
        ("%AAEC", "%AAEC"),
        ("", ""),
        ("{1, 2, 3}", "{1,2,3}"),
        ("{a: 1, b: \"x y\"}", "{a:1,b:\"x y\"}"),
        ("{a:1;b:2}", "{a:1,b:2}"),
        ("{ \"k\": 1, 2: two }", "{k:1,2:two}"),
        ("{a:\n1\nb:2}", "{a:,1,b:2}"),
        ("@tag", "@tag"),
        ("@tag(1)", "@tag(1)"),
        ("@tag(a:1,b:2)", "@tag(a:1,b:2)"),
        ("@tag(1) 2", "@tag(1) 2"),
        ("@tag{a:1}", "@tag{a:1}"),
        ("@a @b 1", "@a@b 1"),
        ("@update(key:\"x y\") {a:1}", "@update(key:\"x y\"){a:1}"),
        ("1 @post", "1"),
    ];
    for (input, printed) in rows {
        assert_eq!(reprint(input), *printed, "input {:?}", input);
    }
    assert!(parse("{a: {b: {c: [1]}}}").is_err());
}

#[test]
fn warp_md_table_models() {
    assert_eq!(p("42"), Value::Int(42));
    assert_eq!(p("-7"), Value::Int(-7));
    assert_eq!(p("0x1F"), Value::Int(31));
    assert_eq!(p("2.5"), Value::Float(2.5));
    assert_eq!(p("1e3"), Value::Float(1000.0));
    assert_eq!(p("6.02e23"), Value::Float(6.02e23));
    let big: BigInt = "18446744073709551616".parse().expect("literal");
    assert!(matches!(p("18446744073709551616"), Value::BigInt(ref b) if *b == big));
    assert_eq!(p("true"), Value::Bool(true));
    assert_eq!(p("hello"), Value::text("hello"));
    assert_eq!(p("\"true\""), Value::text("true"));
    assert_eq!(
        p(r#""with \"quote\" and \\ \n""#),
        Value::text("with \"quote\" and \\ \n")
    );
    assert_eq!(p("%AAEC"), Value::Data(vec![0, 1, 2]));
    assert_eq!(p(""), Value::Extant);
    assert_eq!(p("{1, 2, 3}"), Value::of_items([1, 2, 3]));
    assert_eq!(p("{a:1;b:2}"), Value::of_slots([("a", 1), ("b", 2)]));
    let keys = Record::new().with_slot("k", 1).with_slot(2, "two");
    assert_eq!(p("{ \"k\": 1, 2: two }"), Value::Record(keys));
    let nl = Record::new()
        .with_slot("a", Value::Extant)
        .with_item(1)
        .with_slot("b", 2);
    assert_eq!(p("{a:\n1\nb:2}"), Value::Record(nl));
    assert_eq!(p("@tag"), Value::of_attr("tag"));
    assert_eq!(p("@tag(1)"), Value::of_attr_with("tag", 1));
    assert_eq!(
        p("@tag(a:1,b:2)"),
        Value::of_attr_with("tag", Value::of_slots([("a", 1), ("b", 2)]))
    );
    let one = Record::new().with_attr(Attr::new("tag", 1)).with_item(2);
    assert_eq!(p("@tag(1) 2"), Value::Record(one));
    let flat = Record::new().with_attr(Attr::of("tag")).with_slot("a", 1);
    assert_eq!(p("@tag{a:1}"), Value::Record(flat));
    let two = Record::new()
        .with_attr(Attr::of("a"))
        .with_attr(Attr::of("b"))
        .with_item(1);
    assert_eq!(p("@a @b 1"), Value::Record(two));
    assert_eq!(p("1 @post"), Value::Int(1));
}

#[test]
fn identifiers() {
    for id in [
        "a",
        "_x",
        "snake_case",
        "kebab-case",
        "a1-2_3",
        "été",
        "日本",
        "Ωmega",
    ] {
        assert_eq!(p(id), Value::text(id), "{}", id);
        assert_eq!(reprint(id), id);
    }
    assert_eq!(p("false"), Value::Bool(false));
    assert_eq!(reprint("\"false\""), "\"false\"");
    assert_eq!(reprint("\"1abc\""), "\"1abc\"");
    assert_eq!(reprint("\"a b\""), "\"a b\"");
    assert_eq!(reprint("\"\""), "\"\"");
    // Read as identifiers by the swim-rust ranges too, but printed quoted unless both
    // the Unicode letter rule and those ranges agree.
    assert_eq!(p("a\u{b7}b"), Value::text("a\u{b7}b"));
    assert_eq!(reprint("a\u{b7}b"), "\"a\u{b7}b\"");
    assert_eq!(p("x\u{2070}"), Value::text("x\u{2070}"));
}

#[test]
fn string_escapes() {
    assert_eq!(
        p(r#""\"\\\/\b\f\n\r\t""#),
        Value::text("\"\\/\u{8}\u{c}\n\r\t")
    );
    assert_eq!(p(r#""\u0041\u00e9\u20AC""#), Value::text("Aé€"));
    assert_eq!(p(r#""\uD83D\uDE00""#), Value::text("😀"));
    assert_eq!(p(r#""\@\{\}\[\]""#), Value::text("@{}[]"));
    assert_eq!(p("\"raw\ttab and é\""), Value::text("raw\ttab and é"));
    assert_eq!(reprint(r#""\u0001\u007f""#), r#""\u0001\u007f""#);
    assert_eq!(reprint(r#""\b\f\/""#), r#""\b\f/""#);
}

#[test]
fn numbers() {
    assert_eq!(p("0"), Value::Int(0));
    assert_eq!(p("-0"), Value::Int(0));
    assert_eq!(p("007"), Value::Int(7));
    assert_eq!(p("0b101"), Value::Int(5));
    assert_eq!(p("0B11"), Value::Int(3));
    assert_eq!(p("-0x10"), Value::Int(-16));
    assert_eq!(p("0xff"), Value::Int(255));
    assert_eq!(p("9223372036854775807"), Value::Int(i64::MAX));
    assert_eq!(p("-9223372036854775808"), Value::Int(i64::MIN));
    assert_eq!(p("9223372036854775808"), Value::UInt(1 << 63));
    assert_eq!(p("18446744073709551615"), Value::UInt(u64::MAX));
    assert_eq!(p("0xFFFFFFFFFFFFFFFF"), Value::UInt(u64::MAX));
    assert!(matches!(p("-9223372036854775809"), Value::BigInt(_)));
    assert!(matches!(p("0x10000000000000000"), Value::BigInt(_)));
    assert_eq!(reprint("-0x10000000000000000"), "-18446744073709551616");
    assert_eq!(p("-2.5E-3"), Value::Float(-0.0025));
    assert_eq!(p("1E+2"), Value::Float(100.0));
    assert_eq!(p("0.5"), Value::Float(0.5));
    assert_eq!(p("-0.0"), Value::Float(-0.0));
    assert_eq!(reprint("1e16"), "1e16");
    assert_eq!(reprint("1.5e-7"), "1.5e-7");
    assert_eq!(reprint("100.0"), "100.0");
    assert_eq!(reprint("-0.0"), "-0.0");
}

#[test]
fn data() {
    assert_eq!(p("%"), Value::Data(vec![]));
    assert_eq!(p("%AA=="), Value::Data(vec![0]));
    assert_eq!(p("%AA"), Value::Data(vec![0]));
    assert_eq!(p("%AAE="), Value::Data(vec![0, 1]));
    assert_eq!(reprint("%AAE"), "%AAE=");
    assert_eq!(p("{%AAEC, %+/+/}").as_record().map(Record::len), Some(2));
}

#[test]
fn extant_and_absent() {
    assert_eq!(p("{x:}"), Value::of_slots([("x", Value::Extant)]));
    assert_eq!(p("@clear"), Value::of_attr("clear"));
    assert_eq!(p("@clear()"), Value::of_attr("clear"));
    assert_eq!(p("  \n # only a comment\n"), Value::Extant);
    assert_eq!(
        p("{1,,3}"),
        Value::of_items([Value::Int(1), Value::Extant, Value::Int(3)])
    );
    assert_eq!(p("{1,}"), Value::of_items([Value::Int(1), Value::Extant]));
    assert_eq!(p("{,}"), Value::of_items([Value::Extant, Value::Extant]));
    assert_eq!(p("{}"), Value::Record(Record::new()));
    assert_eq!(p("{ \n }"), Value::Record(Record::new()));
    assert_eq!(p("{:1}"), Value::of_slots([(Value::Extant, 1)]));
    assert_eq!(
        p("{a:,b}"),
        Value::Record(Record::new().with_slot("a", Value::Extant).with_item("b"))
    );
    assert_eq!(reprint("{a:,b:}"), "{a:,b:}");
}

#[test]
fn records_and_separators() {
    let abc = Value::of_items(["a", "b", "c"]);
    for input in [
        "{a,b,c}",
        "{a;b;c}",
        "{a\nb\nc}",
        "{ a ,\n b ;\n\n c }",
        "{\r\na\r\nb\r\nc\r\n}",
    ] {
        assert_eq!(p(input), abc, "{:?}", input);
    }
    let mixed = Record::new()
        .with_item("a")
        .with_slot("b", "c")
        .with_item("d")
        .with_item("e");
    assert_eq!(p("{ a, b: c; d \n e }"), Value::Record(mixed));
    let nested = Value::of_slots([("a", Value::of_slots([("b", Value::of_items([1]))]))]);
    assert_eq!(p("{a: {b: {1}}}"), nested);
    let keyed = Record::new()
        .with_slot(Value::of_items([1, 2]), "pair")
        .with_slot(true, 1.5);
    assert_eq!(p("{{1,2}: pair, true: 1.5}"), Value::Record(keyed));
    assert_eq!(reprint("{{1,2}: pair, true: 1.5}"), "{{1,2}:pair,true:1.5}");
}

#[test]
fn top_level_blocks() {
    assert_eq!(p("a: 1, b: 2"), Value::of_slots([("a", 1), ("b", 2)]));
    assert_eq!(p("a: 1\nb: 2\n"), Value::of_slots([("a", 1), ("b", 2)]));
    assert_eq!(p("1, 2"), Value::of_items([1, 2]));
    assert_eq!(p("\n\n  7  \n"), Value::Int(7));
    assert_eq!(p("{1}"), Value::of_items([1]));
}

#[test]
fn attributes() {
    let quoted = Record::new().with_attr(Attr::new("quoted name", 1));
    assert_eq!(p("@\"quoted name\"(1)"), Value::Record(quoted));
    assert_eq!(reprint("@\"quoted name\"(1)"), "@\"quoted name\"(1)");
    assert_eq!(reprint("@\"ok\""), "@ok");
    let point = Record::new()
        .with_attr(Attr::of("point"))
        .with_slot("x", 1)
        .with_slot("y", 2);
    assert_eq!(p("@point{x:1,y:2}"), Value::Record(point));
    assert_eq!(
        p("@a(1,2)"),
        Value::of_attr_with("a", Value::of_items([1, 2]))
    );
    assert_eq!(p("@a({1})"), Value::of_attr_with("a", Value::of_items([1])));
    assert_eq!(reprint("@a({1})"), "@a({1})");
    assert_eq!(reprint("@a({})"), "@a({})");
    assert_eq!(reprint("@a(@b 1)"), "@a(@b 1)");
    assert_eq!(reprint("@a{{1}}"), "@a{{1}}");
    assert_eq!(reprint("@a{@b 1}"), "@a{@b 1}");
    assert_eq!(reprint("{@a 1, 2}"), "{@a 1,2}");
    assert_eq!(reprint("{@a 1: 2}"), "{@a 1:2}");
    assert_eq!(reprint("{@a: 2}"), "{@a:2}");
    assert_eq!(reprint("@a -1.5"), "@a -1.5");
    assert_eq!(reprint("@a %AA=="), "@a %AA==");
    assert_eq!(reprint("@a\"x y\""), "@a \"x y\"");
    assert_eq!(reprint("@auth @openId(\"jwt\")"), "@auth@openId(jwt)");
    let body = p("@a @b(x:1) {c, d:2}");
    let rec = body.as_record().expect("record");
    assert_eq!(rec.attrs.len(), 2);
    assert_eq!(rec.items, vec![Item::value("c"), Item::slot("d", 2)]);
}

#[test]
fn comments() {
    assert_eq!(
        p("# head\n{a: 1, # first\n b: 2 # second\n}"),
        Value::of_slots([("a", 1), ("b", 2)])
    );
    assert_eq!(
        p("{a: # nothing here\n1}"),
        Value::Record(Record::new().with_slot("a", Value::Extant).with_item(1))
    );
    assert_eq!(p("\"#not a comment\""), Value::text("#not a comment"));
}

#[test]
fn newline_after_colon() {
    assert_eq!(reprint("{a:\n1}"), "{a:,1}");
    assert_eq!(reprint("{a: \t\n1}"), "{a:,1}");
    assert_eq!(reprint("{a: 1\n}"), "{a:1}");
    assert_eq!(reprint("@h(k:\nv)"), "@h(k:,v)");
}

/// The envelopes of warp.md sections 2 and 3, as sent by swim-rust and the clients.
#[test]
fn wire_examples() {
    let server = [
        "@linked(node:\"/unit/a\",lane:value)",
        "@event(node:\"/unit/a\",lane:value) 0",
        "@synced(node:\"/unit/a\",lane:value)",
        "@event(node:\"/unit/a\",lane:map)@update(key:k5) 5",
        "@unlinked(node:\"/unit/a\",lane:value) \"Link closed.\"",
        "@unlinked(node:\"/nope/x\",lane:value)@nodeNotFound",
        "@unlinked(node:\"/unit/a\",lane:nolane)@laneNotFound",
        "@event(node:\"/unit/b\",lane:map)@remove(key:\"x y\")",
    ];
    for line in server {
        assert_eq!(reprint(line), line);
    }
    let clients = [
        (
            "@command(node:\"/unit/py\",lane:add)5",
            "@command(node:\"/unit/py\",lane:add) 5",
        ),
        (
            "@command(node: \"/unit/rs\", lane: \"add\") 5",
            "@command(node:\"/unit/rs\",lane:add) 5",
        ),
        (
            "@command(lane:add,node:\"/unit/h\")5",
            "@command(lane:add,node:\"/unit/h\") 5",
        ),
        (
            "@command(node:\"/u\",lane:m)@update(key:direct)42",
            "@command(node:\"/u\",lane:m)@update(key:direct) 42",
        ),
        ("@link(\"/unit/h\", value)", "@link(\"/unit/h\",value)"),
        ("@take(3)", "@take(3)"),
    ];
    for (input, printed) in clients {
        assert_eq!(reprint(input), printed);
    }
}

#[test]
fn attr_then_body() {
    let (head, body) = parse_attr_then_body("@sync(node:\"/unit/a\",lane:value)").expect("parses");
    assert_eq!(head.name, "sync");
    assert_eq!(head.value.get("node"), Some(&Value::text("/unit/a")));
    assert_eq!(body, Value::Absent);
    let (_, body) = parse_attr_then_body("@command(node:\"/u\",lane:x) {5}").expect("parses");
    assert_eq!(body, Value::of_items([5]));
    let (_, body) = parse_attr_then_body("@command(node:\"/u\",lane:x)5").expect("parses");
    assert_eq!(body, Value::Int(5));
    let (_, body) =
        parse_attr_then_body("@event(node:\"/u\",lane:m)@update(key:k5) 5").expect("parses");
    assert_eq!(body.to_string(), "@update(key:k5) 5");
    let (head, body) = parse_attr_then_body("@auth @openId(\"jwt\")").expect("parses");
    assert_eq!((head.value, body.tag()), (Value::Extant, Some("openId")));
    let (_, body) =
        parse_attr_then_body("@command(node:\"/u\",lane:x) a: 1, b: 2").expect("parses");
    assert_eq!(body, Value::of_slots([("a", 1), ("b", 2)]));
    assert!(parse_attr_then_body("{a}").is_err());
    assert!(parse_attr_then_body("").is_err());
}

#[test]
fn split_first_attr() {
    let (head, body) = p("@event(node:\"/u\",lane:v) 5")
        .split_first_attr()
        .expect("record");
    assert_eq!((head.name.as_str(), body), ("event", Value::Int(5)));
    let (_, body) = p("@sync(node:\"/u\",lane:v)")
        .split_first_attr()
        .expect("record");
    assert_eq!(body, Value::Absent);
    let (_, body) = p("@e(x)@update(key:k) 1")
        .split_first_attr()
        .expect("record");
    assert_eq!(body.to_string(), "@update(key:k) 1");
    assert!(p("{1}").split_first_attr().is_none());
}

#[test]
fn accessors() {
    let v = p("@update(key:k5) {a: 1, b: \"x\", 3: c}");
    assert_eq!(v.tag(), Some("update"));
    assert_eq!(v.get("a"), Some(&Value::Int(1)));
    assert_eq!(v.get("b").and_then(Value::as_text), Some("x"));
    let rec = v.as_record().expect("record");
    assert_eq!(
        rec.attr("update").and_then(|a| a.get("key")),
        Some(&Value::text("k5"))
    );
    assert_eq!(rec.get_value(&Value::Int(3)), Some(&Value::text("c")));
    assert_eq!(rec.len(), 3);
    assert_eq!(p("5").as_i64(), Some(5));
    assert_eq!(p("5").as_f64(), Some(5.0));
    assert_eq!(p("18446744073709551615").as_u64(), Some(u64::MAX));
    assert_eq!(Value::BigInt(BigInt::from(5)), Value::Int(5));
    assert_eq!(Value::from(u64::MAX), Value::UInt(u64::MAX));
    assert_eq!(Value::from(-1i128), Value::Int(-1));
    assert!(matches!(Value::from(u128::MAX), Value::BigInt(_)));
}
