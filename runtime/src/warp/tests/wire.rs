//! Wire examples: the observed exchanges of warp.md 2.3, the client spellings, and the
//! exact output format.

use super::{env, written};
use crate::recon::{parse, print_into, Attr, Record, Value};
use crate::warp::{write_frame, Envelope, EnvelopeKind};

use EnvelopeKind::*;

/// `@update(key:k5) 5` as a value.
fn update_k5() -> Value {
    Value::Record(
        Record::new()
            .with_attr(Attr::new(
                "update",
                Value::of_slots([("key", Value::text("k5"))]),
            ))
            .with_item(5),
    )
}

/// Every row of warp.md 2.3: (sent by the client, text, envelope).
fn observed() -> Vec<(bool, &'static str, Envelope)> {
    let e = Envelope::new;
    vec![
        (
            true,
            "@sync(node:\"/unit/a\",lane:value)",
            e(Sync, "/unit/a", "value"),
        ),
        (
            false,
            "@linked(node:\"/unit/a\",lane:value)",
            e(Linked, "/unit/a", "value"),
        ),
        (
            false,
            "@event(node:\"/unit/a\",lane:value) 0",
            e(Event, "/unit/a", "value").with_body(Value::Int(0)),
        ),
        (
            false,
            "@synced(node:\"/unit/a\",lane:value)",
            e(Synced, "/unit/a", "value"),
        ),
        (
            true,
            "@command(node:\"/unit/a\",lane:add)5",
            e(Command, "/unit/a", "add").with_body(Value::Int(5)),
        ),
        (
            false,
            "@event(node:\"/unit/a\",lane:map)@update(key:k5) 5",
            e(Event, "/unit/a", "map").with_body(update_k5()),
        ),
        (
            false,
            "@event(node:\"/unit/a\",lane:value) 5",
            e(Event, "/unit/a", "value").with_body(Value::Int(5)),
        ),
        (
            true,
            "@unlink(node:\"/unit/a\",lane:value)",
            e(Unlink, "/unit/a", "value"),
        ),
        (
            false,
            "@unlinked(node:\"/unit/a\",lane:value) \"Link closed.\"",
            e(Unlinked, "/unit/a", "value").with_body(Value::text("Link closed.")),
        ),
        (
            true,
            "@sync(node:\"/nope/x\",lane:value)",
            e(Sync, "/nope/x", "value"),
        ),
        (
            false,
            "@unlinked(node:\"/nope/x\",lane:value)@nodeNotFound",
            e(Unlinked, "/nope/x", "value").with_body(Value::of_attr("nodeNotFound")),
        ),
        (
            true,
            "@sync(node:\"/unit/a\",lane:nolane)",
            e(Sync, "/unit/a", "nolane"),
        ),
        (
            false,
            "@unlinked(node:\"/unit/a\",lane:nolane)@laneNotFound",
            e(Unlinked, "/unit/a", "nolane").with_body(Value::of_attr("laneNotFound")),
        ),
    ]
}

#[test]
fn observed_exchanges_parse() {
    for (_, text, expected) in observed() {
        assert_eq!(env(text), expected, "{}", text);
    }
}

#[test]
fn observed_exchanges_write_exactly() {
    for (from_client, text, envelope) in observed() {
        let out = written(&envelope);
        if from_client && text.ends_with(")5") {
            // The Python client glues the body; swim-rust (and we) put a space.
            assert_eq!(out, text.replace(")5", ") 5"));
        } else {
            assert_eq!(out, text);
        }
        assert_eq!(envelope.to_string(), out);
        assert_eq!(env(&out), envelope, "{}", out);
    }
}

#[test]
fn observed_exchanges_as_frames() {
    for (_, text, envelope) in observed() {
        let mut body = String::new();
        print_into(&mut body, &envelope.body);
        let mut out = String::new();
        let body = Some(body.as_str()).filter(|b| !b.is_empty());
        write_frame(
            &mut out,
            envelope.kind,
            &envelope.node,
            &envelope.lane,
            body,
        );
        assert_eq!(out, written(&envelope), "{}", text);
    }
}

