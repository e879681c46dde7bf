//! Configuration of agents (and, later, of downlinks and servers).

/// What an agent does when one of its handlers fails.
///
/// Whatever the policy, the failure is logged (with the node URI and the lane whose handler
/// failed), the failing chain of handlers stops where it failed (changes it already made stay and
/// reach subscribers), and no other agent is affected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HandlerErrorPolicy {
    /// Log the failure and go on with the next event (the default).
    #[default]
    Continue,
    /// Log the failure, run `on_stop` and stop the agent.
    Stop,
}

/// Settings of one agent instance.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AgentConfig {
    /// How deep lane handlers may trigger each other (a handler that sets a lane whose handler
    /// sets a lane ...) before the chain fails with
    /// [`EventHandlerError::TriggerDepthExceeded`](crate::event_handler::EventHandlerError).
    /// Default 256.
    pub max_trigger_depth: usize,
    /// What happens when a handler fails. Default [`HandlerErrorPolicy::Continue`].
    pub on_handler_error: HandlerErrorPolicy,
    /// How many messages (commands, link requests) may wait in the agent's inbox. Default 1024.
    pub inbox_capacity: usize,
    /// Stop the agent after this long without messages, if nothing links to its lanes and it
    /// hosts no downlinks. Default `None` (never): an agent without a persistence store would
    /// lose its state. A server starts it again when it is next addressed.
    pub inactive_timeout: Option<std::time::Duration>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            max_trigger_depth: 256,
            on_handler_error: HandlerErrorPolicy::Continue,
            inbox_capacity: 1024,
            inactive_timeout: None,
        }
    }
}

impl AgentConfig {
    /// Sets [`max_trigger_depth`](Self::max_trigger_depth).
    pub fn with_max_trigger_depth(mut self, depth: usize) -> Self {
        self.max_trigger_depth = depth;
        self
    }

    /// Sets [`on_handler_error`](Self::on_handler_error).
    pub fn with_error_policy(mut self, policy: HandlerErrorPolicy) -> Self {
        self.on_handler_error = policy;
        self
    }
}

/// How a value or event downlink behaves (see `HandlerContext::value_downlink_builder`).
///
/// Unlike the other configs, this one (and [`MapDownlinkConfig`]) is exhaustive, so that it can
/// be written as a struct literal, as SwimOS code does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimpleDownlinkConfig {
    /// Whether lifecycle handlers run for events received before the downlink is synchronised
    /// with the lane. Default `false`: such events update the downlink's state silently.
    pub events_when_not_synced: bool,
    /// Whether the downlink stops for good when it is unlinked. Default `true`. If `false`, it
    /// links again (and resynchronises) after an unlink.
    pub terminate_on_unlinked: bool,
}

impl Default for SimpleDownlinkConfig {
    fn default() -> Self {
        SimpleDownlinkConfig {
            events_when_not_synced: false,
            terminate_on_unlinked: true,
        }
    }
}

/// How a map downlink behaves: the same settings as [`SimpleDownlinkConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapDownlinkConfig {
    /// Whether lifecycle handlers run for events received before the downlink is synchronised
    /// with the lane. Default `false`.
    pub events_when_not_synced: bool,
    /// Whether the downlink stops for good when it is unlinked. Default `true`.
    pub terminate_on_unlinked: bool,
}

impl Default for MapDownlinkConfig {
    fn default() -> Self {
        MapDownlinkConfig {
            events_when_not_synced: false,
            terminate_on_unlinked: true,
        }
    }
}

impl From<MapDownlinkConfig> for SimpleDownlinkConfig {
    fn from(config: MapDownlinkConfig) -> Self {
        SimpleDownlinkConfig {
            events_when_not_synced: config.events_when_not_synced,
            terminate_on_unlinked: config.terminate_on_unlinked,
        }
    }
}
