//! The session event log and its live feed.
//!
//! Every event a client may stream (a turn's `turn.started`, `display.delta`,
//! `marker`, `turn.completed` / `turn.failed`, and `session.changed` for
//! every other change) is written to the database with an id taken from the
//! session's event counter in the same transaction, so ids increase by one
//! per event within a session, in commit order, whoever wrote them. A client
//! resumes from any instance by asking for the events after the last id it
//! saw ([`Feed`]).
//!
//! The live part is a [`Notice`] per commit, delivered through the
//! [`EventHub`] of each instance: the SQLite adapter publishes to its own hub
//! after committing; the PostgreSQL adapter sends a `NOTIFY` inside the
//! transaction (delivered on commit) and a listener on every instance
//! publishes what it hears to that instance's hub. A notice is only a fast
//! path: whenever one is missing, late or too big to carry the events, the
//! feed reads them from the database, so nothing is lost or repeated.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::account::Principal;
use crate::error::{StoreError, StoreResult};
use crate::ids::{AccountId, SessionId, TurnId};

/// Event names, as clients see them.
pub mod names {
    pub const TURN_STARTED: &str = "turn.started";
    pub const DISPLAY_DELTA: &str = "display.delta";
    pub const MARKER: &str = "marker";
    pub const CONTEXT_FOLDED: &str = "context.folded";
    pub const TURN_COMPLETED: &str = "turn.completed";
    pub const TURN_FAILED: &str = "turn.failed";
    pub const SESSION_CHANGED: &str = "session.changed";

    /// Whether an event with this name ends its turn's stream.
    pub fn ends_turn(name: &str) -> bool {
        name == TURN_COMPLETED || name == TURN_FAILED
    }
}

/// An event to append to a session's log.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub name: &'static str,
    pub turn_id: Option<TurnId>,
    /// The JSON text clients receive as the event's data.
    pub data: String,
}

impl NewEvent {
    pub fn new(name: &'static str, turn_id: Option<TurnId>, data: &impl Serialize) -> Self {
        Self {
            name,
            turn_id,
            // Serialising our own plain types cannot fail; if it ever did, an
            // empty object is a better event than none.
            data: serde_json::to_string(data).unwrap_or_else(|_| "{}".to_owned()),
        }
    }

    /// `session.changed`: `kind` is `session`, `fact`, `fix`, `branch` or
    /// `task_lane`; `id` the changed item.
    pub fn session_changed(state_version: i64, kind: &str, id: uuid::Uuid) -> Self {
        Self::new(
            names::SESSION_CHANGED,
            None,
            &serde_json::json!({ "state_version": state_version, "kind": kind, "id": id }),
        )
    }
}

/// An event as stored, with its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub id: i64,
    pub session_id: SessionId,
    pub turn_id: Option<TurnId>,
    pub name: String,
    pub data: String,
}

/// What the hub carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// These events were committed, in order, with consecutive ids.
    Events {
        session_id: SessionId,
        events: Arc<[StoredEvent]>,
    },
    /// Events up to `last_id` were committed; read them from the store.
    Wake { session_id: SessionId, last_id: i64 },
    /// Notices may have been missed (the listener reconnected): every feed
    /// re-reads the store.
    Resync,
    /// Stop was asked for this turn, through whichever instance.
    Stop { turn_id: TurnId },
}

/// How many notices a slow subscriber may fall behind before it re-reads
/// from the store instead.
const SUBSCRIBER_BUFFER: usize = 256;

/// Routes notices to the subscribers of this instance: per session, so an
/// idle stream wakes only for its own session's events.
pub struct EventHub {
    sessions: Mutex<HashMap<SessionId, broadcast::Sender<Arc<Notice>>>>,
    control: broadcast::Sender<Arc<Notice>>,
    me: Weak<EventHub>,
}

impl EventHub {
    pub fn new() -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            sessions: Mutex::new(HashMap::new()),
            control: broadcast::channel(SUBSCRIBER_BUFFER).0,
            me: me.clone(),
        })
    }

    fn sessions(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<SessionId, broadcast::Sender<Arc<Notice>>>> {
        // A panic while holding the lock leaves the map usable.
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Live notices for one session, until the subscription is dropped.
    pub fn subscribe(&self, session: SessionId) -> Subscription {
        let rx = self
            .sessions()
            .entry(session)
            .or_insert_with(|| broadcast::channel(SUBSCRIBER_BUFFER).0)
            .subscribe();
        Subscription {
            rx,
            session,
            hub: self.me.clone(),
        }
    }

    /// `Stop` and `Resync` notices, for the instance's own bookkeeping.
    pub fn control(&self) -> broadcast::Receiver<Arc<Notice>> {
        self.control.subscribe()
    }

    pub fn publish(&self, notice: Notice) {
        let notice = Arc::new(notice);
        match &*notice {
            Notice::Events { session_id, .. } | Notice::Wake { session_id, .. } => {
                if let Some(tx) = self.sessions().get(session_id) {
                    let _ = tx.send(notice.clone());
                }
            }
            Notice::Resync => {
                for tx in self.sessions().values() {
                    let _ = tx.send(notice.clone());
                }
                let _ = self.control.send(notice);
            }
            Notice::Stop { .. } => {
                let _ = self.control.send(notice);
            }
        }
    }

    /// Sessions with at least one live subscriber on this instance.
    pub fn watched_sessions(&self) -> usize {
        self.sessions().len()
    }

    fn forget_if_unwatched(&self, session: SessionId) {
        let mut sessions = self.sessions();
        if sessions
            .get(&session)
            .is_some_and(|tx| tx.receiver_count() == 0)
        {
            sessions.remove(&session);
        }
    }
}

/// A subscriber's end of the hub.
pub struct Subscription {
    rx: broadcast::Receiver<Arc<Notice>>,
    session: SessionId,
    hub: Weak<EventHub>,
}

impl Subscription {
    pub async fn recv(&mut self) -> Result<Arc<Notice>, broadcast::error::RecvError> {
        self.rx.recv().await
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // Our receiver is still counted until `rx` drops, after this body:
        // swap in a receiver of a dead channel first.
        let (dead, _) = broadcast::channel(1);
        drop(std::mem::replace(&mut self.rx, dead.subscribe()));
        if let Some(hub) = self.hub.upgrade() {
            hub.forget_if_unwatched(self.session);
        }
    }
}

/// A turn whose lease ran out, as the store ended it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpiredTurn {
    pub account_id: AccountId,
    pub session_id: SessionId,
    pub turn_id: TurnId,
}

