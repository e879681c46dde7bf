//! Route patterns: which node URIs an agent serves (`/rooms/:building/:room`).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

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
#[non_exhaustive]
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
    /// [`RoutePattern::node_uri`] was given no value (or an empty one) for a parameter.
    #[error("route pattern `{pattern}` needs a value for its parameter `{name}`")]
    MissingParameter {
        /// The pattern.
        pattern: String,
        /// The parameter.
        name: String,
    },
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
    /// A literal segment has a malformed percent escape (`%` not followed by two hex digits,
    /// or escapes that do not decode to UTF-8).
    #[error("route pattern `{pattern}` has a malformed percent escape in `{segment}`")]
    BadEscape {
        /// The pattern.
        pattern: String,
        /// The segment.
        segment: String,
    },
}

impl RoutePattern {
    /// Parses a pattern such as `/example/:id`. Patterns normally start with `/`; one that does
    /// not (`node`) matches only URIs that do not either. Literal segments may be
    /// percent-encoded (`/a%20b`).
    ///
    /// # Errors
    /// A [`RouteError`] says what is wrong: an empty pattern or segment, a parameter without a
    /// name or with an invalid or repeated one, or a malformed percent escape.
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
                    None => {
                        let literal =
                            percent_decode(segment).ok_or_else(|| RouteError::BadEscape {
                                pattern: pattern.to_owned(),
                                segment: segment.to_owned(),
                            })?;
                        segments.push(Segment::Literal(literal));
                    }
                }
            }
        }
        Ok(RoutePattern {
            text: pattern.to_owned(),
            absolute,
            segments,
        })
    }

    /// The route parameters of `uri` (percent-decoded), if it matches. A URI with a malformed
    /// percent escape matches nothing.
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
                    if *literal != percent_decode(part)? {
                        return None;
                    }
                }
                Segment::Parameter(name) => {
                    if part.is_empty() {
                        return None;
                    }
                    parameters.insert(name.clone(), percent_decode(part)?);
                }
            }
        }
        Some(parameters)
    }

    /// The node URI of this route with `parameters` in place of its parameters: the canonical
    /// node URI (see [`canonical_node_uri`](crate::server::canonical_node_uri)) whose
    /// [`match_uri`](Self::match_uri) gives back the same parameters, whatever characters they
    /// hold (a `/` in a value is escaped, so it stays one segment). An id taken from a route and
    /// put back this way reaches the same agent.
    ///
    /// ```
    /// use tidal_runtime::server::RoutePattern;
    ///
    /// let vehicles = RoutePattern::parse_str("/vehicle/:id").unwrap();
    /// assert_eq!(vehicles.node_uri([("id", "truck 8")]).unwrap(), "/vehicle/truck 8");
    /// let uri = vehicles.node_uri([("id", "a/b")]).unwrap();
    /// assert_eq!(uri, "/vehicle/a%2Fb");
    /// assert_eq!(vehicles.match_uri(&uri).unwrap()["id"], "a/b");
    /// ```
    ///
    /// # Errors
    /// [`RouteError::MissingParameter`] if a parameter of the pattern has no value (or an empty
    /// one) in `parameters`.
    pub fn node_uri<K, V>(
        &self,
        parameters: impl IntoIterator<Item = (K, V)>,
    ) -> Result<String, RouteError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let parameters: Vec<(K, V)> = parameters.into_iter().collect();
        let mut uri = String::with_capacity(self.text.len() + 16);
        for (index, segment) in self.segments.iter().enumerate() {
            if self.absolute || index > 0 {
                uri.push('/');
            }
            let text = match segment {
                Segment::Literal(literal) => literal.as_str(),
                Segment::Parameter(name) => parameters
                    .iter()
                    .find(|(key, _)| key.as_ref() == name)
                    .map(|(_, value)| value.as_ref())
                    .filter(|value| !value.is_empty())
                    .ok_or_else(|| RouteError::MissingParameter {
                        pattern: self.text.clone(),
                        name: name.clone(),
                    })?,
            };
            push_segment(&mut uri, text);
        }
        if uri.is_empty() && self.absolute {
            uri.push('/');
        }
        Ok(uri)
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

impl FromStr for RoutePattern {
    type Err = RouteError;

    /// The same as [`RoutePattern::parse_str`]: `"/rooms/:id".parse::<RoutePattern>()`.
    fn from_str(pattern: &str) -> Result<Self, RouteError> {
        RoutePattern::parse_str(pattern)
    }
}

impl fmt::Display for RoutePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Writes `text` as one segment of a canonical node URI: the characters that would change the
/// URI's structure (`/`, `?`, `#`, `%`) and control characters escaped, the rest as it is.
fn push_segment(uri: &mut String, text: &str) {
    for character in text.chars() {
        if matches!(character, '/' | '?' | '#' | '%') || character.is_ascii_control() {
            let _ = fmt::Write::write_fmt(uri, format_args!("%{:02X}", character as u32));
        } else {
            uri.push(character);
        }
    }
}

/// Decodes `%XX` escapes; `None` when an escape is malformed (`%` not followed by two hex
/// digits) or the decoded bytes are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let well_formed = bytes.iter().enumerate().all(|(i, byte)| {
        *byte != b'%'
            || bytes
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if !well_formed {
        return None;
    }
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .ok()
        .map(|decoded| decoded.into_owned())
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
        // Malformed escapes match nothing (`%+5` is not the byte 5).
        for bad in ["/unit/%+5", "/unit/%4", "/unit/%zz", "/unit/%", "/unit/%ff"] {
            assert!(pattern.match_uri(bad).is_none(), "{bad}");
        }
        assert_eq!(pattern.match_uri("/unit/%C3%A9").unwrap()["id"], "é");
    }

    #[test]
    fn patterns_parse_from_str() {
        let pattern: RoutePattern = "/unit/:id".parse().unwrap();
        assert_eq!(pattern, RoutePattern::parse_str("/unit/:id").unwrap());
        assert!("/a//b".parse::<RoutePattern>().is_err());
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
        assert!(matches!(
            RoutePattern::parse_str("/a%+5/b"),
            Err(RouteError::BadEscape { .. })
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
