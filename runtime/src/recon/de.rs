//! serde deserialisation from a [`Value`] ([`from_value`], [`from_value_ref`]) or from
//! text ([`from_str`]). See the module docs of [`recon`](crate::recon) for the mapping.

use std::fmt::Display;

use serde::de::{self, Deserialize, DeserializeOwned, Expected, Unexpected, Visitor};

use super::de_access::{AttrMap, Enum, ItemMap, ItemSeq};
use super::error::Error;
use super::parser::parse;
use super::record::{Attr, Item};
use super::value::Value;

/// Parses Recon text and deserialises it as a `T`.
///
/// # Errors
/// [`Error::Parse`] if `text` is not Recon; [`Error::Message`] if the value does not fit
/// `T`.
///
/// ```
/// #[derive(serde::Deserialize, Debug, PartialEq)]
/// struct Point { x: i32, y: i32 }
/// let p: Point = tidal_runtime::recon::from_str("@Point{y:2,x:0x1}").unwrap();
/// assert_eq!(p, Point { x: 1, y: 2 });
/// assert!(tidal_runtime::recon::from_str::<i32>("2.0").is_err());
/// ```
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    let value = parse(text)?;
    from_value_ref(&value)
}

/// Deserialises a `T` from an owned [`Value`].
///
/// # Errors
/// [`Error::Message`] if the value does not fit `T`.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, Error> {
    from_value_ref(&value)
}

/// Deserialises a `T` from a borrowed [`Value`]; `T` may borrow strings and bytes from
/// it (`&str`, `&[u8]`).
///
/// # Errors
/// [`Error::Message`] if the value does not fit `T`.
pub fn from_value_ref<'de, T: Deserialize<'de>>(value: &'de Value) -> Result<T, Error> {
    T::deserialize(Deserializer::new(value))
}

/// An empty value to lend out where a payload is missing.
pub(super) static EXTANT: Value = Value::Extant;

/// What a [`Deserializer`] reads: a whole value, or the items of a record read as a
/// record without attributes (used for enum payloads written after the tag).
#[derive(Debug, Clone, Copy)]
pub(super) enum Source<'de> {
    Value(&'de Value),
    Items(&'de [Item]),
}

/// A `serde::Deserializer` reading directly from a borrowed [`Value`].
#[derive(Debug, Clone, Copy)]
pub struct Deserializer<'de> {
    src: Source<'de>,
}

impl<'de> Deserializer<'de> {
    /// A deserializer reading `value`.
    pub fn new(value: &'de Value) -> Self {
        Deserializer {
            src: Source::Value(value),
        }
    }

    pub(super) fn from_source(src: Source<'de>) -> Self {
        Deserializer { src }
    }

    /// The value read, unless this reads bare items.
    fn value(&self) -> Option<&'de Value> {
        match self.src {
            Source::Value(v) => Some(v),
            Source::Items(_) => None,
        }
    }

    /// Attributes and items, when this reads a record.
    fn record(&self) -> Option<(&'de [Attr], &'de [Item])> {
        match self.src {
            Source::Value(Value::Record(r)) => Some((&r.attrs, &r.items)),
            Source::Items(items) => Some((&[], items)),
            Source::Value(_) => None,
        }
    }

    /// Whether this reads `Absent` or `Extant`.
    fn is_empty_value(&self) -> bool {
        self.value().is_some_and(Value::is_empty_value)
    }

    /// How the value is described in "invalid type" errors.
    fn unexpected(&self) -> Unexpected<'de> {
        match self.src {
            Source::Items(items) => record_unexpected(&[], items),
            Source::Value(v) => match v {
                Value::Absent | Value::Extant => Unexpected::Unit,
                Value::Bool(b) => Unexpected::Bool(*b),
                Value::Int(i) => Unexpected::Signed(*i),
                Value::UInt(u) => Unexpected::Unsigned(*u),
                Value::BigInt(_) => Unexpected::Other("big integer"),
                Value::Float(f) => Unexpected::Float(*f),
                Value::Text(s) => Unexpected::Str(s),
                Value::Data(d) => Unexpected::Bytes(d),
                Value::Record(r) => record_unexpected(&r.attrs, &r.items),
            },
        }
    }

    fn invalid_type(&self, exp: &dyn Expected) -> Error {
        de::Error::invalid_type(self.unexpected(), exp)
    }

    /// Reads the items of a record as a sequence (`Extant` reads as an empty one).
    fn seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.record() {
            Some((_, items)) => visitor.visit_seq(ItemSeq::new(items)),
            None if self.is_empty_value() => visitor.visit_seq(ItemSeq::new(&[])),
            None => Err(self.invalid_type(&visitor)),
        }
    }

    /// Reads the slots of a record as a map (`Extant` reads as an empty one).
    fn map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.record() {
            Some((_, items)) => visitor.visit_map(ItemMap::new(items)),
            None if self.is_empty_value() => visitor.visit_map(ItemMap::new(&[])),
            None => Err(self.invalid_type(&visitor)),
        }
    }

    fn float<V: Visitor<'de>>(self, visitor: V, f32: bool) -> Result<V::Value, Error> {
        let f = match self.value() {
            Some(Value::Text(s)) => special_float(s),
            Some(number) => number.as_f64(),
            None => None,
        };
        let Some(f) = f else {
            return Err(self.invalid_type(&visitor));
        };
        if f32 {
            visitor.visit_f32(f as f32)
        } else {
            visitor.visit_f64(f)
        }
    }
}

