//! What an agent can reach outside itself: other agents, by node URI.

use std::any::Any;

use tokio::sync::mpsc;

use crate::introspection::{self, MetaAddress};
use crate::lanes::{CommandPayload, HttpExchange, LinkSubscriber, UnlinkReason};
use crate::vocabulary::Identity;

fn no_remote(host: &str) -> UnlinkReason {
    UnlinkReason::Unreachable(format!(
        "{host}: this agent has no connections to other hosts"
    ))
}

/// A message for an agent's task.
pub(crate) enum Request {
    /// A command for the lane with this (external) name.
    Command {
        lane: String,
        payload: CommandPayload,
        /// Who sent it, if a server's policy identified them.
        sender: Option<Identity>,
    },
    /// A request to link to the lane with this name.
    Link {
        lane: String,
        subscriber: LinkSubscriber,
    },
    /// Close the link `link` to the lane with this name.
    Unlink { lane: String, link: u64 },
    /// A handler (`BoxEventHandler<'static, A>` for the agent's `A`) to run as one event.
    Run(Box<dyn Any + Send>),
    /// An HTTP request for the HTTP lane with this name.
    Http {
        lane: String,
        exchange: Box<HttpExchange>,
    },
    /// A request to link to a lane of the agent's meta node (introspection).
    Meta {
        address: MetaAddress,
        subscriber: LinkSubscriber,
    },
    /// Close the link `link` to a lane of the agent's meta node.
    MetaUnlink { address: MetaAddress, link: u64 },
    /// Stop the agent (runs `on_stop`); its links end for this reason.
    Stop(UnlinkReason),
}

impl Request {
    /// Whether this is a command (a burst publishes consecutive commands together).
    pub(crate) fn is_command(&self) -> bool {
        matches!(self, Request::Command { .. })
    }

    /// Tells the subscriber of a link request, if this is one, that it failed.
    pub(crate) fn refuse(self, reason: UnlinkReason) {
        if let Request::Link { subscriber, .. } | Request::Meta { subscriber, .. } = self {
            subscriber.refuse(reason);
        }
    }
}

/// The inbox of an agent.
pub(crate) type Mailbox = mpsc::Sender<Request>;

/// The agents around an agent: a server's registry, or nothing (in the test harness).
pub(crate) trait Environment: Send + Sync + 'static {
    /// The inbox of the agent of this process serving `node`, starting it if needed. (Agents
    /// on other hosts are reached through [`remote`](Self::remote).)
    fn resolve(&self, node: &str) -> Result<Mailbox, UnlinkReason>;

    /// The inbox of the agent of this process serving `node` if it is running (never starts
    /// it).
    fn resolve_running(&self, node: &str) -> Option<Mailbox>;

    /// Whether some route of this process serves `node`.
    fn serves(&self, node: &str) -> bool;

    /// The connections to other hosts, if this environment has them.
    fn remote(&self) -> Option<&dyn RemoteHosts>;

    /// Links `subscriber` to `lane` of the meta node `node` (a `swim:meta:` URI). The default,
    /// for environments without introspection: the node is not found.
    fn meta_link(&self, node: &str, lane: &str, subscriber: LinkSubscriber) {
        let _ = (node, lane);
        subscriber.refuse(UnlinkReason::NodeNotFound);
    }

    /// Closes the link `link` to `lane` of the meta node `node`.
    fn meta_unlink(&self, node: &str, lane: &str, link: u64) {
        let _ = (node, lane, link);
    }

    /// The environment for a connection from another member of the plane named `plane`:
    /// one that never forwards (the other member forwarded already). `None`, the default, for
    /// environments that are no member of that plane.
    fn for_peer(&self, plane: &str) -> Option<std::sync::Arc<dyn Environment>> {
        let _ = plane;
        None
    }
}

/// How a command to another host waits while the connection is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waits {
    /// Every command waits, in order (commands, map downlink operations).
    Every,
    /// A value downlink's write: it supersedes an earlier one to the same lane still waiting.
    Latest,
}

/// Lanes of agents on other hosts, reached over connections the environment keeps (the
/// `remote` module's connection pool implements it).
pub(crate) trait RemoteHosts: Send + Sync {
    /// Links `subscriber` to `lane` of `node` on `host` (refusing it if the host is unusable).
    fn link(&self, host: &str, node: &str, lane: &str, subscriber: LinkSubscriber);

    /// Closes the link `id` to `host`.
    fn unlink(&self, host: &str, id: u64);

