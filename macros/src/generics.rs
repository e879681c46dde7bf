//! Generic parameters of the user's item, as the generated impls repeat them.

/// The item's `where` clause, or an empty one, to add predicates to.
pub(crate) fn where_clause(generics: &syn::Generics) -> syn::WhereClause {
    generics
        .where_clause
        .clone()
        .unwrap_or_else(|| syn::parse_quote!(where))
}
