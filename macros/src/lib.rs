//! Procedural macros of tidal. Use them through the `tidal` crate:
//! `tidal::agent::{AgentLaneModel, projections, lifecycle}`.
//!
//! Each macro works in three steps, as serde_derive's do: parse the attributes into a small
//! model (`attr`), validate it (`check`, collecting every error, each spanned at the user's own
//! tokens, in an `Errors` that cannot be dropped unchecked), then expand. When there are errors
//! the user's item is still emitted unchanged, with the errors and the trait impls it would
//! have had (stub bodies, as thiserror does), so that later uses of the type compile and one
//! mistake gives exactly one message.

#![forbid(unsafe_code)]

mod errors;
mod generics;
mod lane_model;
mod lifecycle;
mod naming;
mod projections;
mod root;
mod spans;

use proc_macro::TokenStream;

/// Derives `AgentLaneModel` (the item table and lane dispatch) and `Default` for a struct of
/// lanes and stores.
///
/// Attributes: `#[agent(transient, convention = "camel", root = path)]` on the struct and
/// `#[item(transient, name = "..", convention = "..", init = expr)]` on fields. See
/// `tidal::agent::AgentLaneModel` for the full documentation.
#[proc_macro_derive(AgentLaneModel, attributes(agent, item))]
pub fn derive_agent_lane_model(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    lane_model::derive(input).into()
}

/// Generates an associated constant per field, `FIELD: fn(&Self) -> &FieldType`, named after the
/// field in upper case (`event_count` gives `EVENT_COUNT`).
#[proc_macro_attribute]
pub fn projections(args: TokenStream, input: TokenStream) -> TokenStream {
    projections::expand(args.into(), input.into()).into()
}

/// Implements `AgentLifecycle<Agent>` for the type of an `impl` block whose methods are event
/// handlers (`#[on_start]`, `#[on_event(lane)]`, ...). See `tidal::agent::lifecycle`.
#[proc_macro_attribute]
pub fn lifecycle(args: TokenStream, input: TokenStream) -> TokenStream {
    lifecycle::expand(args.into(), input.into()).into()
}
