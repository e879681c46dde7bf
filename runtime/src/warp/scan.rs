//! Reading envelopes fast: [`Envelope::scan`], a scanner over the frame's bytes for the
//! header's common spellings, which borrows `node` and `lane` from the frame and parses only
//! the body as Recon. Whatever it does not recognise goes to [`Envelope::parse`], so both give
//! the same answer for every input (a fuzz target checks it).

use std::borrow::Cow;

use crate::recon::{parse_body, Value};

use super::envelope::{Envelope, EnvelopeKind};
use super::error::EnvelopeError;

/// An envelope whose `node` and `lane` may borrow from the frame it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvelopeRef<'a> {
    /// The kind (the tag).
    pub kind: EnvelopeKind,
    /// The node URI, as written; empty for the host-addressed kinds.
    pub node: Cow<'a, str>,
    /// The lane URI; empty for the host-addressed kinds.
    pub lane: Cow<'a, str>,
    /// The `prio` slot, if present.
    pub prio: Option<f32>,
    /// The `rate` slot, if present.
    pub rate: Option<f32>,
    /// The body, [`Value::Absent`] when the envelope has none.
    pub body: Value,
}

impl EnvelopeRef<'_> {
    /// The envelope, owning its strings.
    pub fn into_owned(self) -> Envelope {
        Envelope {
            kind: self.kind,
            node: self.node.into_owned(),
            lane: self.lane.into_owned(),
            prio: self.prio,
            rate: self.rate,
            body: self.body,
        }
    }
}

impl From<Envelope> for EnvelopeRef<'static> {
    fn from(envelope: Envelope) -> Self {
        EnvelopeRef {
            kind: envelope.kind,
            node: Cow::Owned(envelope.node),
            lane: Cow::Owned(envelope.lane),
            prio: envelope.prio,
            rate: envelope.rate,
            body: envelope.body,
        }
    }
}

impl Envelope {
    /// Reads one envelope from the text of a WebSocket frame, as [`Envelope::parse`] does
    /// (the same envelope, or the same error, for every input), faster: the header of the
    /// usual spelling (`@command(node:"/unit/a",lane:add) 5`, slots `node` and `lane` as
    /// quoted strings without escapes or as identifiers, separated by commas and spaces) is
    /// scanned byte by byte, `node` and `lane` are borrowed from `text`, and only the body is
    /// parsed as Recon. Any other spelling is handed to [`Envelope::parse`].
    ///
    /// # Errors
    /// As [`Envelope::parse`].
    ///
    /// ```
    /// use tidal_runtime::warp::{Envelope, EnvelopeKind};
    /// let env = Envelope::scan("@command(node:\"/unit/a\",lane:add) 5").unwrap();
    /// assert_eq!((env.kind, &*env.node, &*env.lane), (EnvelopeKind::Command, "/unit/a", "add"));
    /// assert_eq!(env.body.as_i64(), Some(5));
    /// ```
    pub fn scan(text: &str) -> Result<EnvelopeRef<'_>, EnvelopeError> {
        match scan_fast(text) {
            Some(envelope) => Ok(envelope),
            None => Envelope::parse(text).map(EnvelopeRef::from),
        }
    }
}

/// The fast path: `None` for anything it does not recognise.
fn scan_fast(text: &str) -> Option<EnvelopeRef<'_>> {
    let bytes = text.as_bytes();
    if bytes.first() != Some(&b'@') {
        return None;
    }
    let mut at = 1;
    let tag = ident(text, &mut at)?;
    let kind = EnvelopeKind::from_tag(tag)?;
    if kind.is_host_addressed() || bytes.get(at) != Some(&b'(') {
        return None;
    }
    at += 1;
    let (mut node, mut lane) = (None, None);
    loop {
        spaces(bytes, &mut at);
        let slot = ident(text, &mut at)?;
        spaces(bytes, &mut at);
        if bytes.get(at) != Some(&b':') {
            return None;
        }
        at += 1;
        spaces(bytes, &mut at);
        let value = slot_text(text, &mut at)?;
        let target = match slot {
            "node" => &mut node,
            "lane" => &mut lane,
            _ => return None,
        };
        if target.replace(value).is_some() {
            return None;
        }
        spaces(bytes, &mut at);
        match bytes.get(at) {
            Some(b',') => at += 1,
            Some(b')') => {
                at += 1;
                break;
            }
            _ => return None,
        }
    }
    let rest = &text[at..];
    let body = match scalar_body(rest) {
        Some(body) => body,
        None => parse_body(rest).ok()?,
    };
    Some(EnvelopeRef {
        kind,
        node: Cow::Borrowed(node?),
        lane: Cow::Borrowed(lane?),
        prio: None,
        rate: None,
        body,
    })
}

