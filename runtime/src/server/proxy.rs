//! The stand-in for the agent of a node this server does not run, when it is a member of a
//! plane: requests for the node go, in order, to the member that owns it (over the one
//! connection per host of the remote pool, which shares one upstream link per lane among all
//! local subscribers), or, once this server holds the node's shard, to its agent here. A
//! request waits while the node has no usable owner (a shard being claimed or moved), up to
//! twice the lease.

use std::collections::HashMap;
use std::sync::Weak;

use tokio::sync::mpsc;

use super::registry::Registry;
use crate::environment::{post_unlink, Environment, Mailbox, Request, Waits};
use crate::lanes::UnlinkReason;
use crate::vocabulary::StatusCode;

/// How many requests wait for the stand-in (as for an agent's inbox).
const INBOX: usize = 1024;

/// Where a request for the node goes.
pub(crate) enum Target {
    /// To the node's agent on this server.
    Here(Mailbox),
    /// To the member at this address.
    There(String),
}

/// Starts the stand-in for `node`: with `forward`, requests go to the member that owns the
/// node; without (requests that another member forwarded already), they wait until this
/// server holds the node's shard.
pub(crate) fn spawn(registry: Weak<Registry>, node: String, forward: bool) -> Mailbox {
    let (mailbox, mut requests) = mpsc::channel(INBOX);
    tokio::spawn(async move {
        // Where each link went, to send its unlink after it.
        let mut links: HashMap<u64, Target> = HashMap::new();
        while let Some(request) = requests.recv().await {
            let Some(registry) = registry.upgrade() else {
                refuse(&node, request, UnlinkReason::AgentStopped);
                break;
            };
            match request {
                Request::Stop => break,
                Request::Unlink { lane, link } => match links.remove(&link) {
                    Some(Target::Here(agent)) => {
                        post_unlink(&agent, Request::Unlink { lane, link });
                    }
                    Some(Target::There(host)) => {
                        if let Some(pool) = registry.remote() {
                            pool.unlink(&host, link);
                        }
                    }
                    None => {}
                },
                // Meta links to a stand-in were refused; handlers only run in agents.
                Request::MetaUnlink { .. } | Request::Run(_) => {}
                request => match registry.target(&node, forward).await {
                    Ok(target) => send(&node, request, target, &registry, &mut links).await,
                    Err(reason) => refuse(&node, request, reason),
                },
            }
        }
    });
    mailbox
}

/// Sends `request` for `node` on to `target`.
async fn send(
    node: &str,
    request: Request,
    target: Target,
    registry: &Registry,
    links: &mut HashMap<u64, Target>,
) {
    match target {
        Target::Here(agent) => {
            if let Request::Link { subscriber, .. } = &request {
                links.insert(subscriber.id(), Target::Here(agent.clone()));
            }
            if let Err(mpsc::error::SendError(request)) = agent.send(request).await {
                refuse(node, request, UnlinkReason::AgentStopped);
            }
        }
        Target::There(host) => {
            tracing::debug!(node, %host, "forwarding");
            let Some(pool) = registry.remote() else {
                return refuse(node, request, UnlinkReason::Unreachable(host));
            };
            match request {
                Request::Link { lane, subscriber } => {
                    links.insert(subscriber.id(), Target::There(host.clone()));
                    pool.link(&host, node, &lane, subscriber);
                }
                Request::Command { lane, payload, .. } => {
                    if let Err(reason) = pool.command(&host, node, &lane, payload, Waits::Every) {
                        tracing::warn!(node, lane, %reason, "a command for another member was dropped");
                    }
                }
                Request::Http { exchange, .. } => exchange.fail(
                    StatusCode::MISDIRECTED_REQUEST,
                    format!("{node} runs on the member at {host}: send its HTTP requests there"),
                ),
                other => refuse(node, other, UnlinkReason::NodeNotFound),
            }
        }
    }
}

/// Answers `request` for `node` with `reason`: links are refused, HTTP requests answered
/// `503`, and commands (which have no answer in WARP) logged.
fn refuse(node: &str, request: Request, reason: UnlinkReason) {
    match request {
        Request::Command { lane, .. } => {
            tracing::warn!(node, lane, %reason, "a command was dropped: its node has no owner");
        }
        Request::Http { exchange, .. } => {
            exchange.fail(StatusCode::SERVICE_UNAVAILABLE, reason.to_string());
        }
        other => other.refuse(reason),
    }
}