/// The storage side of events.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// This instance's hub, which the adapter publishes committed events to.
    fn hub(&self) -> &Arc<EventHub>;

    /// Appends events to the session's log in one transaction; `NotFound`
    /// when the session is gone.
    async fn append_events(
        &self,
        account: AccountId,
        session: SessionId,
        events: Vec<NewEvent>,
    ) -> StoreResult<Vec<StoredEvent>>;

    /// Up to `limit` events after `after`, oldest first, of a session the
    /// caller can see.
    async fn events_after(
        &self,
        who: &Principal,
        session: SessionId,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<StoredEvent>>;

    /// The id of the session's latest event (0 before any).
    async fn last_event_id(&self, who: &Principal, session: SessionId) -> StoreResult<i64>;

    /// Deletes streaming events (`display.delta`, `marker`) older than
    /// `deltas_before_ms`, every event older than `events_before_ms`, and
    /// `Idempotency-Key`s older than `keys_before_ms` (Unix milliseconds);
    /// returns how many rows went.
    async fn prune_old(
        &self,
        deltas_before_ms: i64,
        events_before_ms: i64,
        keys_before_ms: i64,
    ) -> StoreResult<u64>;
}

/// How many events a feed reads from the store at a time.
const PAGE: u32 = 500;

/// A session's events after a given id: first what the store has, then
/// live ones as they are committed, each exactly once and in id order.
pub struct Feed {
    store: Arc<dyn EventStore>,
    who: Principal,
    session: SessionId,
    sub: Subscription,
    last: i64,
    ready: VecDeque<StoredEvent>,
}

impl Feed {
    /// Subscribes first, then reads, so that an event committed in between
    /// is seen (and, through both, kept once).
    pub async fn open(
        store: Arc<dyn EventStore>,
        who: Principal,
        session: SessionId,
        after: i64,
    ) -> StoreResult<Self> {
        let sub = store.hub().subscribe(session);
        let mut feed = Self {
            store,
            who,
            session,
            sub,
            last: after,
            ready: VecDeque::new(),
        };
        feed.read().await?;
        Ok(feed)
    }

    /// The id of the last event handed out (or the starting point).
    pub fn last_id(&self) -> i64 {
        self.last
    }

    async fn read(&mut self) -> StoreResult<()> {
        loop {
            let events = self
                .store
                .events_after(&self.who, self.session, self.last, PAGE)
                .await?;
            let full = events.len() == PAGE as usize;
            self.take(events);
            if !full {
                return Ok(());
            }
        }
    }

    fn take(&mut self, events: impl IntoIterator<Item = StoredEvent>) {
        for e in events {
            if e.id > self.last {
                self.last = e.id;
                self.ready.push_back(e);
            }
        }
    }

    /// The next event; waits for one. `NotFound` once the session is gone.
    pub async fn next(&mut self) -> StoreResult<StoredEvent> {
        loop {
            if let Some(e) = self.ready.pop_front() {
                return Ok(e);
            }
            match self.sub.recv().await {
                Ok(notice) => match &*notice {
                    Notice::Events { events, .. } => {
                        // Consecutive ids: a first id past `last + 1` means
                        // a notice went missing, so read the gap.
                        match events.first() {
                            Some(first) if first.id > self.last + 1 => self.read().await?,
                            _ => self.take(events.iter().cloned()),
                        }
                    }
                    Notice::Wake { last_id, .. } if *last_id <= self.last => {}
                    Notice::Wake { .. } | Notice::Resync => self.read().await?,
                    Notice::Stop { .. } => {}
                },
                Err(broadcast::error::RecvError::Lagged(_)) => self.read().await?,
                Err(broadcast::error::RecvError::Closed) => {
                    return Err(StoreError::Other(anyhow::anyhow!("the event hub closed")));
                }
            }
        }
    }
}
