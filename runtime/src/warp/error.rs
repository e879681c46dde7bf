//! [`EnvelopeError`]: why a text is not a valid WARP envelope.

use crate::recon::{print_into, ParseError, Value};

use super::envelope::EnvelopeKind;

/// Why a text frame is not a valid WARP envelope.
///
/// swim-rust closes the connection with 1002 "Expected a valid Warp envelope." for every
/// one of these; the `Display` form says what exactly was wrong, e.g.
/// ``"`@command` does not take a `prio` slot"``.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The text is not Recon, or does not start with an attribute.
    #[error("not a WARP envelope: {0}")]
    Syntax(#[from] ParseError),
    /// The first attribute is not one of the twelve envelope tags.
    #[error(
        "unknown envelope tag `@{0}` (expected link, sync, unlink, command, linked, synced, \
         unlinked, event, auth, authed, deauth or deauthed)"
    )]
    UnknownTag(String),
    /// A host-addressed kind (`auth`, `authed`, `deauth`, `deauthed`) has a header.
    #[error("`@{kind}` takes no header, found the header {found}")]
    UnexpectedHeader {
        /// The envelope kind.
        kind: EnvelopeKind,
        /// The header found, printed.
        found: String,
    },
    /// The header has an item that is not a slot, as in `@link("/a", b)`.
    #[error(
        "the header of `@{kind}` must be named slots (`node:\"/a\",lane:b`), \
         found the positional item {found}"
    )]
    PositionalHeader {
        /// The envelope kind.
        kind: EnvelopeKind,
        /// The positional item, printed.
        found: String,
    },
    /// The header has a slot this kind does not take (`prio` on `@command`, `foo` anywhere).
    #[error("`@{kind}` does not take a `{slot}` slot")]
    UnexpectedSlot {
        /// The envelope kind.
        kind: EnvelopeKind,
        /// The slot's key, printed.
        slot: String,
    },
    /// The header has the same slot twice.
    #[error("`@{kind}` has the `{slot}` slot more than once")]
    DuplicateSlot {
        /// The envelope kind.
        kind: EnvelopeKind,
        /// The repeated slot.
        slot: &'static str,
    },
    /// The header lacks `node` or `lane`.
    #[error("`@{kind}` has no `{slot}` slot")]
    MissingSlot {
        /// The envelope kind.
        kind: EnvelopeKind,
        /// The missing slot.
        slot: &'static str,
    },
    /// The `node` or `lane` slot is not text.
    #[error("the `{slot}` slot of `@{kind}` must be text, found {found}")]
    NotText {
        /// The envelope kind.
        kind: EnvelopeKind,
        /// The slot.
        slot: &'static str,
        /// The value found, printed.
        found: String,
    },
    /// The `prio` or `rate` slot is not a number in the range of `f32`.
    #[error(
        "the `{slot}` slot of `@{kind}` must be a number within the range of f32, found {found}"
    )]
    NotNumber {
        /// The envelope kind.
        kind: EnvelopeKind,
        /// The slot.
        slot: &'static str,
        /// The value found, printed.
        found: String,
    },
}

/// The longest printed value quoted in an error message, in bytes (roughly).
const MAX_SHOWN: usize = 60;

/// Describes a value for an error message: `` `5` ``, `` `"x y"` ``, `nothing`; long
/// values are cut short with `...`.
pub(crate) fn describe_value(value: &Value) -> String {
    if value.is_empty_value() {
        return "nothing".to_owned();
    }
    let mut printed = String::new();
    print_into(&mut printed, value);
    if printed.len() > MAX_SHOWN {
        let mut cut = MAX_SHOWN;
        while !printed.is_char_boundary(cut) {
            cut -= 1;
        }
        printed.truncate(cut);
        printed.push_str("...");
    }
    format!("`{}`", printed)
}
