//! The Recon [`Value`] model.

use std::fmt;

use num_bigint::BigInt;

use super::record::{Attr, Item, Record};

/// A Recon value.
///
/// Integers are kept *normalised* by the parser and by the constructors in this
/// module: a value that fits `i64` is [`Value::Int`], one between `i64::MAX` and
/// `u64::MAX` is [`Value::UInt`], anything else is [`Value::BigInt`]. Equality
/// (`==`) compares integers by numeric value whatever the variant, so a
/// non-normalised `BigInt(5)` still equals `Int(5)`.
///
/// `Absent` and `Extant` both print as nothing:
/// * **`Extant`** is "present but empty": the value of `@clear`'s attribute, of the
///   slot in `{x:}`, of an empty input, of `None` and `()` in the serde mapping.
/// * **`Absent`** is "nothing at all". The parser never produces it inside a value; it
///   only appears as the body of an envelope without one (see
///   [`parse_attr_then_body`](crate::recon::parse_attr_then_body)). Printed inside a
///   record it behaves like `Extant`.
#[derive(Debug, Clone, Default)]
pub enum Value {
    /// No value at all (e.g. the missing body of a WARP envelope).
    #[default]
    Absent,
    /// An empty value, written as nothing where a value is expected.
    Extant,
    /// `true` or `false`.
    Bool(bool),
    /// An integer that fits in `i64`.
    Int(i64),
    /// An integer in `i64::MAX + 1 ..= u64::MAX`.
    UInt(u64),
    /// An integer outside the `i64`/`u64` ranges.
    BigInt(BigInt),
    /// A 64-bit float.
    Float(f64),
    /// Text: an identifier or a quoted string.
    Text(String),
    /// Binary data, written `%` + base64.
    Data(Vec<u8>),
    /// A record: attributes followed by items.
    Record(Record),
}

impl Value {
    /// A text value.
    pub fn text(s: impl Into<String>) -> Value {
        Value::Text(s.into())
    }

    /// A record with a single attribute `@name` (extant value) and no items,
    /// i.e. the value printed as `@name`.
    pub fn of_attr(name: impl Into<String>) -> Value {
        Value::Record(Record::new().with_attr(Attr::of(name)))
    }

    /// A record with a single attribute `@name(value)` and no items.
    pub fn of_attr_with(name: impl Into<String>, value: impl Into<Value>) -> Value {
        Value::Record(Record::new().with_attr(Attr::new(name, value)))
    }

    /// A record without attributes whose items are the given values, e.g. `{1,2,3}`.
    pub fn of_items<I, V>(items: I) -> Value
    where
        I: IntoIterator<Item = V>,
        V: Into<Value>,
    {
        Value::Record(Record::from_items(
            items.into_iter().map(|v| Item::ValueItem(v.into())),
        ))
    }

    /// A record without attributes whose items are the given slots, e.g. `{a:1,b:2}`.
    pub fn of_slots<I, K, V>(slots: I) -> Value
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<Value>,
        V: Into<Value>,
    {
        Value::Record(Record::from_items(
            slots
                .into_iter()
                .map(|(k, v)| Item::Slot(k.into(), v.into())),
        ))
    }

    /// A normalised integer from a big integer (see the type docs).
    pub fn from_bigint(n: BigInt) -> Value {
        if let Ok(i) = i64::try_from(&n) {
            Value::Int(i)
        } else if let Ok(u) = u64::try_from(&n) {
            Value::UInt(u)
        } else {
            Value::BigInt(n)
        }
    }

    /// A normalised integer from a `u64`.
    pub fn from_u64(n: u64) -> Value {
        i64::try_from(n).map_or(Value::UInt(n), Value::Int)
    }

    /// A normalised integer from an `i128`.
    pub fn from_i128(n: i128) -> Value {
        if let Ok(i) = i64::try_from(n) {
            Value::Int(i)
        } else if let Ok(u) = u64::try_from(n) {
            Value::UInt(u)
        } else {
            Value::BigInt(BigInt::from(n))
        }
    }

    /// A normalised integer from a `u128`.
    pub fn from_u128(n: u128) -> Value {
        u64::try_from(n).map_or_else(|_| Value::BigInt(BigInt::from(n)), Value::from_u64)
    }

    /// Whether this is [`Value::Absent`].
    pub fn is_absent(&self) -> bool {
        matches!(self, Value::Absent)
    }

    /// Whether this is [`Value::Extant`].
    pub fn is_extant(&self) -> bool {
        matches!(self, Value::Extant)
    }

    /// Whether this value prints as nothing ([`Value::Absent`] or [`Value::Extant`]).
    pub fn is_empty_value(&self) -> bool {
        matches!(self, Value::Absent | Value::Extant)
    }

