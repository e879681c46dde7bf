//! Parsing: `#[agent(..)]` on the struct and `#[item(..)]` on each field, into a small model.
//! Option errors are recorded as they are found, so that parsing goes on.

use quote::ToTokens;

use crate::errors::{did_you_mean, unknown_option_message, Errors};
use crate::naming::{Convention, CONVENTIONS};

/// `#[agent(...)]` on the struct.
#[derive(Default)]
pub(super) struct AgentOptions {
    pub(super) transient: bool,
    pub(super) convention: Option<Convention>,
    pub(super) root: Option<syn::Path>,
}

/// One field, after `#[item(...)]`.
pub(super) struct ItemModel<'a> {
    pub(super) field: &'a syn::Ident,
    pub(super) ty: &'a syn::Type,
    pub(super) name: String,
    pub(super) transient: bool,
    pub(super) init: Option<syn::Expr>,
    /// `#[item(on_decode_error = reset)]`: persisted state that does not decode is dropped.
    pub(super) reset_on_decode_error: bool,
}

/// Reads `#[agent(..)]`.
pub(super) fn parse_agent_options(attrs: &[syn::Attribute], errors: &mut Errors) -> AgentOptions {
    let mut options = AgentOptions::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("agent")) {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("transient") {
                options.transient = true;
            } else if meta.path.is_ident("convention") {
                let convention = parse_convention(&meta)?;
                if options.convention.replace(convention).is_some() {
                    errors.at(&meta.path, "the agent has two naming conventions: keep one");
                }
            } else if meta.path.is_ident("root") {
                options.root = Some(meta.value()?.parse()?);
            } else {
                let expected = "`transient`, `convention = \"..\"` or `root = path`";
                unknown_option(
                    &meta,
                    "agent",
                    &["transient", "convention", "root"],
                    expected,
                    errors,
                );
                skip_value(&meta)?;
            }
            Ok(())
        });
        if let Err(err) = result {
            errors.push(err);
        }
    }
    options
}

/// Reports an unknown key in `#[attribute(..)]`, suggesting a known one close to it.
fn unknown_option(
    meta: &syn::meta::ParseNestedMeta,
    attribute: &str,
    known: &[&'static str],
    expected: &str,
    errors: &mut Errors,
) {
    let key = meta.path.to_token_stream().to_string().replace(' ', "");
    errors.at(
        &meta.path,
        unknown_option_message(&key, attribute, known, expected),
    );
}

fn parse_convention(meta: &syn::meta::ParseNestedMeta) -> syn::Result<Convention> {
    let literal: syn::LitStr = meta.value()?.parse()?;
    let name = literal.value();
    Convention::parse(&name).ok_or_else(|| {
        // "camelCase", "snake_upper", "Kebab": a known name with a suffix or another spelling.
        let normal = name.to_lowercase().replace('_', "-");
        let guess = ["camel-upper", "snake-upper", "kebab-upper", "camel", "pascal", "snake", "kebab"]
            .into_iter()
            .find(|known| normal.starts_with(known))
            .or_else(|| did_you_mean(&normal, ["camel", "snake", "kebab"]));
        let message = match guess {
            Some(guess) => format!("unknown naming convention `{name}`: did you mean `\"{guess}\"`? (expected one of {CONVENTIONS})"),
            None => format!("unknown naming convention `{name}`: expected one of {CONVENTIONS}"),
        };
        syn::Error::new(literal.span(), message)
    })
}

/// Consumes `= value` or `(..)` after an unknown key, so parsing can go on.
fn skip_value(meta: &syn::meta::ParseNestedMeta) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        let _: syn::Expr = meta.value()?.parse()?;
    } else if meta.input.peek(syn::token::Paren) {
        let _content;
        syn::parenthesized!(_content in meta.input);
    }
    Ok(())
}

/// Reads one field and its `#[item(..)]`; `None` for a field without a name.
pub(super) fn parse_item<'a>(
    field: &'a syn::Field,
    options: &AgentOptions,
    errors: &mut Errors,
) -> Option<ItemModel<'a>> {
    let ident = field.ident.as_ref()?;
    let mut name: Option<String> = None;
    let mut convention: Option<Convention> = None;
    let mut transient = options.transient;
    let mut init = None;
    let mut reset_on_decode_error = false;
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("item")) {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("transient") {
                transient = true;
            } else if meta.path.is_ident("name") {
                let literal: syn::LitStr = meta.value()?.parse()?;
                if literal.value().is_empty() {
                    let field = ident.to_string();
                    let field = field.trim_start_matches("r#");
                    errors.at(
                        &literal,
                        format!("a lane name cannot be empty: write a name, as in `#[item(name = \"{field}\")]`, or remove `name` to use the field's name"),
                    );
                }
                if name.replace(literal.value()).is_some() || convention.is_some() {
                    errors.at(&meta.path, "the lane is renamed twice: keep one of `name` and `convention`");
                }
            } else if meta.path.is_ident("convention") {
                let parsed = parse_convention(&meta)?;
                if convention.replace(parsed).is_some() || name.is_some() {
                    errors.at(&meta.path, "the lane is renamed twice: keep one of `name` and `convention`");
                }
            } else if meta.path.is_ident("init") {
                init = Some(meta.value()?.parse::<syn::Expr>()?);
            } else if meta.path.is_ident("on_decode_error") {
                let choice: syn::Ident = meta.value()?.parse()?;
                if choice == "reset" {
                    reset_on_decode_error = true;
                } else if choice != "fail" {
                    errors.at(
                        &choice,
                        format!("unknown `on_decode_error` choice `{choice}`: write `on_decode_error = reset` (start from the initial value) or `on_decode_error = fail` (the default: the agent does not start)"),
                    );
                }
            } else {
                let expected = "`transient`, `name = \"..\"`, `convention = \"..\"`, `init = expr` or `on_decode_error = reset`";
                let known = ["transient", "name", "convention", "init", "on_decode_error"];
                unknown_option(&meta, "item", &known, expected, errors);
                skip_value(&meta)?;
            }
            Ok(())
        });
        if let Err(err) = result {
            errors.push(err);
        }
    }
    let field_name = ident.to_string();
    let field_name = field_name.trim_start_matches("r#");
    let name = match (name, convention.or(options.convention)) {
        (Some(name), _) => name,
        (None, Some(convention)) => convention.apply(field_name),
        (None, None) => field_name.to_owned(),
    };
    Some(ItemModel {
        field: ident,
        ty: &field.ty,
        name,
        transient,
        init,
        reset_on_decode_error,
    })
}
