//! Records: [`Record`], [`Attr`] and [`Item`].

use super::value::Value;

/// An attribute `@name` or `@name(value)`.
///
/// `@name` and `@name()` both have the value [`Value::Extant`]; `@name(1)` has `1`;
/// `@name(a:1,b:2)` and `@name(1,2)` have a record value (`{a:1,b:2}`, `{1,2}`).
#[derive(Debug, Clone, PartialEq)]
pub struct Attr {
    /// The attribute name (an identifier or any quoted text).
    pub name: String,
    /// The attribute's argument.
    pub value: Value,
}

impl Attr {
    /// An attribute with the given name and value.
    pub fn new(name: impl Into<String>, value: impl Into<Value>) -> Attr {
        Attr {
            name: name.into(),
            value: value.into(),
        }
    }

    /// An attribute without argument (`@name`, value [`Value::Extant`]).
    pub fn of(name: impl Into<String>) -> Attr {
        Attr::new(name, Value::Extant)
    }
}

/// One item of a record body: a plain value or a `key: value` slot.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A value item, e.g. `1` in `{1, a: 2}`.
    ValueItem(Value),
    /// A slot `key: value`; the key can be any value.
    Slot(Value, Value),
}

impl Item {
    /// A slot item.
    pub fn slot(key: impl Into<Value>, value: impl Into<Value>) -> Item {
        Item::Slot(key.into(), value.into())
    }

    /// A value item.
    pub fn value(value: impl Into<Value>) -> Item {
        Item::ValueItem(value.into())
    }
}

/// A record: attributes, then items.
///
/// Recon writes attributes before the body: `@point{x:1,y:2}` is the record with
/// attribute `point` and the two slots `x:1`, `y:2`; `@a 1` is the record with
/// attribute `a` and the single value item `1`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    /// The attributes, in order.
    pub attrs: Vec<Attr>,
    /// The items, in order.
    pub items: Vec<Item>,
}

impl Record {
    /// An empty record (`{}`).
    pub fn new() -> Record {
        Record::default()
    }

    /// A record without attributes holding the given items.
    pub fn from_items(items: impl IntoIterator<Item = Item>) -> Record {
        Record {
            attrs: Vec::new(),
            items: items.into_iter().collect(),
        }
    }

    /// Builder: appends an attribute.
    pub fn with_attr(mut self, attr: Attr) -> Record {
        self.attrs.push(attr);
        self
    }

    /// Builder: appends a value item.
    pub fn with_item(mut self, value: impl Into<Value>) -> Record {
        self.items.push(Item::ValueItem(value.into()));
        self
    }

    /// Builder: appends a slot.
    pub fn with_slot(mut self, key: impl Into<Value>, value: impl Into<Value>) -> Record {
        self.items.push(Item::Slot(key.into(), value.into()));
        self
    }

    /// Appends an attribute.
    pub fn push_attr(&mut self, attr: Attr) {
        self.attrs.push(attr);
    }

    /// Appends a value item.
    pub fn push_item(&mut self, value: impl Into<Value>) {
        self.items.push(Item::ValueItem(value.into()));
    }

    /// Appends a slot.
    pub fn push_slot(&mut self, key: impl Into<Value>, value: impl Into<Value>) {
        self.items.push(Item::Slot(key.into(), value.into()));
    }

    /// The name of the first attribute, if any.
    pub fn tag(&self) -> Option<&str> {
        self.attrs.first().map(|a| a.name.as_str())
    }

    /// The value of the first attribute named `name`.
    pub fn attr(&self, name: &str) -> Option<&Value> {
        self.attrs.iter().find(|a| a.name == name).map(|a| &a.value)
    }

    /// The value of the first slot whose key is the text `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.items.iter().find_map(|item| match item {
            Item::Slot(Value::Text(k), v) if k == key => Some(v),
            _ => None,
        })
    }

    /// The value of the first slot whose key equals `key` (any value).
    pub fn get_value(&self, key: &Value) -> Option<&Value> {
        self.items.iter().find_map(|item| match item {
            Item::Slot(k, v) if k == key => Some(v),
            _ => None,
        })
    }

    /// The number of items (attributes not counted).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the record has neither attributes nor items.
    pub fn is_empty(&self) -> bool {
        self.attrs.is_empty() && self.items.is_empty()
    }

    /// Splits off the first attribute, returning it and the rest as a body value:
    /// * nothing left: [`Value::Absent`];
    /// * no attributes left and exactly one value item: that value;
    /// * otherwise a record of the remaining attributes and items.
    ///
    /// This is how a parsed envelope `@event(node:n,lane:l) 5` splits into its header
    /// attribute and the body `5`. It cannot tell `@cmd {5}` from `@cmd 5` (both parse
    /// to the same record): use [`parse_attr_then_body`](crate::recon::parse_attr_then_body)
    /// to keep that distinction. Returns `None` if the record has no attribute.
    pub fn split_first_attr(mut self) -> Option<(Attr, Value)> {
        if self.attrs.is_empty() {
            return None;
        }
        let first = self.attrs.remove(0);
        let body = if self.attrs.is_empty() {
            match self.items.len() {
                0 => Value::Absent,
                1 if matches!(self.items[0], Item::ValueItem(_)) => match self.items.pop() {
                    Some(Item::ValueItem(v)) => v,
                    _ => Value::Absent,
                },
                _ => Value::Record(self),
            }
        } else {
            Value::Record(self)
        };
        Some((first, body))
    }
}
