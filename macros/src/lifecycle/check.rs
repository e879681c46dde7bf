//! Validation: each handler's signature against what its kind requires, and handlers that
//! would run twice for one event.

use quote::ToTokens;

use super::kinds::{Kind, Param};
use super::model::Handler;
use crate::errors::{type_text, Errors};

/// Checks the method against the signature the handler kind requires; returns the types of the
/// parameters after `&self`, the context first.
pub(super) fn check_signature(
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
                "event handlers return the handler to run: add `-> {}` after the parameters, as in `{}`",
                kind.returns(agent),
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
                    "the handler is missing its context: add `{}` after `&self`, as in `{}`",
                    kind.context(agent),
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
        syn::Type::Path(path) => path.path.segments.last().is_some_and(|segment| {
            ["HandlerContext", "JoinValueContext", "JoinMapContext"]
                .iter()
                .any(|name| segment.ident == name)
        }),
        _ => false,
    }
}

/// Two handlers of one kind for one lane (or two lifecycle handlers of one kind).
pub(super) fn check_duplicates(handlers: &[Handler], errors: &mut Errors) {
    for (i, handler) in handlers.iter().enumerate() {
        let earlier = &handlers[..i];
        if !handler.kind.takes_lanes() {
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
            if let (Some(first), true) = (duplicate, handler.kind.is_join()) {
                errors.at(
                    lane,
                    format!(
                        "lane `{lane}` already has a `#[{}]`, `{}`: a join lane has one lifecycle for its links, so register every handler there (`context.builder().on_linked(..).on_synced(..).done()`)",
                        handler.kind.name(),
                        first.method
                    ),
                );
            } else if let Some(first) = duplicate {
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

/// A demand-map lane with `#[keys]` but no `#[on_cue_key]`, or the reverse: it needs both.
pub(super) fn check_demand_maps(handlers: &[Handler], agent: &str, errors: &mut Errors) {
    for handler in handlers {
        let other = match handler.kind {
            Kind::Keys => Kind::CueKey,
            Kind::CueKey => Kind::Keys,
            _ => continue,
        };
        for lane in &handler.lanes {
            if handlers
                .iter()
                .any(|h| h.kind == other && h.lanes.contains(lane))
            {
                continue;
            }
            let what = match other {
                Kind::CueKey => "computes the entry of each key",
                _ => "lists the keys a sync sends",
            };
            errors.at(
                lane,
                format!(
                    "the demand-map lane `{lane}` has a `#[{}]` handler but no `#[{}]`, which {what}: add `#[{}({lane})] {}`",
                    handler.kind.name(),
                    other.name(),
                    other.name(),
                    other.signature("handler", agent),
                ),
            );
        }
    }
}
