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
        self.text.get_or_init(|| self.value.to_string().into())
    }
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
