//! Map lane bodies: the WARP form of map operations, the bodies of map lane `@event`s and
//! `@command`s.
//!
//! | operation | Recon |
//! |---|---|
//! | [`MapMessage::Update`] | `@update(key:K) V` (`V` is the rest of the record) |
//! | [`MapMessage::Remove`] | `@remove(key:K)` |
//! | [`MapMessage::Clear`] | `@clear` |
//! | [`MapMessage::Take`] | `@take(n)` |
//! | [`MapMessage::Drop`] | `@drop(n)` |
//!
//! The value of an update is what follows the `@update(...)` attribute in the same
//! record: `@update(key:k5) 5`, `@update(key:"x y"){a:1}`, `@update(key:p)@Point{x:1}`.
//! A record value that would lose its braces there (`{}` or `{5}`) is written nested,
//! `@update(key:k){{5}}`, so that every value reads back as itself.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::describe_value;
use crate::recon::{from_value_ref, to_value, Attr, Error as ReconError, Item, Record, Value};

/// An operation on a map lane: what a command to a map lane (and a map downlink) carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MapMessage<K, V> {
    /// Insert or replace the entry for `key`.
    Update {
        /// The key.
        key: K,
        /// The new value.
        value: V,
    },
    /// Remove the entry for `key` (nothing happens if it is absent).
    Remove {
        /// The key.
        key: K,
    },
    /// Remove every entry.
    Clear,
    /// Keep the first `n` entries in key order, removing the rest.
    Take(u64),
    /// Remove the first `n` entries in key order.
    Drop(u64),
}

/// Why a map lane body could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MapBodyError {
    /// The body is not one of the five forms: the message says what was wrong (an unknown
    /// tag, a missing or malformed `key:` slot, a bad count, a value after an operation that
    /// takes none).
    #[error("{0}")]
    Malformed(String),
    /// The key or the value does not fit the lane's type.
    #[error("the {part} of `@{tag}` does not fit the lane's type (found {found})")]
    DoesNotFit {
        /// `"key"` or `"value"`.
        part: &'static str,
        /// The operation: `update` or `remove`.
        tag: &'static str,
        /// What was found, as the messages describe values.
        found: String,
        /// Why it does not fit.
        #[source]
        source: Box<ReconError>,
    },
    /// The key or the value could not be serialised.
    #[error("cannot encode the {part} of a map operation")]
    Encode {
        /// `"key"` or `"value"`.
        part: &'static str,
        /// Why.
        #[source]
        source: Box<ReconError>,
    },
}

/// Converts a map operation to its WARP body: `@update(key:K) V`, `@remove(key:K)`,
/// `@clear`, `@take(n)` or `@drop(n)`.
///
/// # Errors
/// [`MapBodyError::Encode`] when serialising the key or the value fails.
///
/// ```
/// use tidal_runtime::warp::{map_message_to_value, MapMessage};
/// let update = MapMessage::Update { key: "k5".to_owned(), value: 5 };
/// assert_eq!(map_message_to_value(&update).unwrap().to_string(), "@update(key:k5) 5");
/// let take = MapMessage::<String, i32>::Take(3);
/// assert_eq!(map_message_to_value(&take).unwrap().to_string(), "@take(3)");
/// ```
pub fn map_message_to_value<K: Serialize, V: Serialize>(
    message: &MapMessage<K, V>,
) -> Result<Value, MapBodyError> {
    Ok(match message {
        MapMessage::Update { key, value } => {
            map_update_value(encode(key, "key")?, encode(value, "value")?)
        }
        MapMessage::Remove { key } => map_remove_value(encode(key, "key")?),
        MapMessage::Clear => Value::of_attr("clear"),
        MapMessage::Take(n) => Value::of_attr_with("take", *n),
        MapMessage::Drop(n) => Value::of_attr_with("drop", *n),
    })
}

