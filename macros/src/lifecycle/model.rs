//! Parsing `#[lifecycle(..)]` and the handler attributes into a model, validating as we go.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::parse::Parser;
use syn::spanned::Spanned;

use super::kinds::{self, Category, Kind, Param};
use crate::errors::Errors;

/// The arguments of `#[lifecycle(Agent, no_clone, root = path)]`.
pub(crate) struct Args {
    pub(crate) agent: syn::Type,
    pub(crate) root: Option<syn::Path>,
}

/// One handler attribute on one method.
pub(crate) struct Handler {
    pub(crate) kind: Kind,
    pub(crate) method: syn::Ident,
    /// The lanes it handles (empty for lifecycle events).
    pub(crate) lanes: Vec<syn::Ident>,
    /// The types of the parameters after the context.
    pub(crate) params: Vec<syn::Type>,
    /// Where errors about the returned handler point.
    pub(crate) output_span: Span,
}

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
                return Err(syn::Error::new(
                    key.span(),
                    "unknown option in `#[lifecycle(..)]`: expected `no_clone` or `root = path`",
                ));
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

/// Finds, strips and validates the handler attributes of every method.
pub(crate) fn collect_handlers(item: &mut syn::ItemImpl, errors: &mut Errors) -> Vec<Handler> {
    let mut handlers = Vec::new();
    for impl_item in item.items.iter_mut() {
        let syn::ImplItem::Fn(method) = impl_item else {
            continue;
        };
        let mut found = Vec::new();
        method.attrs.retain(|attr| {
            let Some(ident) = attr.path().get_ident() else {
                return true;
            };
            let name = ident.to_string();
            match Kind::parse(&name) {
                Some(kind) => {
                    found.push((kind, attr.clone()));
                    false
                }
                None if name.starts_with("on_") => {
                    errors.at(
                        ident,
                        format!(
                            "unknown handler attribute `#[{name}]`: expected one of {}",
                            kinds::all_names()
                        ),
                    );
                    false
                }
                None => true,
            }
        });
        for (kind, attr) in found {
            let lanes = parse_lanes(kind, &attr, errors);
            if let Some(params) = check_signature(kind, &method.sig, errors) {
                handlers.push(Handler {
                    kind,
                    method: method.sig.ident.clone(),
                    lanes,
                    params,
                    output_span: method.sig.output.span(),
                });
            }
        }
    }
    check_duplicates(&handlers, errors);
    handlers
}

fn parse_lanes(kind: Kind, attr: &syn::Attribute, errors: &mut Errors) -> Vec<syn::Ident> {
    let takes_lanes = kind.category().is_some();
    match (&attr.meta, takes_lanes) {
        (syn::Meta::Path(_), false) => Vec::new(),
        (syn::Meta::List(list), true) => {
            let parser = syn::punctuated::Punctuated::<LaneRef, syn::Token![,]>::parse_terminated;
            match list.parse_args_with(parser) {
                Ok(lanes) if !lanes.is_empty() => lanes.into_iter().map(|lane| lane.0).collect(),
                Ok(_) => {
                    errors.at(attr, format!("`#[{}]` needs the lanes it handles: `#[{}(lane)]`", kind.name(), kind.name()));
                    Vec::new()
                }
                Err(err) => {
                    errors.push(err);
                    Vec::new()
                }
            }
        }
        (_, true) => {
            errors.at(attr, format!("`#[{}]` needs the lanes it handles: `#[{}(lane)]`", kind.name(), kind.name()));
            Vec::new()
        }
        (_, false) => {
            errors.at(attr, format!("`#[{}]` takes no arguments: write `#[{}]`", kind.name(), kind.name()));
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
                syn::Error::new(literal.span(), "expected the name of a lane (a field of the agent)")
            })
        } else {
            input
                .parse::<syn::Ident>()
                .map(LaneRef)
                .map_err(|err| syn::Error::new(err.span(), "expected the name of a lane (a field of the agent)"))
        }
    }
}

