//! The Recon parser: text to [`Value`].
//!
//! The grammar follows the swim-rust 0.1.1 parser (see the module docs of
//! [`recon`](crate::recon) for the summary). Structure is read by recursive descent
//! with an explicit nesting limit, so hostile input yields a [`ParseError`], never a
//! stack overflow; all token reading is linear in the input length.

use super::error::ParseError;
use super::lexical::is_ident_start;
use super::record::{Attr, Item, Record};
use super::value::Value;

/// Results inside the parser: the error is boxed to keep stack frames small.
pub(super) type PResult<T> = Result<T, Box<ParseError>>;

/// The default limit on nesting (records, attribute arguments and attributed values
/// inside one another).
pub const DEFAULT_MAX_DEPTH: usize = 512;

/// Parses a complete Recon document.
///
/// The document is a *block*: items separated by `,`, `;` or newlines, without braces.
/// No item gives [`Value::Extant`] (so the empty string is `Extant`), a single value
/// item gives that value, and anything else gives a record of the items
/// (`a: 1, b: 2` is the record `{a:1,b:2}`).
///
/// Attributes written *after* a top-level value are read and dropped, as swim-rust
/// does (`1 @post` is `1`).
///
/// # Errors
/// A [`ParseError`] with the position and what was expected, for text that is not Recon
/// or nests deeper than [`DEFAULT_MAX_DEPTH`].
///
/// ```
/// use tidal_runtime::recon::{parse, Value};
/// assert_eq!(parse("0x1F").unwrap(), Value::Int(31));
/// assert_eq!(parse("@tag(1) 2").unwrap().to_string(), "@tag(1) 2");
/// ```
pub fn parse(input: &str) -> Result<Value, ParseError> {
    parse_with_max_depth(input, DEFAULT_MAX_DEPTH)
}

/// Like [`parse`], with a custom nesting limit instead of [`DEFAULT_MAX_DEPTH`].
///
/// # Errors
/// A [`ParseError`] as [`parse`] gives, with `max_depth` as the nesting limit.
pub fn parse_with_max_depth(input: &str, max_depth: usize) -> Result<Value, ParseError> {
    let mut parser = Parser::new(input, max_depth);
    let items = parser.parse_items(End::Eof).map_err(|e| *e)?;
    Ok(block_value(items))
}

/// Parses a WARP-style envelope: a leading attribute, then a body that is the rest of
/// the text parsed as a document (see [`parse`]).
///
/// The body is [`Value::Absent`] when nothing (or only whitespace and comments) follows
/// the attribute. Unlike splitting the result of [`parse`], this keeps braces around
/// the body: `@command(lane:x) {5}` gives the body `{5}` (a record) while
/// `@command(lane:x) 5` gives `5`.
///
/// # Errors
/// A [`ParseError`] if `input` is not Recon or does not start with an attribute.
///
/// ```
/// use tidal_runtime::recon::{parse_attr_then_body, Value};
/// let (head, body) = parse_attr_then_body("@event(node:\"/a\",lane:map)@update(key:k5) 5").unwrap();
/// assert_eq!(head.name, "event");
/// assert_eq!(head.value.get("lane"), Some(&Value::text("map")));
/// assert_eq!(body.tag(), Some("update"));
/// let (_, none) = parse_attr_then_body("@sync(node:\"/a\",lane:value)").unwrap();
/// assert_eq!(none, Value::Absent);
/// ```
pub fn parse_attr_then_body(input: &str) -> Result<(Attr, Value), ParseError> {
    envelope(input).map_err(|e| *e)
}

/// Parses the body of an envelope: the text after its header (as
/// [`parse_attr_then_body`] reads it), [`Value::Absent`] when there is none.
///
/// # Errors
/// A [`ParseError`] (its offsets count from the start of `input`).
pub fn parse_body(input: &str) -> Result<Value, ParseError> {
    let mut parser = Parser::new(input, DEFAULT_MAX_DEPTH);
    parser.skip_ws_nl();
    if parser.peek().is_none() {
        return Ok(Value::Absent);
    }
    let items = parser.parse_items(End::Eof).map_err(|e| *e)?;
    Ok(block_value(items))
}

fn envelope(input: &str) -> PResult<(Attr, Value)> {
    let mut parser = Parser::new(input, DEFAULT_MAX_DEPTH);
    parser.skip_ws_nl();
    if parser.peek() != Some(b'@') {
        return Err(parser.err("'@' starting the envelope tag"));
    }
    let attr = parser.parse_attr()?;
    parser.skip_ws_nl();
    if parser.peek().is_none() {
        return Ok((attr, Value::Absent));
    }
    let items = parser.parse_items(End::Eof)?;
    Ok((attr, block_value(items)))
}

/// Where a list of items ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// At the end of the input (a top-level block).
    Eof,
    /// At `}` (a record body).
    Brace,
    /// At `)` (attribute arguments).
    Paren,
}

impl End {
    /// How the end is described in error messages.
    fn describe(self) -> &'static str {
        match self {
            End::Eof => "end of input",
            End::Brace => "'}'",
            End::Paren => "')'",
        }
    }
}

