//! Who a client is, once a server's policy has said so.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

/// Who a client is, as a server's policy established it (from a token, a certificate, ...):
/// checked per link and command, and seen by agents as the sender of a command
/// (`HandlerContext::sender`). Cheap to clone.
///
/// An identity may expire (a token's expiry time): on an open connection, the server then
/// drops it, says `@deauthed`, and treats the client as anonymous until it authenticates
/// again.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tidal_runtime::server::Identity;
///
/// let alice = Identity::new("alice").expires_at(SystemTime::now() + Duration::from_secs(3600));
/// assert_eq!(alice.name(), "alice");
/// assert!(alice.expiry().is_some());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    name: Arc<str>,
    expiry: Option<SystemTime>,
}

impl Identity {
    /// An identity called `name` (a user, a service...).
    pub fn new(name: impl Into<String>) -> Self {
        Identity {
            name: Arc::from(name.into()),
            expiry: None,
        }
    }

    /// The same identity, valid until `expiry`.
    pub fn expires_at(mut self, expiry: SystemTime) -> Self {
        self.expiry = Some(expiry);
        self
    }

    /// When the identity stops being valid, if it does.
    pub fn expiry(&self) -> Option<SystemTime> {
        self.expiry
    }

    /// Whether the identity is no longer valid (its expiry has passed). A server treats an
    /// expired identity as none: an HTTP request carrying one is answered `401`, and an open
    /// connection whose identity expires is deauthenticated.
    pub fn is_expired(&self) -> bool {
        self.expiry
            .is_some_and(|expiry| expiry <= SystemTime::now())
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}
