//! Error types: [`ParseError`] for malformed Recon text and [`Error`] for the serde layer.

use std::fmt;

/// A syntax error found while parsing Recon text.
///
/// `offset` is a byte offset into the input; `line` and `column` are 1-based, and
/// `column` counts characters (not bytes) from the start of the line.
///
/// The `Display` form reads like `line 1, column 7: expected a value, found '}'`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: expected {expected}, found {found}")]
pub struct ParseError {
    /// Byte offset of the offending input.
    pub offset: usize,
    /// 1-based line number of the offending input.
    pub line: usize,
    /// 1-based column (in characters) of the offending input.
    pub column: usize,
    /// What the parser was looking for, e.g. `a value` or `',', ';', a newline or '}'`.
    pub expected: String,
    /// What it found instead, e.g. `'}'` or `end of input`.
    pub found: String,
}

impl ParseError {
    /// Builds an error at byte `offset` of `input`, computing the line and column.
    ///
    /// An offset past the end of `input`, or inside a multi-byte character, is clamped
    /// to the nearest valid position before it.
    pub fn at(
        input: &str,
        offset: usize,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        let mut offset = offset.min(input.len());
        while !input.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &input[..offset];
        let line = before.bytes().filter(|b| *b == b'\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = input[line_start..offset].chars().count() + 1;
        ParseError {
            offset,
            line,
            column,
            expected: expected.into(),
            found: found.into(),
        }
    }
}

/// An error from the serde layer ([`to_string`](crate::recon::to_string),
/// [`from_str`](crate::recon::from_str), ...).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input text is not valid Recon.
    #[error("invalid Recon: {0}")]
    Parse(#[from] ParseError),
    /// The value does not fit the requested type, or a `Serialize`/`Deserialize`
    /// implementation reported an error.
    #[error("{0}")]
    Message(String),
}

impl serde::ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::Message(msg.to_string())
    }
}

impl serde::de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::Message(msg.to_string())
    }
}
