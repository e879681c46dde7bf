//! Routing what the host sends to the links it concerns: link state, events (a map event
//! read once for every map link), unlinks.

use super::links::Links;
use super::Address;
use crate::lanes::{Encoded, ItemKind, LinkSubscriber, UnlinkReason};
use crate::recon::{Item, Value};
use crate::warp::{with_rest, Envelope, EnvelopeKind};

/// Hands an envelope from the remote host to the links it concerns; returns the addresses
/// whose last link failed (to unlink on the wire).
pub(super) fn dispatch(envelope: Envelope, links: &mut Links) -> Vec<Address> {
    let address = (envelope.node, envelope.lane);
    if envelope.kind == EnvelopeKind::Unlinked && links.answers_unlink(&address) {
        // The reply to our `@unlink`: links made again since are on a new wire link.
        return Vec::new();
    }
    if !links.by_address.contains_key(&address) {
        // Nothing links there (any more): nothing to record.
        return Vec::new();
    }
    let mut unlink = Vec::new();
    match envelope.kind {
        EnvelopeKind::Linked => {
            // Another member of a plane says what kind of lane it is (`@kind(map)`).
            let kind = tag_text(&envelope.body, "kind").and_then(ItemKind::from_lane_type);
            if links.linked.insert(address.clone(), kind).is_none() {
                links.at(&address).for_each(|s| announce_linked(s, kind));
            }
        }
        EnvelopeKind::Synced => {
            links.synced.insert(address.clone());
            for id in links.late.remove(&address).unwrap_or_default() {
                if let (Some((_, subscriber)), Some(cached)) =
                    (links.by_id.get(&id), links.cache.get(&address))
                {
                    if let Err(reason) = cached.replay(subscriber) {
                        tracing::debug!(%reason, "cached state did not fit a late link");
                    }
                }
            }
            links.at(&address).for_each(|s| s.sink().synced());
        }
        EnvelopeKind::Event => {
            // Read once for the cache and every map link: a map operation, unless the host
            // said the lane is of a kind that has none (a value that looks like `@clear`).
            let kind = links.linked.get(&address).copied().flatten();
            let operation = match kind {
                Some(kind) if kind.lane_type() != Some("map") => None,
                _ => map_operation(&envelope.body),
            };
            if links.sync_requested.contains(&address) {
                links
                    .cache
                    .entry(address.clone())
                    .or_default()
                    .record(&envelope.body, operation.as_ref());
            }
            let mut failed = Vec::new();
            let event = Encoded::new(envelope.body);
            for subscriber in links.at(&address) {
                if let Err(reason) = deliver(subscriber, &event, operation.as_ref()) {
                    failed.push((subscriber.id(), reason));
                }
            }
            for (id, reason) in failed {
                if let Some((_, subscriber)) = links.by_id.get(&id) {
                    subscriber.sink().unlinked(UnlinkReason::BadValue(reason));
                }
                unlink.extend(links.remove(id));
            }
        }
        EnvelopeKind::Unlinked => {
            let reason = match UnlinkReason::from_tag(envelope.body.tag()) {
                // Why the host could not reach the agent's owner, as it said.
                UnlinkReason::Unreachable(_) => {
                    let why = tag_text(&envelope.body, "unreachable").unwrap_or_default();
                    UnlinkReason::Unreachable(why.to_owned())
                }
                reason => reason,
            };
            links.unlink_all(&address, reason);
        }
        _ => tracing::debug!(kind = %envelope.kind, "envelope from the remote host ignored"),
    }
    unlink
}

/// The text of the tag `name` of `body` (`@name("text")`), if it is its tag.
fn tag_text<'a>(body: &'a Value, name: &str) -> Option<&'a str> {
    let tag = body.as_record()?.attrs.first()?;
    (tag.name == name).then(|| tag.value.as_text()).flatten()
}

/// Tells a subscriber that its link is made, and first the kind of lane, if the host said.
pub(super) fn announce_linked(subscriber: &LinkSubscriber, kind: Option<ItemKind>) {
    if let Some(kind) = kind {
        subscriber.sink().lane_kind(kind);
    }
    subscriber.sink().linked();
}

/// Delivers an event to one link: a value, or, for map links, the event read as `operation`.
/// A link that takes any kind of lane (another member's client, through this one) gets map
/// operations as map operations, each key kept apart, and anything else as a value (the event
/// is a map operation only if the host said the lane is a map lane, or did not say).
pub(super) fn deliver(
    subscriber: &LinkSubscriber,
    event: &Encoded,
    operation: Option<&MapOperation>,
) -> Result<(), String> {
    match subscriber {
        LinkSubscriber::Value { recon, .. } => recon.event_recon(event),
        LinkSubscriber::Untyped { value, map, .. } => match operation {
            Some(MapOperation::Update(key, value)) => map.update_recon(key, value),
            Some(MapOperation::Remove(key)) => map.remove_recon(key),
            Some(MapOperation::Clear) => {
                map.clear();
                Ok(())
            }
            None => value.event_recon(event),
        },
        LinkSubscriber::Map { recon, .. } => match operation {
            Some(MapOperation::Update(key, value)) => recon.update_recon(key, value),
            Some(MapOperation::Remove(key)) => recon.remove_recon(key),
            Some(MapOperation::Clear) => {
                recon.clear();
                Ok(())
            }
            None => Err(format!("`{}` is not a map event", event.value())),
        },
    }
}

/// A map event from the remote host, its key and value ready for every map link.
pub(super) enum MapOperation {
    Update(Encoded, Encoded),
    Remove(Encoded),
    Clear,
}

/// Reads `@update(key:K) V`, `@remove(key:K)` or `@clear` (keys and values as Recon values).
pub(super) fn map_operation(body: &Value) -> Option<MapOperation> {
    let Value::Record(record) = body else {
        return None;
    };
    let (head, rest) = record.attrs.split_first()?;
    let key = || match &head.value {
        Value::Record(header) => header.items.iter().find_map(|item| match item {
            Item::Slot(Value::Text(name), key) if name == "key" => Some(Encoded::new(key.clone())),
            _ => None,
        }),
        _ => None,
    };
    match head.name.as_str() {
        "update" => {
            let value = with_rest(rest, &record.items, Value::clone);
            Some(MapOperation::Update(key()?, Encoded::new(value)))
        }
        "remove" => Some(MapOperation::Remove(key()?)),
        "clear" => Some(MapOperation::Clear),
        _ => None,
    }
}
