//! Recon: the data format of SwimOS and of its WARP protocol.
//!
//! Recon is a JSON-like text format whose records can carry *attributes*
//! (`@name(args)`) in front of their items. A WARP envelope is one Recon record whose
//! first attribute is the envelope kind:
//!
//! ```
//! use tidal_runtime::recon::{self, Value};
//!
//! let v = recon::parse("@event(node:\"/unit/a\",lane:map)@update(key:k5) 5").unwrap();
//! assert_eq!(v.tag(), Some("event"));
//! assert_eq!(v.to_string(), "@event(node:\"/unit/a\",lane:map)@update(key:k5) 5");
//!
//! let (head, body) = recon::parse_attr_then_body("@command(node:\"/unit/a\",lane:add)5").unwrap();
//! assert_eq!(head.value.get("lane"), Some(&Value::text("add")));
//! assert_eq!(body, Value::Int(5));
//!
//! #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
//! struct Point { x: i32, y: i32 }
//! assert_eq!(recon::to_string(&Point { x: 1, y: 2 }).unwrap(), "@Point{x:1,y:2}");
//! assert_eq!(recon::from_str::<Point>("{y: 2, x: 1}").unwrap(), Point { x: 1, y: 2 });
//! ```
//!
//! # Grammar (as read by [`parse`])
//!
//! * **Text**: an identifier (a letter, `_` or Unicode letter, then letters, digits,
//!   `_`, `-`) or a quoted string with the escapes `\" \\ \/ \b \f \n \r \t \uXXXX`
//!   (surrogate pairs combine), and also `\@ \{ \} \[ \]`. `true`/`false` are booleans.
//! * **Numbers**: `42`, `-7`, `0x1F`, `0b101` (also negative), floats `2.5`, `1e3`,
//!   `-2.5E-3`. Integers are normalised: `i64` range → [`Value::Int`], up to `u64::MAX`
//!   → [`Value::UInt`], beyond → [`Value::BigInt`] (at most
//!   [`lexer::MAX_INT_DIGITS`] digits). A float literal outside the `f64` range is an
//!   error.
//! * **Data**: `%` + base64 (`%AAEC`), padding optional.
//! * **Records**: `{ item, item; item \n item }`, where an item is a value or a slot
//!   `key: value` with any value as key. Empty items between separators are
//!   [`Value::Extant`] (`{1,,3}`, `{1,}` has two items); `{x:}` has an extant slot
//!   value, and so does `{x:` *newline* `...}`.
//! * **Attributes**: `@name`, `@name(args)`, `@"any text"(args)`. The args are a block:
//!   none → `Extant`, one value → that value, otherwise a record. Attributes followed by
//!   a body make one record: `@a 1` is `{@a, 1}`, `@p{x:1}` is `{@p, x:1}`, `@a @b 1`
//!   has two attributes.
//! * **Documents**: a block without braces: empty → `Extant`, one value → that value,
//!   several items → a record (`a: 1, b: 2`). Attributes after a top-level value are
//!   dropped (`1 @post` is `1`), like swim-rust does.
//! * `#` starts a comment up to the end of the line. Markup (`[...]`) is rejected with
//!   an error.
//!
//! **Absent and Extant.** `Extant` is an empty value that is *there* (the argument of
//! `@clear`, the value in `{x:}`, an empty document, `None`). `Absent` is the lack of a
//! value: the parser only produces it as the body of an envelope that has none
//! ([`parse_attr_then_body`]). Both print as nothing.
//!
//! Nesting deeper than [`DEFAULT_MAX_DEPTH`] is an error ([`parse_with_max_depth`] sets
//! another limit), so no input can overflow the stack.
//!
//! # Printing
//!
//! `Display` (and [`write_compact`], [`print_into`]) prints the compact form used on
//! the wire, exactly like swim-rust: `{a:1,b:"x y"}`, `@tag(1) 2`, `@a@b 1`, `1000.0`.
//! [`to_string_pretty`] prints a spaced, indented form. For every value the parser can
//! produce, `parse(&v.to_string()) == v`. The values with no text of their own are
//! `Absent` (prints like `Extant`), a record whose only item is empty (prints like the
//! record without items, as in swim-rust), and non-finite floats (print as the texts
//! `inf`, `"-inf"`, `nan`, which the serde layer reads back as floats).
//!
//! # serde mapping
//!
//! [`to_string`]/[`write_to`] (text) and [`to_value`] (a [`Value`]) serialise;
//! [`from_str`], [`from_value`] and [`from_value_ref`] (borrowing, through
//! [`Deserializer`]) deserialise.
//!
//! | Rust | Recon written | also accepted when reading |
//! |---|---|---|
//! | `bool` | `true` / `false` | |
//! | `i8`..`i64`, `u8`..`u64`, `i128`, `u128` | `42`, `-7` (normalised int) | any Recon int that fits (`0x10` reads as 16); out of range is an error; floats, text, records are errors |
//! | `f32`, `f64` | `2.5`, `1000.0`, `6.02e23`; non-finite: `inf`, `"-inf"`, `nan` | ints; the texts `inf`, `-inf`, `infinity`, `nan` (any case) |
//! | `char` | one-character text | |
//! | `String`, `&str` | `hello` or `"hello world"` (quoted unless an identifier) | identifiers and quoted text only |
//! | bytes (`serde_bytes`) | `%base64` | text, records of ints |
//! | `Option<T>` | `None` → *(Extant)*, `Some(x)` → `x` | `Absent` as `None` |
//! | `()` | *(Extant)* | `{}` |
//! | unit struct `Name` | `@Name` | any record without items, *(Extant)* |
//! | newtype struct `Name(x)` | `x` | |
//! | tuple struct `Name(a, b)` | `@Name{a,b}` | any or no attribute |
//! | struct `Name { f: v }` | `@Name{f:v,...}` | any or no attribute, slots in any order, unknown slots ignored; *(Extant)* as no fields |
//! | `Vec<T>`, sequences, tuples | `{a,b,c}` | attributes ignored; *(Extant)* as empty |
//! | maps | `{k:v,...}` (keys of any type) | attributes ignored; *(Extant)* as empty |
//! | unit variant `E::V` | `@V` | the text `V` |
//! | newtype variant `E::V(x)` | `@V(x)` (`@V` when `x` is empty) | `@V x`, `@V{...}` |
//! | tuple variant `E::V(a, b)` | `@V{a,b}` | `@V(a,b)` |
//! | struct variant `E::V { f: v }` | `@V{f:v}` | `@V(f:v)` |
//!
//! A newtype variant's argument keeps its braces when it is a record with one item or
//! none: `E::V(vec![1])` is `@V({1})`. Only the first attribute names the variant;
//! further attributes are ignored.
//!
//! Known limits of the mapping, shared with serde_json and swim-rust: `Some(None)`,
//! `Some(())` read back as `None`; a sequence whose only element is empty
//! (`vec![None]`) prints as `{}` and reads back empty. `deserialize_any` (untagged
//! enums, `flatten`) sees records with slots as maps, other records as sequences, and a
//! record with attributes but no items as a map from attribute names to arguments.

