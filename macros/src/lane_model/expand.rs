//! Expansion: the `AgentLaneModel` and `Default` impls, or, when the input has errors, the
//! same impls with stub bodies so that every later use of the type compiles and the user sees
//! only the errors themselves.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;

use super::attr::{AgentOptions, ItemModel};
use crate::generics::where_clause;
use crate::root::tidal_root;
use crate::spans::{first_span, respan};

/// The impls of a valid input.
pub(super) fn expand(
    input: &syn::DeriveInput,
    options: &AgentOptions,
    items: &[ItemModel],
) -> TokenStream {
    let root = tidal_root(options.root.as_ref());
    let lanes = quote!(#root::agent::lanes);
    let name = &input.ident;
    let (impl_generics, ty_generics, _) = input.generics.split_for_impl();
    let mut where_clause = where_clause(&input.generics);
    let mut default_predicates = Vec::new();
    let mut specs = Vec::new();
    let mut item_arms = Vec::new();
    let mut name_arms = Vec::new();
    let mut inits = Vec::new();
    let mut starts = Vec::new();
    for (id, item) in items.iter().enumerate() {
        let id = id as u64;
        let ItemModel {
            field,
            ty,
            name: external,
            transient,
            init,
            reset_on_decode_error,
        } = item;
        let field_name = field.to_string();
        // Every use of the field's type needs `T: Item` at the type's first token (the same bound
        // at the same span), so a field that is not a lane or store gives exactly one error.
        let first = first_span(ty);
        let item_ty = respan(ty.to_token_stream(), first);
        let kind = quote_spanned!(first=> <#item_ty as #lanes::Item>::KIND);
        specs.push(quote! {
            #lanes::ItemSpec {
                id: #id,
                name: #external,
                field: #field_name,
                kind: #kind,
                transient: #transient || !#kind.is_stateful(),
                reset_on_decode_error: #reset_on_decode_error,
            }
        });
        // Naming `KIND` first makes the bound of `__as_item` a duplicate that rustc drops.
        let as_item = quote_spanned!(first=> {
            let _ = <#item_ty as #lanes::Item>::KIND;
            __as_item::<#item_ty>(&self.#field)
        });
        item_arms.push(quote!(#id => ::core::option::Option::Some(#as_item),));
        starts.push(quote_spanned!(first=> {
            #[allow(clippy::type_complexity)]
            let __item: fn(&Self) -> &#item_ty = |__agent: &Self| &__agent.#field;
            __handlers.extend(<#item_ty as #lanes::Item>::on_start::<Self>(__item));
        }));
        name_arms.push(quote!(#external => ::core::option::Option::Some(#id),));
        let init = match init {
            Some(expr) => quote_spanned!(expr.span()=> #expr),
            None => quote_spanned!(first=> ::core::default::Default::default()),
        };
        inits.push(quote_spanned!(first=> #field: <#item_ty as #lanes::Item>::create(#id, #init),));
        if !input.generics.params.is_empty() {
            where_clause
                .predicates
                .push(syn::parse_quote!(#ty: #lanes::Item));
            if item.init.is_none() {
                default_predicates
                    .push(quote!(<#ty as #lanes::Item>::Init: ::core::default::Default));
            }
        }
    }
    if !input.generics.params.is_empty() {
        where_clause
            .predicates
            .push(syn::parse_quote!(#name #ty_generics: ::core::marker::Send + 'static));
    }
    let mut default_where = where_clause.clone();
    for predicate in default_predicates {
        default_where.predicates.push(syn::parse_quote!(#predicate));
    }
    quote! {
        #[automatically_derived]
        impl #impl_generics #root::agent::AgentLaneModel for #name #ty_generics #where_clause {
            const ITEMS: &'static [#lanes::ItemSpec] = &[#(#specs),*];

            fn item(&self, id: u64) -> ::core::option::Option<&dyn #lanes::AgentItem> {
                fn __as_item<I: #lanes::Item>(item: &I) -> &dyn #lanes::AgentItem {
                    item
                }
                match id {
                    #(#item_arms)*
                    _ => ::core::option::Option::None,
                }
            }

            fn item_id(name: &str) -> ::core::option::Option<u64> {
                match name {
                    #(#name_arms)*
                    _ => ::core::option::Option::None,
                }
            }

            fn item_starts(
                __handlers: &mut ::std::vec::Vec<#root::agent::event_handler::BoxEventHandler<'static, Self>>,
            ) {
                #(#starts)*
            }
        }

        #[automatically_derived]
        impl #impl_generics ::core::default::Default for #name #ty_generics #default_where {
            fn default() -> Self {
                Self { #(#inits)* }
            }
        }
    }
}

/// The impls with stub bodies, for an input with errors (the bodies never run: the crate does
/// not compile).
pub(super) fn fallback(input: &syn::DeriveInput, options: &AgentOptions) -> TokenStream {
    let root = tidal_root(options.root.as_ref());
    let lanes = quote!(#root::agent::lanes);
    let name = &input.ident;
    let (impl_generics, ty_generics, _) = input.generics.split_for_impl();
    let mut where_clause = where_clause(&input.generics);
    where_clause
        .predicates
        .push(syn::parse_quote!(#name #ty_generics: ::core::marker::Send + 'static));
    quote! {
        #[automatically_derived]
        impl #impl_generics #root::agent::AgentLaneModel for #name #ty_generics #where_clause {
            const ITEMS: &'static [#lanes::ItemSpec] = &[];

            fn item(&self, _: u64) -> ::core::option::Option<&dyn #lanes::AgentItem> {
                ::core::option::Option::None
            }

            fn item_id(_: &str) -> ::core::option::Option<u64> {
                ::core::option::Option::None
            }
        }

        #[automatically_derived]
        impl #impl_generics ::core::default::Default for #name #ty_generics #where_clause {
            fn default() -> Self {
                ::core::unreachable!("the agent has errors, so its crate does not compile")
            }
        }
    }
}
