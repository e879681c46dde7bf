//! Invalid envelopes: each is refused with the right error and a clear message.

use super::err;
use crate::warp::{EnvelopeError, EnvelopeKind};

use EnvelopeError::*;
use EnvelopeKind::*;

#[test]
fn prio_and_rate_only_on_link_sync_linked() {
    for kind in [Command, Event, Unlink, Synced, Unlinked] {
        for slot in ["prio", "rate"] {
            let text = format!("@{}(node:\"/a\",lane:b,{}:1) 5", kind, slot);
            let e = err(&text);
            assert_eq!(
                e,
                UnexpectedSlot {
                    kind,
                    slot: slot.to_owned()
                },
                "{}",
                text
            );
            assert_eq!(
                e.to_string(),
                format!("`@{}` does not take a `{}` slot", kind, slot)
            );
        }
    }
}

#[test]
fn unknown_slots() {
    assert_eq!(
        err("@link(node:\"/a\",lane:b,foo:bar)"),
        UnexpectedSlot {
            kind: Link,
            slot: "foo".into()
        }
    );
    assert_eq!(
        err("@sync(Node:\"/a\",lane:b)"),
        UnexpectedSlot {
            kind: Sync,
            slot: "Node".into()
        }
    );
    // Keys that are not text.
    assert_eq!(
        err("@sync(node:\"/a\",lane:b,1:2)"),
        UnexpectedSlot {
            kind: Sync,
            slot: "1".into()
        }
    );
    assert_eq!(
        err("@event(node:\"/a\",lane:b,\"my slot\":2)").to_string(),
        "`@event` does not take a `my slot` slot"
    );
}

#[test]
fn missing_slots() {
    let missing = |kind, slot| MissingSlot { kind, slot };
    assert_eq!(err("@sync(lane:b)"), missing(Sync, "node"));
    assert_eq!(err("@sync(node:\"/a\")"), missing(Sync, "lane"));
    assert_eq!(err("@sync"), missing(Sync, "node"));
    assert_eq!(err("@command() 5"), missing(Command, "node"));
    assert_eq!(err("@link(prio:1)"), missing(Link, "node"));
    assert_eq!(
        err("@event(lane:b) 5").to_string(),
        "`@event` has no `node` slot"
    );
}

#[test]
fn duplicate_slots() {
    let dup = |kind, slot| DuplicateSlot { kind, slot };
    assert_eq!(
        err("@sync(node:\"/a\",node:\"/b\",lane:c)"),
        dup(Sync, "node")
    );
    assert_eq!(err("@sync(node:\"/a\",lane:c,lane:c)"), dup(Sync, "lane"));
    assert_eq!(
        err("@link(node:\"/a\",lane:c,prio:1,prio:2)"),
        dup(Link, "prio")
    );
    assert_eq!(
        err("@link(node:\"/a\",lane:c,rate:1,rate:1)"),
        dup(Link, "rate")
    );
    assert_eq!(
        err("@sync(lane:c,lane:d,node:\"/a\")").to_string(),
        "`@sync` has the `lane` slot more than once"
    );
}

#[test]
fn positional_headers() {
    let e = err("@link(\"/unit/h\", value)");
    assert!(matches!(&e, PositionalHeader { kind: Link, found } if found == "`\"/unit/h\"`"));
    assert_eq!(
        e.to_string(),
        "the header of `@link` must be named slots (`node:\"/a\",lane:b`), found the \
         positional item `\"/unit/h\"`"
    );
    // A single positional value, a positional item after the slots, an empty item.
    assert!(matches!(
        err("@link(\"/unit/h\")"),
        PositionalHeader { kind: Link, .. }
    ));
    assert!(matches!(
        err("@link(node:\"/a\",lane:b,c)"),
        PositionalHeader { kind: Link, .. }
    ));
    assert!(matches!(
        err("@sync(node:\"/a\",lane:b,)"),
        PositionalHeader { kind: Sync, found } if found == "nothing"
    ));
    // An attribute as header.
    assert!(matches!(
        err("@sync(@x)"),
        PositionalHeader { kind: Sync, .. }
    ));
    assert!(matches!(
        err("@command(5) 5"),
        PositionalHeader { kind: Command, .. }
    ));
}

#[test]
fn unknown_tags() {
    assert_eq!(
        err("@waffle(node:\"/a\",lane:b)"),
        UnknownTag("waffle".into())
    );
    assert_eq!(err("@Link(node:\"/a\",lane:b)"), UnknownTag("Link".into()));
    assert_eq!(err("@move(node:\"/a\",lane:b)"), UnknownTag("move".into()));
    // The Python client's glued `@auth` + `tok`.
    assert_eq!(err("@authtok"), UnknownTag("authtok".into()));
    assert!(err("@waffle")
        .to_string()
        .starts_with("unknown envelope tag `@waffle`"));
}

