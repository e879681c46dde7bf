//! The outbox while the connection is down: links are recorded, commands wait (bounded; a
//! value downlink's latest write replaces an earlier one to the same lane).

use std::collections::VecDeque;

use super::links::Links;
use super::Address;
use crate::environment::Waits;
use crate::recon::Value;
use crate::remote::{HostRequest, RemoteConfig};

/// A command waiting for the connection.
pub(super) struct Waiting {
    pub(super) address: Address,
    pub(super) body: Value,
    pub(super) waits: Waits,
}

/// Records a request while there is no connection.
pub(super) fn offline(
    request: HostRequest,
    links: &mut Links,
    commands: &mut VecDeque<Waiting>,
    config: &RemoteConfig,
) {
    match request {
        HostRequest::Link {
            node,
            lane,
            subscriber,
        } => {
            links.add((node, lane), subscriber);
        }
        HostRequest::Unlink { id } => {
            links.remove(id);
        }
        HostRequest::Command {
            node,
            lane,
            body,
            waits,
        } => {
            let address = (node, lane);
            if waits == Waits::Latest {
                commands.retain(|w| !(w.waits == Waits::Latest && w.address == address));
            }
            if commands.len() >= config.max_queued_commands.max(1) {
                commands.pop_front();
                tracing::warn!(
                    "too many commands waiting for the connection; the oldest was dropped"
                );
            }
            commands.push_back(Waiting {
                address,
                body,
                waits,
            });
        }
    }
}
