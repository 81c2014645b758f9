//! Database rows and their conversions to the engine's domain types. The
//! same structs decode on both backends (sqlx's `FromRow` derive is generic
//! over the database).

use engine::{Account, ApiToken, Credentials, Principal, Role, StoreError, Team, User};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::corrupt_row;

fn role(stored: &str) -> Result<Role, StoreError> {
    Role::parse(stored).map_err(|e| corrupt_row("role", e))
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AccountRow {
    pub id: Uuid,
    pub name: String,
    pub created_at: OffsetDateTime,
}

impl From<AccountRow> for Account {
    fn from(row: AccountRow) -> Self {
        Self {
            id: row.id.into(),
            name: row.name,
            created_at: row.created_at,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct UserRow {
    pub id: Uuid,
    pub account_id: Uuid,
    pub email: String,
    pub name: String,
    pub role: String,
    pub created_at: OffsetDateTime,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;

    fn try_from(row: UserRow) -> Result<Self, Self::Error> {
        Ok(Self {
            id: row.id.into(),
            account_id: row.account_id.into(),
            email: row.email,
            name: row.name,
            role: role(&row.role)?,
            created_at: row.created_at,
        })
    }
}

/// Converts a list of user rows, failing on the first bad one.
pub(crate) fn users(rows: Vec<UserRow>) -> Result<Vec<User>, StoreError> {
    rows.into_iter().map(User::try_from).collect()
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct CredentialsRow {
    #[sqlx(flatten)]
    pub user: UserRow,
    pub password_hash: String,
}

impl TryFrom<CredentialsRow> for Credentials {
    type Error = StoreError;

    fn try_from(row: CredentialsRow) -> Result<Self, Self::Error> {
        Ok(Self {
            user: row.user.try_into()?,
            password_hash: row.password_hash,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PrincipalRow {
    pub user_id: Uuid,
    pub account_id: Uuid,
    pub role: String,
}

impl TryFrom<PrincipalRow> for Principal {
    type Error = StoreError;

    fn try_from(row: PrincipalRow) -> Result<Self, Self::Error> {
        Ok(Self {
            account_id: row.account_id.into(),
            user_id: row.user_id.into(),
            role: role(&row.role)?,
        })
    }
}

/// A browser session's owner and expiry; expiry is checked in Rust because
/// SQLite stores times as text that doesn't compare reliably.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct WebSessionRow {
    #[sqlx(flatten)]
    pub principal: PrincipalRow,
    pub expires_at: OffsetDateTime,
}

/// An API token's owner, and when the token was last used (to decide
/// whether recording this use is worth a write).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct TokenPrincipalRow {
    pub token_id: Uuid,
    pub last_used_at: Option<OffsetDateTime>,
    #[sqlx(flatten)]
    pub principal: PrincipalRow,
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct TokenRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

impl From<TokenRow> for ApiToken {
    fn from(row: TokenRow) -> Self {
        Self {
            id: row.id.into(),
            user_id: row.user_id.into(),
            name: row.name,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct TeamRow {
    pub id: Uuid,
    pub account_id: Uuid,
    pub name: String,
    pub created_at: OffsetDateTime,
}

impl From<TeamRow> for Team {
    fn from(row: TeamRow) -> Self {
        Self {
            id: row.id.into(),
            account_id: row.account_id.into(),
            name: row.name,
            created_at: row.created_at,
        }
    }
}
