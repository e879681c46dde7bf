//! Case conventions for renaming lanes (`convention = "camel"`).

/// A naming convention for the external names of lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Convention {
    CamelLower,
    CamelUpper,
    SnakeLower,
    SnakeUpper,
    KebabLower,
    KebabUpper,
}

/// The names accepted in `convention = "..."`.
pub(crate) const CONVENTIONS: &str =
    "\"camel\", \"camel-upper\", \"snake\", \"snake-upper\", \"kebab\", \"kebab-upper\"";

impl Convention {
    pub(crate) fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "camel" | "camel-lower" => Convention::CamelLower,
            "camel-upper" | "pascal" => Convention::CamelUpper,
            "snake" | "snake-lower" => Convention::SnakeLower,
            "snake-upper" => Convention::SnakeUpper,
            "kebab" | "kebab-lower" => Convention::KebabLower,
            "kebab-upper" => Convention::KebabUpper,
            _ => return None,
        })
    }

    /// Renames a Rust identifier (usually snake_case) in this convention.
    pub(crate) fn apply(self, ident: &str) -> String {
        let words = words(ident);
        match self {
            Convention::CamelLower | Convention::CamelUpper => {
                let mut out = String::new();
                for (i, word) in words.iter().enumerate() {
                    if i == 0 && self == Convention::CamelLower {
                        out.push_str(&word.to_lowercase());
                    } else {
                        let mut chars = word.chars();
                        if let Some(first) = chars.next() {
                            out.extend(first.to_uppercase());
                            out.push_str(&chars.as_str().to_lowercase());
                        }
                    }
                }
                out
            }
            Convention::SnakeLower => join(&words, "_", false),
            Convention::SnakeUpper => join(&words, "_", true),
            Convention::KebabLower => join(&words, "-", false),
            Convention::KebabUpper => join(&words, "-", true),
        }
    }
}

fn join(words: &[String], separator: &str, upper: bool) -> String {
    words
        .iter()
        .map(|w| {
            if upper {
                w.to_uppercase()
            } else {
                w.to_lowercase()
            }
        })
        .collect::<Vec<_>>()
        .join(separator)
}

/// Splits an identifier into words at `_`, `-` and lower-to-upper case changes.
fn words(ident: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for c in ident.trim_start_matches("r#").chars() {
        if c == '_' || c == '-' {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            previous_lower = false;
            continue;
        }
        if c.is_uppercase() && previous_lower && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        previous_lower = c.is_lowercase() || c.is_ascii_digit();
        current.push(c);
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::Convention;

    #[test]
    fn renames_snake_case_fields() {
        assert_eq!(Convention::CamelLower.apply("event_count"), "eventCount");
        assert_eq!(Convention::CamelUpper.apply("event_count"), "EventCount");
        assert_eq!(Convention::SnakeUpper.apply("event_count"), "EVENT_COUNT");
        assert_eq!(Convention::KebabLower.apply("event_count"), "event-count");
        assert_eq!(Convention::KebabUpper.apply("eventCount"), "EVENT-COUNT");
        assert_eq!(Convention::SnakeLower.apply("firstLane"), "first_lane");
        assert_eq!(Convention::CamelLower.apply("lane"), "lane");
    }
}
