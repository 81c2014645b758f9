//! `engine::events::EventStore` for both backends: the session event log,
//! and the helpers other areas use to append to it inside their own
//! transactions (a fact edit and its `session.changed` commit together).
//!
//! What differs per backend is how a commit reaches the instances' hubs;
//! each store provides two inherent functions for it:
//!
//! * `async fn notify_in_tx(tx, payload: &str) -> Result<(), sqlx::Error>`:
//!   PostgreSQL sends `NOTIFY` (delivered to every instance on commit);
//!   SQLite does nothing;
//! * `fn published(&self, notice: Notice)`: called after the commit; SQLite
//!   hands the notice to its hub; PostgreSQL does nothing (its listener
//!   hears the `NOTIFY`, this instance's included).

use engine::events::{Notice, StoredEvent};
use engine::ids::{SessionId, TurnId};
use serde::{Deserialize, Serialize};

/// The PostgreSQL channel every instance listens on.
pub(crate) const CHANNEL: &str = "flowpilot_events";

/// `NOTIFY` payloads must stay under 8000 bytes; bigger batches travel as a
/// wake-up and are read from the table.
const MAX_PAYLOAD: usize = 7_000;

/// A notice as it travels in a `NOTIFY` payload.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Wire {
    Events {
        session_id: SessionId,
        events: Vec<StoredEvent>,
    },
    Wake {
        session_id: SessionId,
        last_id: i64,
    },
    Stop {
        turn_id: TurnId,
    },
}

impl Wire {
    /// The payload for committed `events` of `session_id` (consecutive ids).
    pub(crate) fn payload(session_id: SessionId, events: &[StoredEvent]) -> String {
        let full = serde_json::to_string(&Wire::Events {
            session_id,
            events: events.to_vec(),
        })
        .unwrap_or_default();
        if !full.is_empty() && full.len() <= MAX_PAYLOAD {
            return full;
        }
        let last_id = events.last().map_or(0, |e| e.id);
        serde_json::to_string(&Wire::Wake {
            session_id,
            last_id,
        })
        .unwrap_or_default()
    }

    pub(crate) fn stop_payload(turn_id: TurnId) -> String {
        serde_json::to_string(&Wire::Stop { turn_id }).unwrap_or_default()
    }

    pub(crate) fn into_notice(self) -> Notice {
        match self {
            Wire::Events { session_id, events } => Notice::Events {
                session_id,
                events: events.into(),
            },
            Wire::Wake {
                session_id,
                last_id,
            } => Notice::Wake {
                session_id,
                last_id,
            },
            Wire::Stop { turn_id } => Notice::Stop { turn_id },
        }
    }
}

/// The current time in Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
}

pub(crate) const BUMP_EVENT_SEQ: &str = "\
    UPDATE sessions SET event_seq = event_seq + $3 WHERE account_id = $1 AND id = $2 \
    RETURNING event_seq";

/// $1 deltas before, $2 everything before (ms).
pub(crate) const PRUNE_EVENTS: &str = "\
    DELETE FROM session_events WHERE created_ms < $2 \
    OR (created_ms < $1 AND name IN ('display.delta', 'marker'))";

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct EventRow {
    pub id: i64,
    pub session_id: uuid::Uuid,
    pub turn_id: Option<uuid::Uuid>,
    pub name: String,
    pub data: String,
}

impl From<EventRow> for StoredEvent {
    fn from(r: EventRow) -> Self {
        Self {
            id: r.id,
            session_id: r.session_id.into(),
            turn_id: r.turn_id.map(Into::into),
            name: r.name,
            data: r.data,
        }
    }
}

