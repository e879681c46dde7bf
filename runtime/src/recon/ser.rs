//! serde serialisation into a [`Value`] ([`to_value`]). See the module docs of
//! [`recon`](crate::recon) for the mapping.

use serde::ser::{self, Serialize};

use super::error::Error;
use super::lexical::f32_to_f64;
use super::record::{Attr, Item, Record};
use super::value::Value;

/// Converts any `Serialize` value to a Recon [`Value`].
///
/// # Errors
/// An [`Error`] if `value`'s `Serialize` implementation fails.
///
/// ```
/// use tidal_runtime::recon::{to_value, Value};
/// assert_eq!(to_value(&Some(3u8)).unwrap(), Value::Int(3));
/// assert_eq!(to_value(&vec![1, 2]).unwrap().to_string(), "{1,2}");
/// ```
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, Error> {
    value.serialize(ValueSerializer)
}

/// A `serde::Serializer` that builds a [`Value`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ValueSerializer;

/// The state of a record being serialised by [`ValueSerializer`].
#[derive(Debug)]
pub struct RecordBuilder {
    record: Record,
    pending_key: Option<Value>,
}

impl RecordBuilder {
    fn plain(len: Option<usize>) -> Self {
        RecordBuilder {
            record: Record {
                attrs: Vec::new(),
                items: Vec::with_capacity(len.unwrap_or(0).min(1024)),
            },
            pending_key: None,
        }
    }

    fn tagged(name: &str, len: usize) -> Self {
        let mut builder = RecordBuilder::plain(Some(len));
        builder.record.attrs.push(Attr::of(name));
        builder
    }

    fn push_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.record.items.push(Item::ValueItem(to_value(value)?));
        Ok(())
    }

    fn push_field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Error> {
        self.record
            .items
            .push(Item::Slot(Value::text(key), to_value(value)?));
        Ok(())
    }

    fn finish(self) -> Result<Value, Error> {
        Ok(Value::Record(self.record))
    }
}

impl ser::Serializer for ValueSerializer {
    type Ok = Value;
    type Error = Error;
    type SerializeSeq = RecordBuilder;
    type SerializeTuple = RecordBuilder;
    type SerializeTupleStruct = RecordBuilder;
    type SerializeTupleVariant = RecordBuilder;
    type SerializeMap = RecordBuilder;
    type SerializeStruct = RecordBuilder;
    type SerializeStructVariant = RecordBuilder;

    fn serialize_bool(self, v: bool) -> Result<Value, Error> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, Error> {
        Ok(Value::from(v))
    }
    fn serialize_i16(self, v: i16) -> Result<Value, Error> {
        Ok(Value::from(v))
    }
    fn serialize_i32(self, v: i32) -> Result<Value, Error> {
        Ok(Value::from(v))
    }
    fn serialize_i64(self, v: i64) -> Result<Value, Error> {
        Ok(Value::from(v))
    }
    fn serialize_i128(self, v: i128) -> Result<Value, Error> {
        Ok(Value::from_i128(v))
    }
    fn serialize_u8(self, v: u8) -> Result<Value, Error> {
        Ok(Value::from(v))
    }
    fn serialize_u16(self, v: u16) -> Result<Value, Error> {
        Ok(Value::from(v))
    }
    fn serialize_u32(self, v: u32) -> Result<Value, Error> {
        Ok(Value::from(v))
    }
    fn serialize_u64(self, v: u64) -> Result<Value, Error> {
        Ok(Value::from_u64(v))
    }
    fn serialize_u128(self, v: u128) -> Result<Value, Error> {
        Ok(Value::from_u128(v))
    }
    fn serialize_f32(self, v: f32) -> Result<Value, Error> {
        Ok(Value::Float(f32_to_f64(v)))
    }
    fn serialize_f64(self, v: f64) -> Result<Value, Error> {
        Ok(Value::Float(v))
    }
    fn serialize_char(self, v: char) -> Result<Value, Error> {
        Ok(Value::Text(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, Error> {
        Ok(Value::text(v))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value, Error> {
        Ok(Value::Data(v.to_vec()))
    }
    fn serialize_none(self) -> Result<Value, Error> {
        Ok(Value::Extant)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, Error> {
        Ok(Value::Extant)
    }
    fn serialize_unit_struct(self, name: &'static str) -> Result<Value, Error> {
        Ok(Value::of_attr(name))
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Value, Error> {
        Ok(Value::of_attr(variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<Value, Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value, Error> {
        Ok(Value::of_attr_with(variant, to_value(value)?))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<RecordBuilder, Error> {
        Ok(RecordBuilder::plain(len))
    }
    fn serialize_tuple(self, len: usize) -> Result<RecordBuilder, Error> {
        Ok(RecordBuilder::plain(Some(len)))
    }
    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<RecordBuilder, Error> {
        Ok(RecordBuilder::tagged(name, len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<RecordBuilder, Error> {
        Ok(RecordBuilder::tagged(variant, len))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<RecordBuilder, Error> {
        Ok(RecordBuilder::plain(len))
    }
    fn serialize_struct(self, name: &'static str, len: usize) -> Result<RecordBuilder, Error> {
        Ok(RecordBuilder::tagged(name, len))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<RecordBuilder, Error> {
        Ok(RecordBuilder::tagged(variant, len))
    }
}

impl ser::SerializeMap for RecordBuilder {
    type Ok = Value;
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.pending_key = Some(to_value(key)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let key = self
            .pending_key
            .take()
            .ok_or_else(|| Error::Message("map value serialised before its key".into()))?;
        self.record.items.push(Item::Slot(key, to_value(value)?));
        Ok(())
    }
    fn end(self) -> Result<Value, Error> {
        self.finish()
    }
}

impl_compound_serializers!(RecordBuilder, Value, push_value, push_field, finish);
