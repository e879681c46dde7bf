//! `#[projections]`: one `fn(&Self) -> &Field` constant per field.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::errors::Errors;

pub(crate) fn expand(args: TokenStream, input: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    if !args.is_empty() {
        errors.at(
            &args,
            "`#[projections]` takes no arguments: write `#[projections]`",
        );
    }
    let item = match syn::parse2::<syn::Item>(input.clone()) {
        Ok(syn::Item::Struct(item)) => item,
        other => {
            let message = "`#[projections]` can only be applied to a struct with named fields";
            match other {
                // `derive(AgentLaneModel)` reports that the enum is no agent: one message.
                Ok(syn::Item::Enum(item)) if derives_agent(&item.attrs) => {}
                Ok(syn::Item::Enum(item)) => errors.at(&item.ident, message),
                Ok(syn::Item::Union(item)) => errors.at(&item.ident, message),
                Ok(syn::Item::Fn(item)) => errors.at(&item.sig.ident, message),
                _ => errors.at_span(proc_macro2::Span::call_site(), message),
            }
            let errors = errors.finish().err();
            return quote!(#input #errors);
        }
    };
    let fields = match &item.fields {
        syn::Fields::Named(named) => named.named.iter().collect::<Vec<_>>(),
        // `derive(AgentLaneModel)` reports that a tuple struct is no agent: one message.
        syn::Fields::Unnamed(_) if derives_agent(&item.attrs) => Vec::new(),
        syn::Fields::Unnamed(_) => {
            errors.at(
                &item.ident,
                "`#[projections]` needs named fields: tuple structs have no field names to project",
            );
            Vec::new()
        }
        syn::Fields::Unit => Vec::new(),
    };
    if let Err(errors) = errors.finish() {
        return quote!(#item #errors);
    }
    let name = &item.ident;
    let (impl_generics, ty_generics, where_clause) = item.generics.split_for_impl();
    let constants = fields.iter().filter_map(|field| {
        let ident = field.ident.as_ref()?;
        let ty = &field.ty;
        let constant = format_ident!(
            "{}",
            ident.to_string().trim_start_matches("r#").to_uppercase(),
            span = ident.span()
        );
        let doc = format!("Projection to the field `{ident}`.");
        Some(quote! {
            #[doc = #doc]
            #[allow(dead_code)]
            pub const #constant: fn(&Self) -> &#ty = |agent: &Self| &agent.#ident;
        })
    });
    quote! {
        #item

        #[automatically_derived]
        impl #impl_generics #name #ty_generics #where_clause {
            #(#constants)*
        }
    }
}

/// Whether the item also derives `AgentLaneModel`, which reports shape errors itself.
fn derives_agent(attrs: &[syn::Attribute]) -> bool {
    attrs
        .iter()
        .filter(|attr| attr.path().is_ident("derive"))
        .any(|attr| {
            attr.parse_args_with(
                syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
            )
            .is_ok_and(|paths| {
                paths.iter().any(|path| {
                    path.segments
                        .last()
                        .is_some_and(|segment| segment.ident == "AgentLaneModel")
                })
            })
        })
}
