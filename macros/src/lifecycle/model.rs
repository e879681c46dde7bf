//! The model of a lifecycle: its handlers, found and stripped from the impl block's methods,
//! each parsed (`attr`) and validated (`check`) as it is found; grouped by lane for expansion.

use proc_macro2::Span;
use syn::spanned::Spanned;

use super::attr::parse_lanes;
use super::check::{check_demand_maps, check_duplicates, check_signature};
use super::kinds::{self, Category, Kind};
use crate::errors::{did_you_mean, Errors};

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
    check_demand_maps(&handlers, agent, errors);
    handlers
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
