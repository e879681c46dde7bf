//! `#[lifecycle(Agent)]`: implements `AgentLifecycle<Agent>` from an impl block of handlers.
//!
//! Parse the arguments and the handler attributes into a model (`model`, which strips the
//! attributes it reads and validates each as it goes), check the impl block itself, then
//! expand (`expand`). An input with errors still gets an `AgentLifecycle` impl (with the
//! default, empty handlers) so that using the lifecycle in a server or a test harness adds no
//! second error to the first.

mod attr;
mod check;
mod expand;
mod kinds;
mod model;

use proc_macro2::TokenStream;
use quote::quote;

use crate::errors::Errors;

pub(crate) fn expand(args: TokenStream, input: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = attr::parse_args(args, &mut errors);
    let mut item = match syn::parse2::<syn::Item>(input.clone()) {
        Ok(syn::Item::Impl(item)) => item,
        other => {
            let message = "`#[lifecycle(Agent)]` goes on an `impl` block of handler methods: `#[lifecycle(MyAgent)] impl MyLifecycle { .. }`";
            let fallback = match other {
                Ok(syn::Item::Struct(s)) => {
                    errors.at(&s.ident, message);
                    let ident = &s.ident;
                    let (_, ty_generics, _) = s.generics.split_for_impl();
                    let self_ty = syn::parse_quote!(#ident #ty_generics);
                    Some(expand::fallback(args.as_ref(), &s.generics, &self_ty))
                }
                Ok(syn::Item::Fn(f)) => {
                    errors.at(&f.sig.ident, message);
                    None
                }
                Err(error) => {
                    // Not Rust syntax at all: rustc's own parse error says more.
                    errors.push(error);
                    None
                }
                Ok(_) => {
                    errors.at_span(proc_macro2::Span::call_site(), message);
                    None
                }
            };
            let errors = errors.finish().err();
            return quote!(#input #errors #fallback);
        }
    };
    let agent = args.as_ref().map_or_else(
        || "MyAgent".to_owned(),
        |args| crate::errors::type_text(&args.agent),
    );
    let handlers = model::collect_handlers(&mut item, &agent, &mut errors);
    check_impl(&item, &mut errors);
    match (args, errors.finish()) {
        (Some(args), Ok(())) => {
            let generated = expand::expand(&args, &item, &handlers);
            quote!(#item #generated)
        }
        (args, result) => {
            let errors = result.err();
            // An impl of `AgentLifecycle` itself needs no fallback (it would conflict).
            let implements_lifecycle = item.trait_.as_ref().is_some_and(|(_, path, _)| {
                path.segments
                    .last()
                    .is_some_and(|segment| segment.ident == "AgentLifecycle")
            });
            let fallback = (!implements_lifecycle)
                .then(|| expand::fallback(args.as_ref(), &item.generics, &item.self_ty));
            quote!(#item #errors #fallback)
        }
    }
}

/// The impl block must be an inherent, non-generic one.
fn check_impl(item: &syn::ItemImpl, errors: &mut Errors) {
    if let Some((_, path, _)) = &item.trait_ {
        errors.at(
            path,
            "`#[lifecycle]` goes on an inherent impl block (`impl MyLifecycle { .. }`), not a trait impl",
        );
    }
    if let Some(param) = item.generics.params.first() {
        errors.at(
            param,
            "generic lifecycles are not supported: make the lifecycle a concrete type and keep the varying parts in its fields",
        );
    }
}