/// `Unexpected` for a record: a sequence, a map, or a record with attributes.
fn record_unexpected<'a>(attrs: &[Attr], items: &[Item]) -> Unexpected<'a> {
    if !attrs.is_empty() {
        Unexpected::Other("record with attributes")
    } else if items.iter().any(|i| matches!(i, Item::Slot(..))) {
        Unexpected::Map
    } else {
        Unexpected::Seq
    }
}

/// The texts that the printer uses for non-finite floats, and a few common spellings.
fn special_float(s: &str) -> Option<f64> {
    let s = s.strip_prefix('+').unwrap_or(s);
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let f = if body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("infinity") {
        f64::INFINITY
    } else if body.eq_ignore_ascii_case("nan") {
        f64::NAN
    } else {
        return None;
    };
    Some(if neg { -f } else { f })
}

/// An "integer out of range" error for a big integer.
fn big_out_of_range(n: &dyn Display, exp: &dyn Expected) -> Error {
    de::Error::custom(format_args!(
        "invalid value: integer `{}`, expected {}",
        n, exp
    ))
}

macro_rules! deserialize_int {
    ($($method:ident => $visit:ident($t:ty)),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self.value() {
                Some(Value::Int(i)) => match <$t>::try_from(*i) {
                    Ok(n) => visitor.$visit(n),
                    Err(_) => Err(de::Error::invalid_value(Unexpected::Signed(*i), &visitor)),
                },
                Some(Value::UInt(u)) => match <$t>::try_from(*u) {
                    Ok(n) => visitor.$visit(n),
                    Err(_) => Err(de::Error::invalid_value(Unexpected::Unsigned(*u), &visitor)),
                },
                Some(Value::BigInt(b)) => match <$t>::try_from(b) {
                    Ok(n) => visitor.$visit(n),
                    Err(_) => Err(big_out_of_range(b, &visitor)),
                },
                _ => Err(self.invalid_type(&visitor)),
            }
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Deserializer<'de> {
    type Error = Error;

    deserialize_int! {
        deserialize_i8 => visit_i8(i8),
        deserialize_i16 => visit_i16(i16),
        deserialize_i32 => visit_i32(i32),
        deserialize_i64 => visit_i64(i64),
        deserialize_i128 => visit_i128(i128),
        deserialize_u8 => visit_u8(u8),
        deserialize_u16 => visit_u16(u16),
        deserialize_u32 => visit_u32(u32),
        deserialize_u64 => visit_u64(u64),
        deserialize_u128 => visit_u128(u128),
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let value = match self.src {
            Source::Items(items) => return visit_items(items, visitor),
            Source::Value(v) => v,
        };
        match value {
            Value::Absent | Value::Extant => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(i) => visitor.visit_i64(*i),
            Value::UInt(u) => visitor.visit_u64(*u),
            Value::BigInt(b) => match i128::try_from(b) {
                Ok(n) => visitor.visit_i128(n),
                Err(_) => match u128::try_from(b) {
                    Ok(n) => visitor.visit_u128(n),
                    Err(_) => Err(big_out_of_range(b, &visitor)),
                },
            },
            Value::Float(f) => visitor.visit_f64(*f),
            Value::Text(s) => visitor.visit_borrowed_str(s),
            Value::Data(d) => visitor.visit_borrowed_bytes(d),
            Value::Record(r) if r.items.is_empty() && !r.attrs.is_empty() => {
                visitor.visit_map(AttrMap::new(&r.attrs))
            }
            Value::Record(r) => visit_items(&r.items, visitor),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value() {
            Some(Value::Bool(b)) => visitor.visit_bool(*b),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.float(visitor, true)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.float(visitor, false)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if let Some(Value::Text(s)) = self.value() {
            let mut chars = s.chars();
            if let (Some(c), None) = (chars.next(), chars.next()) {
                return visitor.visit_char(c);
            }
            return Err(de::Error::invalid_value(Unexpected::Str(s), &visitor));
        }
        Err(self.invalid_type(&visitor))
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value() {
            Some(Value::Text(s)) => visitor.visit_borrowed_str(s),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value() {
            Some(Value::Data(d)) => visitor.visit_borrowed_bytes(d),
            Some(Value::Text(s)) => visitor.visit_borrowed_str(s),
            _ => self.seq(visitor),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.is_empty_value() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.record() {
            Some(([], [])) => visitor.visit_unit(),
            None if self.is_empty_value() => visitor.visit_unit(),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.record() {
            Some((_, [])) => visitor.visit_unit(),
            None if self.is_empty_value() => visitor.visit_unit(),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.seq(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, Error> {
        self.seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.map(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.src {
            Source::Value(Value::Text(name)) => visitor.visit_enum(Enum::new(name, &EXTANT, &[])),
            Source::Value(Value::Record(r)) => match r.attrs.first() {
                Some(first) => visitor.visit_enum(Enum::new(&first.name, &first.value, &r.items)),
                None => Err(self.invalid_type(&"an enum variant (`@Variant...` or its name)")),
            },
            _ => Err(self.invalid_type(&"an enum variant (`@Variant...` or its name)")),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value() {
            Some(Value::Text(s)) => visitor.visit_borrowed_str(s),
            Some(Value::Int(i)) if *i >= 0 => visitor.visit_u64(i.unsigned_abs()),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

/// Items as a map when any of them is a slot, otherwise as a sequence.
fn visit_items<'de, V: Visitor<'de>>(items: &'de [Item], visitor: V) -> Result<V::Value, Error> {
    if items.iter().any(|i| matches!(i, Item::Slot(..))) {
        visitor.visit_map(ItemMap::new(items))
    } else {
        visitor.visit_seq(ItemSeq::new(items))
    }
}
