//! Commands: what a lane is sent, typed or in Recon form.

use std::any::{Any, TypeId};

use serde::Serialize;

use crate::recon::{Error as ReconError, Value};

/// A command for a lane, as it arrives at the agent task.
#[non_exhaustive]
pub enum CommandPayload {
    /// A typed value; used as it is when it has the lane's command type, converted through
    /// Recon otherwise.
    Typed(Box<dyn TypedCommand>),
    /// A command in Recon form (as received over WARP).
    Recon(Value),
}

/// A typed command value, which can also be converted to Recon.
pub trait TypedCommand: Any + Send {
    /// The value, to downcast.
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send>;
    /// The value in Recon form.
    ///
    /// # Errors
    /// The serde error if the value's `Serialize` implementation fails.
    fn to_recon(&self) -> Result<Value, ReconError>;
}

impl<T: Serialize + Send + 'static> TypedCommand for T {
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }

    fn to_recon(&self) -> Result<Value, ReconError> {
        crate::recon::to_value(self)
    }
}

impl CommandPayload {
    /// A typed command.
    pub fn typed<T: Serialize + Send + 'static>(command: T) -> Self {
        CommandPayload::Typed(Box::new(command))
    }

    /// The command as a `T`: taken as it is if it is one, decoded from its Recon form with
    /// `decode` otherwise.
    pub(crate) fn into_command<T>(
        self,
        decode: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Result<T, String>
    where
        T: 'static,
    {
        let value = match self {
            CommandPayload::Typed(typed) => {
                if (*typed).type_id() == TypeId::of::<T>() {
                    return typed
                        .into_any()
                        .downcast::<T>()
                        .map(|command| *command)
                        .map_err(|_| "the command changed type".to_owned());
                }
                typed.to_recon().map_err(|err| err.to_string())?
            }
            CommandPayload::Recon(value) => value,
        };
        decode(&value)
    }
}

impl std::fmt::Debug for CommandPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommandPayload::Typed(_) => f.write_str("CommandPayload::Typed(..)"),
            CommandPayload::Recon(value) => write!(f, "CommandPayload::Recon({value})"),
        }
    }
}

/// A command for a lane of another agent, sent once the current event is over.
pub(crate) struct OutgoingCommand {
    pub(crate) host: Option<String>,
    pub(crate) node: String,
    pub(crate) lane: String,
    pub(crate) payload: CommandPayload,
}
