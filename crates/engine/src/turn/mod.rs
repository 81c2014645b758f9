//! The turn pipeline: an engineer's message in, the assistant's reply
//! streamed out, and what its markers say stored in one transaction.
//!
//! [`Chat::send`] checks the message, records a running turn (at most one
//! per session, enforced by the database, with its `turn.started` event)
//! and hands the rest to a task the server owns ([`run`]): a caller that
//! goes away does not stop it; the turn completes and is stored. Its events
//! go into the session's event log ([`crate::events`]), where every stream
//! of the session, on any instance, reads them with the same ids.
//!
//! Around the turns, each instance runs one background task that hears
//! Stop notices for its own turns, fails turns whose instance died (their
//! lease ran out), and prunes old events.

mod emit;
mod failure;
mod plan;
pub mod prompt;
mod run;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use self::failure::{FailureClass, TurnFailure, started_event};
use self::prompt::PromptBudget;
use self::run::{TurnRun, duration_ms, now_ms};
use crate::account::{Principal, ValidationError};
use crate::error::{Error, Result};
use crate::events::Notice;
use crate::ids::{FixId, SessionId, TurnId};
use crate::llm::{ImageInput, LlmProvider};
use crate::retrieval::{RetrievedFlow, Retriever};
use crate::sessions::{
    BeginOutcome, BeginTurn, Fact, Fix, FixOutcome, ForkRecord, IdempotencyKey, ImageMeta,
    LostTurn, PendingResponse, ReplayedTurn, Session, TaskLane, Turn, render_task_responses,
    session_error, stored_message,
};
use crate::store::Store;

/// Image types a turn may carry.
pub const IMAGE_TYPES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

/// Limits on what one message may carry.
#[derive(Debug, Clone)]
pub struct ChatLimits {
    pub max_message_chars: usize,
    pub max_images: usize,
    /// Per image, decoded.
    pub max_image_bytes: usize,
    pub max_answer_chars: usize,
    /// Earlier exchanges replayed in full at most; older ones live on as
    /// one line each in the session's summary. Bounds what a turn loads,
    /// and what a long session's every prompt costs.
    pub history_turns: u32,
    /// Flows retrieved per turn.
    pub retrieval_limit: usize,
    pub budget: PromptBudget,
}

impl Default for ChatLimits {
    fn default() -> Self {
        Self {
            max_message_chars: 20_000,
            max_images: 8,
            max_image_bytes: 5 * 1024 * 1024,
            max_answer_chars: 4_000,
            history_turns: 40,
            retrieval_limit: 8,
            budget: PromptBudget::default(),
        }
    }
}

/// How the chat service runs turns.
#[derive(Debug, Clone)]
pub struct ChatSettings {
    pub limits: ChatLimits,
    /// A running turn's lease: renewed every third of it; a turn not renewed
    /// for this long lost its instance, and any instance fails it.
    pub lease: Duration,
    /// The model's context window, in tokens.
    pub context_window_tokens: u32,
    /// Tokens kept free in the window for the reply.
    pub reply_tokens: u32,
}

impl Default for ChatSettings {
    fn default() -> Self {
        Self {
            limits: ChatLimits::default(),
            lease: Duration::from_secs(30),
            context_window_tokens: 200_000,
            reply_tokens: 4_096,
        }
    }
}

/// How long streaming events (deltas, marker previews) are kept: long
/// enough for any reconnect. Terminal events stay as long as
/// `Idempotency-Key`s, since a retry answers from them.
const DELTA_RETENTION_MS: i64 = 60 * 60 * 1000;
const EVENT_RETENTION_MS: i64 = crate::sessions::IDEMPOTENCY_WINDOW_MS + 60 * 60 * 1000;
/// How often old events are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// An engineer's message.
#[derive(Debug, Clone, Default)]
pub struct NewMessage {
    pub text: String,
    pub images: Vec<ImageInput>,
    pub task_responses: Vec<PendingResponse>,
}

/// The assistant's outcome proposal, as a turn returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProposalOut {
    pub fix_id: FixId,
    pub outcome: FixOutcome,
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub proposed_at: time::OffsetDateTime,
}

/// Everything a completed (or stopped) turn produced.
#[derive(Debug, Clone)]
pub struct TurnResult {
    pub turn: Turn,
    pub session: Session,
    pub task_lane: TaskLane,
    pub fork: Option<ForkRecord>,
    pub facts_added: Vec<Fact>,
    pub suggested_fix: Option<Fix>,
    pub outcome_proposal: Option<ProposalOut>,
    pub suggested_flows: Vec<RetrievedFlow>,
}

/// Renders a completed turn as clients receive it (in `turn.completed` and
/// as the answer of a send), so that the event log holds exactly what a
/// retry must answer. The server provides it; the engine knows no DTOs.
pub trait TurnRenderer: Send + Sync + 'static {
    fn completed(&self, result: &TurnResult) -> serde_json::Value;
}

/// A turn this call started.
pub struct TurnHandle {
    pub turn_id: TurnId,
    pub session_id: SessionId,
    /// The id of its `turn.started` event: a stream of it starts there.
    pub first_event_id: i64,
    outcome: oneshot::Receiver<std::result::Result<TurnResult, TurnFailure>>,
}

