//! Errors that callers branch on. The server maps each to a status code in
//! one place; nothing here knows about HTTP.

/// What a `Store` call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist, or belongs to another account: callers must
    /// not be able to tell the two apart.
    #[error("not found")]
    NotFound,
    /// A uniqueness rule or a precondition failed; the text says which.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The database failed; the cause is logged, never shown to clients.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

use crate::account::ValidationError;

/// What an engine service can fail with; the server turns each kind into
/// one status code and a message the engineer can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Well-formed input that breaks a rule (422).
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// No valid credentials (401).
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// Signed in, but not allowed (403).
    #[error("{0}")]
    Forbidden(&'static str),
    /// Missing, or another account's (404).
    #[error("not found")]
    NotFound,
    /// The request clashes with the current state (409); `code` names the
    /// clash (`turn_in_progress`, `stale_state_version`, …) so clients can
    /// branch on it.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// A turn could not be answered or stored; says why and what to do.
    #[error("{0}")]
    Turn(#[from] crate::turn::TurnFailure),
    /// Something broke on our side (500); logged, never shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Error::NotFound,
            StoreError::Conflict(why) => Error::conflict(why, why),
            StoreError::Other(e) => Error::Internal(e),
        }
    }
}

impl Error {
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Error::Conflict {
            code,
            message: message.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
