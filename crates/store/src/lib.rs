//! FlowPilot's storage: the engine's `Store` port on SQLite (the default: one
//! local file, nothing to install) and PostgreSQL (for several instances
//! sharing one database).
//!
//! Callers pick a backend with a database URL and get an
//! `Arc<dyn engine::Store>`; nothing outside this crate sees sqlx. This crate
//! depends on `engine` for the port and its types, never on the server.

mod error;
mod events;
mod flows;
mod migrations;
mod pg_listener;
mod postgres;
mod rows;
mod scripts;
mod sessions;
mod shared;
mod sql;
mod sqlite;
mod url;
mod vectors;

#[cfg(feature = "test-support")]
pub mod test_support;

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;

use crate::postgres::PgStore;
use crate::sqlite::SqliteStore;
use crate::url::DatabaseUrl;

pub use crate::url::backend_name;

/// How to open a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOptions {
    /// Apply pending migrations before returning (the server does at start).
    pub migrate: bool,
    /// The most connections the pool keeps open.
    pub max_connections: u32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            migrate: true,
            max_connections: 10,
        }
    }
}

/// Opens the store at `url`:
///
/// * `sqlite:PATH` or `sqlite://PATH`: the file and its parent directory are
///   created if missing; WAL journal, foreign keys on, a 5 s busy timeout and
///   `synchronous=NORMAL`;
/// * `postgres://…` or `postgresql://…`.
///
/// Anything else is an error that names the accepted forms.
pub async fn open(url: &str, options: OpenOptions) -> anyhow::Result<Arc<dyn engine::Store>> {
    let store: Arc<dyn engine::Store> = match DatabaseUrl::parse(url)? {
        DatabaseUrl::Sqlite(path) => {
            let store = SqliteStore::connect(&path, options.max_connections).await?;
            if options.migrate {
                store
                    .migrate()
                    .await
                    .context("migrating the SQLite database")?;
            }
            Arc::new(store)
        }
        DatabaseUrl::Postgres(url) => {
            let store = PgStore::connect(&url, options.max_connections).await?;
            if options.migrate {
                store
                    .migrate()
                    .await
                    .context("migrating the PostgreSQL database")?;
            }
            Arc::new(store)
        }
    };
    Ok(store)
}

/// Applies pending migrations only (for `flowpilot migrate`); returns how
/// many were applied.
pub async fn migrate(url: &str) -> anyhow::Result<usize> {
    // Migrations run one after another on one connection: more would idle.
    const CONNECTIONS: u32 = 1;
    match DatabaseUrl::parse(url)? {
        DatabaseUrl::Sqlite(path) => {
            SqliteStore::connect(&path, CONNECTIONS)
                .await?
                .migrate()
                .await
        }
        DatabaseUrl::Postgres(url) => PgStore::connect(&url, CONNECTIONS).await?.migrate().await,
    }
}

/// The URL of the default database file inside a data directory:
/// `DIR/flowpilot.db`.
pub fn sqlite_url_for_data_dir(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("flowpilot.db").display())
}
