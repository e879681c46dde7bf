//! Spans for generated code, so that errors point at the user's own tokens.
//!
//! On stable Rust a proc macro cannot join two spans, so generated code that should be reported
//! "at a type" is spanned at the type's first token (`HashMap` in `HashMap<String, u32>`), and
//! every use of one type is spanned alike so that rustc reports a failed bound once.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::ToTokens;

/// The tokens, all with `span`.
pub(crate) fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let TokenTree::Group(group) = &token {
                let mut respanned = Group::new(group.delimiter(), respan(group.stream(), span));
                respanned.set_span(span);
                token = TokenTree::Group(respanned);
            } else {
                token.set_span(span);
            }
            token
        })
        .collect()
}

/// The span of the first token of `tokens` (a group counts as one token).
pub(crate) fn first_span(tokens: &impl ToTokens) -> Span {
    tokens
        .to_token_stream()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |token| token.span())
}