/// The most common bodies without the Recon parser: nothing, or a decimal integer of at most
/// 18 digits (so it fits in `i64`) after optional spaces, with nothing after it.
fn scalar_body(rest: &str) -> Option<Value> {
    let bytes = rest.trim_start_matches(' ').as_bytes();
    let (negative, digits) = match bytes {
        [] => return rest.is_empty().then_some(Value::Absent),
        [b'-', digits @ ..] => (true, digits),
        digits => (false, digits),
    };
    let leading_zero = digits.first() == Some(&b'0') && (negative || digits.len() > 1);
    if digits.is_empty() || digits.len() > 18 || leading_zero {
        return None;
    }
    let mut n: i64 = 0;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(digit - b'0');
    }
    Some(Value::Int(if negative { -n } else { n }))
}

/// Skips spaces.
fn spaces(bytes: &[u8], at: &mut usize) {
    while bytes.get(*at) == Some(&b' ') {
        *at += 1;
    }
}

/// An ASCII identifier at `at` (followed by something that cannot continue it).
fn ident<'a>(text: &'a str, at: &mut usize) -> Option<&'a str> {
    let bytes = text.as_bytes();
    let start = *at;
    let first = *bytes.get(start)?;
    if !(first.is_ascii_alphabetic() || first == b'_') {
        return None;
    }
    let mut end = start + 1;
    while let Some(&byte) = bytes.get(end) {
        if byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-' {
            end += 1;
        } else if byte.is_ascii() {
            break;
        } else {
            // A non-ASCII character may continue a Recon identifier: the parser decides.
            return None;
        }
    }
    *at = end;
    text.get(start..end)
}

/// The text of a `node` or `lane` slot: a quoted string without escapes, or an identifier
/// other than `true` and `false` (which are booleans).
fn slot_text<'a>(text: &'a str, at: &mut usize) -> Option<&'a str> {
    let bytes = text.as_bytes();
    if bytes.get(*at) == Some(&b'"') {
        let start = *at + 1;
        let length = bytes[start..]
            .iter()
            .position(|&b| b == b'"' || b == b'\\')?;
        if bytes[start + length] != b'"' {
            return None;
        }
        *at = start + length + 1;
        return text.get(start..start + length);
    }
    let word = ident(text, at)?;
    (word != "true" && word != "false").then_some(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scanner and the parser agree, and the fast path took `fast` of them.
    fn agree(text: &str, fast: bool) {
        assert_eq!(scan_fast(text).is_some(), fast, "fast path for {text:?}");
        assert_eq!(
            Envelope::scan(text).map(EnvelopeRef::into_owned),
            Envelope::parse(text),
            "{text:?}"
        );
    }

    #[test]
    fn the_usual_spellings_take_the_fast_path_and_agree_with_the_parser() {
        for text in [
            r#"@command(node:"/unit/a",lane:add) 5"#,
            r#"@command(node:"/unit/a",lane:add)5"#,
            r#"@command(lane:add,node:"/unit/a") {5}"#,
            r#"@command(node: "/unit/rs", lane: "add") "text""#,
            r#"@event(node:"/unit/a",lane:map)@update(key:k) 1"#,
            r#"@link(node:"/unit/a",lane:value)"#,
            r#"@sync(node:"/unit/a",lane:value)   "#,
            r#"@unlinked(node:"/a",lane:b)@nodeNotFound"#,
        ] {
            agree(text, true);
        }
    }

    #[test]
    fn integer_bodies_read_without_the_parser_agree_with_it() {
        for body in [
            "5",
            "-17",
            "0",
            "123456789012345678",
            "-123456789012345678",
            "1234567890123456789",
            "007",
            "-0",
            "5 ",
            " 5",
            "5.5",
            "5x",
            "-",
            "--5",
            "5\n",
            "",
        ] {
            let text = format!(r#"@command(node:"/unit/a",lane:add) {body}"#);
            assert_eq!(
                Envelope::scan(&text).map(EnvelopeRef::into_owned),
                Envelope::parse(&text),
                "{text:?}"
            );
        }
        assert_eq!(scalar_body(" -17"), Some(Value::Int(-17)));
        assert_eq!(scalar_body("007"), None);
        assert_eq!(scalar_body("1234567890123456789"), None);
    }

    #[test]
    fn other_spellings_and_bad_input_go_to_the_parser() {
        for text in [
            r#"@link(node:"/unit/a",lane:value,prio:2)"#,
            r#"@command(node:"/a\"b",lane:add) 5"#,
            r#"@command(node:"/a",lane:true) 5"#,
            r#"@command(node:"/a",node:"/b",lane:c)"#,
            r#"@command(node:"/a") 5"#,
            r#"@command(node:"/a",lane:c,x:1)"#,
            r#"@command(node:"/a";lane:c)"#,
            r#" @command(node:"/a",lane:c)"#,
            r#"@command(node:"/a",lane:c) {"#,
            r#"@nope(node:"/a",lane:c)"#,
            "@auth",
            r#"@command(node:"/a",lane:é) 1"#,
            "",
            "@",
            "@command(",
        ] {
            agree(text, false);
        }
    }
}