#[test]
fn exact_output_examples() {
    let e = Envelope::new;
    let cases = [
        (
            e(Event, "/unit/a", "value").with_body(Value::Int(5)),
            "@event(node:\"/unit/a\",lane:value) 5",
        ),
        (
            e(Event, "/unit/a", "map").with_body(update_k5()),
            "@event(node:\"/unit/a\",lane:map)@update(key:k5) 5",
        ),
        (
            e(Linked, "/unit/a", "value"),
            "@linked(node:\"/unit/a\",lane:value)",
        ),
        (
            e(Unlinked, "/nope/x", "value").with_body(Value::of_attr("nodeNotFound")),
            "@unlinked(node:\"/nope/x\",lane:value)@nodeNotFound",
        ),
        (
            e(Unlinked, "/unit/a", "value").with_body(Value::text("Link closed.")),
            "@unlinked(node:\"/unit/a\",lane:value) \"Link closed.\"",
        ),
        (
            e(Synced, "/unit/a", "my lane"),
            "@synced(node:\"/unit/a\",lane:\"my lane\")",
        ),
        // The node is quoted even when it is an identifier; `true` is not one.
        (
            e(Sync, "unit", "true"),
            "@sync(node:\"unit\",lane:\"true\")",
        ),
        (
            e(Command, "/a\"b\\c\n", "l-1_x").with_body(Value::text("x y")),
            "@command(node:\"/a\\\"b\\\\c\\n\",lane:l-1_x) \"x y\"",
        ),
        (
            e(Event, "/a", "v").with_body(Value::of_slots([("a", 1)])),
            "@event(node:\"/a\",lane:v) {a:1}",
        ),
        (
            e(Event, "/a", "v").with_body(Value::of_items([5])),
            "@event(node:\"/a\",lane:v) {5}",
        ),
        (
            e(Event, "/a", "v").with_body(Value::Extant),
            "@event(node:\"/a\",lane:v)",
        ),
    ];
    for (envelope, text) in cases {
        assert_eq!(written(&envelope), text);
    }
}

#[test]
fn write_frame_layout() {
    let mut out = String::new();
    write_frame(&mut out, Event, "/unit/a", "map", Some("@update(key:k5) 5"));
    assert_eq!(out, "@event(node:\"/unit/a\",lane:map)@update(key:k5) 5");
    out.clear();
    write_frame(&mut out, Event, "/unit/a", "value", Some("5"));
    assert_eq!(out, "@event(node:\"/unit/a\",lane:value) 5");
    out.clear();
    write_frame(&mut out, Synced, "/unit/a", "value", Some(""));
    assert_eq!(out, "@synced(node:\"/unit/a\",lane:value)");
    // Appends: a frame can be built after other text in a reused buffer.
    out.clear();
    out.push_str("prefix ");
    write_frame(&mut out, Auth, "ignored", "ignored", Some("@openId(jwt)"));
    assert_eq!(out, "prefix @auth@openId(jwt)");
}

