//! Lexical rules shared by the parser and the printers: identifiers, text literals,
//! numbers and data.

use std::fmt::{self, Write};

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Whether `c` may start an identifier when reading: an ASCII letter, `_`, any
/// Unicode letter, or a character of the Java/swim-rust name-start ranges.
pub fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic()
        || c == '_'
        || (!c.is_ascii() && (c.is_alphabetic() || is_swim_start(c)))
}

/// Whether `c` may continue an identifier when reading: a letter, a digit, `_`, `-`, or
/// a character of the Java/swim-rust name ranges.
pub fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || c == '_'
        || c == '-'
        || (!c.is_ascii() && (c.is_alphanumeric() || is_swim_start(c)))
}

/// The non-ASCII identifier characters of swim-rust (and of Java Recon).
fn is_swim_start(c: char) -> bool {
    matches!(c,
        '\u{b7}'
        | '\u{c0}'..='\u{d6}'
        | '\u{d8}'..='\u{f6}'
        | '\u{f8}'..='\u{37d}'
        | '\u{37f}'..='\u{1fff}'
        | '\u{200c}'..='\u{200d}'
        | '\u{203f}'..='\u{2040}'
        | '\u{2070}'..='\u{218f}'
        | '\u{2c00}'..='\u{2fef}'
        | '\u{3001}'..='\u{d7ff}'
        | '\u{f900}'..='\u{fdcf}'
        | '\u{fdf0}'..='\u{fffd}'
        | '\u{10000}'..='\u{effff}')
}

/// Whether `s` is a Recon identifier *for printing*, i.e. prints without quotes.
///
/// This is stricter than what the parser reads as an identifier: every character must
/// be an identifier character both by the Unicode letter/digit rule and by the
/// swim-rust ranges (so swim-rust and Java read it back as the same identifier).
/// `true` and `false` have the shape of identifiers but are booleans, so they are
/// *not* identifiers here: text with those contents is always quoted.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    let first_ok = match chars.next() {
        Some(c) if c.is_ascii() => c.is_ascii_alphabetic() || c == '_',
        Some(c) => c.is_alphabetic() && is_swim_start(c),
        None => false,
    };
    first_ok
        && chars.all(|c| {
            if c.is_ascii() {
                c.is_ascii_alphanumeric() || c == '_' || c == '-'
            } else {
                c.is_alphanumeric() && is_swim_start(c)
            }
        })
        && s != "true"
        && s != "false"
}

/// Writes `s` as a Recon text literal: bare when it is an identifier, otherwise quoted
/// with `"` and `\` escaped, and control characters written as `\b \f \n \r \t` or
/// `\uXXXX`.
///
/// # Errors
/// Only when `out` fails (writing to a `String` never does).
pub fn write_text<W: Write + ?Sized>(out: &mut W, s: &str) -> fmt::Result {
    if is_identifier(s) {
        out.write_str(s)
    } else {
        write_quoted(out, s)
    }
}

/// Writes `s` quoted and escaped, whether or not it is an identifier.
///
/// # Errors
/// Only when `out` fails (writing to a `String` never does).
pub fn write_quoted<W: Write + ?Sized>(out: &mut W, s: &str) -> fmt::Result {
    out.write_char('"')?;
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f | 0x7f => "",
            _ => continue,
        };
        out.write_str(&s[start..i])?;
        if escape.is_empty() {
            write!(out, "\\u{:04x}", b)?;
        } else {
            out.write_str(escape)?;
        }
        start = i + 1;
    }
    out.write_str(&s[start..])?;
    out.write_char('"')
}

/// Writes a float so that it re-parses as a float: always with a decimal point or an
/// exponent (`1000.0`, `2.5`, `6.02e23`, `1e-7`), using the shortest representation
/// that round-trips.
///
/// Non-finite values have no Recon literal. They are written as the text `inf`,
/// `"-inf"` and `nan`, which re-parse as text; the serde layer reads those texts
/// back as floats.
///
/// # Errors
/// Only when `out` fails (writing to a `String` never does).
pub fn write_float<W: Write + ?Sized>(out: &mut W, f: f64) -> fmt::Result {
    if f.is_nan() {
        out.write_str("nan")
    } else if f.is_infinite() {
        out.write_str(if f > 0.0 { "inf" } else { "\"-inf\"" })
    } else {
        // `{:?}` is the shortest round-trip form and always has a '.' or an 'e'.
        write!(out, "{:?}", f)
    }
}

/// Writes an `f32` with its own shortest round-trip form (so `1.1f32` prints `1.1`).
///
/// # Errors
/// Only when `out` fails (writing to a `String` never does).
pub fn write_f32<W: Write + ?Sized>(out: &mut W, f: f32) -> fmt::Result {
    if f.is_finite() {
        write!(out, "{:?}", f)
    } else {
        write_float(out, f64::from(f))
    }
}

/// Converts an `f32` to the `f64` with the same shortest decimal form
/// (`1.1f32` becomes `1.1f64`, not `1.100000023841858`).
pub fn f32_to_f64(f: f32) -> f64 {
    if !f.is_finite() {
        return f64::from(f);
    }
    let mut buf = StackBuf::default();
    match write!(buf, "{:?}", f) {
        Ok(()) => buf.as_str().parse().unwrap_or(f64::from(f)),
        Err(_) => f64::from(f),
    }
}

/// Writes binary data as `%` followed by standard, padded base64.
///
/// # Errors
/// Only when `out` fails (writing to a `String` never does).
pub fn write_data<W: Write + ?Sized>(out: &mut W, data: &[u8]) -> fmt::Result {
    out.write_char('%')?;
    write!(
        out,
        "{}",
        base64::display::Base64Display::new(data, &base64::engine::general_purpose::STANDARD)
    )
}

/// The base64 engine used to read `%...` literals: standard alphabet, padding optional,
/// non-zero trailing bits tolerated.
pub(crate) const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// A small fixed buffer implementing `fmt::Write`, for formatting numbers without
/// allocating.
#[derive(Default)]
pub(crate) struct StackBuf {
    buf: [u8; 32],
    len: usize,
}

impl StackBuf {
    /// The text written so far.
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl Write for StackBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}