/// Implements `engine::events::EventStore` for `$store` (a struct with
/// `pool` and `hub` fields and the two functions of the module docs), and
/// gives it `append_in_tx` / `commit_and_publish` for the other areas.
macro_rules! impl_event_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use ::engine::events::{EventHub, NewEvent, Notice, StoredEvent};
            use ::engine::ids::{AccountId, SessionId};
            use ::engine::{Principal, StoreError, StoreResult};
            use $crate::error::db_error;
            use $crate::events::{self as ev, EventRow, Wire};
            use $crate::sessions::sql::{EVENTS_AFTER, LAST_EVENT_ID};

            type Tx = ::sqlx::Transaction<'static, $db>;

            impl $store {
                /// Appends `events` to the session's log inside `tx`, taking
                /// their ids from the session's counter (which also queues
                /// concurrent writers on the session's row). `NotFound` when
                /// the session is gone.
                pub(crate) async fn append_in_tx(
                    tx: &mut Tx,
                    account: AccountId,
                    session: SessionId,
                    events: Vec<NewEvent>,
                ) -> StoreResult<Vec<StoredEvent>> {
                    if events.is_empty() {
                        return Ok(Vec::new());
                    }
                    let n = i64::try_from(events.len()).unwrap_or(i64::MAX);
                    let last: i64 = ::sqlx::query_scalar(ev::BUMP_EVENT_SEQ)
                        .bind(account.as_uuid())
                        .bind(session.as_uuid())
                        .bind(n)
                        .fetch_optional(&mut **tx)
                        .await
                        .map_err(|e| db_error(e, "numbering session events"))?
                        .ok_or(StoreError::NotFound)?;
                    let at = ev::now_ms();
                    let stored: Vec<StoredEvent> = events
                        .into_iter()
                        .zip(last - n + 1..)
                        .map(|(e, id)| StoredEvent {
                            id,
                            session_id: session,
                            turn_id: e.turn_id,
                            name: e.name.to_owned(),
                            data: e.data,
                        })
                        .collect();
                    let mut insert = ::sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO session_events \
                         (session_id, id, account_id, turn_id, name, data, created_ms) ",
                    );
                    insert.push_values(&stored, |mut row, e| {
                        row.push_bind(session.as_uuid())
                            .push_bind(e.id)
                            .push_bind(account.as_uuid())
                            .push_bind(e.turn_id.map(|t| t.as_uuid()))
                            .push_bind(e.name.clone())
                            .push_bind(e.data.clone())
                            .push_bind(at);
                    });
                    insert
                        .build()
                        .execute(&mut **tx)
                        .await
                        .map_err(|e| db_error(e, "storing session events"))?;
                    Self::notify_in_tx(tx, &Wire::payload(session, &stored))
                        .await
                        .map_err(|e| db_error(e, "announcing session events"))?;
                    Ok(stored)
                }

                /// Commits `tx`, then lets this instance's subscribers know
                /// about `events` (written by `append_in_tx`).
                pub(crate) async fn commit_and_publish(
                    &self,
                    tx: Tx,
                    events: &[StoredEvent],
                    doing: &'static str,
                ) -> StoreResult<()> {
                    tx.commit().await.map_err(|e| db_error(e, doing))?;
                    for run in events.chunk_by(|a, b| a.session_id == b.session_id) {
                        self.published(Notice::Events {
                            session_id: run[0].session_id,
                            events: run.into(),
                        });
                    }
                    Ok(())
                }
            }

            #[::async_trait::async_trait]
            impl ::engine::events::EventStore for $store {
                fn hub(&self) -> &::std::sync::Arc<EventHub> {
                    &self.hub
                }

                async fn append_events(
                    &self,
                    account: AccountId,
                    session: SessionId,
                    events: Vec<NewEvent>,
                ) -> StoreResult<Vec<StoredEvent>> {
                    let mut tx = self
                        .begin_events()
                        .await
                        .map_err(|e| db_error(e, "starting to store events"))?;
                    let stored = Self::append_in_tx(&mut tx, account, session, events).await?;
                    self.commit_and_publish(tx, &stored, "committing session events")
                        .await?;
                    Ok(stored)
                }

                async fn events_after(
                    &self,
                    who: &Principal,
                    session: SessionId,
                    after: i64,
                    limit: u32,
                ) -> StoreResult<Vec<StoredEvent>> {
                    let rows = ::sqlx::query_as::<_, EventRow>(EVENTS_AFTER)
                        .bind(who.account_id.as_uuid())
                        .bind(who.user_id.as_uuid())
                        .bind(session.as_uuid())
                        .bind(after)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "reading session events"))?;
                    if rows.is_empty() {
                        // Nothing new, or no such session: tell them apart.
                        self.last_event_id(who, session).await?;
                    }
                    Ok(rows.into_iter().map(StoredEvent::from).collect())
                }

                async fn last_event_id(
                    &self,
                    who: &Principal,
                    session: SessionId,
                ) -> StoreResult<i64> {
                    ::sqlx::query_scalar::<_, i64>(LAST_EVENT_ID)
                        .bind(who.account_id.as_uuid())
                        .bind(who.user_id.as_uuid())
                        .bind(session.as_uuid())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "reading a session's last event"))?
                        .ok_or(StoreError::NotFound)
                }

                async fn prune_old(
                    &self,
                    deltas_before_ms: i64,
                    events_before_ms: i64,
                    keys_before_ms: i64,
                ) -> StoreResult<u64> {
                    let events = ::sqlx::query(ev::PRUNE_EVENTS)
                        .bind(deltas_before_ms)
                        .bind(events_before_ms)
                        .execute(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "pruning old session events"))?
                        .rows_affected();
                    let keys = ::sqlx::query($crate::sessions::sql::PRUNE_KEYS)
                        .bind(keys_before_ms)
                        .execute(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "pruning old idempotency keys"))?
                        .rows_affected();
                    Ok(events + keys)
                }
            }
        };
    };
}

pub(crate) use impl_event_store;
