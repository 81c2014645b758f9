//! One story of the store, told to both backends: every test here runs
//! once against SQLite and once against PostgreSQL, each on a fresh
//! database of its own.
//!
//! PostgreSQL must be reachable (`FLOWPILOT_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`): its tests fail, never skip,
//! when it is not.

mod accounts;
mod isolation;
mod scripts;
mod teams;
mod tokens;
mod web_sessions;

use std::sync::Arc;

use engine::{Name, NewUser, Principal, Role, Store, User};
use sqlx::{AssertSqlSafe, Connection as _};
use store::OpenOptions;
use store::test_support::{fresh_postgres_url, fresh_sqlite_url};
use tempfile::TempDir;
use uuid::Uuid;

/// A migrated store on a database of its own.
pub struct TestDb {
    pub store: Arc<dyn Store>,
    url: String,
    // Keeps the SQLite file's directory until the test ends.
    _dir: Option<TempDir>,
}

impl TestDb {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = fresh_sqlite_url(dir.path());
        Self::open(url, Some(dir)).await
    }

    pub async fn postgres() -> Self {
        let url = fresh_postgres_url()
            .await
            .expect("PostgreSQL must be running for the store tests");
        Self::open(url, None).await
    }

    async fn open(url: String, dir: Option<TempDir>) -> Self {
        let store = store::open(&url, OpenOptions::default())
            .await
            .expect("the store opens and migrates");
        Self {
            store,
            url,
            _dir: dir,
        }
    }

    /// Runs one statement with a UUID parameter behind the store's back, to
    /// reach states the `Store` trait has no method for (a disabled user).
    pub async fn execute(&self, sql: &str, id: Uuid) {
        let sql = AssertSqlSafe(sql.to_owned());
        if self.url.starts_with("sqlite") {
            let mut conn = sqlx::SqliteConnection::connect(&self.url)
                .await
                .expect("connect");
            sqlx::query(sql)
                .bind(id)
                .execute(&mut conn)
                .await
                .expect("statement runs");
        } else {
            let mut conn = sqlx::PgConnection::connect(&self.url)
                .await
                .expect("connect");
            sqlx::query(sql)
                .bind(id)
                .execute(&mut conn)
                .await
                .expect("statement runs");
        }
    }

    /// Sets up the first account with an admin `admin@<domain>`.
    pub async fn setup(&self, domain: &str) -> (User, Principal) {
        let (_, admin) = self
            .store
            .setup_first_account(
                &name("Acme"),
                new_user(&format!("admin@{domain}"), "Admin", Role::Admin),
            )
            .await
            .expect("setup succeeds on an empty database");
        let principal = admin.principal();
        (admin, principal)
    }

    /// Creates a further account with an admin `admin@<domain>`.
    pub async fn account(&self, domain: &str) -> (User, Principal) {
        let (_, admin) = self
            .store
            .create_account(
                &name(domain),
                new_user(&format!("admin@{domain}"), "Admin", Role::Admin),
            )
            .await
            .expect("account is created");
        let principal = admin.principal();
        (admin, principal)
    }
}

pub fn name(s: &str) -> Name {
    Name::parse("name", s).expect("a valid name")
}

pub fn new_user(email: &str, display_name: &str, role: Role) -> NewUser {
    NewUser {
        email: engine::Email::parse(email).expect("a valid email"),
        name: name(display_name),
        role,
        password_hash: format!("hash-of-{email}"),
    }
}

/// Declares each story once per backend: `sqlite::<story>` and
/// `postgres::<story>`.
macro_rules! stories {
    ($($module:ident::$story:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $story() {
                    crate::$module::$story(&crate::TestDb::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $story() {
                    crate::$module::$story(&crate::TestDb::postgres().await).await;
                }
            )*
        }
    };
}

stories!(
    accounts::setup_creates_the_first_admin_and_refuses_a_second_setup,
    accounts::racing_setups_let_exactly_one_win,
    accounts::create_account_adds_an_account_with_its_admin,
    accounts::an_email_is_unique_across_all_accounts,
    accounts::credentials_are_found_by_email_in_any_account_but_not_for_disabled_users,
    accounts::users_are_created_fetched_and_listed_by_name,
    web_sessions::web_sessions_resolve_until_they_expire_or_are_deleted,
    web_sessions::web_sessions_of_unknown_or_disabled_users_resolve_to_nobody,
    tokens::api_tokens_are_listed_newest_first_and_revoked_by_their_owner,
    tokens::api_tokens_resolve_and_record_their_last_use_until_revoked,
    tokens::api_tokens_of_disabled_users_resolve_to_nobody,
    teams::team_names_are_unique_per_account_and_listed_by_name,
    teams::members_are_added_idempotently_and_removed_once,
    isolation::another_accounts_ids_behave_like_missing_ones,
    isolation::lists_show_only_the_callers_account,
    isolation::another_users_token_in_the_same_account_is_not_found,
);
