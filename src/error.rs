//! The typed error of the library. The CLI maps it to exit codes: 2 for a bad configuration
//! or a network that does not fit, 1 for everything else.

use crate::config::ConfigError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A field out of range, an unknown field, malformed JSON: one line naming the field.
    #[error("{0}")]
    Config(String),
    /// The network does not fit the memory or the device limits; the message has the numbers.
    #[error("{0}")]
    DoesNotFit(String),
    /// Anything that went wrong while running: a device error, a non-finite state, I/O.
    #[error(transparent)]
    Runtime(anyhow::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The CLI's exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) | Error::DoesNotFit(_) => 2,
            Error::Runtime(_) => 1,
        }
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e.0)
    }
}

impl From<anyhow::Error> for Error {
    /// A configuration error somewhere in the chain stays a configuration error.
    fn from(e: anyhow::Error) -> Self {
        match e.downcast::<Error>() {
            Ok(t) => t,
            Err(e) => match e.downcast::<ConfigError>() {
                Ok(c) => Error::Config(c.0),
                Err(e) => Error::Runtime(e),
            },
        }
    }
}
