//! Parsing `#[lifecycle(..)]` and the handler attributes into a model, validating as we go.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::parse::Parser;
use syn::spanned::Spanned;

use super::kinds::{self, Category, Kind, Param};
use crate::errors::{did_you_mean, type_text, unknown_option_message, Errors};

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
    /// The type of the context parameter.
    pub(crate) context: syn::Type,
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

/// Finds, strips and validates the handler attributes of every method. `agent` is the agent type
/// as the messages show it.
pub(crate) fn collect_handlers(
    item: &mut syn::ItemImpl,
    agent: &str,
    errors: &mut Errors,
) -> Vec<Handler> {
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
                    let names = kinds::ALL.iter().map(|kind| kind.name());
                    let message = match did_you_mean(&name, names) {
                        Some(close) => format!(
                            "unknown handler attribute `#[{name}]`: did you mean `#[{close}]`? (the handler attributes are {})",
                            kinds::all_names()
                        ),
                        None => format!(
                            "unknown handler attribute `#[{name}]`: expected one of {}",
                            kinds::all_names()
                        ),
                    };
                    errors.at(ident, message);
                    false
                }
                None => true,
            }
        });
        for (kind, attr) in found {
            let lanes = parse_lanes(kind, &attr, errors);
            if let Some(mut params) = check_signature(kind, &method.sig, agent, errors) {
                let context = params.remove(0);
                let output_span = match &method.sig.output {
                    syn::ReturnType::Type(_, ty) => ty.span(),
                    syn::ReturnType::Default => method.sig.ident.span(),
                };
                handlers.push(Handler {
                    kind,
                    method: method.sig.ident.clone(),
                    lanes,
                    context,
                    params,
                    output_span,
                });
            }
        }
    }
    check_duplicates(&handlers, errors);
    handlers
}

fn parse_lanes(kind: Kind, attr: &syn::Attribute, errors: &mut Errors) -> Vec<syn::Ident> {
    let name = kind.name();
    let needs_lanes = || {
        format!("`#[{name}]` needs the lanes it handles: write `#[{name}(lane)]`, naming fields of the agent")
    };
    match (&attr.meta, kind.category().is_some()) {
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

/// Checks the method against the signature the handler kind requires; returns the types of the
/// parameters after `&self`, the context first.
fn check_signature(
    kind: Kind,
    sig: &syn::Signature,
    agent: &str,
    errors: &mut Errors,
) -> Option<Vec<syn::Type>> {
    let method = sig.ident.to_string();
    let expected = || kind.signature(&method, agent);
    let mut ok = true;
    if let Some(token) = &sig.asyncness {
        errors.at(
            token,
            format!(
                "event handlers cannot be `async`: remove `async` and return a handler, using `context.suspend(future)` for async work: `{}`",
                expected()
            ),
        );
        ok = false;
    }
    if let Some(token) = &sig.unsafety {
        errors.at(token, "event handlers cannot be `unsafe`: remove `unsafe`");
        ok = false;
    }
    for param in &sig.generics.params {
        let name = match param {
            syn::GenericParam::Lifetime(_) => continue,
            syn::GenericParam::Type(param) => &param.ident,
            syn::GenericParam::Const(param) => &param.ident,
        };
        errors.at(
            param,
            format!(
                "event handlers cannot have type or const parameters: remove `{name}` and use the lane's types (lifetime parameters are fine)"
            ),
        );
        ok = false;
    }
    match sig.inputs.first() {
        Some(syn::FnArg::Receiver(receiver))
            if receiver.reference.is_some()
                && receiver.mutability.is_none()
                && receiver.colon_token.is_none() => {}
        Some(syn::FnArg::Receiver(receiver)) => {
            errors.at(
                receiver,
                format!(
                    "event handlers take `&self`, not `{}`: handlers run re-entrantly, so keep mutable state in a `State` or a `Cell`",
                    type_text(receiver)
                ),
            );
            ok = false;
        }
        first => {
            let target = match first {
                Some(first) => first.to_token_stream(),
                None => sig.ident.to_token_stream(),
            };
            errors.at(
                target,
                format!(
                    "event handlers are methods: add `&self` as the first parameter, as in `{}`",
                    expected()
                ),
            );
            ok = false;
        }
    }
    if let syn::ReturnType::Default = sig.output {
        errors.at_span(
            sig.paren_token.span.close(),
            format!(
                "event handlers return the handler to run: add `-> impl EventHandler<{agent}> + '_` after the parameters, as in `{}`",
                expected()
            ),
        );
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
            && typed
                .first()
                .is_none_or(|first| !is_context_type(&first.ty));
        if missing_context {
            // Point where the context goes: at the first parameter after `self`, or after `self`.
            let target = match (typed.first(), sig.inputs.first()) {
                (Some(first), _) => first.to_token_stream(),
                (None, Some(receiver)) => receiver.to_token_stream(),
                (None, None) => sig.ident.to_token_stream(),
            };
            errors.at(
                target,
                format!(
                    "the handler is missing its context: add `context: HandlerContext<{agent}>` after `&self`, as in `{}`",
                    expected()
                ),
            );
        } else {
            let target = if sig.inputs.is_empty() {
                sig.ident.to_token_stream()
            } else {
                sig.inputs.to_token_stream()
            };
            let count = wanted.len() + 1;
            let found = typed.len();
            errors.at(
                target,
                format!(
                    "`#[{}]` handlers take {count} parameter{} after `&self`, but this one takes {found}: expected `{}`",
                    kind.name(),
                    if count == 1 { "" } else { "s" },
                    expected()
                ),
            );
        }
        return None;
    }
    let mut params = vec![(*typed[0].ty).clone()];
    for (param, wanted) in typed[1..].iter().zip(wanted) {
        if let (Param::Ref(text), false) = (wanted, matches!(*param.ty, syn::Type::Reference(_))) {
            let name = text.split(':').next().unwrap_or(text);
            errors.at(
                &param.ty,
                format!(
                    "`#[{}]` passes `{name}` by reference: write `&{}`",
                    kind.name(),
                    type_text(&param.ty)
                ),
            );
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
                        "a lifecycle has one `#[{}]` handler, and `{}` is already it: move this code into `{}` (handlers chain with `.followed_by(..)`)",
                        handler.kind.name(),
                        first.method,
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
                        "lane `{lane}` already has an `#[{}]` handler, `{}`: a lane has one handler of each kind, so move this code into `{}` (handlers chain with `.followed_by(..)`)",
                        handler.kind.name(),
                        first.method,
                        first.method
                    ),
                );
            } else if same_method_earlier {
                errors.at(lane, format!("lane `{lane}` is listed twice: remove one"));
            } else if let Some(other) = earlier
                .iter()
                .find(|h| h.lanes.contains(lane) && h.kind.category() != handler.kind.category())
            {
                let (ours, theirs) = (handler.kind.category(), other.kind.category());
                if let (Some(ours), Some(theirs)) = (ours, theirs) {
                    errors.at(
                        lane,
                        format!(
                            "`#[{}]` is a {} handler, but lane `{lane}` also has the {} handler `#[{}]` (`{}`): a lane is of one kind, so keep only the handlers for its kind ({}; {})",
                            handler.kind.name(),
                            ours.lane_kind(),
                            theirs.lane_kind(),
                            other.kind.name(),
                            other.method,
                            theirs.describe(),
                            ours.describe(),
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