/// Checks the method against the signature the handler kind requires; returns the types of the
/// parameters after the context.
fn check_signature(kind: Kind, sig: &syn::Signature, errors: &mut Errors) -> Option<Vec<syn::Type>> {
    let expected = || kind.signature("MyAgent");
    let mut ok = true;
    if let Some(token) = &sig.asyncness {
        errors.at(token, format!("event handlers cannot be `async`: return a handler instead, and use `context.suspend(future)` for async work, e.g. `{}`", expected()));
        ok = false;
    }
    if let Some(token) = &sig.unsafety {
        errors.at(token, "event handlers cannot be `unsafe`");
        ok = false;
    }
    for param in &sig.generics.params {
        if !matches!(param, syn::GenericParam::Lifetime(_)) {
            errors.at(param, "event handlers cannot have type or const parameters (lifetimes are fine): the lane's types decide the parameter types");
            ok = false;
        }
    }
    match sig.inputs.first() {
        Some(syn::FnArg::Receiver(receiver))
            if receiver.reference.is_some() && receiver.mutability.is_none() => {}
        Some(syn::FnArg::Receiver(receiver)) => {
            errors.at(receiver, "event handlers take `&self`: handlers run re-entrantly, so keep mutable state in `State` or a `Cell`");
            ok = false;
        }
        _ => {
            errors.at(&sig.ident, format!("event handlers are methods taking `&self`: `{}`", expected()));
            ok = false;
        }
    }
    if let syn::ReturnType::Default = sig.output {
        errors.at(&sig.ident, format!("event handlers return the handler to run: add a return type, as in `{}`", expected()));
        ok = false;
    }
    let typed: Vec<&syn::PatType> = sig
        .inputs
        .iter()
        .filter_map(|arg| match arg {
            syn::FnArg::Typed(pat) => Some(pat),
            syn::FnArg::Receiver(_) => None,
        })
        .collect();
    let wanted = kind.params();
    if typed.len() != wanted.len() + 1 {
        let missing_context = typed.len() == wanted.len()
            && typed.first().is_none_or(|first| !is_context_type(&first.ty));
        let target = if sig.inputs.is_empty() {
            sig.ident.to_token_stream()
        } else {
            sig.inputs.to_token_stream()
        };
        if missing_context {
            errors.at(target, format!("the handler is missing its context parameter: `{}`", expected()));
        } else {
            errors.at(target, format!("wrong parameters for `#[{}]`: expected `{}`", kind.name(), expected()));
        }
        return None;
    }
    let mut params = Vec::new();
    for (param, wanted) in typed[1..].iter().zip(wanted) {
        if let (Param::Ref(text), false) = (wanted, matches!(*param.ty, syn::Type::Reference(_))) {
            errors.at(&param.ty, format!("take this parameter by reference, as in `{text}`"));
            ok = false;
        }
        params.push((*param.ty).clone());
    }
    ok.then_some(params)
}

fn is_context_type(ty: &syn::Type) -> bool {
    match ty {
        syn::Type::Path(path) => path
            .path
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "HandlerContext"),
        _ => false,
    }
}

fn check_duplicates(handlers: &[Handler], errors: &mut Errors) {
    for (i, handler) in handlers.iter().enumerate() {
        let earlier = &handlers[..i];
        if handler.kind.category().is_none() {
            if let Some(first) = earlier.iter().find(|h| h.kind == handler.kind) {
                errors.at(
                    &handler.method,
                    format!(
                        "duplicate `#[{}]` handler: `{}` already handles it; an agent has one",
                        handler.kind.name(),
                        first.method
                    ),
                );
            }
            continue;
        }
        for (j, lane) in handler.lanes.iter().enumerate() {
            let same_method_earlier = handler.lanes[..j].iter().any(|l| l == lane);
            let duplicate = earlier
                .iter()
                .find(|h| h.kind == handler.kind && h.lanes.contains(lane));
            if let Some(first) = duplicate {
                errors.at(
                    lane,
                    format!(
                        "duplicate `#[{}]` handler for lane `{lane}`: `{}` already handles it; combine them into one method",
                        handler.kind.name(),
                        first.method
                    ),
                );
            } else if same_method_earlier {
                errors.at(lane, format!("lane `{lane}` is listed twice"));
            } else if let Some(other) = earlier.iter().find(|h| {
                h.lanes.contains(lane) && h.kind.category() != handler.kind.category()
            }) {
                let (ours, theirs) = (handler.kind.category(), other.kind.category());
                if let (Some(ours), Some(theirs)) = (ours, theirs) {
                    errors.at(
                        lane,
                        format!(
                            "lane `{lane}` has both {} (`{}`) and {} (`{}`); a lane is of one kind",
                            theirs.describe(),
                            other.method,
                            ours.describe(),
                            handler.method
                        ),
                    );
                }
            }
        }
    }
}

/// The handlers of one lane, grouped for expansion.
pub(crate) struct LaneHandlers<'a> {
    pub(crate) lane: &'a syn::Ident,
    pub(crate) category: Category,
    pub(crate) handlers: Vec<&'a Handler>,
}

impl LaneHandlers<'_> {
    pub(crate) fn get(&self, kind: Kind) -> Option<&Handler> {
        self.handlers.iter().copied().find(|h| h.kind == kind)
    }
}

/// Groups lane handlers by lane, in order of first appearance.
pub(crate) fn by_lane(handlers: &[Handler]) -> Vec<LaneHandlers<'_>> {
    let mut lanes: Vec<LaneHandlers> = Vec::new();
    for handler in handlers {
        let Some(category) = handler.kind.category() else {
            continue;
        };
        for lane in &handler.lanes {
            match lanes.iter_mut().find(|l| l.lane == lane) {
                Some(group) => group.handlers.push(handler),
                None => lanes.push(LaneHandlers {
                    lane,
                    category,
                    handlers: vec![handler],
                }),
            }
        }
    }
    lanes
}
