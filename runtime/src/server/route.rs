//! Route patterns: which node URIs an agent serves (`/rooms/:building/:room`).

use std::collections::HashMap;
use std::fmt;

/// A pattern of node URIs: `/`-separated segments, each a literal or a parameter `:name`.
///
/// A URI matches when it has the same number of segments, every literal segment is equal (after
/// percent-decoding both sides) and every parameter segment is non-empty.
///
/// ```
/// use tidal_runtime::server::RoutePattern;
///
/// let pattern = RoutePattern::parse_str("/rooms/:building/:room").unwrap();
/// let params = pattern.match_uri("/rooms/north/12").unwrap();
/// assert_eq!(params["building"], "north");
/// assert_eq!(params["room"], "12");
/// assert!(pattern.match_uri("/rooms/north").is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePattern {
    text: String,
    absolute: bool,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Parameter(String),
}

/// Why a route pattern is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The pattern is empty.
    #[error("a route pattern cannot be empty")]
    Empty,
    /// A segment is empty (`//` or a trailing `/`).
    #[error("route pattern `{0}` has an empty segment")]
    EmptySegment(String),
    /// A parameter has no name (`/:`).
    #[error("route pattern `{0}` has a parameter without a name")]
    UnnamedParameter(String),
    /// Two parameters have the same name.
    #[error("route pattern `{pattern}` names the parameter `{name}` twice")]
    DuplicateParameter {
        /// The pattern.
        pattern: String,
        /// The repeated name.
        name: String,
    },
    /// A parameter name contains characters other than letters, digits, `_` and `-`.
    #[error("route pattern `{pattern}` has an invalid parameter name `{name}`")]
    InvalidParameter {
        /// The pattern.
        pattern: String,
        /// The name.
        name: String,
    },
}

impl RoutePattern {
    /// Parses a pattern such as `/example/:id`. Patterns normally start with `/`; one that does
    /// not (`node`) matches only URIs that do not either.
    pub fn parse_str(pattern: &str) -> Result<Self, RouteError> {
        if pattern.is_empty() {
            return Err(RouteError::Empty);
        }
        let (absolute, rest) = match pattern.strip_prefix('/') {
            Some(rest) => (true, rest),
            None => (false, pattern),
        };
        let mut segments = Vec::new();
        if !rest.is_empty() {
            for segment in rest.split('/') {
                if segment.is_empty() {
                    return Err(RouteError::EmptySegment(pattern.to_owned()));
                }
                match segment.strip_prefix(':') {
                    Some("") => return Err(RouteError::UnnamedParameter(pattern.to_owned())),
                    Some(name) => {
                        if !name
                            .chars()
                            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
                        {
                            return Err(RouteError::InvalidParameter {
                                pattern: pattern.to_owned(),
                                name: name.to_owned(),
                            });
                        }
                        if segments
                            .iter()
                            .any(|s| matches!(s, Segment::Parameter(p) if p == name))
                        {
                            return Err(RouteError::DuplicateParameter {
                                pattern: pattern.to_owned(),
                                name: name.to_owned(),
                            });
                        }
                        segments.push(Segment::Parameter(name.to_owned()));
                    }
                    None => segments.push(Segment::Literal(percent_decode(segment))),
                }
            }
        }
        Ok(RoutePattern {
            text: pattern.to_owned(),
            absolute,
            segments,
        })
    }

    /// The route parameters of `uri`, if it matches.
    pub fn match_uri(&self, uri: &str) -> Option<HashMap<String, String>> {
        let rest = match uri.strip_prefix('/') {
            Some(rest) if self.absolute => rest,
            None if !self.absolute => uri,
            _ => return None,
        };
        let parts: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
        if parts.len() != self.segments.len() {
            return None;
        }
        let mut parameters = HashMap::new();
        for (segment, part) in self.segments.iter().zip(parts) {
            match segment {
                Segment::Literal(literal) => {
                    if *literal != percent_decode(part) {
                        return None;
                    }
                }
                Segment::Parameter(name) => {
                    if part.is_empty() {
                        return None;
                    }
                    parameters.insert(name.clone(), percent_decode(part));
                }
            }
        }
        Some(parameters)
    }

    /// Whether some URI matches both patterns (the server refuses such pairs).
    pub fn overlaps(&self, other: &RoutePattern) -> bool {
        self.absolute == other.absolute
            && self.segments.len() == other.segments.len()
            && self
                .segments
                .iter()
                .zip(&other.segments)
                .all(|pair| match pair {
                    (Segment::Literal(a), Segment::Literal(b)) => a == b,
                    _ => true,
                })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for RoutePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Decodes `%XX` escapes; anything that is not a valid escape is kept as it is.
fn percent_decode(text: &str) -> String {
    if !text.contains('%') {
        return text.to_owned();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_parameters_match_segment_by_segment() {
        let pattern = RoutePattern::parse_str("/unit/:id").unwrap();
        assert_eq!(pattern.match_uri("/unit/a").unwrap()["id"], "a");
        assert_eq!(pattern.match_uri("/unit/%41b").unwrap()["id"], "Ab");
        assert_eq!(pattern.match_uri("/unit/x?y=1").unwrap()["id"], "x?y=1");
        for miss in [
            "/unit/a/b",
            "unit/x",
            "/unit/x/",
            "/unit/",
            "/unit",
            "http://h/unit/x",
            "/other/x",
        ] {
            assert!(pattern.match_uri(miss).is_none(), "{miss}");
        }
        let relative = RoutePattern::parse_str("node").unwrap();
        assert!(relative.match_uri("node").is_some());
        assert!(relative.match_uri("/node").is_none());
        assert!(pattern.match_uri("unit/a").is_none());
        let literal = RoutePattern::parse_str("/a%20b/c").unwrap();
        assert!(literal.match_uri("/a b/c").is_some());
        assert!(literal.match_uri("/a%20b/c").is_some());
    }

    #[test]
    fn invalid_patterns_are_refused() {
        assert!(matches!(
            RoutePattern::parse_str(""),
            Err(RouteError::Empty)
        ));
        assert!(matches!(
            RoutePattern::parse_str("/a//b"),
            Err(RouteError::EmptySegment(_))
        ));
        assert!(matches!(
            RoutePattern::parse_str("/a/"),
            Err(RouteError::EmptySegment(_))
        ));
        assert!(matches!(
            RoutePattern::parse_str("/a/:"),
            Err(RouteError::UnnamedParameter(_))
        ));
        assert!(matches!(
            RoutePattern::parse_str("/:id/:id"),
            Err(RouteError::DuplicateParameter { .. })
        ));
        assert!(matches!(
            RoutePattern::parse_str("/example/:name}"),
            Err(RouteError::InvalidParameter { .. })
        ));
    }

    #[test]
    fn overlapping_patterns_are_detected() {
        let p = |s| RoutePattern::parse_str(s).unwrap();
        assert!(p("/node").overlaps(&p("/:id")));
        assert!(p("/a/:x").overlaps(&p("/:y/b")));
        assert!(!p("/a/:x").overlaps(&p("/b/:x")));
        assert!(!p("/a").overlaps(&p("/a/b")));
        assert!(!p("/a").overlaps(&p("a")));
    }
}