impl TurnHandle {
    /// Waits for the end of the turn.
    pub async fn outcome(self) -> Result<TurnResult> {
        match self.outcome.await {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(failure)) => Err(Error::Turn(failure)),
            Err(_) => Err(Error::Internal(anyhow::anyhow!(
                "the turn's task ended without an outcome"
            ))),
        }
    }
}

/// What a send did.
pub enum Sent {
    Started(TurnHandle),
    /// The `Idempotency-Key` was used for this request before: its turn
    /// (running or finished) answers instead of a new one.
    Replay {
        session_id: SessionId,
        turn: ReplayedTurn,
    },
}

/// The chat service: sessions' turns.
#[derive(Clone)]
pub struct Chat {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    store: Arc<dyn Store>,
    provider: Option<Arc<dyn LlmProvider>>,
    retriever: Arc<dyn Retriever>,
    settings: ChatSettings,
    renderer: Arc<dyn TurnRenderer>,
    tasks: TaskTracker,
    /// Turns running on this instance, to stop them.
    running: Mutex<HashMap<TurnId, CancellationToken>>,
    closing: AtomicBool,
}

impl Inner {
    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<TurnId, CancellationToken>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn forget(&self, turn: TurnId) {
        self.running().remove(&turn);
    }
}

impl Chat {
    /// Builds the service and starts its background task (Stop notices,
    /// expired leases, pruning); must be called inside a Tokio runtime.
    pub fn new(
        store: Arc<dyn Store>,
        provider: Option<Arc<dyn LlmProvider>>,
        retriever: Arc<dyn Retriever>,
        settings: ChatSettings,
        renderer: Arc<dyn TurnRenderer>,
    ) -> Self {
        let inner = Arc::new(Inner {
            store,
            provider,
            retriever,
            settings,
            renderer,
            tasks: TaskTracker::new(),
            running: Mutex::new(HashMap::new()),
            closing: AtomicBool::new(false),
        });
        tokio::spawn(housekeeping(Arc::downgrade(&inner)));
        Self { inner }
    }

    pub fn provider(&self) -> Option<&Arc<dyn LlmProvider>> {
        self.inner.provider.as_ref()
    }

    pub fn settings(&self) -> &ChatSettings {
        &self.inner.settings
    }

    /// Turns running on this instance.
    pub fn running_turns(&self) -> usize {
        self.inner.running().len()
    }

    /// Stops taking new turns (a send answers `shutting_down`).
    pub fn close(&self) {
        self.inner.closing.store(true, Ordering::SeqCst);
    }

    /// Stops taking new turns and waits until every turn in flight (and its
    /// events) has been stored (for shutdown).
    pub async fn drain(&self) {
        self.close();
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }

    /// Asks the session's running turn to stop, on whichever instance it
    /// runs; `Conflict` when none runs.
    pub async fn stop(&self, who: &Principal, session: SessionId) -> Result<TurnId> {
        let turn = self
            .inner
            .store
            .request_stop(who, session)
            .await
            .map_err(session_error)?;
        // This instance's own turn stops at once; another instance's hears
        // of it through the event bus (or at its next lease renewal).
        if let Some(token) = self.inner.running().get(&turn) {
            token.cancel();
        }
        Ok(turn)
    }

    /// Starts a turn; see the module docs.
    pub async fn send(
        &self,
        who: &Principal,
        session: SessionId,
        message: NewMessage,
        idempotency_key: Option<String>,
    ) -> Result<Sent> {
        let arrived = Instant::now();
        let inner = &self.inner;
        let limits = &inner.settings.limits;
        if inner.closing.load(Ordering::SeqCst) {
            return Err(TurnFailure::shutting_down().into());
        }
        let text = message.text.trim().to_owned();
        if text.is_empty() {
            return Err(ValidationError::new("text", "must not be empty").into());
        }
        if text.chars().count() > limits.max_message_chars {
            return Err(ValidationError::new(
                "text",
                format!("must be at most {} characters", limits.max_message_chars),
            )
            .into());
        }
        let image_meta = check_images(&message.images, limits)?;
        let idempotency = idempotency_key
            .map(|key| key_for(key, session, &message))
            .transpose()?;

        let ctx = inner
            .store
            .turn_context(who, session, limits.history_turns)
            .await
            .map_err(session_error)?;
        if !ctx.session.status.takes_messages() && idempotency.is_none() {
            let status = if ctx.session.status == crate::sessions::SessionStatus::Closed {
                crate::sessions::SESSION_CLOSED
            } else {
                crate::sessions::SESSION_RESOLVED
            };
            return Err(session_error(crate::StoreError::Conflict(status)));
        }
        let Some(provider) = inner.provider.clone() else {
            return Err(TurnFailure::no_provider().into());
        };
        let (responses, kept) = render_task_responses(
            &ctx.task_lane,
            &message.task_responses,
            limits.max_answer_chars,
        )?;
        let prompt_message = if responses.is_empty() {
            text.clone()
        } else {
            format!("{responses}\n{text}")
        };

        let turn_id = TurnId::new();
        let began = inner
            .store
            .begin_turn(
                who,
                session,
                BeginTurn {
                    turn_id,
                    user_message: stored_message(&prompt_message),
                    images: image_meta,
                    task_responses: kept.clone(),
                    lease_ms: duration_ms(inner.settings.lease),
                    idempotency,
                },
            )
            .await
            .map_err(session_error)?;
        let started = match began {
            BeginOutcome::Started(started) => started,
            BeginOutcome::Replay(turn) => {
                return Ok(Sent::Replay {
                    session_id: session,
                    turn,
                });
            }
        };

        let stop = CancellationToken::new();
        inner.running().insert(turn_id, stop.clone());
        let emit = emit::start(
            inner.store.clone(),
            who.account_id,
            session,
            turn_id,
            &inner.tasks,
        );
        let (tx, rx) = oneshot::channel();
        let run = TurnRun {
            inner: self.inner.clone(),
            provider,
            who: *who,
            turn_id,
            ctx,
            text,
            prompt_message,
            images: message.images,
            responses: kept,
            arrived,
            stop,
            emit,
            outcome: tx,
        };
        inner.tasks.spawn(run.run());
        Ok(Sent::Started(TurnHandle {
            turn_id,
            session_id: session,
            first_event_id: started.first_event_id,
            outcome: rx,
        }))
    }
}

