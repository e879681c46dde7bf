//! Token-level reading for the parser: whitespace, comments, identifiers, text
//! literals, numbers and data.

use base64::Engine;
use num_bigint::{BigInt, BigUint, Sign};

use super::error::ParseError;
use super::lexical::{is_ident_char, is_ident_start, LENIENT_BASE64};
use super::parser::{PResult, Parser};
use super::value::Value;

/// Integer literals longer than this many digits are refused, so that converting them
/// to big integers (quadratic in the number of digits) stays cheap.
pub const MAX_INT_DIGITS: usize = 2048;

impl<'a> Parser<'a> {
    /// The byte at the cursor.
    pub(super) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// The byte `n` bytes after the cursor.
    pub(super) fn peek_at(&self, n: usize) -> Option<u8> {
        self.bytes.get(self.pos + n).copied()
    }

    /// The character at the cursor.
    pub(super) fn peek_char(&self) -> Option<char> {
        self.src.get(self.pos..).and_then(|s| s.chars().next())
    }

    /// Describes what is at `pos`, for error messages: `'}'` or `end of input`.
    pub(super) fn describe_at(&self, pos: usize) -> String {
        match self.src.get(pos..).and_then(|s| s.chars().next()) {
            Some(c) => format!("{:?}", c),
            None => "end of input".to_owned(),
        }
    }

    /// An error at the cursor: expected `expected`, found whatever is there.
    pub(super) fn err(&self, expected: impl Into<String>) -> Box<ParseError> {
        self.err_at(self.pos, expected)
    }

    /// An error at `pos`: expected `expected`, found whatever is there.
    pub(super) fn err_at(&self, pos: usize, expected: impl Into<String>) -> Box<ParseError> {
        Box::new(ParseError::at(
            self.src,
            pos,
            expected,
            self.describe_at(pos),
        ))
    }