/// Reads a map operation from its WARP body (see [`map_message_to_value`]).
///
/// Accepts exactly the five forms: the named slot `key:` (with a key of any Recon type)
/// for update and remove, a bare non-negative integer for take and drop, nothing after
/// `@remove(...)`, `@clear`, `@take(...)` and `@drop(...)`. An update without a value
/// part (`@update(key:k)`) reads `V` from an empty (extant) value, so it suits `Option`,
/// `()` and collections. Glued and spaced spellings are the same Recon
/// (`@update(key:direct)42`, `@update(key: direct) 42`).
///
/// # Errors
/// [`MapBodyError::Malformed`] says what was wrong with the form (an unknown tag, a missing
/// `key:`, a negative count...); [`MapBodyError::DoesNotFit`] names the key or value that does
/// not fit `K` or `V`, with the serde error as its source.
///
/// ```
/// use tidal_runtime::warp::{map_message_from_value, MapMessage};
/// use tidal_runtime::recon::parse;
/// let body = parse("@update(key:direct)42").unwrap();
/// let op: MapMessage<String, i32> = map_message_from_value(&body).unwrap();
/// assert_eq!(op, MapMessage::Update { key: "direct".to_owned(), value: 42 });
/// let bad = parse("@take(-1)").unwrap();
/// assert!(map_message_from_value::<String, i32>(&bad).is_err());
/// ```
pub fn map_message_from_value<K: DeserializeOwned, V: DeserializeOwned>(
    value: &Value,
) -> Result<MapMessage<K, V>, MapBodyError> {
    read_map_message(
        value,
        |key, tag| decode(key, tag, "key"),
        |value| decode(value, "update", "value"),
    )
}

/// Reads a map operation from its WARP body with its key and value as Recon values, whatever
/// the lane's types: what a tool that does not know them sees (the `tidal` command-line tool).
///
/// # Errors
/// [`MapBodyError::Malformed`], as [`map_message_from_value`] gives it.
///
/// ```
/// use tidal_runtime::recon::{parse, Value};
/// use tidal_runtime::warp::{map_message_from_recon, MapMessage};
/// let op = map_message_from_recon(&parse("@update(key:k)@p{x:1}").unwrap()).unwrap();
/// assert_eq!(op, MapMessage::Update { key: Value::text("k"), value: parse("@p{x:1}").unwrap() });
/// ```
pub fn map_message_from_recon(value: &Value) -> Result<MapMessage<Value, Value>, MapBodyError> {
    read_map_message(value, |key, _| Ok(key.clone()), |value| Ok(value.clone()))
}

