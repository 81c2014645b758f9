//! The SQLite adapter: FlowPilot's default store, one local file.
//!
//! The queries are shared with PostgreSQL (`shared.rs`, `sql.rs`); this file
//! holds what is SQLite's own: connection settings, migrations, and taking
//! the write lock at the start of write transactions.

use std::path::Path;
use std::time::Duration;

use std::sync::Arc;

use anyhow::Context as _;
use engine::events::{EventHub, Notice};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a statement waits for another connection's write lock before
/// failing with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) struct SqliteStore {
    pool: SqlitePool,
    /// One instance owns the file, so its hub is the whole event bus.
    hub: Arc<EventHub>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path`.
    pub(crate) async fn connect(path: &Path, max_connections: u32) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir)
                .await
                .with_context(|| format!("creating the database directory {}", dir.display()))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            // WAL lets readers proceed while one connection writes.
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            // Safe with WAL: a power cut may lose the last commits, never corrupt.
            .synchronous(SqliteSynchronous::Normal);
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect_with(options)
            .await
            .with_context(|| format!("opening the SQLite database {}", path.display()))?;
        Ok(Self {
            pool,
            hub: EventHub::new(),
        })
    }

    pub(crate) async fn migrate(&self) -> anyhow::Result<usize> {
        crate::migrations::run(&MIGRATOR, &self.pool).await
    }

    /// `BEGIN IMMEDIATE` takes the write lock up front (waiting up to the busy
    /// timeout): a deferred transaction that reads and then writes can fail
    /// at once with SQLITE_BUSY when another connection wrote in between.
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }

    /// A turn's event batches are ordinary writes here.
    async fn begin_events(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.begin_write().await
    }

    /// Nothing to do: `begin_write` already holds SQLite's single write
    /// lock, so racing setups run one after another.
    async fn lock_for_setup(_tx: &mut Transaction<'static, Sqlite>) -> Result<(), sqlx::Error> {
        Ok(())
    }

    /// Nothing to announce inside the transaction: see `published`.
    async fn notify_in_tx(
        _tx: &mut Transaction<'static, Sqlite>,
        _payload: &str,
    ) -> Result<(), sqlx::Error> {
        Ok(())
    }

    /// After a commit: this process is the only one using the file.
    fn published(&self, notice: Notice) {
        self.hub.publish(notice);
    }
}

crate::shared::impl_store!(SqliteStore, Sqlite);
crate::events::impl_event_store!(SqliteStore, Sqlite);
crate::scripts::impl_scripts_store!(SqliteStore, Sqlite);
crate::sessions::impl_sessions_store!(SqliteStore, Sqlite);
crate::sessions::branches::impl_branch_steps!(SqliteStore, Sqlite);
crate::flows::impl_flow_store!(SqliteStore, Sqlite);
crate::vectors::impl_vector_store!(SqliteStore, Sqlite);