/// The value of a block of items: `Extant` when empty, the value of a single value
/// item, otherwise a record.
fn block_value(mut items: Vec<Item>) -> Value {
    if items.len() == 1 && matches!(items[0], Item::ValueItem(_)) {
        if let Some(Item::ValueItem(v)) = items.pop() {
            return v;
        }
    }
    if items.is_empty() {
        Value::Extant
    } else {
        Value::Record(Record {
            attrs: Vec::new(),
            items,
        })
    }
}

/// The parser state: the input, a cursor and the nesting depth.
pub(super) struct Parser<'a> {
    pub(super) src: &'a str,
    pub(super) bytes: &'a [u8],
    pub(super) pos: usize,
    depth: usize,
    max_depth: usize,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str, max_depth: usize) -> Self {
        Parser {
            src,
            bytes: src.as_bytes(),
            pos: 0,
            depth: 0,
            max_depth,
        }
    }

    /// Enters one level of nesting, failing past the limit.
    fn enter(&mut self) -> PResult<()> {
        if self.depth >= self.max_depth {
            return Err(Box::new(ParseError::at(
                self.src,
                self.pos,
                format!("at most {} levels of nesting", self.max_depth),
                "deeper nesting",
            )));
        }
        self.depth += 1;
        Ok(())
    }

    /// Leaves one level of nesting.
    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Whether the cursor is at the end of the current item list.
    fn at_end(&self, end: End) -> bool {
        match end {
            End::Eof => self.peek().is_none(),
            End::Brace => self.peek() == Some(b'}'),
            End::Paren => self.peek() == Some(b')'),
        }
    }

    /// Consumes the end of an item list (nothing for end of input).
    fn consume_end(&mut self, end: End) {
        if end != End::Eof {
            self.pos += 1;
        }
    }

    /// Whether a value can start at the cursor.
    fn at_value_start(&self) -> bool {
        match self.peek() {
            Some(b'"' | b'-' | b'%' | b'{' | b'@' | b'0'..=b'9') => true,
            Some(_) => self.peek_char().is_some_and(is_ident_start),
            None => false,
        }
    }

    /// Whether a primitive (text, number, data, identifier) starts at the cursor.
    fn at_primitive_start(&self) -> bool {
        self.at_value_start() && !matches!(self.peek(), Some(b'{' | b'@'))
    }

    /// The error for a `[` where a value was expected.
    #[cold]
    #[inline(never)]
    fn markup_error(&self) -> Box<ParseError> {
        self.err("a value (Recon markup '[...]' is not supported)")
    }

    /// Reads items up to `end`, following swim-rust: separators are `,`, `;` and
    /// newlines; an empty item between two `,`/`;` (or before the first one, or after
    /// the last one) is `Extant`; a newline right after `:` makes the slot value extant.
    ///
    /// The functions on the recursion path (`parse_items`, `parse_item`, `parse_value`,
    /// `parse_braced`, `parse_attributed`, `parse_attr`) keep their frames small, with
    /// error formatting and leaf tokens in separate functions, so that the nesting limit
    /// stays far from the stack size even in debug builds.
    fn parse_items(&mut self, end: End) -> PResult<Vec<Item>> {
        let mut items = Vec::new();
        let mut item_required = false;
        loop {
            self.skip_ws_nl();
            if self.at_end(end) {
                self.consume_end(end);
                if item_required {
                    items.push(Item::ValueItem(Value::Extant));
                }
                return Ok(items);
            }
            if let Some(b',' | b';') = self.peek() {
                self.pos += 1;
                items.push(Item::ValueItem(Value::Extant));
                item_required = true;
                continue;
            }
            self.parse_item(end, &mut items)?;
            match self.peek() {
                Some(b'\n') => {
                    self.pos += 1;
                    item_required = false;
                }
                Some(b',' | b';') => {
                    self.pos += 1;
                    item_required = true;
                }
                _ if self.at_end(end) => {
                    self.consume_end(end);
                    return Ok(items);
                }
                _ => return Err(self.separator_error(end)),
            }
        }
    }

    /// Reads one item (a value or a slot) and the spaces after it, into `items`.
    fn parse_item(&mut self, end: End, items: &mut Vec<Item>) -> PResult<()> {
        let key = self.parse_key(end)?;
        if self.peek() != Some(b':') {
            items.push(Item::ValueItem(key));
            return Ok(());
        }
        self.pos += 1;
        let value = self.parse_slot_value(end)?;
        items.push(Item::Slot(key, value));
        Ok(())
    }

    /// Reads a value item, or the key of a slot (`Extant` when the item starts with `:`).
    fn parse_key(&mut self, end: End) -> PResult<Value> {
        let key = if self.peek() == Some(b':') {
            Value::Extant
        } else if self.at_value_start() {
            self.parse_value()?
        } else {
            return Err(self.item_error(end));
        };
        self.after_value(end)?;
        Ok(key)
    }

    /// Reads a slot value after the `:`; a separator, newline or the end makes it
    /// `Extant`.
    fn parse_slot_value(&mut self, end: End) -> PResult<Value> {
        self.skip_space();
        if matches!(self.peek(), Some(b'\n' | b',' | b';')) || self.at_end(end) {
            return Ok(Value::Extant);
        }
        if !self.at_value_start() {
            return Err(self.slot_value_error(end));
        }
        let value = self.parse_value()?;
        self.after_value(end)?;
        Ok(value)
    }

    /// The error for something other than a separator or the end after an item.
    #[cold]
    #[inline(never)]
    fn separator_error(&self, end: End) -> Box<ParseError> {
        self.err(format!("',', ';', a newline or {}", end.describe()))
    }

    /// The error for something that cannot start an item.
    #[cold]
    #[inline(never)]
    fn item_error(&self, end: End) -> Box<ParseError> {
        if self.peek() == Some(b'[') {
            return self.markup_error();
        }
        self.err(format!("a value or {}", end.describe()))
    }

    /// The error for something that cannot be a slot value.
    #[cold]
    #[inline(never)]
    fn slot_value_error(&self, end: End) -> Box<ParseError> {
        if self.peek() == Some(b'[') {
            return self.markup_error();
        }
        self.err(format!(
            "a value, ',', ';', a newline or {}",
            end.describe()
        ))
    }

    /// Skips spaces after a value; at top level also drops trailing attributes.
    fn after_value(&mut self, end: End) -> PResult<()> {
        self.skip_space();
        if end == End::Eof {
            while self.peek() == Some(b'@') {
                self.parse_attr()?;
                self.skip_space();
            }
        }
        Ok(())
    }

    /// Reads one value at the cursor.
    fn parse_value(&mut self) -> PResult<Value> {
        match self.peek() {
            Some(b'{') => self.parse_braced(),
            Some(b'@') => self.parse_attributed(),
            _ => self.parse_primitive(),
        }
    }

    /// Reads a record in braces; the cursor is on the `{`.
    fn parse_braced(&mut self) -> PResult<Value> {
        self.enter()?;
        self.pos += 1;
        let items = self.parse_items(End::Brace)?;
        self.leave();
        Ok(Value::Record(Record {
            attrs: Vec::new(),
            items,
        }))
    }

    /// Reads a text, number, data or boolean at the cursor.
    #[inline(never)]
    fn parse_primitive(&mut self) -> PResult<Value> {
        match self.peek() {
            Some(b'"') => self.parse_string().map(Value::Text),
            Some(b'-' | b'0'..=b'9') => self.parse_number(),
            Some(b'%') => self.parse_data(),
            Some(b'[') => Err(self.markup_error()),
            _ => match self.parse_identifier() {
                Some("true") => Ok(Value::Bool(true)),
                Some("false") => Ok(Value::Bool(false)),
                Some(id) => Ok(Value::Text(id.to_owned())),
                None => Err(self.err("a value")),
            },
        }
    }

    /// Reads attributes and the body that follows them, flattened into one record:
    /// `@a @b 1` is `{@a, @b, 1}` and `@p{x:1}` is `{@p, x:1}`.
    fn parse_attributed(&mut self) -> PResult<Value> {
        self.enter()?;
        let attrs = self.parse_attrs()?;
        let items = self.parse_attr_body()?;
        self.leave();
        Ok(Value::Record(Record { attrs, items }))
    }

    /// Reads one or more attributes and the spaces after them.
    fn parse_attrs(&mut self) -> PResult<Vec<Attr>> {
        let mut attrs = Vec::new();
        loop {
            attrs.push(self.parse_attr()?);
            self.skip_space();
            if self.peek() != Some(b'@') {
                return Ok(attrs);
            }
        }
    }

    /// Reads what follows attributes: a braced body, a primitive, or nothing.
    fn parse_attr_body(&mut self) -> PResult<Vec<Item>> {
        match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                self.parse_items(End::Brace)
            }
            Some(b'[') => Err(self.markup_error()),
            _ if self.at_primitive_start() => Ok(vec![Item::ValueItem(self.parse_primitive()?)]),
            _ => Ok(Vec::new()),
        }
    }

    /// Reads one attribute `@name` or `@name(args)`; the cursor is on the `@`.
    fn parse_attr(&mut self) -> PResult<Attr> {
        let name = self.parse_attr_name()?;
        let value = if self.peek() == Some(b'(') {
            self.enter()?;
            self.pos += 1;
            let items = self.parse_items(End::Paren)?;
            self.leave();
            block_value(items)
        } else {
            Value::Extant
        };
        Ok(Attr { name, value })
    }

    /// Reads `@` and an attribute name (an identifier or a quoted text).
    #[inline(never)]
    fn parse_attr_name(&mut self) -> PResult<String> {
        self.pos += 1;
        if self.peek() == Some(b'"') {
            return self.parse_string();
        }
        match self.parse_identifier() {
            Some(id) => Ok(id.to_owned()),
            None => Err(self.err("an attribute name")),
        }
    }
}
