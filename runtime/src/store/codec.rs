//! How persisted values are encoded: one format version byte, then MessagePack with field names
//! (`rmp-serde`'s named form).
//!
//! MessagePack is compact and fast, and it is self-describing: types that read their input
//! with `deserialize_any` (untagged enums, `serde_json::Value`) work, and because fields are
//! written by name, a field added later with `#[serde(default)]` reads data written before it.
//! The version byte leaves room for another format without misreading old data.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The format version written before every value.
const VERSION: u8 = 1;

/// Why a persisted value does not read back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The value is empty, or written by an unknown format version.
    #[error("unknown format (version byte {0:?})")]
    Version(Option<u8>),
    /// The value does not fit the type.
    #[error("{0}")]
    Type(#[source] rmp_serde::decode::Error),
}

/// Why a value cannot be encoded.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EncodeError(#[source] rmp_serde::encode::Error);

/// Encodes `value` for the store.
///
/// # Errors
/// An [`EncodeError`] if `value`'s `Serialize` implementation fails.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, EncodeError> {
    // Most values are small: room for them up front, so that writing them does not grow it.
    let mut out = Vec::with_capacity(32);
    out.push(VERSION);
    rmp_serde::encode::write_named(&mut out, value).map_err(EncodeError)?;
    Ok(out)
}

/// Decodes a value written by [`encode`].
///
/// # Errors
/// A [`DecodeError`] if the bytes are not of a known version or do not fit `T`.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    match bytes.split_first() {
        Some((&VERSION, rest)) => rmp_serde::from_slice(rest).map_err(DecodeError::Type),
        other => Err(DecodeError::Version(other.map(|(version, _)| *version))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Old {
        x: i32,
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct New {
        x: i32,
        #[serde(default)]
        y: String,
    }

    #[test]
    fn values_read_back_and_added_fields_default() {
        let bytes = encode(&Old { x: 5 }).unwrap();
        assert_eq!(decode::<Old>(&bytes).unwrap(), Old { x: 5 });
        assert_eq!(
            decode::<New>(&bytes).unwrap(),
            New {
                x: 5,
                y: String::new()
            }
        );
        assert!(decode::<String>(&bytes).is_err());
        assert!(matches!(
            decode::<i32>(&[9, 1]),
            Err(DecodeError::Version(Some(9)))
        ));
        assert!(matches!(
            decode::<i32>(&[]),
            Err(DecodeError::Version(None))
        ));
    }
}