    /// Skips spaces, tabs, carriage returns and comments, but not newlines.
    pub(super) fn skip_space(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'#' => self.skip_comment(),
                _ => break,
            }
        }
    }

    /// Skips whitespace including newlines, and comments.
    pub(super) fn skip_ws_nl(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => self.pos += 1,
                b'#' => self.skip_comment(),
                _ => break,
            }
        }
    }

    /// Skips a `#` comment up to, not including, the end of the line.
    fn skip_comment(&mut self) {
        let rest = &self.bytes[self.pos.min(self.bytes.len())..];
        self.pos += rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
    }

    /// Reads an identifier at the cursor, if there is one.
    pub(super) fn parse_identifier(&mut self) -> Option<&'a str> {
        let src: &'a str = self.src;
        let rest = src.get(self.pos..)?;
        let mut chars = rest.char_indices();
        match chars.next() {
            Some((_, c)) if is_ident_start(c) => {}
            _ => return None,
        }
        let end = chars
            .find(|(_, c)| !is_ident_char(*c))
            .map_or(rest.len(), |(i, _)| i);
        self.pos += end;
        rest.get(..end)
    }

    /// Reads a quoted text literal; the cursor is on the opening `"`.
    pub(super) fn parse_string(&mut self) -> PResult<String> {
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let rest = &self.bytes[self.pos.min(self.bytes.len())..];
            let Some(i) = rest.iter().position(|b| *b == b'"' || *b == b'\\') else {
                let msg = format!("'\"' to close the text opened at byte {}", open);
                self.pos = self.bytes.len();
                return Err(self.err(msg));
            };
            out.push_str(self.src.get(self.pos..self.pos + i).unwrap_or(""));
            self.pos += i;
            if self.peek() == Some(b'"') {
                self.pos += 1;
                return Ok(out);
            }
            self.pos += 1; // the backslash
            let c = match self.peek() {
                Some(b'"') => '"',
                Some(b'\\') => '\\',
                Some(b'/') => '/',
                Some(b'b') => '\u{8}',
                Some(b'f') => '\u{c}',
                Some(b'n') => '\n',
                Some(b'r') => '\r',
                Some(b't') => '\t',
                Some(b'@') => '@',
                Some(b'{') => '{',
                Some(b'}') => '}',
                Some(b'[') => '[',
                Some(b']') => ']',
                Some(b'u') => {
                    out.push(self.parse_unicode_escape()?);
                    continue;
                }
                _ => {
                    return Err(
                        self.err("an escape character (one of \" \\ / b f n r t u @ { } [ ])")
                    )
                }
            };
            self.pos += 1;
            out.push(c);
        }
    }

    /// Reads the `uXXXX` part of a `\uXXXX` escape (and a following low surrogate
    /// escape when the first one is a high surrogate).
    fn parse_unicode_escape(&mut self) -> PResult<char> {
        let start = self.pos - 1;
        self.pos += 1; // 'u'
        let high = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&high) {
            if self.peek() != Some(b'\\') || self.peek_at(1) != Some(b'u') {
                return Err(self.err("'\\u' starting the low half of a surrogate pair"));
            }
            self.pos += 2;
            let low_pos = self.pos;
            let low = self.hex4()?;
            if !(0xDC00..0xE000).contains(&low) {
                return Err(self.err_at(low_pos, "a low surrogate (DC00 to DFFF)"));
            }
            0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
        } else {
            high
        };
        char::from_u32(code).ok_or_else(|| self.err_at(start, "a valid unicode escape"))
    }

    /// Reads exactly four hex digits.
    fn hex4(&mut self) -> PResult<u32> {
        let mut code = 0u32;
        for _ in 0..4 {
            let digit = self
                .peek()
                .and_then(|b| (b as char).to_digit(16))
                .ok_or_else(|| self.err("a hex digit"))?;
            code = code * 16 + digit;
            self.pos += 1;
        }
        Ok(code)
    }

    /// Advances over bytes matching `pred`, returning how many there were.
    fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> usize {
        let start = self.pos;
        while self.peek().is_some_and(&pred) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// Reads a number: decimal, hex (`0x`), binary (`0b`) or float, optionally negative.
    pub(super) fn parse_number(&mut self) -> PResult<Value> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        let radix = match (self.peek(), self.peek_at(1)) {
            (Some(b'0'), Some(b'x' | b'X')) => 16,
            (Some(b'0'), Some(b'b' | b'B')) => 2,
            (Some(b'0'..=b'9'), _) => 10,
            _ => return Err(self.err("a digit")),
        };
        if radix != 10 {
            self.pos += 2;
            let digits_start = self.pos;
            let n = if radix == 16 {
                self.take_while(|b| b.is_ascii_hexdigit())
            } else {
                self.take_while(|b| b == b'0' || b == b'1')
            };
            if n == 0 {
                let what = if radix == 16 {
                    "a hex digit"
                } else {
                    "a binary digit"
                };
                return Err(self.err(what));
            }
            return self.int_value(digits_start, radix, negative);
        }
        let digits_start = self.pos;
        self.take_while(|b| b.is_ascii_digit());
        let digits_end = self.pos;
        let mut is_float = false;
        if self.peek() == Some(b'.') {
            if !self.peek_at(1).is_some_and(|b| b.is_ascii_digit()) {
                return Err(self.err_at(self.pos + 1, "a digit after '.'"));
            }
            self.pos += 1;
            self.take_while(|b| b.is_ascii_digit());
            is_float = true;
        }
        if let Some(b'e' | b'E') = self.peek() {
            let save = self.pos;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.take_while(|b| b.is_ascii_digit()) > 0 {
                is_float = true;
            } else {
                self.pos = save;
            }
        }
        if is_float {
            let text = self.src.get(start..self.pos).unwrap_or("");
            return match text.parse::<f64>() {
                Ok(f) if f.is_finite() => Ok(Value::Float(f)),
                _ => Err(Box::new(ParseError::at(
                    self.src,
                    start,
                    "a float within the range of f64",
                    format!("{:?}", text),
                ))),
            };
        }
        self.pos = digits_end;
        self.int_value(digits_start, 10, negative)
    }

    /// Converts the digits between `digits_start` and the cursor to a normalised int.
    fn int_value(&self, digits_start: usize, radix: u32, negative: bool) -> PResult<Value> {
        let digits = self.src.get(digits_start..self.pos).unwrap_or("");
        if digits.len() > MAX_INT_DIGITS {
            return Err(Box::new(ParseError::at(
                self.src,
                digits_start,
                format!("an integer of at most {} digits", MAX_INT_DIGITS),
                format!("{} digits", digits.len()),
            )));
        }
        if let Ok(m) = u64::from_str_radix(digits, radix) {
            return Ok(if !negative {
                Value::from_u64(m)
            } else if m <= (i64::MAX as u64) + 1 {
                Value::Int((m as i64).wrapping_neg())
            } else {
                Value::BigInt(-BigInt::from(m))
            });
        }
        let magnitude = BigUint::parse_bytes(digits.as_bytes(), radix)
            .ok_or_else(|| self.err_at(digits_start, "digits"))?;
        let sign = if negative { Sign::Minus } else { Sign::Plus };
        Ok(Value::from_bigint(BigInt::from_biguint(sign, magnitude)))
    }

    /// Reads a `%base64` data literal; the cursor is on the `%`.
    pub(super) fn parse_data(&mut self) -> PResult<Value> {
        let start = self.pos;
        self.pos += 1;
        let body_start = self.pos;
        self.take_while(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
        self.take_while(|b| b == b'=');
        let body = self.src.get(body_start..self.pos).unwrap_or("");
        LENIENT_BASE64.decode(body).map(Value::Data).map_err(|_| {
            let shown: String = body.chars().take(40).collect();
            Box::new(ParseError::at(
                self.src,
                start,
                "valid base64 data after '%'",
                format!("%{}", shown),
            ))
        })
    }
}
