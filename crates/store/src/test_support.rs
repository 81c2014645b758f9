//! Fresh databases for tests (feature `test-support`): each test gets its
//! own, so tests run in parallel without seeing each other's rows.
//!
//! PostgreSQL tests do not skip when the server is absent: they fail, with
//! a message that says where they looked, so CI can't silently pass them.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use sqlx::{AssertSqlSafe, Connection as _, PgConnection};
use uuid::Uuid;

/// Where the test PostgreSQL server is, and a database to connect to while
/// creating the per-test ones.
pub const POSTGRES_URL_ENV: &str = "FLOWPILOT_TEST_POSTGRES_URL";
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

const PREFIX: &str = "fp_test_";
/// Test databases older than this are leftovers of crashed or killed runs.
const STALE_AFTER_SECS: u64 = 2 * 60 * 60;

/// Creates an empty PostgreSQL database named `fp_test_<unix secs>_<random>`
/// and returns its URL (migrations not yet applied). Drops leftover test
/// databases older than two hours on the way, ignoring any that are in use.
pub async fn fresh_postgres_url() -> anyhow::Result<String> {
    let admin_url =
        std::env::var(POSTGRES_URL_ENV).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
    let mut conn = PgConnection::connect(&admin_url).await.with_context(|| {
        format!(
            "connecting to the test PostgreSQL at {admin_url} \
             (set {POSTGRES_URL_ENV} to point elsewhere)"
        )
    })?;
    let now = unix_secs();
    drop_stale_databases(&mut conn, now).await;

    let random = Uuid::new_v4().simple().to_string();
    let name = format!("{PREFIX}{now}_{}", &random[..12]);
    // The name is ours (digits, hex, underscores): safe to splice into DDL,
    // which takes no bind parameters.
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .with_context(|| format!("creating the test database {name}"))?;
    conn.close().await.ok();

    let mut url = url::Url::parse(&admin_url).context("parsing the test PostgreSQL URL")?;
    url.set_path(&name);
    Ok(url.into())
}

/// A URL for a new SQLite database file inside `dir` (typically a
/// `tempfile::TempDir` that the test keeps alive).
pub fn fresh_sqlite_url(dir: &Path) -> String {
    let file = format!("flowpilot-{}.db", Uuid::new_v4().simple());
    format!("sqlite://{}", dir.join(file).display())
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// The creation time encoded in a test database's name.
fn created_secs(name: &str) -> Option<u64> {
    name.strip_prefix(PREFIX)?.split('_').next()?.parse().ok()
}

/// Best effort: another run may be using or dropping the same database.
async fn drop_stale_databases(conn: &mut PgConnection, now: u64) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE starts_with(datname, $1)")
            .bind(PREFIX)
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    for name in names {
        let stale = created_secs(&name)
            .is_some_and(|created| now.saturating_sub(created) > STALE_AFTER_SECS);
        if stale {
            let drop = format!("DROP DATABASE IF EXISTS \"{}\"", name.replace('"', "\"\""));
            if let Err(error) = sqlx::query(AssertSqlSafe(drop)).execute(&mut *conn).await {
                tracing::debug!(%error, database = %name, "left a stale test database in place");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_database_names_carry_their_creation_time() {
        assert_eq!(
            created_secs("fp_test_1700000000_0123456789ab"),
            Some(1_700_000_000)
        );
        assert_eq!(created_secs("fp_test_x_1"), None);
        assert_eq!(created_secs("production"), None);
    }
}
