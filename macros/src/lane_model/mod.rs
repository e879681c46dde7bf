//! `#[derive(AgentLaneModel)]`: the item table, dispatch by id and `Default`.
//!
//! Parse (`attr`), validate (`check`), expand (`expand`). An input with errors still gets the
//! trait impls, with stub bodies, so each mistake gives exactly one message.

mod attr;
mod check;
mod expand;

use proc_macro2::TokenStream;

use crate::errors::Errors;

pub(crate) fn derive(input: syn::DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let options = attr::parse_agent_options(&input.attrs, &mut errors);
    let items: Vec<attr::ItemModel> = check::named_fields(&input, &mut errors)
        .into_iter()
        .flatten()
        .filter_map(|field| attr::parse_item(field, &options, &mut errors))
        .collect();
    check::check_unique_names(&items, &mut errors);
    match errors.finish() {
        Ok(()) => expand::expand(&input, &options, &items),
        Err(errors) => {
            let fallback = expand::fallback(&input, &options);
            quote::quote!(#errors #fallback)
        }
    }
}
