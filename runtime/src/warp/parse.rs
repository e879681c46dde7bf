//! Reading envelopes: [`Envelope::parse`].

use crate::recon::{parse_attr_then_body, print_into, Attr, Item, Record, Value};

use super::envelope::{Envelope, EnvelopeKind};
use super::error::{describe_value, EnvelopeError};

impl Envelope {
    /// Parses one envelope from the text of a WebSocket frame.
    ///
    /// Accepts every spelling of the real clients and of swim-rust:
    /// * `node:` and `lane:` as named slots, in any order, with or without spaces, each a
    ///   quoted string or a bare identifier (`@command(lane:add,node:"/unit/h")`,
    ///   `@command(node: "/unit/rs", lane: "add")`);
    /// * `prio:` and `rate:` (ints or floats) on `link`, `sync` and `linked` only;
    /// * a body glued to the header (`...lane:add)5`), after spaces, or none at all
    ///   ([`Value::Absent`]); the body keeps its braces (`{5}` is a record, `5` an int);
    /// * the host-addressed kinds without header and with any body (`@auth @openId("jwt")`).
    ///
    /// Refused, with an [`EnvelopeError`] saying why: text that is not Recon or does not
    /// start with an attribute, an unknown tag, positional headers (`@link("/a", b)`),
    /// any other slot, a slot given twice, a missing `node` or `lane`, a `node` or `lane`
    /// that is not text, a `prio`/`rate` that is not a number, a header on a
    /// host-addressed kind.
    ///
    /// The text is read once by the Recon parser; the header's strings are moved into the
    /// envelope, not copied. No input makes this panic.
    ///
    /// # Errors
    /// An [`EnvelopeError`] says what is wrong: not Recon, an unknown kind, a missing,
    /// unknown or repeated slot, or a slot the kind does not take.
    ///
    /// ```
    /// use tidal_runtime::warp::{Envelope, EnvelopeKind};
    /// let env = Envelope::parse("@link(lane:value, node:\"/unit/a\", prio:2)").unwrap();
    /// assert_eq!(env.kind, EnvelopeKind::Link);
    /// assert_eq!((env.node.as_str(), env.lane.as_str(), env.prio), ("/unit/a", "value", Some(2.0)));
    ///
    /// let err = Envelope::parse("@command(node:\"/unit/a\",lane:add,prio:1) 5").unwrap_err();
    /// assert_eq!(err.to_string(), "`@command` does not take a `prio` slot");
    /// ```
    pub fn parse(text: &str) -> Result<Envelope, EnvelopeError> {
        let (Attr { name, value }, body) = parse_attr_then_body(text)?;
        let Some(kind) = EnvelopeKind::from_tag(&name) else {
            return Err(EnvelopeError::UnknownTag(name));
        };
        let header = if kind.is_host_addressed() {
            if !value.is_empty_value() {
                return Err(EnvelopeError::UnexpectedHeader {
                    kind,
                    found: describe_value(&value),
                });
            }
            Header::default()
        } else {
            read_header(kind, value)?
        };
        Ok(Envelope {
            kind,
            node: header.node.unwrap_or_default(),
            lane: header.lane.unwrap_or_default(),
            prio: header.prio,
            rate: header.rate,
            body,
        })
    }
}

/// The slots of a header, as read.
#[derive(Default)]
struct Header {
    node: Option<String>,
    lane: Option<String>,
    prio: Option<f32>,
    rate: Option<f32>,
}

/// Reads the header of a lane-addressed kind: named slots `node` and `lane` (both
/// required), and `prio`/`rate` when the kind takes them.
fn read_header(kind: EnvelopeKind, header: Value) -> Result<Header, EnvelopeError> {
    let items = match header {
        Value::Record(Record { attrs, items }) if attrs.is_empty() => items,
        Value::Absent | Value::Extant => Vec::new(),
        other => {
            return Err(EnvelopeError::PositionalHeader {
                kind,
                found: describe_value(&other),
            })
        }
    };
    let mut slots = Header::default();
    for item in items {
        match item {
            Item::Slot(Value::Text(key), value) => match key.as_str() {
                "node" => set_once(kind, "node", &mut slots.node, || text(kind, "node", value))?,
                "lane" => set_once(kind, "lane", &mut slots.lane, || text(kind, "lane", value))?,
                "prio" if kind.takes_prio_and_rate() => {
                    set_once(kind, "prio", &mut slots.prio, || {
                        number(kind, "prio", &value)
                    })?
                }
                "rate" if kind.takes_prio_and_rate() => {
                    set_once(kind, "rate", &mut slots.rate, || {
                        number(kind, "rate", &value)
                    })?
                }
                _ => return Err(EnvelopeError::UnexpectedSlot { kind, slot: key }),
            },
            Item::Slot(key, _) => {
                let mut slot = String::new();
                print_into(&mut slot, &key);
                return Err(EnvelopeError::UnexpectedSlot { kind, slot });
            }
            Item::ValueItem(value) => {
                return Err(EnvelopeError::PositionalHeader {
                    kind,
                    found: describe_value(&value),
                })
            }
        }
    }
    if slots.node.is_none() {
        return Err(EnvelopeError::MissingSlot { kind, slot: "node" });
    }
    if slots.lane.is_none() {
        return Err(EnvelopeError::MissingSlot { kind, slot: "lane" });
    }
    Ok(slots)
}

/// Fills `target` with the value read by `read`, unless it is already filled.
fn set_once<T>(
    kind: EnvelopeKind,
    slot: &'static str,
    target: &mut Option<T>,
    read: impl FnOnce() -> Result<T, EnvelopeError>,
) -> Result<(), EnvelopeError> {
    if target.is_some() {
        return Err(EnvelopeError::DuplicateSlot { kind, slot });
    }
    *target = Some(read()?);
    Ok(())
}

/// The text of a `node` or `lane` slot.
fn text(kind: EnvelopeKind, slot: &'static str, value: Value) -> Result<String, EnvelopeError> {
    match value {
        Value::Text(s) => Ok(s),
        other => Err(EnvelopeError::NotText {
            kind,
            slot,
            found: describe_value(&other),
        }),
    }
}

/// The number of a `prio` or `rate` slot: any Recon int or float that is finite as `f32`.
fn number(kind: EnvelopeKind, slot: &'static str, value: &Value) -> Result<f32, EnvelopeError> {
    let wide = match value {
        Value::Int(_) | Value::UInt(_) | Value::BigInt(_) | Value::Float(_) => value.as_f64(),
        _ => None,
    };
    match wide.map(|f| f as f32) {
        Some(f) if f.is_finite() => Ok(f),
        _ => Err(EnvelopeError::NotNumber {
            kind,
            slot,
            found: describe_value(value),
        }),
    }
}
