//! Where the `tidal` crate is, as seen from the user's crate.

use proc_macro2::{Span, TokenStream};
use quote::quote;

/// The path of the `tidal` facade: `::tidal` unless the user renamed the dependency (found in
/// their Cargo.toml), or an explicit `root = path` override.
pub(crate) fn tidal_root(explicit: Option<&syn::Path>) -> TokenStream {
    if let Some(path) = explicit {
        return quote!(#path);
    }
    match proc_macro_crate::crate_name("tidal") {
        Ok(proc_macro_crate::FoundCrate::Name(name)) => {
            let ident = syn::Ident::new(&name, Span::call_site());
            quote!(::#ident)
        }
        // Inside tidal itself (its tests, examples and benches) `::tidal` resolves too.
        _ => quote!(::tidal),
    }
}
