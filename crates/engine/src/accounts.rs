//! Account services: first-run setup, sign-in, users, teams and API tokens.
//! The rules (who may do what, what a valid input is) live here, so the HTTP
//! handlers and the CLI stay thin and behave the same.

use time::{Duration, OffsetDateTime};

use crate::account::{
    Account, ApiToken, Email, Name, NewUser, Password, Principal, Role, Team, User,
};
use crate::auth;
use crate::error::{Error, Result};
use crate::ids::{TeamId, TokenId, UserId};
use crate::store::Store;

/// A new user as typed by a person: validated here, hashed before storing.
#[derive(Debug)]
pub struct UserInput<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub password: &'a str,
    pub role: Role,
}

impl UserInput<'_> {
    fn into_new_user(self) -> Result<NewUser> {
        let email = Email::parse(self.email)?;
        let name = Name::parse("name", self.name)?;
        let password = Password::parse(self.password)?;
        let password_hash = auth::hash_password(&password)?;
        Ok(NewUser {
            email,
            name,
            role: self.role,
            password_hash,
        })
    }
}

/// Creates the first account and its admin; refused once any user exists.
pub async fn setup(
    store: &dyn Store,
    account_name: &str,
    admin: UserInput<'_>,
) -> Result<(Account, User)> {
    let account = Name::parse("account_name", account_name)?;
    let admin = UserInput {
        role: Role::Admin,
        ..admin
    }
    .into_new_user()?;
    store
        .setup_first_account(&account, admin)
        .await
        .map_err(|e| match Error::from(e) {
            Error::Conflict { .. } => Error::conflict(
                "already_set_up",
                "FlowPilot is already set up; sign in, or ask an admin for an account",
            ),
            other => other,
        })
}

/// Creates a further account with its admin (from the command line).
pub async fn create_account(
    store: &dyn Store,
    account_name: &str,
    admin: UserInput<'_>,
) -> Result<(Account, User)> {
    let account = Name::parse("name", account_name)?;
    let admin = UserInput {
        role: Role::Admin,
        ..admin
    }
    .into_new_user()?;
    Ok(store.create_account(&account, admin).await?)
}

/// A signed-in browser session: the secret goes into the cookie, only its
/// hash into the database.
#[derive(Debug)]
pub struct WebSession {
    pub user: User,
    pub secret: String,
    pub expires_at: OffsetDateTime,
}

const BAD_CREDENTIALS: &str = "email or password is wrong";

/// Checks an email and password and opens a browser session.
pub async fn login(
    store: &dyn Store,
    email: &str,
    password: &str,
    ttl: Duration,
) -> Result<WebSession> {
    let Ok(email) = Email::parse(email) else {
        auth::verify_against_dummy(password);
        return Err(Error::Unauthenticated(BAD_CREDENTIALS));
    };
    let Some(creds) = store.credentials_by_email(&email).await? else {
        auth::verify_against_dummy(password);
        return Err(Error::Unauthenticated(BAD_CREDENTIALS));
    };
    if !auth::verify_password(password, &creds.password_hash) {
        return Err(Error::Unauthenticated(BAD_CREDENTIALS));
    }
    let secret = auth::new_secret();
    let expires_at = OffsetDateTime::now_utc() + ttl;
    store
        .create_web_session(creds.user.id, &auth::secret_hash(&secret), expires_at)
        .await?;
    Ok(WebSession {
        user: creds.user,
        secret,
        expires_at,
    })
}

pub async fn logout(store: &dyn Store, session_secret: &str) -> Result<()> {
    Ok(store
        .delete_web_session(&auth::secret_hash(session_secret))
        .await?)
}

/// How a request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    WebSession(&'a str),
    ApiToken(&'a str),
}

/// Resolves a request's credential to its principal, once per request.
pub async fn authenticate(store: &dyn Store, credential: Credential<'_>) -> Result<Principal> {
    let now = OffsetDateTime::now_utc();
    let principal = match credential {
        Credential::WebSession(secret) => {
            store
                .principal_by_web_session(&auth::secret_hash(secret), now)
                .await?
        }
        Credential::ApiToken(secret) => {
            store
                .principal_by_api_token(&auth::secret_hash(secret), now)
                .await?
        }
    };
    principal.ok_or(Error::Unauthenticated(
        "your sign-in has expired or was revoked; sign in again or use a valid API token",
    ))
}

pub async fn me(store: &dyn Store, who: &Principal) -> Result<User> {
    Ok(store.get_user(who, who.user_id).await?)
}

fn require_admin(who: &Principal) -> Result<()> {
    if who.is_admin() {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "only an admin of this account can do this",
        ))
    }
}

pub async fn create_user(store: &dyn Store, who: &Principal, input: UserInput<'_>) -> Result<User> {
    require_admin(who)?;
    let user = input.into_new_user()?;
    Ok(store.create_user(who, user).await?)
}

pub async fn list_users(store: &dyn Store, who: &Principal) -> Result<Vec<User>> {
    Ok(store.list_users(who).await?)
}

pub async fn get_user(store: &dyn Store, who: &Principal, id: UserId) -> Result<User> {
    Ok(store.get_user(who, id).await?)
}

/// A new API token: `secret` is shown once and never again.
#[derive(Debug)]
pub struct NewToken {
    pub token: ApiToken,
    pub secret: String,
}

pub async fn create_token(store: &dyn Store, who: &Principal, name: &str) -> Result<NewToken> {
    let name = Name::parse("name", name)?;
    let secret = auth::new_api_token();
    let token = store
        .create_api_token(who, &name, &auth::secret_hash(&secret))
        .await?;
    Ok(NewToken { token, secret })
}

pub async fn list_tokens(store: &dyn Store, who: &Principal) -> Result<Vec<ApiToken>> {
    Ok(store.list_api_tokens(who).await?)
}

pub async fn revoke_token(store: &dyn Store, who: &Principal, id: TokenId) -> Result<()> {
    Ok(store.revoke_api_token(who, id).await?)
}

pub async fn create_team(store: &dyn Store, who: &Principal, name: &str) -> Result<Team> {
    require_admin(who)?;
    let name = Name::parse("name", name)?;
    Ok(store.create_team(who, &name).await?)
}

pub async fn list_teams(store: &dyn Store, who: &Principal) -> Result<Vec<Team>> {
    Ok(store.list_teams(who).await?)
}

pub async fn add_team_member(
    store: &dyn Store,
    who: &Principal,
    team: TeamId,
    user: UserId,
) -> Result<()> {
    require_admin(who)?;
    Ok(store.add_team_member(who, team, user).await?)
}

pub async fn remove_team_member(
    store: &dyn Store,
    who: &Principal,
    team: TeamId,
    user: UserId,
) -> Result<()> {
    require_admin(who)?;
    Ok(store.remove_team_member(who, team, user).await?)
}

pub async fn list_team_members(
    store: &dyn Store,
    who: &Principal,
    team: TeamId,
) -> Result<Vec<User>> {
    Ok(store.list_team_members(who, team).await?)
}