    /// The boolean, if this is a [`Value::Bool`].
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The integer as `i64`, if this is an integer that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::UInt(u) => i64::try_from(*u).ok(),
            Value::BigInt(b) => i64::try_from(b).ok(),
            _ => None,
        }
    }

    /// The integer as `u64`, if this is an integer that fits.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Int(i) => u64::try_from(*i).ok(),
            Value::UInt(u) => Some(*u),
            Value::BigInt(b) => u64::try_from(b).ok(),
            _ => None,
        }
    }

    /// The integer as an `i128`, if this is an integer that fits.
    pub fn as_i128(&self) -> Option<i128> {
        match self {
            Value::Int(i) => Some(i128::from(*i)),
            Value::UInt(u) => Some(i128::from(*u)),
            Value::BigInt(b) => i128::try_from(b).ok(),
            _ => None,
        }
    }

    /// The number as `f64`: floats as they are, integers converted (possibly rounded).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            Value::UInt(u) => Some(*u as f64),
            Value::BigInt(b) => b.to_string().parse().ok(),
            _ => None,
        }
    }

    /// The text, if this is a [`Value::Text`].
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The bytes, if this is a [`Value::Data`].
    pub fn as_data(&self) -> Option<&[u8]> {
        match self {
            Value::Data(d) => Some(d),
            _ => None,
        }
    }

    /// The record, if this is a [`Value::Record`].
    pub fn as_record(&self) -> Option<&Record> {
        match self {
            Value::Record(r) => Some(r),
            _ => None,
        }
    }

    /// The record, mutably, if this is a [`Value::Record`].
    pub fn as_record_mut(&mut self) -> Option<&mut Record> {
        match self {
            Value::Record(r) => Some(r),
            _ => None,
        }
    }

    /// The name of the first attribute, if this is a record with attributes
    /// (`@update(key:k) 5` has tag `update`).
    pub fn tag(&self) -> Option<&str> {
        self.as_record().and_then(Record::tag)
    }

    /// The value of the first slot whose key is the text `key`, if this is a record.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_record().and_then(|r| r.get(key))
    }

    /// Splits off the first attribute and returns it with the rest of the record as a
    /// body: see [`Record::split_first_attr`]. `None` if this is not a record with
    /// attributes.
    pub fn split_first_attr(self) -> Option<(Attr, Value)> {
        match self {
            Value::Record(r) => r.split_first_attr(),
            _ => None,
        }
    }

    /// Prints this value in the multi-line "pretty" form (see
    /// [`to_string_pretty`](crate::recon::to_string_pretty)).
    pub fn to_string_pretty(&self) -> String {
        super::pretty::to_string_pretty(self)
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        use Value::*;
        match (self, other) {
            (Absent, Absent) | (Extant, Extant) => true,
            (Bool(a), Bool(b)) => a == b,
            (Int(_) | UInt(_) | BigInt(_), Int(_) | UInt(_) | BigInt(_)) => {
                match (self.as_i128(), other.as_i128()) {
                    (Some(a), Some(b)) => a == b,
                    (None, None) => match (self, other) {
                        (BigInt(a), BigInt(b)) => a == b,
                        _ => false,
                    },
                    _ => false,
                }
            }
            (Float(a), Float(b)) => a == b || (a.is_nan() && b.is_nan()),
            (Text(a), Text(b)) => a == b,
            (Data(a), Data(b)) => a == b,
            (Record(a), Record(b)) => a == b,
            _ => false,
        }
    }
}

impl fmt::Display for Value {
    /// The compact form: `{a:1,b:"x y"}`, `@tag(1) 2`, `@a@b 1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        super::printer::write_compact(f, self)
    }
}

macro_rules! from_small_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(n: $t) -> Value {
                Value::Int(i64::from(n))
            }
        }
    )*};
}
from_small_int!(i8, i16, i32, i64, u8, u16, u32);

impl From<u64> for Value {
    fn from(n: u64) -> Value {
        Value::from_u64(n)
    }
}

impl From<i128> for Value {
    fn from(n: i128) -> Value {
        Value::from_i128(n)
    }
}

impl From<u128> for Value {
    fn from(n: u128) -> Value {
        Value::from_u128(n)
    }
}

impl From<BigInt> for Value {
    fn from(n: BigInt) -> Value {
        Value::from_bigint(n)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Value {
        Value::Float(f)
    }
}

impl From<f32> for Value {
    fn from(f: f32) -> Value {
        Value::Float(super::lexical::f32_to_f64(f))
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Text(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Text(s)
    }
}

impl From<Vec<u8>> for Value {
    fn from(d: Vec<u8>) -> Value {
        Value::Data(d)
    }
}

impl From<Record> for Value {
    fn from(r: Record) -> Value {
        Value::Record(r)
    }
}

impl From<()> for Value {
    fn from(_: ()) -> Value {
        Value::Extant
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    /// `None` becomes [`Value::Extant`].
    fn from(o: Option<T>) -> Value {
        o.map_or(Value::Extant, Into::into)
    }
}
