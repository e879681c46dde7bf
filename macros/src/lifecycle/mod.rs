//! `#[lifecycle(Agent)]`: implements `AgentLifecycle<Agent>` from an impl block of handlers.

mod expand;
mod kinds;
mod model;

use proc_macro2::TokenStream;
use quote::quote;

use crate::errors::Errors;

pub(crate) fn expand(args: TokenStream, input: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = model::parse_args(args, &mut errors);
    let mut item = match syn::parse2::<syn::Item>(input.clone()) {
        Ok(syn::Item::Impl(item)) => item,
        other => {
            let message = "`#[lifecycle(Agent)]` goes on an `impl` block of handler methods: `#[lifecycle(MyAgent)] impl MyLifecycle { .. }`";
            match other {
                Ok(syn::Item::Struct(s)) => errors.at(&s.ident, message),
                Ok(syn::Item::Fn(f)) => errors.at(&f.sig.ident, message),
                _ => errors.at_span(proc_macro2::Span::call_site(), message),
            }
            let errors = errors.to_compile_errors();
            return quote!(#input #errors);
        }
    };
    let agent = args.as_ref().map_or_else(
        || "MyAgent".to_owned(),
        |args| crate::errors::type_text(&args.agent),
    );
    let handlers = model::collect_handlers(&mut item, &agent, &mut errors);
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
    match args {
        Some(args) if errors.is_empty() => {
            let generated = expand::expand(&args, &item, &handlers);
            quote!(#item #generated)
        }
        _ => {
            let errors = errors.to_compile_errors();
            quote!(#item #errors)
        }
    }
}
