//! Why a handler failed.

use std::error::Error;

use crate::store::codec::EncodeError;
use crate::store::{RestoreError, StoreError};

/// The error a failing [`HandlerAction`](crate::event_handler::HandlerAction) reports.
///
/// What happens next is decided by the agent's
/// [`HandlerErrorPolicy`](crate::config::HandlerErrorPolicy): the failure is logged with the node
/// and lane, then the agent either goes on with its next event or stops.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventHandlerError {
    /// A handler was stepped again after it had completed or failed.
    #[error("a handler was stepped after it had completed")]
    SteppedAfterComplete,
    /// Lane handlers kept triggering each other past the configured depth.
    #[error(
        "lane handlers triggered each other more than {limit} levels deep: {}",
        chain.join(" -> ")
    )]
    TriggerDepthExceeded {
        /// The configured limit ([`AgentConfig::max_trigger_depth`](crate::config::AgentConfig)).
        limit: usize,
        /// The lanes whose handlers were running, outermost first (repeats folded).
        chain: Vec<String>,
    },
    /// A command sent to a lane could not be applied to it (the reason is given).
    #[error("bad command: {0}")]
    BadCommand(String),
    /// A handler's own code failed (see [`HandlerContext::fail`](crate::agent_lifecycle::HandlerContext::fail)).
    #[error("handler failed: {0}")]
    Effect(#[source] Box<dyn Error + Send + Sync + 'static>),
    /// The agent's store failed: a turn could not be written, or the state could not be read.
    /// The agent stops.
    #[error("the store failed: {0}")]
    Store(#[source] StoreError),
    /// An item's persisted state does not decode as its type (the type changed since the state
    /// was written). The agent does not start.
    #[error("cannot restore the persisted state: {0}")]
    Restore(#[source] RestoreError),
    /// An item's value could not be encoded for the store. The agent stops.
    #[error("cannot encode the state for the store: {0}")]
    Encode(#[source] EncodeError),
    /// A handler asked the agent to stop (see [`HandlerContext::stop`](crate::agent_lifecycle::HandlerContext::stop)).
    #[error("the agent was instructed to stop")]
    StopInstructed,
}

impl EventHandlerError {
    /// A failure of user code, from any error value.
    pub fn effect<E>(error: E) -> Self
    where
        E: Error + Send + Sync + 'static,
    {
        EventHandlerError::Effect(Box::new(error))
    }

    /// A failure of user code described by a message.
    pub fn message(message: impl Into<String>) -> Self {
        EventHandlerError::Effect(message.into().into())
    }
}