#[test]
fn addresses_must_be_text() {
    let not_text = |text: &str| match err(text) {
        NotText { slot, found, .. } => (slot, found),
        other => panic!("{}: {:?}", text, other),
    };
    assert_eq!(not_text("@sync(node:5,lane:b)"), ("node", "`5`".into()));
    assert_eq!(
        not_text("@sync(node:\"/a\",lane:true)"),
        ("lane", "`true`".into())
    );
    assert_eq!(
        not_text("@sync(node:{a:1},lane:b)"),
        ("node", "`{a:1}`".into())
    );
    assert_eq!(not_text("@sync(node:,lane:b)"), ("node", "nothing".into()));
    assert_eq!(
        not_text("@sync(node:\"/a\",lane:@x)"),
        ("lane", "`@x`".into())
    );
    assert_eq!(
        err("@sync(node:%AAEC,lane:b)").to_string(),
        "the `node` slot of `@sync` must be text, found `%AAEC`"
    );
}

#[test]
fn prio_and_rate_must_be_numbers() {
    let not_number = |text: &str| match err(text) {
        NotNumber { slot, found, .. } => (slot, found),
        other => panic!("{}: {:?}", text, other),
    };
    assert_eq!(
        not_number("@link(node:\"/a\",lane:b,prio:\"1\")"),
        ("prio", "`\"1\"`".into())
    );
    assert_eq!(
        not_number("@link(node:\"/a\",lane:b,rate:)"),
        ("rate", "nothing".into())
    );
    assert_eq!(
        not_number("@link(node:\"/a\",lane:b,prio:true)"),
        ("prio", "`true`".into())
    );
    assert_eq!(
        not_number("@link(node:\"/a\",lane:b,prio:1e39)"),
        ("prio", "`1e39`".into())
    );
    assert_eq!(
        not_number("@link(node:\"/a\",lane:b,rate:inf)"),
        ("rate", "`inf`".into())
    );
    let huge = format!("@link(node:\"/a\",lane:b,rate:{})", "9".repeat(100));
    assert!(matches!(err(&huge), NotNumber { slot: "rate", .. }));
}

#[test]
fn host_kinds_take_no_header() {
    assert!(matches!(
        err("@auth(x:1)"),
        UnexpectedHeader { kind: Auth, .. }
    ));
    assert!(matches!(
        err("@deauth(1)"),
        UnexpectedHeader { kind: Deauth, .. }
    ));
    assert!(matches!(
        err("@authed(node:\"/a\",lane:b)"),
        UnexpectedHeader { kind: Authed, .. }
    ));
    assert_eq!(
        err("@deauthed(1) x").to_string(),
        "`@deauthed` takes no header, found the header `1`"
    );
}

#[test]
fn garbage() {
    for text in [
        "",
        "   ",
        "hello",
        "5",
        "{node:x}",
        "\"@sync\"",
        "@",
        "@(node:\"/a\",lane:b)",
        "@sync(",
        "@sync(node:\"/a",
        "@sync(node:\"/a\",lane:b",
        "@sync(node:\"/a\",lane:b))",
        "@sync(node:\"/a\",lane:b) }",
        "@sync(node:\"/a\",lane:b) [markup]",
        "@event(node:\"/a\",lane:b) {",
        "@event(node:\"/a\",lane:b) \"open",
        "@event(node:\"/a\",lane:b) 1.",
        "@event(node:\"/a\",lane:b) %%",
        "\u{0}\u{1}",
        "x @sync(node:\"/a\",lane:b)",
    ] {
        assert!(matches!(err(text), Syntax(_)), "{:?}", text);
    }
    let e = err("5");
    assert!(
        e.to_string()
            .starts_with("not a WARP envelope: line 1, column 1"),
        "{}",
        e
    );
}

#[test]
fn long_values_are_cut_short_in_messages() {
    let long = format!("@sync(node:\"{}\",lane:b,x:1)", "é".repeat(200));
    assert_eq!(
        err(&long),
        UnexpectedSlot {
            kind: Sync,
            slot: "x".into()
        }
    );
    let node = format!("@sync(node:{{\"{}\"}},lane:b)", "é".repeat(200));
    let message = err(&node).to_string();
    assert!(message.ends_with("...`"), "{}", message);
    assert!(message.len() < 200, "{}", message);
}
