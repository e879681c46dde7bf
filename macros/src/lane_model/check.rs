//! Validation: the shape of the input (a struct with named fields) and the lane names.

use super::attr::ItemModel;
use crate::errors::Errors;

/// The named fields of a struct input; anything else is an error at the type's name.
pub(super) fn named_fields<'a>(
    input: &'a syn::DeriveInput,
    errors: &mut Errors,
) -> Option<&'a syn::punctuated::Punctuated<syn::Field, syn::Token![,]>> {
    const EXAMPLE: &str = "e.g. `struct MyAgent { lane: ValueLane<i32> }`";
    let message = match &input.data {
        syn::Data::Struct(data) => match &data.fields {
            syn::Fields::Named(named) if !named.named.is_empty() => return Some(&named.named),
            syn::Fields::Unnamed(_) => {
                format!("tuple structs cannot be agents: name each lane, {EXAMPLE}")
            }
            _ => format!("an agent needs at least one lane or store: {EXAMPLE}"),
        },
        _ => format!(
            "`AgentLaneModel` can only be derived for a struct of lanes and stores, {EXAMPLE}"
        ),
    };
    errors.at(&input.ident, message);
    None
}

/// Two lanes may not have the same external name.
pub(super) fn check_unique_names(items: &[ItemModel], errors: &mut Errors) {
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