#[test]
fn prio_and_rate() {
    let link = env("@link(node:\"/a\",lane:b,prio:0.5,rate:2)");
    assert_eq!((link.prio, link.rate), (Some(0.5), Some(2.0)));
    assert_eq!(
        written(&link),
        "@link(node:\"/a\",lane:b,prio:0.5,rate:2.0)"
    );
    let sync = env("@sync(rate: 1e3, prio: -1, lane: b, node: \"/a\")");
    assert_eq!((sync.prio, sync.rate), (Some(-1.0), Some(1000.0)));
    assert_eq!(
        written(&sync),
        "@sync(node:\"/a\",lane:b,prio:-1.0,rate:1000.0)"
    );
    let linked = env("@linked(node:\"/a\",lane:b,rate:0x10)");
    assert_eq!((linked.prio, linked.rate), (None, Some(16.0)));
    // 0 is the default and is left out, as swim-rust does; so are values other kinds
    // cannot carry, and non-finite ones.
    let zero = env("@link(node:\"/a\",lane:b,prio:0,rate:0.0)");
    assert_eq!((zero.prio, zero.rate), (Some(0.0), Some(0.0)));
    assert_eq!(written(&zero), "@link(node:\"/a\",lane:b)");
    let cmd = Envelope::new(Command, "/a", "b")
        .with_prio(3.0)
        .with_rate(1.0);
    assert_eq!(written(&cmd), "@command(node:\"/a\",lane:b)");
    let inf = Envelope::new(Link, "/a", "b")
        .with_prio(f32::INFINITY)
        .with_rate(f32::NAN);
    assert_eq!(written(&inf), "@link(node:\"/a\",lane:b)");
    let small = Envelope::new(Sync, "/a", "b").with_prio(1.1);
    assert_eq!(written(&small), "@sync(node:\"/a\",lane:b,prio:1.1)");
    assert_eq!(env(&written(&small)), small);
}

#[test]
fn client_spellings() {
    let expected = |node: &str| Envelope::new(Command, node, "add").with_body(Value::Int(5));
    // Python: no space before the body.
    assert_eq!(
        env("@command(node:\"/unit/py\",lane:add)5"),
        expected("/unit/py")
    );
    // JS: one space.
    assert_eq!(
        env("@command(node:\"/unit/js\",lane:add) 5"),
        expected("/unit/js")
    );
    // Rust Commander: spaces in the header, the lane quoted.
    assert_eq!(
        env("@command(node: \"/unit/rs\", lane: \"add\") 5"),
        expected("/unit/rs")
    );
    // Slots in any order.
    assert_eq!(
        env("@command(lane:add,node:\"/unit/h\")5"),
        expected("/unit/h")
    );
    // Other whitespace, separators and comments are Recon too.
    assert_eq!(
        env("  @command(\n  node:\"/unit/n\";\tlane: add # the lane\n)\n  5 \n"),
        expected("/unit/n")
    );
    // A bare node, a quoted slot name.
    assert_eq!(env("@command(node:unit,\"lane\":add)5"), expected("unit"));
    // Map commands from Python (glued) and JS (spaced).
    let py = env("@command(node:\"/unit/py\",lane:map)@update(key:direct)42");
    let js = env("@command(node:\"/unit/js\",lane:map)@update(key:direct) 42");
    assert_eq!(py.body, js.body);
    assert_eq!(py.body, parse("@update(key:direct) 42").unwrap());
    assert_eq!(py.body.to_string(), "@update(key:direct) 42");
}

#[test]
fn bodies() {
    let body = |text: &str| env(text).body;
    assert_eq!(body("@event(node:\"/a\",lane:b)"), Value::Absent);
    assert_eq!(body("@event(node:\"/a\",lane:b)   "), Value::Absent);
    assert_eq!(body("@event(node:\"/a\",lane:b) # nothing"), Value::Absent);
    assert_eq!(body("@event(node:\"/a\",lane:b)tok"), Value::text("tok"));
    assert_eq!(
        body("@event(node:\"/a\",lane:b)\"x y\""),
        Value::text("x y")
    );
    assert_eq!(body("@event(node:\"/a\",lane:b)-2.5"), Value::Float(-2.5));
    // Braces are kept: `{5}` is a record, `5` an int.
    assert_eq!(body("@event(node:\"/a\",lane:b) {5}"), Value::of_items([5]));
    assert_eq!(
        body("@event(node:\"/a\",lane:b){a:1}"),
        Value::of_slots([("a", 1)])
    );
    assert_eq!(
        body("@event(node:\"/a\",lane:b) a:1,b:2"),
        parse("{a:1,b:2}").unwrap()
    );
    assert_eq!(
        body("@event(node:\"/a\",lane:b)@a@b 1"),
        parse("@a@b 1").unwrap()
    );
    assert_eq!(
        body("@event(node:\"/a\",lane:b) @update(key:\"x y\") {a:1}").to_string(),
        "@update(key:\"x y\"){a:1}"
    );
    // Any Recon body, including big numbers and data.
    assert_eq!(
        body("@command(node:\"/a\",lane:b) 18446744073709551616").to_string(),
        "18446744073709551616"
    );
    assert_eq!(
        body("@command(node:\"/a\",lane:b)%AAEC"),
        Value::Data(vec![0, 1, 2])
    );
}

