//! The `Store` port: everything FlowPilot keeps, behind traits that the
//! SQLite and PostgreSQL adapters implement with the same behaviour. `Store`
//! is the sum of one trait per area (accounts here, script templates in
//! `scripts`, sessions and turns in `sessions`), so each area's storage
//! reads on its own.
//!
//! Every method that touches tenant data takes the caller's `Principal` and
//! scopes its queries to `principal.account_id`: another account's row is
//! `StoreError::NotFound`, exactly like a missing one. Authorization rules
//! (who may create users, say) live in the engine's services, not here.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::account::{Account, ApiToken, Credentials, Email, Name, NewUser, Principal, Team, User};
use crate::error::StoreResult;
use crate::ids::{TeamId, TokenId, UserId};

#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// Answers when the database does (for `/healthz`).
    async fn ping(&self) -> StoreResult<()>;

    /// Creates the first account and its admin, atomically refusing with
    /// `Conflict` once any user exists (so two racing setups can't both win).
    async fn setup_first_account(
        &self,
        account: &Name,
        admin: NewUser,
    ) -> StoreResult<(Account, User)>;

    /// Creates another account with its admin (the CLI's `account create`).
    /// `Conflict` when the email is taken in any account.
    async fn create_account(&self, account: &Name, admin: NewUser) -> StoreResult<(Account, User)>;

    /// The user with this email and their password hash, in any account.
    async fn credentials_by_email(&self, email: &Email) -> StoreResult<Option<Credentials>>;

    /// Stores a browser session under the hash of its secret.
    async fn create_web_session(
        &self,
        user_id: UserId,
        secret_hash: &str,
        expires_at: OffsetDateTime,
    ) -> StoreResult<()>;

    /// The principal of an unexpired browser session.
    async fn principal_by_web_session(
        &self,
        secret_hash: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Principal>>;

    /// For each account with this name, its oldest admin (for command-line
    /// work done in an account's name).
    async fn account_admins_named(&self, name: &str) -> StoreResult<Vec<Principal>>;

    /// Revokes a browser session (sign-out); absent sessions are fine.
    async fn delete_web_session(&self, secret_hash: &str) -> StoreResult<()>;

    /// The principal of an unrevoked API token; records its last use.
    async fn principal_by_api_token(
        &self,
        secret_hash: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Principal>>;

    async fn create_api_token(
        &self,
        who: &Principal,
        name: &Name,
        secret_hash: &str,
    ) -> StoreResult<ApiToken>;

    /// The caller's own tokens, newest first.
    async fn list_api_tokens(&self, who: &Principal) -> StoreResult<Vec<ApiToken>>;

    /// Revokes one of the caller's tokens; `NotFound` for anyone else's.
    async fn revoke_api_token(&self, who: &Principal, id: TokenId) -> StoreResult<()>;

    async fn get_user(&self, who: &Principal, id: UserId) -> StoreResult<User>;

    /// `Conflict` when the email is taken in any account.
    async fn create_user(&self, who: &Principal, user: NewUser) -> StoreResult<User>;

    /// The account's users, by name.
    async fn list_users(&self, who: &Principal) -> StoreResult<Vec<User>>;

    /// `Conflict` when the account already has a team of that name.
    async fn create_team(&self, who: &Principal, name: &Name) -> StoreResult<Team>;

    /// The account's teams, by name.
    async fn list_teams(&self, who: &Principal) -> StoreResult<Vec<Team>>;

    /// Adds a user of the account to a team of the account; adding a member
    /// twice is not an error.
    async fn add_team_member(&self, who: &Principal, team: TeamId, user: UserId)
    -> StoreResult<()>;

    /// `NotFound` when the user was not a member.
    async fn remove_team_member(
        &self,
        who: &Principal,
        team: TeamId,
        user: UserId,
    ) -> StoreResult<()>;

    async fn list_team_members(&self, who: &Principal, team: TeamId) -> StoreResult<Vec<User>>;
}

/// Everything FlowPilot keeps: what `store::open` returns.
pub trait Store:
    AccountStore
    + crate::scripts::ScriptStore
    + crate::sessions::SessionStore
    + crate::events::EventStore
    + crate::kb::FlowStore
    + crate::kb::embedding::VectorStore
{
    /// This store as the events port alone (for a `Feed`).
    fn as_event_store(self: std::sync::Arc<Self>) -> std::sync::Arc<dyn crate::events::EventStore>;

    /// This store as the flows port alone (for a search index).
    fn as_flow_store(self: std::sync::Arc<Self>) -> std::sync::Arc<dyn crate::kb::FlowStore>;

    /// This store as the flow vectors port alone (for dense search).
    fn as_vector_store(
        self: std::sync::Arc<Self>,
    ) -> std::sync::Arc<dyn crate::kb::embedding::VectorStore>;
}

impl<T> Store for T
where
    T: AccountStore
        + crate::scripts::ScriptStore
        + crate::sessions::SessionStore
        + crate::events::EventStore
        + crate::kb::FlowStore
        + crate::kb::embedding::VectorStore,
{
    fn as_event_store(self: std::sync::Arc<Self>) -> std::sync::Arc<dyn crate::events::EventStore> {
        self
    }

    fn as_flow_store(self: std::sync::Arc<Self>) -> std::sync::Arc<dyn crate::kb::FlowStore> {
        self
    }

    fn as_vector_store(
        self: std::sync::Arc<Self>,
    ) -> std::sync::Arc<dyn crate::kb::embedding::VectorStore> {
        self
    }
}
