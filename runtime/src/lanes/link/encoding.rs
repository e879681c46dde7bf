//! Encodings shared by the subscribers of one event: the Recon form and its text, made once.

use std::sync::{Arc, OnceLock};

use crate::recon::Value;

/// A value in Recon form whose text is encoded at most once, however many subscribers of one
/// event ask for it.
#[derive(Debug)]
pub struct Encoded {
    value: Value,
    text: OnceLock<Arc<str>>,
}

impl Encoded {
    /// Wraps a Recon value.
    pub fn new(value: Value) -> Self {
        Encoded {
            value,
            text: OnceLock::new(),
        }
    }

    /// The value.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The value's compact Recon text, encoded on first use.
    pub fn text(&self) -> &Arc<str> {
        self.text.get_or_init(|| match self.value {
            // The most common event: written straight into the shared text, without the
            // formatting machinery and the intermediate `String`.
            Value::Int(n) => Arc::from(decimal(n, &mut [0; 20])),
            _ => self.value.to_string().into(),
        })
    }
}

/// `n` in decimal, written at the end of `buffer`.
fn decimal(n: i64, buffer: &mut [u8; 20]) -> &str {
    let mut at = buffer.len();
    let mut magnitude = n.unsigned_abs();
    loop {
        at -= 1;
        buffer[at] = b'0' + (magnitude % 10) as u8;
        magnitude /= 10;
        if magnitude == 0 {
            break;
        }
    }
    if n < 0 {
        at -= 1;
        buffer[at] = b'-';
    }
    std::str::from_utf8(&buffer[at..]).expect("ASCII digits")
}

/// The Recon form of one lane event, computed for the first subscriber that needs it and
/// shared by the others.
#[derive(Default)]
pub struct SharedEncoding {
    encoded: Option<Result<Encoded, String>>,
}

impl SharedEncoding {
    /// The event in Recon form (converted on the first call).
    ///
    /// # Errors
    /// The serde error's message if `value` does not convert to Recon (every later call
    /// returns the same).
    pub fn get<T: serde::Serialize>(&mut self, value: &T) -> Result<&Encoded, &str> {
        self.encoded
            .get_or_insert_with(|| {
                crate::recon::to_value(value)
                    .map(Encoded::new)
                    .map_err(|err| err.to_string())
            })
            .as_ref()
            .map_err(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_read_as_the_printer_writes_them() {
        for n in [0, 7, -7, 10, 1234567890, i64::MAX, i64::MIN, -1000] {
            let encoded = Encoded::new(Value::Int(n));
            assert_eq!(&**encoded.text(), Value::Int(n).to_string(), "{n}");
        }
    }
}
