//! The PostgreSQL adapter: for teams running several FlowPilot instances
//! against one database.
//!
//! The queries are shared with SQLite (`shared.rs`, `sql.rs`); this file
//! holds what is PostgreSQL's own: connecting, migrations, and the advisory
//! lock that serialises first-run setups.

use std::str::FromStr as _;

use std::sync::Arc;

use anyhow::Context as _;
use engine::events::{EventHub, Notice};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The advisory lock key for first-run setup ("FlowPilo" in ASCII); any
/// constant works as long as nothing else in the database uses it.
const SETUP_LOCK_KEY: i64 = 0x466c_6f77_5069_6c6f;

pub(crate) struct PgStore {
    pool: PgPool,
    /// For a turn's own event batches: `synchronous_commit = off`, so that a
    /// stream's deltas don't wait on a WAL flush each (a crash of PostgreSQL
    /// itself may lose the last few; the turn is stored durably apart).
    events: PgPool,
    /// Fed by the `LISTEN`ing task (`pg_listener`), whichever instance wrote.
    hub: Arc<EventHub>,
}

impl PgStore {
    pub(crate) async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        // The URL is not in the messages: it may hold a password.
        let options = PgConnectOptions::from_str(url).context("parsing the PostgreSQL URL")?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect_with(options.clone())
            .await
            .context("connecting to PostgreSQL")?;
        // The listener keeps one connection for itself, outside the pool's
        // count; its own pool of one only serves to reconnect.
        let listen_pool = PgPoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_with(options.clone())
            .await
            .context("connecting to PostgreSQL for events")?;
        let events = PgPoolOptions::new()
            .max_connections(max_connections.clamp(1, 4))
            .connect_with(options.options([("synchronous_commit", "off")]))
            .await
            .context("connecting to PostgreSQL for turn events")?;
        let hub = EventHub::new();
        crate::pg_listener::start(&listen_pool, hub.clone()).await?;
        Ok(Self { pool, events, hub })
    }

    pub(crate) async fn migrate(&self) -> anyhow::Result<usize> {
        crate::migrations::run(&MIGRATOR, &self.pool).await
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }

    /// A transaction for a turn's event batch.
    async fn begin_events(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.events.begin().await
    }

    /// Serialises setups until the transaction ends, so the "no user yet"
    /// check and the insert can't interleave with another instance's: under
    /// READ COMMITTED, the count after the lock sees the winner's commit.
    async fn lock_for_setup(tx: &mut Transaction<'static, Postgres>) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(SETUP_LOCK_KEY)
            .execute(&mut **tx)
            .await
            .map(drop)
    }

    /// `NOTIFY` every instance (this one included); PostgreSQL delivers it
    /// when, and only if, the transaction commits.
    async fn notify_in_tx(
        tx: &mut Transaction<'static, Postgres>,
        payload: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(crate::events::CHANNEL)
            .bind(payload)
            .execute(&mut **tx)
            .await
            .map(drop)
    }

    /// Nothing to do: the listener hears the `NOTIFY`.
    fn published(&self, _notice: Notice) {}
}

crate::shared::impl_store!(PgStore, Postgres);
crate::events::impl_event_store!(PgStore, Postgres);
crate::scripts::impl_scripts_store!(PgStore, Postgres);
crate::sessions::impl_sessions_store!(PgStore, Postgres);
crate::sessions::branches::impl_branch_steps!(PgStore, Postgres);
crate::flows::impl_flow_store!(PgStore, Postgres);
crate::vectors::impl_vector_store!(PgStore, Postgres);
