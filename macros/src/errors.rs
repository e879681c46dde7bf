//! Collecting every error of a macro input before reporting them together.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;

/// The errors found while validating one macro input.
///
/// It must be consumed with [`finish`](Self::finish): dropping it unchecked is a bug in the
/// macro (errors would be lost), and panics, as serde_derive's `Ctxt` does.
#[derive(Default)]
#[must_use = "the errors must be reported with `finish`"]
pub(crate) struct Errors {
    errors: Vec<syn::Error>,
    finished: bool,
}

impl Drop for Errors {
    fn drop(&mut self) {
        if !self.finished && !std::thread::panicking() {
            panic!("tidal-macros bug: the errors of a macro input were dropped unchecked");
        }
    }
}

impl Errors {
    /// Records an error at the span of `tokens`.
    pub(crate) fn at(&mut self, tokens: impl ToTokens, message: impl std::fmt::Display) {
        self.errors.push(syn::Error::new_spanned(tokens, message));
    }

    /// Records an error at `span`.
    pub(crate) fn at_span(&mut self, span: Span, message: impl std::fmt::Display) {
        self.errors.push(syn::Error::new(span, message));
    }

    /// Records an error already built (e.g. by syn's parser).
    pub(crate) fn push(&mut self, error: syn::Error) {
        self.errors.push(error);
    }

    /// Ends validation: `Err` with the errors as `compile_error!` invocations if there were
    /// any.
    pub(crate) fn finish(mut self) -> Result<(), TokenStream> {
        self.finished = true;
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self
                .errors
                .iter()
                .map(syn::Error::to_compile_error)
                .collect())
        }
    }
}

/// The closest of `candidates` to a misspelt `word`, if one is close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(word, candidate), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// The message for an unknown option `key` in `#[attribute(..)]`: the known one closest to it,
/// if any is, and what is `expected`.
pub(crate) fn unknown_option_message(
    key: &str,
    attribute: &str,
    known: &[&str],
    expected: &str,
) -> String {
    match did_you_mean(key, known.iter().copied()) {
        Some(close) => format!(
            "unknown option `{key}` in `#[{attribute}(..)]`: did you mean `{close}`? (expected {expected})"
        ),
        None => format!("unknown option `{key}` in `#[{attribute}(..)]`: expected {expected}"),
    }
}

/// Levenshtein distance between two short strings.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// A type as the user would write it, for messages (`HashMap<String, u32>`, not
/// `HashMap < String , u32 >`).
pub(crate) fn type_text(tokens: impl ToTokens) -> String {
    let text = tokens.to_token_stream().to_string();
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ' ' {
            let previous = out.chars().last();
            let next = chars.peek().copied();
            let keep = match (previous, next) {
                (Some('<' | '&' | '(' | '['), _) => false,
                (Some(':'), _) => !out.ends_with("::"),
                (_, Some(':')) => false,
                (_, Some('<' | '>' | ',' | ')' | ']')) => false,
                _ => true,
            };
            if !keep {
                continue;
            }
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{did_you_mean, type_text};

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            did_you_mean("on_events", ["on_event", "on_set"]),
            Some("on_event")
        );
        assert_eq!(
            did_you_mean("transent", ["transient", "name"]),
            Some("transient")
        );
        assert_eq!(did_you_mean("frobnicate", ["on_event", "on_set"]), None);
    }

    #[test]
    fn writes_types_compactly() {
        let ty: syn::Type = syn::parse_quote!(&std::collections::HashMap<String, Vec<u32>>);
        assert_eq!(
            type_text(&ty),
            "&std::collections::HashMap<String, Vec<u32>>"
        );
        let ty: syn::Type = syn::parse_quote!(Option<&'a mut [u8]>);
        assert_eq!(type_text(&ty), "Option<&'a mut [u8]>");
        let receiver: syn::FnArg = syn::parse_quote!(self: Box<Self>);
        assert_eq!(type_text(&receiver), "self: Box<Self>");
    }
}