/// Implements serde's compound-serializer traits other than `SerializeMap` for `$ty`, whose
/// inherent methods do the work: `$element(&mut self, value)` for each element of a sequence,
/// tuple or tuple struct/variant, `$field(&mut self, key, value)` for each field of a struct or
/// struct variant, and `$end(self) -> Result<$ok, Error>` for the end of any of them.
macro_rules! impl_compound_serializers {
    ($ty:ty, $ok:ty, $element:ident, $field:ident, $end:ident) => {
        impl_compound_serializers!(@element $ty, $ok, $element, $end,
            SerializeSeq::serialize_element, SerializeTuple::serialize_element,
            SerializeTupleStruct::serialize_field, SerializeTupleVariant::serialize_field);
        impl_compound_serializers!(@field $ty, $ok, $field, $end,
            SerializeStruct, SerializeStructVariant);
    };
    (@element $ty:ty, $ok:ty, $element:ident, $end:ident, $($trait:ident::$method:ident),*) => {$(
        impl serde::ser::$trait for $ty {
            type Ok = $ok;
            type Error = Error;
            fn $method<T: serde::Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                <$ty>::$element(self, value)
            }
            fn end(self) -> Result<$ok, Error> {
                <$ty>::$end(self)
            }
        }
    )*};
    (@field $ty:ty, $ok:ty, $field:ident, $end:ident, $($trait:ident),*) => {$(
        impl serde::ser::$trait for $ty {
            type Ok = $ok;
            type Error = Error;
            fn serialize_field<T: serde::Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), Error> {
                <$ty>::$field(self, key, value)
            }
            fn end(self) -> Result<$ok, Error> {
                <$ty>::$end(self)
            }
        }
    )*};
}

pub mod de;
mod de_access;
pub mod error;
pub mod lexer;
pub mod lexical;
pub mod parser;
pub mod pretty;
pub mod printer;
pub mod record;
pub mod ser;
pub mod ser_text;
pub mod value;

#[cfg(test)]
mod tests;

pub use de::{from_str, from_value, from_value_ref, Deserializer};
pub use error::{Error, ParseError};
pub use lexical::{is_identifier, write_text};
pub use parser::{
    parse, parse_attr_then_body, parse_body, parse_with_max_depth, DEFAULT_MAX_DEPTH,
};
pub use pretty::{to_string_pretty, write_pretty};
pub use printer::{print_into, write_attr_then_body, write_compact};
pub use record::{Attr, Item, Record};
pub use ser::{to_value, ValueSerializer};
pub use ser_text::{to_string, write_to, TextSerializer};
pub use value::Value;
