//! Writing envelopes: [`write_envelope`] and [`write_frame`], in the compact form of
//! swim-rust.

use std::fmt::{self, Write};

use crate::recon::lexical::{write_f32, write_quoted};
use crate::recon::printer::write_body;
use crate::recon::write_text;

use super::envelope::{Envelope, EnvelopeKind};

/// Appends the wire form of `envelope` to `out`, exactly as swim-rust writes it.
///
/// * The header is compact, without spaces: `@event(node:"/unit/a",lane:value)`. The
///   node is always quoted; the lane is bare when it is a Recon identifier, else quoted.
/// * `prio` and `rate` are written only for `link`, `sync` and `linked` (the only kinds
///   that take them), and only when present, finite and not 0.
/// * Host-addressed kinds have no header (`@auth`); their node and lane are not written.
/// * The body follows after one space, without a space when it starts with `@` (a
///   record with attributes), and not at all when it is [`Value::Absent`](crate::recon::Value::Absent) or
///   [`Value::Extant`](crate::recon::Value::Extant).
///
/// Nothing is allocated besides the growth of `out`.
///
/// ```
/// use tidal_runtime::recon::Value;
/// use tidal_runtime::warp::{write_envelope, Envelope, EnvelopeKind};
/// let mut out = String::new();
/// let env = Envelope::new(EnvelopeKind::Unlinked, "/nope/x", "value")
///     .with_body(Value::of_attr("nodeNotFound"));
/// write_envelope(&mut out, &env);
/// assert_eq!(out, "@unlinked(node:\"/nope/x\",lane:value)@nodeNotFound");
/// ```
pub fn write_envelope(out: &mut String, envelope: &Envelope) {
    // Writing into a String cannot fail.
    let _ = write_envelope_to(out, envelope);
}

/// Appends an envelope whose body is already encoded to `out`: the header of `kind`
/// addressed to `node` and `lane`, then `body` verbatim.
///
/// `body` is compact Recon text (as printed by [`print_into`](crate::recon::print_into)),
/// so one lane event can be encoded once and framed for every subscriber. It follows
/// the header after one space, or directly when it starts with `@`; `None` and the
/// empty text write no body. No `prio` or `rate` is written; for host-addressed kinds
/// `node` and `lane` are ignored. The layout is the one of [`write_envelope`].
///
/// ```
/// use tidal_runtime::warp::{write_frame, EnvelopeKind};
/// let mut out = String::new();
/// write_frame(&mut out, EnvelopeKind::Event, "/unit/a", "value", Some("5"));
/// assert_eq!(out, "@event(node:\"/unit/a\",lane:value) 5");
/// out.clear();
/// write_frame(&mut out, EnvelopeKind::Linked, "/unit/a", "value", None);
/// assert_eq!(out, "@linked(node:\"/unit/a\",lane:value)");
/// ```
pub fn write_frame(
    out: &mut String,
    kind: EnvelopeKind,
    node: &str,
    lane: &str,
    body: Option<&str>,
) {
    // Writing into a String cannot fail.
    let _ = write_head(out, kind, node, lane, None, None);
    if let Some(body) = body.filter(|b| !b.is_empty()) {
        if !body.starts_with('@') {
            out.push(' ');
        }
        out.push_str(body);
    }
}

/// Writes `envelope` into any [`fmt::Write`] (used by `Display` too).
pub(super) fn write_envelope_to<W: Write + ?Sized>(
    out: &mut W,
    envelope: &Envelope,
) -> fmt::Result {
    write_head(
        out,
        envelope.kind,
        &envelope.node,
        &envelope.lane,
        envelope.prio,
        envelope.rate,
    )?;
    write_body(out, &envelope.body)
}

/// Writes the tag and header: `@kind(node:"...",lane:...[,prio:p][,rate:r])`, or only
/// `@kind` for host-addressed kinds.
fn write_head<W: Write + ?Sized>(
    out: &mut W,
    kind: EnvelopeKind,
    node: &str,
    lane: &str,
    prio: Option<f32>,
    rate: Option<f32>,
) -> fmt::Result {
    out.write_char('@')?;
    out.write_str(kind.tag())?;
    if kind.is_host_addressed() {
        return Ok(());
    }
    out.write_str("(node:")?;
    write_quoted(out, node)?;
    out.write_str(",lane:")?;
    write_text(out, lane)?;
    if kind.takes_prio_and_rate() {
        write_number_slot(out, "prio", prio)?;
        write_number_slot(out, "rate", rate)?;
    }
    out.write_char(')')
}

/// Writes `,name:n` when `n` is present, finite and not 0.
fn write_number_slot<W: Write + ?Sized>(
    out: &mut W,
    name: &str,
    number: Option<f32>,
) -> fmt::Result {
    match number {
        Some(n) if n != 0.0 && n.is_finite() => {
            out.write_char(',')?;
            out.write_str(name)?;
            out.write_char(':')?;
            write_f32(out, n)
        }
        _ => Ok(()),
    }
}
