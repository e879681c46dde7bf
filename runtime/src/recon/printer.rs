//! The compact printer: [`Value`] to text, with no whitespace at all except the single
//! space between attributes and a following primitive body (`@tag(1) 2`).
//!
//! It writes straight into any [`fmt::Write`] (a `String`, a `Formatter`), with no
//! allocation per node.

use std::fmt::{self, Write};

use super::lexical::{write_data, write_float, write_text};
use super::record::{Attr, Item, Record};
use super::value::Value;

/// Prints `value` in compact form into `out` (this is also what `Display` does).
///
/// Output matches swim-rust's compact printer: `{a:1,b:"x y"}`, `@tag(1) 2`,
/// `@update(key:k5) 5`, `@a@b 1`, `@tag{a:1}`, `1000.0`, `%AAEC`.
///
/// Re-parsing the output gives back an equal value for every value the parser can
/// produce. Two shapes that the parser never produces have no text of their own and
/// print like their nearest neighbour: a record whose only item is an empty
/// (`Extant`/`Absent`) value prints like the same record without items, and an
/// `Absent` anywhere prints like `Extant`. Non-finite floats print as text (see
/// [`write_float`]).
///
/// # Errors
/// Only when `out` fails (writing to a `String` never does).
pub fn write_compact<W: Write + ?Sized>(out: &mut W, value: &Value) -> fmt::Result {
    match value {
        Value::Absent | Value::Extant => Ok(()),
        Value::Bool(b) => out.write_str(if *b { "true" } else { "false" }),
        Value::Int(i) => write!(out, "{}", i),
        Value::UInt(u) => write!(out, "{}", u),
        Value::BigInt(b) => write!(out, "{}", b),
        Value::Float(f) => write_float(out, *f),
        Value::Text(s) => write_text(out, s),
        Value::Data(d) => write_data(out, d),
        Value::Record(r) => write_record(out, r),
    }
}

/// Appends the compact form of `value` to `out`.
pub fn print_into(out: &mut String, value: &Value) {
    // Writing into a String cannot fail.
    let _ = write_compact(out, value);
}

/// Prints a WARP-style envelope: the attribute `head`, then `body`, the way
/// swim-rust does: nothing for an empty body, no space before a body that starts
/// with `@`, one space otherwise (`@event(node:"/a",lane:v) 5`,
/// `@event(node:"/a",lane:m)@update(key:k) 5`, `@sync(node:"/a",lane:v)`).
///
/// Parsing the output with [`parse_attr_then_body`](crate::recon::parse_attr_then_body)
/// gives back `head` and `body` (with `Extant` bodies coming back `Absent`).
///
/// # Errors
/// Only when `out` fails (writing to a `String` never does).
pub fn write_attr_then_body<W: Write + ?Sized>(
    out: &mut W,
    head: &Attr,
    body: &Value,
) -> fmt::Result {
    write_attr(out, head)?;
    write_body(out, body)
}

/// Prints what follows an envelope's head (see [`write_attr_then_body`]).
pub(crate) fn write_body<W: Write + ?Sized>(out: &mut W, body: &Value) -> fmt::Result {
    match body {
        Value::Absent | Value::Extant => Ok(()),
        Value::Record(r) if !r.attrs.is_empty() => write_record(out, r),
        _ => {
            out.write_char(' ')?;
            write_compact(out, body)
        }
    }
}

/// Prints a record: `{items}` without attributes, otherwise the attributes followed
/// by the body.
fn write_record<W: Write + ?Sized>(out: &mut W, record: &Record) -> fmt::Result {
    if record.attrs.is_empty() {
        return write_braced(out, &record.items);
    }
    for attr in &record.attrs {
        write_attr(out, attr)?;
    }
    match Body::of(&record.items) {
        Body::None => Ok(()),
        Body::Simple(v) => {
            out.write_char(' ')?;
            write_compact(out, v)
        }
        Body::Braced(items) => write_braced(out, items),
    }
}

/// What follows the attributes of a record that has some; the one rule both printers follow.
pub(super) enum Body<'a> {
    /// Nothing (no items, or one empty value).
    None,
    /// One value that is not a record, written bare: `@a 1`.
    Simple(&'a Value),
    /// The items in braces: `@a {1,2}`.
    Braced(&'a [Item]),
}

impl<'a> Body<'a> {
    /// The body for `items`.
    pub(super) fn of(items: &'a [Item]) -> Self {
        match items {
            [] => Body::None,
            [Item::ValueItem(v)] if v.is_empty_value() => Body::None,
            [Item::ValueItem(v)] if !matches!(v, Value::Record(_)) => Body::Simple(v),
            items => Body::Braced(items),
        }
    }
}

/// Prints `{` items `}`.
fn write_braced<W: Write + ?Sized>(out: &mut W, items: &[Item]) -> fmt::Result {
    out.write_char('{')?;
    write_items(out, items)?;
    out.write_char('}')
}

/// Prints items separated by `,`.
fn write_items<W: Write + ?Sized>(out: &mut W, items: &[Item]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.write_char(',')?;
        }
        match item {
            Item::ValueItem(v) => write_compact(out, v)?,
            Item::Slot(k, v) => {
                write_compact(out, k)?;
                out.write_char(':')?;
                write_compact(out, v)?;
            }
        }
    }
    Ok(())
}

/// Prints an attribute: `@name`, or `@name(arg)` when its value is not empty.
pub(crate) fn write_attr<W: Write + ?Sized>(out: &mut W, attr: &Attr) -> fmt::Result {
    out.write_char('@')?;
    write_text(out, &attr.name)?;
    let Some(arg) = Arg::of(&attr.value) else {
        return Ok(());
    };
    out.write_char('(')?;
    match arg {
        Arg::Braced(items) => write_braced(out, items)?,
        Arg::Items(items) => write_items(out, items)?,
        Arg::Value(v) => write_compact(out, v)?,
    }
    out.write_char(')')
}

/// What an attribute's parentheses hold; the one rule both printers follow.
pub(super) enum Arg<'a> {
    /// No items or one value item, in braces: `@a({})`, `@a({x})` (bare, `@a()` and `@a(x)`
    /// would read back as `Extant` and `x`).
    Braced(&'a [Item]),
    /// Several items, or a slot, bare: `@a(x:1,y)`.
    Items(&'a [Item]),
    /// Any other value: `@a(1)`, `@a(@b)`.
    Value(&'a Value),
}

impl<'a> Arg<'a> {
    /// The argument for an attribute's value; `None` when the attribute has none (`@a`).
    pub(super) fn of(value: &'a Value) -> Option<Self> {
        match value {
            Value::Absent | Value::Extant => None,
            Value::Record(r) if r.attrs.is_empty() => Some(match r.items.as_slice() {
                [] | [Item::ValueItem(_)] => Arg::Braced(&r.items),
                items => Arg::Items(items),
            }),
            v => Some(Arg::Value(v)),
        }
    }
}
