//! PostgreSQL's half of the event bus: every instance `LISTEN`s on one
//! channel and publishes what it hears to its own hub, so that an event
//! committed through any instance reaches the streams of all of them.
//!
//! Notifications sent while the listening connection was down are lost, so
//! after every (re)connection the hub gets `Notice::Resync` and each feed
//! re-reads the table.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use engine::events::{EventHub, Notice};
use sqlx::PgPool;
use sqlx::postgres::PgListener;

use crate::events::{CHANNEL, Wire};

/// How long to wait before reconnecting after the connection failed.
const RECONNECT_DELAY: Duration = Duration::from_millis(500);

/// Listens before returning (so nothing committed after this call is
/// missed), then keeps listening in a task.
pub(crate) async fn start(pool: &PgPool, hub: Arc<EventHub>) -> anyhow::Result<()> {
    let listener = connect(pool)
        .await
        .context("listening for events from other instances")?;
    let pool = pool.clone();
    tokio::spawn(run(listener, pool, hub));
    Ok(())
}

async fn connect(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

async fn run(mut listener: PgListener, pool: PgPool, hub: Arc<EventHub>) {
    loop {
        forward(&mut listener, &hub).await;
        drop(listener);
        // A closed pool (shutdown) ends the listener too.
        listener = loop {
            if pool.is_closed() {
                return;
            }
            tokio::time::sleep(RECONNECT_DELAY).await;
            match connect(&pool).await {
                Ok(l) => break l,
                Err(e) => tracing::warn!(error = %e, "could not listen for events; retrying"),
            }
        };
        tracing::info!("listening for events again; streams re-read what they missed");
        hub.publish(Notice::Resync);
    }
}

/// Publishes notifications until the connection is lost.
async fn forward(listener: &mut PgListener, hub: &EventHub) {
    loop {
        match listener.try_recv().await {
            Ok(Some(n)) => match serde_json::from_str::<Wire>(n.payload()) {
                Ok(wire) => hub.publish(wire.into_notice()),
                Err(e) => tracing::warn!(error = %e, "ignoring an unreadable event notification"),
            },
            Ok(None) => {
                tracing::warn!("lost the event listener's connection");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "the event listener failed");
                return;
            }
        }
    }
}