/// Reads the form of a map operation, converting its key and value with `key` and `value`.
fn read_map_message<K, V>(
    value: &Value,
    key: impl FnOnce(&Value, &'static str) -> Result<K, MapBodyError>,
    update_value: impl FnOnce(&Value) -> Result<V, MapBodyError>,
) -> Result<MapMessage<K, V>, MapBodyError> {
    let Some((record, head, rest_attrs)) = value.as_record().and_then(|r| {
        r.attrs
            .split_first()
            .map(|(head, rest_attrs)| (r, head, rest_attrs))
    }) else {
        return Err(MapBodyError::Malformed(format!(
            "expected a map operation (`@update(key:k) v`, `@remove(key:k)`, `@clear`, \
             `@take(n)` or `@drop(n)`), found {}",
            describe_value(value)
        )));
    };
    let items = record.items.as_slice();
    let tag = head.name.as_str();
    match tag {
        "update" => {
            let key = key(read_key(tag, &head.value)?, "update")?;
            let value = with_rest(rest_attrs, items, update_value)?;
            Ok(MapMessage::Update { key, value })
        }
        "remove" => {
            let key = key(read_key(tag, &head.value)?, "remove")?;
            nothing_after(tag, rest_attrs, items)?;
            Ok(MapMessage::Remove { key })
        }
        "clear" => {
            if !head.value.is_empty_value() {
                return Err(MapBodyError::Malformed(format!(
                    "`@clear` takes no argument, found {}",
                    describe_value(&head.value)
                )));
            }
            nothing_after(tag, rest_attrs, items)?;
            Ok(MapMessage::Clear)
        }
        "take" | "drop" => {
            let n = read_count(tag, &head.value)?;
            nothing_after(tag, rest_attrs, items)?;
            Ok(if tag == "take" {
                MapMessage::Take(n)
            } else {
                MapMessage::Drop(n)
            })
        }
        other => Err(MapBodyError::Malformed(format!(
            "unknown map operation `@{}` (expected update, remove, clear, take or drop)",
            other
        ))),
    }
}

/// The body `@update(key:K) V` from an already converted key and value, taking them
/// by value (no copy).
///
/// `V` becomes the rest of the record: `5` gives `@update(key:k) 5`, `{a:1}` gives
/// `@update(key:k){a:1}`, `@Point{x:1}` gives `@update(key:k)@Point{x:1}`, an empty
/// value gives `@update(key:k)`; the records `{}` and `{x}` stay nested
/// (`@update(key:k){{x}}`) so they read back as records.
pub fn map_update_value(key: Value, value: Value) -> Value {
    let mut record = Record::new().with_attr(key_attr("update", key));
    match value {
        Value::Absent | Value::Extant => {}
        Value::Record(r)
            if r.attrs.is_empty() && matches!(r.items.as_slice(), [] | [Item::ValueItem(_)]) =>
        {
            record.items.push(Item::ValueItem(Value::Record(r)));
        }
        Value::Record(Record { attrs, items }) => {
            record.attrs.extend(attrs);
            record.items = items;
        }
        other => record.items.push(Item::ValueItem(other)),
    }
    Value::Record(record)
}

/// The body `@remove(key:K)` from an already converted key.
pub fn map_remove_value(key: Value) -> Value {
    Value::Record(Record::new().with_attr(key_attr("remove", key)))
}

/// The body of a map lane event from a borrowed key and value: `@update(key:K) V` when
/// there is a value, `@remove(key:K)` when there is none. Copies `key` and `value`;
/// see [`map_update_value`] and [`map_remove_value`] for the owned forms.
pub fn map_event_body(key: &Value, value: Option<&Value>) -> Value {
    match value {
        Some(value) => map_update_value(key.clone(), value.clone()),
        None => map_remove_value(key.clone()),
    }
}

/// The attribute `@tag(key:K)`.
fn key_attr(tag: &str, key: Value) -> Attr {
    Attr::new(
        tag,
        Value::Record(Record::from_items([Item::Slot(Value::text("key"), key)])),
    )
}

/// Serialises the key or the value of an operation.
fn encode<T: Serialize>(x: &T, part: &'static str) -> Result<Value, MapBodyError> {
    to_value(x).map_err(|source| MapBodyError::Encode {
        part,
        source: Box::new(source),
    })
}

/// Deserialises the key or the value of an operation.
fn decode<T: DeserializeOwned>(
    value: &Value,
    tag: &'static str,
    part: &'static str,
) -> Result<T, MapBodyError> {
    from_value_ref(value).map_err(|source| MapBodyError::DoesNotFit {
        part,
        tag,
        found: describe_value(value),
        source: Box::new(source),
    })
}

/// The key of `@update(key:K)` or `@remove(key:K)`: exactly one slot, named `key`.
fn read_key<'a>(tag: &str, header: &'a Value) -> Result<&'a Value, MapBodyError> {
    let items = match header {
        Value::Record(r) if r.attrs.is_empty() => r.items.as_slice(),
        Value::Absent | Value::Extant => &[],
        other => {
            return Err(MapBodyError::Malformed(format!(
                "the key of `@{}` must be the named slot `key:` (as in `@{}(key:k)`), found {}",
                tag,
                tag,
                describe_value(other)
            )))
        }
    };
    match items {
        [Item::Slot(Value::Text(name), key)] if name == "key" => Ok(key),
        [] => Err(MapBodyError::Malformed(format!(
            "`@{}` has no `key:` slot (expected `@{}(key:k)`)",
            tag, tag
        ))),
        _ => Err(MapBodyError::Malformed(format!(
            "`@{}` takes exactly one slot, `key:`, found {}",
            tag,
            describe_value(header)
        ))),
    }
}

/// The count of `@take(n)` or `@drop(n)`: a non-negative integer.
fn read_count(tag: &str, arg: &Value) -> Result<u64, MapBodyError> {
    arg.as_u64().ok_or_else(|| {
        MapBodyError::Malformed(format!(
            "`@{}` takes a non-negative integer count, found {}",
            tag,
            describe_value(arg)
        ))
    })
}

/// Checks that nothing follows the attribute of a remove, clear, take or drop.
fn nothing_after(tag: &str, attrs: &[Attr], items: &[Item]) -> Result<(), MapBodyError> {
    if attrs.is_empty() && items.is_empty() {
        return Ok(());
    }
    Err(with_rest(attrs, items, |rest| {
        MapBodyError::Malformed(format!(
            "`@{}` takes no value, found {} after it",
            tag,
            describe_value(rest)
        ))
    }))
}

/// Calls `f` with what follows the first attribute of an operation, as a value:
/// nothing is `Extant`, a single value item is that value (borrowed, not copied), and
/// anything else is a record of the remaining attributes and items.
pub(crate) fn with_rest<R>(attrs: &[Attr], items: &[Item], f: impl FnOnce(&Value) -> R) -> R {
    match (attrs, items) {
        ([], []) => f(&Value::Extant),
        ([], [Item::ValueItem(v)]) => f(v),
        _ => f(&Value::Record(Record {
            attrs: attrs.to_vec(),
            items: items.to_vec(),
        })),
    }
}
