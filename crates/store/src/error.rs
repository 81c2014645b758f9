//! The one place where sqlx errors become `engine::StoreError`, for both
//! backends: callers above the store never see sqlx.

use anyhow::anyhow;
use engine::StoreError;

/// A failed query: a missing row is `NotFound` (callers can't tell it from
/// another account's row, by design); anything else is `Other`, with what
/// the store was doing as context.
pub(crate) fn db_error(err: sqlx::Error, doing: &'static str) -> StoreError {
    match err {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        err => StoreError::Other(anyhow!(err).context(doing)),
    }
}

/// Like `db_error`, but a unique violation is `Conflict(conflict)`: used
/// where a statement can break exactly one uniqueness rule that callers
/// need to tell apart (a taken email, a team name in use).
pub(crate) fn unique_or_db_error(
    err: sqlx::Error,
    conflict: &'static str,
    doing: &'static str,
) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(conflict),
        _ => db_error(err, doing),
    }
}

/// A row that the database holds but the domain rejects (an unknown role,
/// say): the schema's CHECKs should make this impossible.
pub(crate) fn corrupt_row(what: &'static str, err: impl std::fmt::Display) -> StoreError {
    StoreError::Other(anyhow!("stored {what} is invalid: {err}"))
}
