//! The pretty printer: spaced, indented Recon for people to read.
//!
//! Small flat records stay on one line with spaces (`{ 1, 2, 3 }`,
//! `@point { x: 1, y: 2 }`); records holding other records, or too long for one line,
//! are written one item per line with two-space indentation:
//!
//! ```text
//! @config {
//!   name: "tidal agent",
//!   limits: { read: 10, write: 20 }
//! }
//! ```
//!
//! The output parses back to the same value as the compact form.

use std::fmt::{self, Write};

use super::lexical::write_text;
use super::printer::{write_compact, Arg, Body};
use super::record::{Attr, Item, Record};
use super::value::Value;

/// Records whose one-line form is longer than this many characters are split.
const LINE_WIDTH: usize = 80;

/// Prints `value` in pretty form into a new `String`.
pub fn to_string_pretty(value: &Value) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = write_pretty(&mut out, value);
    out
}

/// Prints `value` in pretty form into `out`.
///
/// # Errors
/// Only when `out` fails (writing to a `String` never does).
pub fn write_pretty<W: Write + ?Sized>(out: &mut W, value: &Value) -> fmt::Result {
    block_value(out, value, 0)
}

/// A value that may span several lines, its closing brace at `indent` levels.
fn block_value<W: Write + ?Sized>(out: &mut W, value: &Value, indent: usize) -> fmt::Result {
    match value {
        Value::Record(r) => block_record(out, r, indent),
        other => write_compact(out, other),
    }
}

fn block_record<W: Write + ?Sized>(out: &mut W, record: &Record, indent: usize) -> fmt::Result {
    write_record(out, record, |out, items| block_braced(out, items, indent))
}

/// A record: its items as `braced` prints them, after its attributes if it has some.
fn write_record<W: Write + ?Sized>(
    out: &mut W,
    record: &Record,
    braced: impl FnOnce(&mut W, &[Item]) -> fmt::Result,
) -> fmt::Result {
    if record.attrs.is_empty() {
        return braced(out, &record.items);
    }
    write_attrs(out, &record.attrs)?;
    match Body::of(&record.items) {
        Body::None => Ok(()),
        Body::Simple(v) => {
            out.write_char(' ')?;
            write_compact(out, v)
        }
        Body::Braced(items) => {
            out.write_char(' ')?;
            braced(out, items)
        }
    }
}

fn block_braced<W: Write + ?Sized>(out: &mut W, items: &[Item], indent: usize) -> fmt::Result {
    if fits_on_line(items, indent) {
        return inline_braced(out, items);
    }
    out.write_char('{')?;
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.write_char(',')?;
        }
        out.write_char('\n')?;
        write_indent(out, indent + 1)?;
        match item {
            Item::ValueItem(v) => block_value(out, v, indent + 1)?,
            Item::Slot(k, v) => {
                inline_value(out, k)?;
                out.write_char(':')?;
                if !v.is_empty_value() {
                    out.write_char(' ')?;
                    block_value(out, v, indent + 1)?;
                }
            }
        }
    }
    out.write_char('\n')?;
    write_indent(out, indent)?;
    out.write_char('}')
}

fn write_indent<W: Write + ?Sized>(out: &mut W, indent: usize) -> fmt::Result {
    for _ in 0..indent {
        out.write_str("  ")?;
    }
    Ok(())
}

/// Whether the items hold no records and their one-line form fits the line width.
fn fits_on_line(items: &[Item], indent: usize) -> bool {
    let flat = items.iter().all(|item| match item {
        Item::ValueItem(v) => !matches!(v, Value::Record(_)),
        Item::Slot(k, v) => !matches!(k, Value::Record(_)) && !matches!(v, Value::Record(_)),
    });
    if !flat {
        return false;
    }
    let mut counter = Counter {
        left: LINE_WIDTH.saturating_sub(2 * indent),
    };
    inline_braced(&mut counter, items).is_ok()
}

/// A writer that only counts, and fails once its budget is spent.
struct Counter {
    left: usize,
}

impl Write for Counter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let n = s.chars().count();
        if n > self.left {
            return Err(fmt::Error);
        }
        self.left -= n;
        Ok(())
    }
}

/// A value on one line, with spaces: `{ a: 1, b: 2 }`, `@tag(x: 1) 2`.
fn inline_value<W: Write + ?Sized>(out: &mut W, value: &Value) -> fmt::Result {
    match value {
        Value::Record(r) => write_record(out, r, inline_braced),
        other => write_compact(out, other),
    }
}

fn inline_braced<W: Write + ?Sized>(out: &mut W, items: &[Item]) -> fmt::Result {
    if items.is_empty() {
        return out.write_str("{}");
    }
    out.write_str("{ ")?;
    inline_items(out, items)?;
    out.write_str(" }")
}

fn inline_items<W: Write + ?Sized>(out: &mut W, items: &[Item]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.write_str(", ")?;
        }
        match item {
            Item::ValueItem(v) => inline_value(out, v)?,
            Item::Slot(k, v) => {
                inline_value(out, k)?;
                out.write_char(':')?;
                if !v.is_empty_value() {
                    out.write_char(' ')?;
                    inline_value(out, v)?;
                }
            }
        }
    }
    Ok(())
}

/// Attributes separated by single spaces: `@a @b(1)`.
fn write_attrs<W: Write + ?Sized>(out: &mut W, attrs: &[Attr]) -> fmt::Result {
    for (i, attr) in attrs.iter().enumerate() {
        if i > 0 {
            out.write_char(' ')?;
        }
        out.write_char('@')?;
        write_text(out, &attr.name)?;
        if let Some(arg) = Arg::of(&attr.value) {
            out.write_char('(')?;
            match arg {
                Arg::Braced(items) => inline_braced(out, items)?,
                Arg::Items(items) => inline_items(out, items)?,
                Arg::Value(v) => inline_value(out, v)?,
            }
            out.write_char(')')?;
        }
    }
    Ok(())
}
