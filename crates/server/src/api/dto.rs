//! The API's shapes: what clients see, converted explicitly from domain
//! types so that a field can't leak out by being added to the domain.

use engine::{Account, ApiToken, Team, User};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountDto {
    pub id: Uuid,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<Account> for AccountDto {
    fn from(a: Account) -> Self {
        Self {
            id: a.id.as_uuid(),
            name: a.name,
            created_at: a.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserDto {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    /// `admin` or `engineer`.
    pub role: String,
    pub account_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<User> for UserDto {
    fn from(u: User) -> Self {
        Self {
            id: u.id.as_uuid(),
            email: u.email,
            name: u.name,
            role: u.role.as_str().to_owned(),
            account_id: u.account_id.as_uuid(),
            created_at: u.created_at,
        }
    }
}

/// `{"user": {...}}`
#[derive(Debug, Serialize, ToSchema)]
pub struct UserEnvelope {
    pub user: UserDto,
}

impl From<User> for UserEnvelope {
    fn from(u: User) -> Self {
        Self { user: u.into() }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenDto {
    pub id: Uuid,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

impl From<ApiToken> for TokenDto {
    fn from(t: ApiToken) -> Self {
        Self {
            id: t.id.as_uuid(),
            name: t.name,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamDto {
    pub id: Uuid,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<Team> for TeamDto {
    fn from(t: Team) -> Self {
        Self {
            id: t.id.as_uuid(),
            name: t.name,
            created_at: t.created_at,
        }
    }
}

/// `{"team": {...}}`
#[derive(Debug, Serialize, ToSchema)]
pub struct TeamEnvelope {
    pub team: TeamDto,
}

/// A list page: `{"items": [...], "next_cursor": null}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Where the next page starts; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A complete list in one page.
    pub fn all<D: Into<T>>(items: Vec<D>) -> Self {
        Self {
            items: items.into_iter().map(Into::into).collect(),
            next_cursor: None,
        }
    }
}

/// The error body every failure answers with.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable snake_case code, e.g. `not_found`, `conflict`, `invalid`.
    pub code: String,
    /// What went wrong and what to do, for people.
    pub message: String,
}