    /// Sends a command to `lane` of `node` on `host`; while the connection is down it waits
    /// as `waits` says.
    ///
    /// # Errors
    /// The host string is not a usable URL, or the command does not convert to Recon.
    fn command(
        &self,
        host: &str,
        node: &str,
        lane: &str,
        payload: CommandPayload,
        waits: Waits,
    ) -> Result<(), UnlinkReason>;
}

/// Sends a command to a lane of any agent, waiting while its inbox is full. To another host,
/// it waits while the connection is down as `waits` says.
pub(crate) async fn send_command(
    environment: &dyn Environment,
    host: Option<&str>,
    node: &str,
    lane: &str,
    payload: CommandPayload,
    waits: Waits,
) -> Result<(), UnlinkReason> {
    if let Some(host) = host {
        let pool = environment.remote().ok_or_else(|| no_remote(host))?;
        return pool.command(host, node, lane, payload, waits);
    }
    deliver_command(environment, node, lane, payload, None).await
}

/// Sends a command from `sender` to a lane of an agent of this process, waiting while its
/// inbox is full.
pub(crate) async fn deliver_command(
    environment: &dyn Environment,
    node: &str,
    lane: &str,
    payload: CommandPayload,
    sender: Option<Identity>,
) -> Result<(), UnlinkReason> {
    post_command(&environment.resolve(node)?, lane, payload, sender).await
}

/// Sends a command from `sender` to `lane` of the agent with this inbox, waiting while it is
/// full.
///
/// # Errors
/// [`UnlinkReason::AgentStopped`] if the agent has stopped.
pub(crate) async fn post_command(
    mailbox: &Mailbox,
    lane: &str,
    payload: CommandPayload,
    sender: Option<Identity>,
) -> Result<(), UnlinkReason> {
    mailbox
        .send(Request::Command {
            lane: lane.to_owned(),
            payload,
            sender,
        })
        .await
        .map_err(|_| UnlinkReason::AgentStopped)
}

/// Sends a link request, refusing the subscriber if the agent cannot be reached.
pub(crate) fn send_link(
    environment: Option<&dyn Environment>,
    host: Option<&str>,
    node: &str,
    lane: &str,
    subscriber: LinkSubscriber,
) {
    let Some(environment) = environment else {
        subscriber.refuse(UnlinkReason::NodeNotFound);
        return;
    };
    if let Some(host) = host {
        match environment.remote() {
            Some(pool) => pool.link(host, node, lane, subscriber),
            None => subscriber.refuse(no_remote(host)),
        }
        return;
    }
    if introspection::is_meta(node) {
        environment.meta_link(node, lane, subscriber);
        return;
    }
    let mailbox = match environment.resolve(node) {
        Ok(mailbox) => mailbox,
        Err(reason) => {
            subscriber.refuse(reason);
            return;
        }
    };
    post_link(
        &mailbox,
        Request::Link {
            lane: lane.to_owned(),
            subscriber,
        },
    );
}

/// Posts a link request to an agent's inbox; if the inbox is full, a task waits for room
/// (the sender never blocks). If the agent has stopped, the subscriber is refused.
pub(crate) fn post_link(mailbox: &Mailbox, request: Request) {
    match mailbox.try_send(request) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(request)) => {
            let mailbox = mailbox.clone();
            tokio::spawn(async move {
                if let Err(mpsc::error::SendError(request)) = mailbox.send(request).await {
                    request.refuse(UnlinkReason::AgentStopped);
                }
            });
        }
        Err(mpsc::error::TrySendError::Closed(request)) => {
            request.refuse(UnlinkReason::AgentStopped);
        }
    }
}

/// Asks a lane to close a link (best effort: a lane that is gone has closed it already).
pub(crate) fn send_unlink(
    environment: Option<&dyn Environment>,
    host: Option<&str>,
    node: &str,
    lane: &str,
    link: u64,
) {
    let Some(environment) = environment else {
        return;
    };
    if let Some(host) = host {
        if let Some(pool) = environment.remote() {
            pool.unlink(host, link);
        }
        return;
    }
    if introspection::is_meta(node) {
        environment.meta_unlink(node, lane, link);
        return;
    }
    let Some(mailbox) = environment.resolve_running(node) else {
        return;
    };
    post_unlink(
        &mailbox,
        Request::Unlink {
            lane: lane.to_owned(),
            link,
        },
    );
}

/// Posts an unlink request to an agent's inbox (best effort: an agent that has stopped has
/// closed its links); if the inbox is full, a task waits for room.
pub(crate) fn post_unlink(mailbox: &Mailbox, request: Request) {
    if let Err(mpsc::error::TrySendError::Full(request)) = mailbox.try_send(request) {
        let mailbox = mailbox.clone();
        tokio::spawn(async move {
            let _ = mailbox.send(request).await;
        });
    }
}