/// The key with a hash of what it was sent with: the session and the
/// message, images and task responses included.
fn key_for(key: String, session: SessionId, m: &NewMessage) -> Result<IdempotencyKey> {
    let session = session.to_string();
    let mut parts: Vec<Vec<u8>> = vec![
        b"send_message".to_vec(),
        session.into_bytes(),
        m.text.trim().as_bytes().to_vec(),
    ];
    for image in &m.images {
        parts.push(image.media_type.as_bytes().to_vec());
        parts.push(Sha256::digest(image.data_base64.as_bytes()).to_vec());
    }
    for r in &m.task_responses {
        parts.push(r.item_id.as_bytes().to_vec());
        parts.push(r.status.as_str().as_bytes().to_vec());
        parts.push(r.answer.as_deref().unwrap_or("").as_bytes().to_vec());
    }
    let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    crate::sessions::idempotency_key(key, &parts)
}

/// The instance's background duties, until the service is dropped.
async fn housekeeping(inner: Weak<Inner>) {
    let Some(strong) = inner.upgrade() else {
        return;
    };
    let mut control = strong.store.hub().control();
    let sweep_every = (strong.settings.lease / 2).max(Duration::from_millis(200));
    drop(strong);
    let mut sweep = tokio::time::interval(sweep_every);
    let mut prune = tokio::time::interval(PRUNE_EVERY);
    loop {
        tokio::select! {
            notice = control.recv() => match notice {
                Ok(n) => {
                    let Some(inner) = inner.upgrade() else { return };
                    if let Notice::Stop { turn_id } = &*n
                        && let Some(token) = inner.running().get(turn_id)
                    {
                        token.cancel();
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
            _ = sweep.tick() => {
                let Some(inner) = inner.upgrade() else { return };
                match inner.store.expire_leases(now_ms(), LostTurn::LeaseExpired).await {
                    Ok(lost) if !lost.is_empty() => tracing::warn!(
                        turns = lost.len(),
                        "failed turns whose instance stopped renewing them"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "could not check for abandoned turns"),
                }
            }
            _ = prune.tick() => {
                let Some(inner) = inner.upgrade() else { return };
                let now = now_ms();
                if let Err(e) = inner
                    .store
                    .prune_old(
                        now - DELTA_RETENTION_MS,
                        now - EVENT_RETENTION_MS,
                        now - crate::sessions::IDEMPOTENCY_WINDOW_MS,
                    )
                    .await
                {
                    tracing::warn!(error = %e, "could not prune old events");
                }
            }
        }
    }
}

fn check_images(images: &[ImageInput], limits: &ChatLimits) -> Result<Vec<ImageMeta>> {
    if images.len() > limits.max_images {
        return Err(ValidationError::new(
            "images",
            format!("at most {} images per message", limits.max_images),
        )
        .into());
    }
    images
        .iter()
        .enumerate()
        .map(|(i, image)| {
            if !IMAGE_TYPES.contains(&image.media_type.as_str()) {
                return Err(ValidationError::new(
                    "images",
                    format!(
                        "image {i} is `{}`; send {}",
                        image.media_type,
                        IMAGE_TYPES.join(", ")
                    ),
                )
                .into());
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(image.data_base64.as_bytes())
                .map_err(|_| {
                    ValidationError::new("images", format!("image {i} is not valid base64"))
                })?;
            if bytes.is_empty() || bytes.len() > limits.max_image_bytes {
                return Err(ValidationError::new(
                    "images",
                    format!(
                        "image {i} is {} bytes; each image must be 1 byte to {} MiB",
                        bytes.len(),
                        limits.max_image_bytes / (1024 * 1024)
                    ),
                )
                .into());
            }
            Ok(ImageMeta {
                media_type: image.media_type.clone(),
                bytes: bytes.len(),
            })
        })
        .collect()
}
