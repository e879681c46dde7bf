//! serde access helpers for the [`Deserializer`]: sequences, maps and enums over
//! record items.

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, Visitor};

use super::de::{Deserializer, Source};
use super::error::Error;
use super::record::{Attr, Item};
use super::value::Value;

/// The value items of a record, read as a sequence.
pub(super) struct ItemSeq<'de> {
    iter: std::slice::Iter<'de, Item>,
}

impl<'de> ItemSeq<'de> {
    pub(super) fn new(items: &'de [Item]) -> Self {
        ItemSeq { iter: items.iter() }
    }
}

impl<'de> de::SeqAccess<'de> for ItemSeq<'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.iter.next() {
            None => Ok(None),
            Some(Item::ValueItem(v)) => seed.deserialize(Deserializer::new(v)).map(Some),
            Some(Item::Slot(k, _)) => Err(de::Error::custom(format_args!(
                "expected a value item in a sequence, found the slot `{}:`",
                k
            ))),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// The slots of a record, read as a map.
pub(super) struct ItemMap<'de> {
    iter: std::slice::Iter<'de, Item>,
    value: Option<&'de Value>,
}

impl<'de> ItemMap<'de> {
    pub(super) fn new(items: &'de [Item]) -> Self {
        ItemMap {
            iter: items.iter(),
            value: None,
        }
    }
}

impl<'de> de::MapAccess<'de> for ItemMap<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.iter.next() {
            None => Ok(None),
            Some(Item::Slot(k, v)) => {
                self.value = Some(v);
                seed.deserialize(Deserializer::new(k)).map(Some)
            }
            Some(Item::ValueItem(v)) => Err(de::Error::custom(format_args!(
                "expected a slot `key:value`, found the value item `{}`",
                v
            ))),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let value = self.value.take().unwrap_or(&super::de::EXTANT);
        seed.deserialize(Deserializer::new(value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// The attributes of a record read as a map from name to argument (used by
/// `deserialize_any` for records that have attributes and no items, e.g. `@Variant(1)`).
pub(super) struct AttrMap<'de> {
    iter: std::slice::Iter<'de, Attr>,
    value: Option<&'de Value>,
}

impl<'de> AttrMap<'de> {
    pub(super) fn new(attrs: &'de [Attr]) -> Self {
        AttrMap {
            iter: attrs.iter(),
            value: None,
        }
    }
}

impl<'de> de::MapAccess<'de> for AttrMap<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.iter.next() {
            None => Ok(None),
            Some(attr) => {
                self.value = Some(&attr.value);
                seed.deserialize(BorrowedStrDeserializer::new(&attr.name))
                    .map(Some)
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let value = self.value.take().unwrap_or(&super::de::EXTANT);
        seed.deserialize(Deserializer::new(value))
    }
}

/// An enum read from `@Variant...`: the variant name, the attribute's argument and the
/// record's items.
pub(super) struct Enum<'de> {
    name: &'de str,
    arg: &'de Value,
    items: &'de [Item],
}

impl<'de> Enum<'de> {
    pub(super) fn new(name: &'de str, arg: &'de Value, items: &'de [Item]) -> Self {
        Enum { name, arg, items }
    }

    /// The items holding a tuple or struct variant's fields: the record's items, or
    /// those of a record argument (`@V(a:1)` as well as `@V{a:1}`).
    fn body(&self) -> Result<&'de [Item], Error> {
        match (self.items, self.arg) {
            ([], Value::Record(r)) if r.attrs.is_empty() => Ok(&r.items),
            ([], Value::Absent | Value::Extant) => Ok(&[]),
            ([], other) => Err(de::Error::custom(format_args!(
                "variant `{}` expects fields, found the argument `{}`",
                self.name, other
            ))),
            (items, _) => Ok(items),
        }
    }
}

impl<'de> de::EnumAccess<'de> for Enum<'de> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        let variant = seed.deserialize(BorrowedStrDeserializer::<Error>::new(self.name))?;
        Ok((variant, self))
    }
}

impl<'de> de::VariantAccess<'de> for Enum<'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        if self.arg.is_empty_value() && self.items.is_empty() {
            Ok(())
        } else {
            Err(de::Error::custom(format_args!(
                "unit variant `{}` takes no argument or body",
                self.name
            )))
        }
    }

    /// The payload is the attribute's argument (`@V(x)`); when there is none, the body
    /// after the tag is accepted too (`@V x`, `@V{a:1}`).
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        let src = match (self.arg, self.items) {
            (Value::Absent | Value::Extant, [Item::ValueItem(v)]) => Source::Value(v),
            (Value::Absent | Value::Extant, items @ [_, ..]) => Source::Items(items),
            (arg, _) => Source::Value(arg),
        };
        seed.deserialize(Deserializer::from_source(src))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_seq(ItemSeq::new(self.body()?))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_map(ItemMap::new(self.body()?))
    }
}
