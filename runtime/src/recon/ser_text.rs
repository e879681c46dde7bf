//! serde serialisation straight to compact Recon text ([`to_string`], [`write_to`]),
//! without building a [`Value`](crate::recon::Value) first.
//!
//! For every type whose `Serialize` comes from `#[derive]`, the text is exactly
//! `to_value(x)?.to_string()`.

use std::fmt;

use serde::ser::{self, Serialize};

use super::error::Error;
use super::lexical::{write_data, write_f32, write_float, write_text};

/// Serialises `value` to compact Recon text.
///
/// # Errors
/// An [`Error`] if `value`'s `Serialize` implementation fails (for instance, a map key
/// that is not a string or number).
///
/// ```
/// #[derive(serde::Serialize)]
/// struct Point { x: i32, y: i32 }
/// assert_eq!(tidal_runtime::recon::to_string(&Point { x: 1, y: 2 }).unwrap(), "@Point{x:1,y:2}");
/// ```
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, Error> {
    let mut out = String::new();
    write_to(&mut out, value)?;
    Ok(out)
}

/// Appends the compact Recon text of `value` to `out`. On error, `out` is left as it
/// was.
///
/// # Errors
/// As [`to_string`].
pub fn write_to<T: Serialize + ?Sized>(out: &mut String, value: &T) -> Result<(), Error> {
    let start = out.len();
    let result = value.serialize(TextSerializer { out, arg: false });
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn fmt_err(r: fmt::Result) -> Result<(), Error> {
    r.map_err(|_| Error::Message("formatting failed".into()))
}

/// A `serde::Serializer` writing compact Recon into a `String`.
///
/// `arg` is set when the value is the argument of an attribute (the payload of a
/// newtype variant `@Variant(payload)`), where it must be wrapped in parentheses.
pub struct TextSerializer<'o> {
    out: &'o mut String,
    arg: bool,
}

impl<'o> TextSerializer<'o> {
    /// A serialiser appending to `out`.
    pub fn new(out: &'o mut String) -> Self {
        TextSerializer { out, arg: false }
    }

    /// Writes a primitive with `write`, in parentheses when it is an attribute argument.
    fn primitive(self, write: impl FnOnce(&mut String) -> fmt::Result) -> Result<(), Error> {
        if self.arg {
            self.out.push('(');
            fmt_err(write(self.out))?;
            self.out.push(')');
            Ok(())
        } else {
            fmt_err(write(self.out))
        }
    }

    /// Starts a record written with an attribute (`@name{...}`).
    fn tagged(self, name: &str) -> Result<Compound<'o>, Error> {
        if self.arg {
            self.out.push('(');
        }
        self.out.push('@');
        fmt_err(write_text(self.out, name))?;
        Ok(Compound {
            out: self.out,
            tagged: true,
            arg: self.arg,
            count: 0,
            single_value: false,
            mark: 0,
        })
    }

    /// Starts a record without attributes (`{...}`).
    fn plain(self) -> Compound<'o> {
        self.out.push(if self.arg { '(' } else { '{' });
        let mark = self.out.len();
        Compound {
            out: self.out,
            tagged: false,
            arg: self.arg,
            count: 0,
            single_value: false,
            mark,
        }
    }
}

/// A record being written by [`TextSerializer`].
pub struct Compound<'o> {
    out: &'o mut String,
    tagged: bool,
    arg: bool,
    count: usize,
    single_value: bool,
    mark: usize,
}

impl Compound<'_> {
    /// Writes what goes before an item: `{` for the first item of a tagged record, `,`
    /// between items.
    fn separator(&mut self) {
        if self.count > 0 {
            self.out.push(',');
        } else if self.tagged {
            self.out.push('{');
        }
        self.count += 1;
    }

    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.separator();
        self.single_value = self.count == 1;
        value.serialize(TextSerializer::new(self.out))
    }

    fn slot<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &mut self,
        key: &K,
        value: &V,
    ) -> Result<(), Error> {
        self.separator();
        self.single_value = false;
        key.serialize(TextSerializer::new(self.out))?;
        self.out.push(':');
        value.serialize(TextSerializer::new(self.out))
    }

    fn key<K: Serialize + ?Sized>(&mut self, key: &K) -> Result<(), Error> {
        self.separator();
        self.single_value = false;
        key.serialize(TextSerializer::new(self.out))?;
        self.out.push(':');
        Ok(())
    }

    fn end(self) -> Result<(), Error> {
        if self.tagged {
            if self.count > 0 {
                self.out.push('}');
            }
            if self.arg {
                self.out.push(')');
            }
        } else if self.arg {
            // `@V()` and `@V(x)` would read back as `Extant` and `x`: keep the braces.
            if self.count == 0 {
                self.out.push_str("{})");
            } else if self.count == 1 && self.single_value {
                self.out.insert(self.mark, '{');
                self.out.push_str("})");
            } else {
                self.out.push(')');
            }
        } else {
            self.out.push('}');
        }
        Ok(())
    }
}

impl<'o> ser::Serializer for TextSerializer<'o> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'o>;
    type SerializeTuple = Compound<'o>;
    type SerializeTupleStruct = Compound<'o>;
    type SerializeTupleVariant = Compound<'o>;
    type SerializeMap = Compound<'o>;
    type SerializeStruct = Compound<'o>;
    type SerializeStructVariant = Compound<'o>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.primitive(|o| fmt::Write::write_str(o, if v { "true" } else { "false" }))
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.primitive(|o| fmt::Write::write_fmt(o, format_args!("{}", v)))
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        self.primitive(|o| fmt::Write::write_fmt(o, format_args!("{}", v)))
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.primitive(|o| fmt::Write::write_fmt(o, format_args!("{}", v)))
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        self.primitive(|o| fmt::Write::write_fmt(o, format_args!("{}", v)))
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.primitive(|o| write_f32(o, v))
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.primitive(|o| write_float(o, v))
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        let mut buf = [0u8; 4];
        let s: &str = v.encode_utf8(&mut buf);
        self.primitive(|o| write_text(o, s))
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.primitive(|o| write_text(o, v))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        self.primitive(|o| write_data(o, v))
    }
    fn serialize_none(self) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_unit_struct(self, name: &'static str) -> Result<(), Error> {
        self.tagged(name)?.end()
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.tagged(variant)?.end()
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        let arg = self.arg;
        let head = self.tagged(variant)?;
        value.serialize(TextSerializer {
            out: &mut *head.out,
            arg: true,
        })?;
        if arg {
            head.out.push(')');
        }
        Ok(())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'o>, Error> {
        Ok(self.plain())
    }
    fn serialize_tuple(self, _: usize) -> Result<Compound<'o>, Error> {
        Ok(self.plain())
    }
    fn serialize_tuple_struct(self, name: &'static str, _: usize) -> Result<Compound<'o>, Error> {
        self.tagged(name)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'o>, Error> {
        self.tagged(variant)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'o>, Error> {
        Ok(self.plain())
    }
    fn serialize_struct(self, name: &'static str, _: usize) -> Result<Compound<'o>, Error> {
        self.tagged(name)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'o>, Error> {
        self.tagged(variant)
    }
}

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.key(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(TextSerializer::new(self.out))
    }
    fn serialize_entry<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &mut self,
        key: &K,
        value: &V,
    ) -> Result<(), Error> {
        self.slot(key, value)
    }
    fn end(self) -> Result<(), Error> {
        Compound::end(self)
    }
}

impl_compound_serializers!(Compound<'_>, (), value, slot, end);
