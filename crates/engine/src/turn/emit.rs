//! A turn's events on their way into the session's event log.
//!
//! The turn hands events to an [`Emitter`] without waiting; a writer task
//! appends them in batches (whatever queued up while the previous batch was
//! being written, consecutive display deltas merged into one event), so a
//! fast provider stream costs a few transactions, not one per chunk. Every
//! stream of the session (this instance's or another's) reads them from the
//! log, so each client sees the same ids.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::events::{NewEvent, names};
use crate::ids::{AccountId, SessionId, TurnId};
use crate::store::Store;

/// Events per transaction, at most.
const MAX_BATCH: usize = 256;
/// Tries per batch before its events are given up on (the turn itself is
/// stored either way; only live viewers miss them).
const ATTEMPTS: u32 = 4;

enum Queued {
    Delta(String),
    Event(NewEvent),
}

/// The turn's side: never blocks, never fails.
pub(crate) struct Emitter {
    tx: mpsc::UnboundedSender<Queued>,
    turn_id: TurnId,
}

impl Emitter {
    pub(crate) fn delta(&self, text: &str) {
        if !text.is_empty() {
            let _ = self.tx.send(Queued::Delta(text.to_owned()));
        }
    }

    pub(crate) fn event(&self, name: &'static str, data: &impl serde::Serialize) {
        let _ = self
            .tx
            .send(Queued::Event(NewEvent::new(name, Some(self.turn_id), data)));
    }

    pub(crate) fn raw(&self, event: NewEvent) {
        let _ = self.tx.send(Queued::Event(event));
    }
}

/// Starts the writer for one turn; it ends after the turn's last event
/// (or when the emitter is dropped) is written.
pub(crate) fn start(
    store: Arc<dyn Store>,
    account: AccountId,
    session: SessionId,
    turn_id: TurnId,
    tasks: &tokio_util::task::TaskTracker,
) -> Emitter {
    let (tx, rx) = mpsc::unbounded_channel();
    tasks.spawn(write(store, account, session, turn_id, rx));
    Emitter { tx, turn_id }
}

async fn write(
    store: Arc<dyn Store>,
    account: AccountId,
    session: SessionId,
    turn_id: TurnId,
    mut rx: mpsc::UnboundedReceiver<Queued>,
) {
    while let Some(first) = rx.recv().await {
        let mut queued = vec![first];
        while queued.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(q) => queued.push(q),
                Err(_) => break,
            }
        }
        let batch = merge(queued, turn_id);
        let last = batch.iter().any(|e| names::ends_turn(e.name));
        append(store.as_ref(), account, session, batch).await;
        if last {
            return;
        }
    }
}

/// Consecutive deltas become one `display.delta`.
fn merge(queued: Vec<Queued>, turn_id: TurnId) -> Vec<NewEvent> {
    let mut out = Vec::with_capacity(queued.len());
    let mut text = String::new();
    let flush = |text: &mut String, out: &mut Vec<NewEvent>| {
        if !text.is_empty() {
            out.push(NewEvent::new(
                names::DISPLAY_DELTA,
                Some(turn_id),
                &serde_json::json!({ "text": text }),
            ));
            text.clear();
        }
    };
    for q in queued {
        match q {
            Queued::Delta(d) => text.push_str(&d),
            Queued::Event(e) => {
                flush(&mut text, &mut out);
                out.push(e);
            }
        }
    }
    flush(&mut text, &mut out);
    out
}

async fn append(store: &dyn Store, account: AccountId, session: SessionId, batch: Vec<NewEvent>) {
    let mut delay = Duration::from_millis(50);
    for attempt in 1..=ATTEMPTS {
        match store.append_events(account, session, batch.clone()).await {
            Ok(_) => return,
            // The session was deleted: nobody is left to watch.
            Err(crate::StoreError::NotFound) => return,
            Err(e) if attempt < ATTEMPTS => {
                tracing::warn!(error = %e, attempt, "storing turn events failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 4;
            }
            Err(e) => {
                tracing::error!(
                    error = %e,
                    events = batch.len(),
                    "could not store turn events; live viewers miss them (the turn itself is stored)"
                );
            }
        }
    }
}
