//! `#[derive(AgentLaneModel)]`: the item table, dispatch by id and `Default`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;

use crate::errors::{did_you_mean, unknown_option_message, Errors};
use crate::naming::{Convention, CONVENTIONS};
use crate::root::tidal_root;
use crate::spans::{first_span, respan};

/// `#[agent(...)]` on the struct.
#[derive(Default)]
struct AgentOptions {
    transient: bool,
    convention: Option<Convention>,
    root: Option<syn::Path>,
}

/// One field, after `#[item(...)]`.
struct ItemModel<'a> {
    field: &'a syn::Ident,
    ty: &'a syn::Type,
    name: String,
    transient: bool,
    init: Option<syn::Expr>,
}

pub(crate) fn derive(input: syn::DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let options = parse_agent_options(&input.attrs, &mut errors);
    let fields = match &input.data {
        syn::Data::Struct(data) => match &data.fields {
            syn::Fields::Named(named) => Some(&named.named),
            syn::Fields::Unnamed(_) => {
                errors.at(
                    &input.ident,
                    "tuple structs cannot be agents: name each lane, e.g. `struct MyAgent { lane: ValueLane<i32> }`",
                );
                None
            }
            syn::Fields::Unit => {
                errors.at(
                    &input.ident,
                    "an agent needs at least one lane or store: e.g. `struct MyAgent { lane: ValueLane<i32> }`",
                );
                None
            }
        },
        _ => {
            errors.at(
                &input.ident,
                "`AgentLaneModel` can only be derived for a struct of lanes and stores, e.g. `struct MyAgent { lane: ValueLane<i32> }`",
            );
            None
        }
    };
    let Some(fields) = fields else {
        return errors.to_compile_errors();
    };
    if fields.is_empty() {
        errors.at(
            &input.ident,
            "an agent needs at least one lane or store: e.g. `struct MyAgent { lane: ValueLane<i32> }`",
        );
    }
    let items: Vec<ItemModel> = fields
        .iter()
        .filter_map(|field| parse_item(field, &options, &mut errors))
        .collect();
    check_unique_names(&items, &mut errors);
    if !errors.is_empty() {
        return errors.to_compile_errors();
    }
    expand(&input, &options, &items)
}

fn parse_agent_options(attrs: &[syn::Attribute], errors: &mut Errors) -> AgentOptions {
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

fn parse_item<'a>(
    field: &'a syn::Field,
    options: &AgentOptions,
    errors: &mut Errors,
) -> Option<ItemModel<'a>> {
    let ident = field.ident.as_ref()?;
    let mut name: Option<String> = None;
    let mut convention: Option<Convention> = None;
    let mut transient = options.transient;
    let mut init = None;
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
            } else {
                let expected = "`transient`, `name = \"..\"`, `convention = \"..\"` or `init = expr`";
                let known = ["transient", "name", "convention", "init"];
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
    })
}

fn check_unique_names(items: &[ItemModel], errors: &mut Errors) {
    for (i, item) in items.iter().enumerate() {
        if let Some(first) = items[..i].iter().find(|other| other.name == item.name) {
            errors.at(
                item.field,
                format!(
                    "two lanes are named `{}`: `{}` and `{}`; give one another name with `#[item(name = \"...\")]`",
                    item.name, first.field, item.field
                ),
            );
        }
    }
}

fn expand(input: &syn::DeriveInput, options: &AgentOptions, items: &[ItemModel]) -> TokenStream {
    let root = tidal_root(options.root.as_ref());
    let lanes = quote!(#root::agent::lanes);
    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let mut where_clause = where_clause
        .cloned()
        .unwrap_or_else(|| syn::parse_quote!(where));
    let mut default_predicates = Vec::new();
    let mut specs = Vec::new();
    let mut item_arms = Vec::new();
    let mut name_arms = Vec::new();
    let mut inits = Vec::new();
    for (id, item) in items.iter().enumerate() {
        let id = id as u64;
        let ItemModel {
            field,
            ty,
            name: external,
            transient,
            init,
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
            }
        });
        // Naming `KIND` first makes the bound of `__as_item` a duplicate that rustc drops.
        let as_item = quote_spanned!(first=> {
            let _ = <#item_ty as #lanes::Item>::KIND;
            __as_item::<#item_ty>(&self.#field)
        });
        item_arms.push(quote!(#id => ::core::option::Option::Some(#as_item),));
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
        }

        #[automatically_derived]
        impl #impl_generics ::core::default::Default for #name #ty_generics #default_where {
            fn default() -> Self {
                Self { #(#inits)* }
            }
        }
    }
}
