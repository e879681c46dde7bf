//! proptest strategies: values the parser can produce, and serde test types.

use std::collections::BTreeMap;

use num_bigint::BigInt;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

use crate::recon::{Attr, Item, Record, Value};

/// Finite floats of every kind: normal, subnormal, zero, both signs.
pub fn finite_f64() -> impl Strategy<Value = f64> {
    use proptest::num::f64 as f;
    f::POSITIVE | f::NEGATIVE | f::NORMAL | f::SUBNORMAL | f::ZERO
}

/// Finite `f32`s.
pub fn finite_f32() -> impl Strategy<Value = f32> {
    use proptest::num::f32 as f;
    f::POSITIVE | f::NEGATIVE | f::NORMAL | f::SUBNORMAL | f::ZERO
}

/// Texts: identifiers, the words `true`/`false`, printable ASCII with quotes and
/// backslashes, control characters, and arbitrary Unicode.
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z_][a-zA-Z0-9_-]{0,8}",
        Just("true".to_owned()),
        Just("false".to_owned()),
        "[ -~]{0,12}",
        "[\"\\\\/\n\t\r\u{0}-\u{1f}\u{7f}é€😀@{}#:,; ]{0,8}",
        any::<String>(),
    ]
}

/// Primitive values in normalised form.
pub fn primitive() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        ((i64::MAX as u64 + 1)..=u64::MAX).prop_map(Value::UInt),
        any::<i128>().prop_map(Value::from_i128),
        (any::<u128>(), any::<bool>()).prop_map(|(m, neg)| {
            let big: BigInt = BigInt::from(m) * BigInt::from(u64::MAX) + BigInt::from(7);
            Value::from_bigint(if neg { -big } else { big })
        }),
        finite_f64().prop_map(Value::Float),
        text().prop_map(Value::Text),
        vec(any::<u8>(), 0..12).prop_map(Value::Data),
    ]
}

/// Attribute names: mostly identifiers, sometimes any text.
fn attr_name() -> impl Strategy<Value = String> {
    prop_oneof![4 => "[a-zA-Z_][a-zA-Z0-9_]{0,6}", 1 => text()]
}

/// Every value the parser can produce: no `Absent`, and no record whose only item is an
/// empty value.
pub fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![9 => primitive(), 1 => Just(Value::Extant)];
    leaf.prop_recursive(4, 64, 6, |inner| {
        let item = prop_oneof![
            inner.clone().prop_map(Item::ValueItem),
            (inner.clone(), inner.clone()).prop_map(|(k, v)| Item::Slot(k, v)),
        ];
        let attr = (attr_name(), inner).prop_map(|(name, value)| Attr { name, value });
        (vec(attr, 0..3), vec(item, 0..5)).prop_map(|(attrs, mut items)| {
            if matches!(items.as_slice(), [Item::ValueItem(v)] if v.is_empty_value()) {
                items.push(Item::ValueItem(Value::Extant));
            }
            Value::Record(Record { attrs, items })
        })
    })
}

/// A unit struct.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Marker;

/// A newtype struct.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meters(pub i32);

/// A tuple struct.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Triple(pub i32, pub String, pub bool);

/// A plain struct.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inner {
    pub name: String,
    pub score: f64,
    pub tags: Vec<String>,
    pub flag: Option<bool>,
}

/// An enum with every kind of variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Shape {
    Empty,
    Circle(f64),
    Rect { w: i32, h: i32 },
    Pair(i64, String),
    Wrapped(Inner),
    List(Vec<u8>),
    Maybe(Option<i32>),
    Nested(Box<Shape>),
    NoFields(),
}

/// A struct using most of the data model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outer {
    pub id: u64,
    pub big: i128,
    pub huge: u128,
    pub small: i8,
    pub ch: char,
    pub text: String,
    pub maybe: Option<String>,
    pub nested: Vec<Vec<i32>>,
    pub opts: Vec<Option<i32>>,
    pub by_name: BTreeMap<String, i32>,
    pub by_int: BTreeMap<i64, String>,
    pub by_pair: BTreeMap<(i8, bool), Vec<i8>>,
    pub shapes: Vec<Shape>,
    pub marker: Marker,
    pub meters: Meters,
    pub triple: Triple,
    pub pair: (u16, f32),
    pub unit: (),
    pub opt_shape: Option<Shape>,
    pub inner: Inner,
}

pub fn inner() -> impl Strategy<Value = Inner> {
    (
        text(),
        finite_f64(),
        vec(text(), 0..3),
        any::<Option<bool>>(),
    )
        .prop_map(|(name, score, tags, flag)| Inner {
            name,
            score,
            tags,
            flag,
        })
}

pub fn shape() -> impl Strategy<Value = Shape> {
    let leaf = prop_oneof![
        Just(Shape::Empty),
        Just(Shape::NoFields()),
        finite_f64().prop_map(Shape::Circle),
        (any::<i32>(), any::<i32>()).prop_map(|(w, h)| Shape::Rect { w, h }),
        (any::<i64>(), text()).prop_map(|(a, b)| Shape::Pair(a, b)),
        inner().prop_map(Shape::Wrapped),
        vec(any::<u8>(), 0..4).prop_map(Shape::List),
        any::<Option<i32>>().prop_map(Shape::Maybe),
    ];
    leaf.prop_recursive(3, 8, 1, |inner| {
        inner.prop_map(|s| Shape::Nested(Box::new(s)))
    })
}

/// `Vec<Option<i32>>` except the one shape Recon cannot tell from empty: `[None]`.
fn opts() -> impl Strategy<Value = Vec<Option<i32>>> {
    vec(any::<Option<i32>>(), 0..5).prop_map(|mut v| {
        if v == [None] {
            v.push(Some(0));
        }
        v
    })
}

pub fn outer() -> impl Strategy<Value = Outer> {
    let numbers = (
        any::<u64>(),
        any::<i128>(),
        any::<u128>(),
        any::<i8>(),
        any::<char>(),
    );
    let texts = (
        text(),
        proptest::option::of(text()),
        vec(vec(any::<i32>(), 0..3), 0..3),
        opts(),
    );
    let maps = (
        btree_map(text(), any::<i32>(), 0..3),
        btree_map(any::<i64>(), text(), 0..3),
        btree_map(any::<(i8, bool)>(), vec(any::<i8>(), 0..2), 0..3),
    );
    let rest = (
        vec(shape(), 0..3),
        any::<i32>(),
        (any::<i32>(), text(), any::<bool>()),
        (any::<u16>(), finite_f32()),
        proptest::option::of(shape()),
        inner(),
    );
    (numbers, texts, maps, rest).prop_map(
        |(
            (id, big, huge, small, ch),
            (text, maybe, nested, opts),
            (by_name, by_int, by_pair),
            r,
        )| Outer {
            id,
            big,
            huge,
            small,
            ch,
            text,
            maybe,
            nested,
            opts,
            by_name,
            by_int,
            by_pair,
            shapes: r.0,
            marker: Marker,
            meters: Meters(r.1),
            triple: Triple(r.2 .0, r.2 .1, r.2 .2),
            pair: r.3,
            unit: (),
            opt_shape: r.4,
            inner: r.5,
        },
    )
}