#[test]
fn host_addressed_kinds() {
    let auth = env("@auth @openId(\"jwt\")");
    assert_eq!(auth.kind, Auth);
    assert_eq!((auth.node.as_str(), auth.lane.as_str()), ("", ""));
    assert_eq!(auth.body, Value::of_attr_with("openId", "jwt"));
    assert_eq!(written(&auth), "@auth@openId(jwt)");
    assert_eq!(env("@auth").body, Value::Absent);
    assert_eq!(env("@auth()").body, Value::Absent);
    assert_eq!(
        env("@auth {token:abc}").body,
        Value::of_slots([("token", "abc")])
    );
    assert_eq!(env("@deauth").kind, Deauth);
    assert_eq!(env("@deauth 5").body, Value::Int(5));
    assert_eq!(env("@authed{session:1}").kind, Authed);
    assert_eq!(env("@deauthed \"bye\"").body, Value::text("bye"));
    // A text body is written after a space (the Python client glues it: `@authtok`).
    let tok = Envelope::host(Auth, Value::text("tok"));
    assert_eq!(written(&tok), "@auth tok");
    // Node and lane are never written for host-addressed kinds.
    let odd = Envelope::new(Deauthed, "/a", "b");
    assert_eq!(written(&odd), "@deauthed");
}

#[test]
fn every_kind_round_trips() {
    for kind in EnvelopeKind::ALL {
        assert_eq!(EnvelopeKind::from_tag(kind.tag()), Some(kind));
        assert_eq!(kind.to_string(), kind.tag());
        let envelope = if kind.is_host_addressed() {
            Envelope::host(kind, Value::Int(1))
        } else {
            Envelope::new(kind, "/n", "l").with_body(Value::Int(1))
        };
        let text = written(&envelope);
        assert!(text.starts_with(&format!("@{}", kind.tag())), "{}", text);
        assert_eq!(env(&text), envelope, "{}", text);
    }
    assert_eq!(EnvelopeKind::from_tag("Link"), None);
    let with_rates: Vec<_> = EnvelopeKind::ALL
        .into_iter()
        .filter(|k| k.takes_prio_and_rate())
        .collect();
    assert_eq!(with_rates, [Link, Sync, Linked]);
}

#[test]
fn unicode_and_escapes_in_addresses() {
    let e = env("@event(node:\"/caf\\u00e9/\\\"q\\\"\",lane:\"l\\u00fc ne\") 1");
    assert_eq!(e.node, "/café/\"q\"");
    assert_eq!(e.lane, "lü ne");
    assert_eq!(
        written(&e),
        "@event(node:\"/café/\\\"q\\\"\",lane:\"lü ne\") 1"
    );
    // Non-ASCII identifiers stay bare.
    assert_eq!(
        written(&Envelope::new(Event, "/a", "über")),
        "@event(node:\"/a\",lane:über)"
    );
    // Empty addresses are text too.
    let empty = env("@sync(node:\"\",lane:\"\")");
    assert_eq!((empty.node.as_str(), empty.lane.as_str()), ("", ""));
    assert_eq!(written(&empty), "@sync(node:\"\",lane:\"\")");
}
