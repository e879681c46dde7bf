//! Node URIs in one spelling (see [`canonical_node_uri`]).

use std::borrow::Cow;
use std::fmt::Write;

/// The canonical form of the node URI `uri`; borrowed when `uri` is in it already, as nearly
/// every URI is.
///
/// A node URI may reach a server spelled in many ways: `/vehicle/truck%208` and
/// `/vehicle/truck 8`, `/unit/%76` and `/unit/v`. They name one agent, so every node URI that
/// enters a server (WARP envelopes, HTTP paths, downlinks, commands from agents, the client and
/// the CLI, meta lanes) is put in its *canonical form* first, and an agent's URI is always the
/// canonical one:
///
/// - every percent escape that decodes to UTF-8 text is decoded (RFC 3986 §6.2.2.2 asks this of
///   unreserved characters; a node URI is text, so it goes further),
/// - except escapes of the characters that give a URI its structure, `/`, `?`, `#`, and of `%`
///   itself: `a%2Fb` is one path segment, `a/b` two;
/// - a `%` not followed by two hex digits is the character `%` (written `%25`); control
///   characters and bytes that are not UTF-8 are escaped; escapes are written with upper-case
///   hex digits (RFC 3986 §6.2.2.1).
///
/// Route parameters are decoded from the canonical form, so an id taken from a route and put
/// back with [`RoutePattern::node_uri`](crate::server::RoutePattern::node_uri) reaches the same
/// agent, whatever characters it holds.
///
/// ```
/// use tidal_runtime::server::canonical_node_uri;
///
/// assert_eq!(canonical_node_uri("/vehicle/truck%208"), "/vehicle/truck 8");
/// assert_eq!(canonical_node_uri("/unit/%76"), "/unit/v");
/// assert_eq!(canonical_node_uri("/vehicle/a%2fb"), "/vehicle/a%2Fb");
/// assert_eq!(canonical_node_uri("/plain/already"), "/plain/already");
/// ```
pub fn canonical_node_uri(uri: &str) -> Cow<'_, str> {
    if is_canonical(uri.as_bytes()) {
        return Cow::Borrowed(uri);
    }
    let bytes = uri.as_bytes();
    let mut out = String::with_capacity(uri.len());
    // Decoded bytes not written yet (a run of escapes may spell one multi-byte character).
    let mut run: Vec<u8> = Vec::new();
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if byte == b'%' {
            if let Some(decoded) = escaped(bytes, index) {
                index += 3;
                if is_structural(decoded) {
                    flush(&mut run, &mut out);
                    push_escape(&mut out, decoded);
                } else {
                    run.push(decoded);
                }
                continue;
            }
        }
        flush(&mut run, &mut out);
        // A character of the text as it is (a whole UTF-8 sequence: `uri` is a `str`).
        let width = utf8_width(byte);
        let character = &uri[index..index + width];
        match character.as_bytes() {
            [b'%'] => out.push_str("%25"),
            [control] if control.is_ascii_control() => push_escape(&mut out, *control),
            _ => out.push_str(character),
        }
        index += width;
    }
    flush(&mut run, &mut out);
    Cow::Owned(out)
}

/// Whether `bytes` are canonical already, as nearly every node URI is (checked without
/// allocating): no control characters, and every escape one of those that stay.
fn is_canonical(bytes: &[u8]) -> bool {
    bytes.iter().enumerate().all(|(index, byte)| match byte {
        b'%' => matches!(
            bytes.get(index + 1..index + 3),
            Some(b"2F" | b"3F" | b"23" | b"25")
        ),
        byte => !byte.is_ascii_control(),
    })
}

/// The byte that the escape at `index` of `bytes` stands for, if it is one (`%` and two hex
/// digits).
fn escaped(bytes: &[u8], index: usize) -> Option<u8> {
    let hex = |byte: u8| char::from(byte).to_digit(16);
    let high = hex(*bytes.get(index + 1)?)?;
    let low = hex(*bytes.get(index + 2)?)?;
    u8::try_from(high * 16 + low).ok()
}

/// The characters whose escapes stay escaped: decoding them would change what the URI means.
fn is_structural(byte: u8) -> bool {
    matches!(byte, b'/' | b'?' | b'#' | b'%')
}

/// Writes the decoded bytes of a run of escapes: UTF-8 text as text (control characters
/// escaped), anything else escaped.
fn flush(run: &mut Vec<u8>, out: &mut String) {
    for chunk in run.utf8_chunks() {
        for character in chunk.valid().chars() {
            match u8::try_from(character) {
                Ok(control) if control.is_ascii_control() => push_escape(out, control),
                _ => out.push(character),
            }
        }
        for byte in chunk.invalid() {
            push_escape(out, *byte);
        }
    }
    run.clear();
}

fn push_escape(out: &mut String, byte: u8) {
    let _ = write!(out, "%{byte:02X}");
}

/// The length of the UTF-8 sequence that starts with `first`.
fn utf8_width(first: u8) -> usize {
    match first {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::canonical_node_uri as canonical;

    #[test]
    fn spellings_of_one_node_have_one_canonical_form() {
        for (spellings, form) in [
            (
                &["/vehicle/truck%208", "/vehicle/truck 8"][..],
                "/vehicle/truck 8",
            ),
            (&["/unit/%76", "/unit/v", "/unit/%76"], "/unit/v"),
            (&["/a/%E2%82%AC", "/a/€", "/a/%e2%82%ac"], "/a/€"),
            (&["/v/a%2Fb", "/v/a%2fb"], "/v/a%2Fb"),
            (&["/p/50%25", "/p/50%"], "/p/50%25"),
            (&["/q/what%3F", "/q/what%3f"], "/q/what%3F"),
            (&["/c/%0A", "/c/\n"], "/c/%0A"),
            (&["/bad/%FF", "/bad/%ff"], "/bad/%FF"),
            (&["swim:meta:node/%2Fa"], "swim:meta:node/%2Fa"),
        ] {
            for spelling in spellings {
                assert_eq!(canonical(spelling), form, "{spelling:?}");
                // Canonical forms are fixed points.
                assert_eq!(canonical(form), form);
            }
        }
    }

    #[test]
    fn a_canonical_uri_is_borrowed_and_a_half_character_stays_escaped() {
        assert!(matches!(
            canonical("/plain/x"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert!(matches!(
            canonical("/p/50%25"),
            std::borrow::Cow::Borrowed(_)
        ));
        // The first byte of `€` alone is not UTF-8; the text after it is.
        assert_eq!(canonical("/a/%E2x%41"), "/a/%E2xA");
    }
}
