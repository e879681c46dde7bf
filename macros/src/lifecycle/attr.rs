//! Parsing: the arguments of `#[lifecycle(..)]` and the lanes a handler attribute names.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;

use super::kinds::Kind;
use crate::errors::{unknown_option_message, Errors};

/// The arguments of `#[lifecycle(Agent, no_clone, root = path)]`.
pub(crate) struct Args {
    pub(crate) agent: syn::Type,
    pub(crate) root: Option<syn::Path>,
}

/// Reads `#[lifecycle(Agent, no_clone, root = path)]`; `None` (with the error recorded) if
/// they do not parse.
pub(crate) fn parse_args(args: TokenStream, errors: &mut Errors) -> Option<Args> {
    if args.is_empty() {
        errors.at_span(
            Span::call_site(),
            "`#[lifecycle]` needs the agent type: write `#[lifecycle(MyAgent)]`",
        );
        return None;
    }
    let parser = |input: syn::parse::ParseStream| {
        let agent: syn::Type = input.parse()?;
        let mut root = None;
        while !input.is_empty() {
            input.parse::<syn::Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let key: syn::Ident = input.parse()?;
            if key == "no_clone" {
                // Accepted for SwimOS compatibility: the lifecycle is `Clone` exactly when the
                // type is, so the option changes nothing.
            } else if key == "root" {
                input.parse::<syn::Token![=]>()?;
                root = Some(input.parse()?);
            } else {
                let message = unknown_option_message(
                    &key.to_string(),
                    "lifecycle",
                    &["no_clone", "root"],
                    "`no_clone` or `root = path`",
                );
                return Err(syn::Error::new(key.span(), message));
            }
        }
        Ok(Args { agent, root })
    };
    match parser.parse2(args) {
        Ok(args) => Some(args),
        Err(err) => {
            errors.push(err);
            None
        }
    }
}

/// The lanes a handler attribute names (`#[on_event(a, b)]`), checked against its kind.
pub(super) fn parse_lanes(
    kind: Kind,
    attr: &syn::Attribute,
    errors: &mut Errors,
) -> Vec<syn::Ident> {
    let name = kind.name();
    let needs_lanes = || {
        format!("`#[{name}]` needs the lanes it handles: write `#[{name}(lane)]`, naming fields of the agent")
    };
    match (&attr.meta, kind.takes_lanes()) {
        (syn::Meta::Path(_), false) => Vec::new(),
        (syn::Meta::List(list), true) => {
            let parser = syn::punctuated::Punctuated::<LaneRef, syn::Token![,]>::parse_terminated;
            match list.parse_args_with(parser) {
                Ok(lanes) if !lanes.is_empty() => lanes.into_iter().map(|lane| lane.0).collect(),
                Ok(_) => {
                    errors.at_span(list.delimiter.span().join(), needs_lanes());
                    Vec::new()
                }
                Err(err) => {
                    errors.push(err);
                    Vec::new()
                }
            }
        }
        (syn::Meta::List(list), false) => {
            errors.at_span(
                list.delimiter.span().join(),
                format!(
                    "`#[{name}]` is not about a lane, so it takes no arguments: write `#[{name}]`"
                ),
            );
            Vec::new()
        }
        (syn::Meta::NameValue(value), false) => {
            errors.at(
                value,
                format!("`#[{name}]` takes no arguments: write `#[{name}]`"),
            );
            Vec::new()
        }
        (syn::Meta::Path(path), true) => {
            errors.at(path, needs_lanes());
            Vec::new()
        }
        (syn::Meta::NameValue(value), true) => {
            errors.at(value, needs_lanes());
            Vec::new()
        }
    }
}

/// A lane named in a handler attribute: `lane` or `"lane"`.
struct LaneRef(syn::Ident);

impl syn::parse::Parse for LaneRef {
    fn parse(input: syn::parse::ParseStream) -> syn::Result<Self> {
        if input.peek(syn::LitStr) {
            let literal: syn::LitStr = input.parse()?;
            literal.parse::<syn::Ident>().map(LaneRef).map_err(|_| {
                syn::Error::new(
                    literal.span(),
                    "expected the name of a lane (a field of the agent)",
                )
            })
        } else {
            input.parse::<syn::Ident>().map(LaneRef).map_err(|err| {
                syn::Error::new(
                    err.span(),
                    "expected the name of a lane (a field of the agent)",
                )
            })
        }
    }
}
