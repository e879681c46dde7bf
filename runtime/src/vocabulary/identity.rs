//! Who a client is, once a server's policy has said so.

use std::fmt;
use std::sync::Arc;

/// Who a client is, as a server's policy established it (from a token, a certificate, ...):
/// checked per link and command, and seen by agents as the sender of a command
/// (`HandlerContext::sender`). Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    name: Arc<str>,
}

impl Identity {
    /// An identity called `name` (a user, a service...).
    pub fn new(name: impl Into<String>) -> Self {
        Identity {
            name: Arc::from(name.into()),
        }
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
