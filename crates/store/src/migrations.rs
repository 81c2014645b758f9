//! Running the embedded migrations and counting what was applied. The
//! migrations themselves are SQL files under `migrations/<backend>/`,
//! append-only: an applied file is never edited (sqlx checks its checksum).

use anyhow::Context as _;
use sqlx::migrate::{Migrate, Migrator};
use sqlx::{Acquire, Database, Pool};

/// sqlx's default bookkeeping table (`Migrator` keeps its name private).
const TABLE: &str = "_sqlx_migrations";

/// Applies `migrator`'s pending migrations; returns how many it applied.
pub(crate) async fn run<DB>(migrator: &Migrator, pool: &Pool<DB>) -> anyhow::Result<usize>
where
    DB: Database,
    DB::Connection: Migrate,
    for<'c> &'c mut DB::Connection: Acquire<'c, Database = DB, Connection = &'c mut DB::Connection>,
{
    // One connection throughout, so this works with a pool of one.
    let mut conn = pool
        .acquire()
        .await
        .context("connecting to run migrations")?;
    let conn: &mut DB::Connection = &mut conn;
    conn.ensure_migrations_table(TABLE)
        .await
        .context("creating the migrations table")?;
    let before = conn
        .list_applied_migrations(TABLE)
        .await
        .context("listing applied migrations")?
        .len();
    migrator
        .run(&mut *conn)
        .await
        .context("applying migrations")?;
    let after = conn
        .list_applied_migrations(TABLE)
        .await
        .context("listing applied migrations")?
        .len();
    Ok(after.saturating_sub(before))
}
