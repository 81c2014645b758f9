//! The turn pipeline: an engineer's message in, the assistant's reply
//! streamed out, and what its markers say stored in one transaction.
//!
//! [`Chat::send`] checks the message, records a running turn (at most one
//! per session, enforced by the database) and hands the rest to a task the
//! server owns: a caller that goes away does not stop it, the turn still
//! completes and is stored. The caller reads the turn's events from the
//! returned [`TurnHandle`]; every event carries an id that increases within
//! the session and derives from the session's event counter in the
//! database.

mod plan;
pub mod prompt;

use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use futures::StreamExt as _;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

use self::plan::{PlanInput, SlugLookup, plan};
use self::prompt::{PromptBudget, build_request};
use crate::account::{Principal, ValidationError};
use crate::error::{Error, Result};
use crate::ids::{FixId, SessionId, TurnId};
use crate::llm::{ImageInput, LlmError, LlmErrorKind, LlmProvider, StreamEvent, Usage};
use crate::retrieval::{RetrievedFlow, Retriever};
use crate::sessions::{
    BeginTurn, Fact, Fix, FixOutcome, ForkRecord, ImageMeta, OutcomeProposal, PendingResponse,
    ReplyRecord, Session, TaskLane, Turn, TurnContext, TurnErrorInfo, TurnStatus, TurnTimings,
    render_task_responses, session_error, stored_message,
};
use crate::store::Store;

/// Image types a turn may carry.
pub const IMAGE_TYPES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

/// Event ids: `event_seq * EVENT_ID_STRIDE + n`, the n-th event of the turn
/// that took slot `event_seq` of the session's counter.
pub const EVENT_ID_STRIDE: u64 = 1_000_000;

/// Limits on what one message may carry.
#[derive(Debug, Clone)]
pub struct ChatLimits {
    pub max_message_chars: usize,
    pub max_images: usize,
    /// Per image, decoded.
    pub max_image_bytes: usize,
    pub max_answer_chars: usize,
    /// Earlier turns loaded for the prompt (the budget may keep fewer).
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
            history_turns: 100,
            retrieval_limit: 8,
            budget: PromptBudget::default(),
        }
    }
}

/// An engineer's message.
#[derive(Debug, Clone, Default)]
pub struct NewMessage {
    pub text: String,
    pub images: Vec<ImageInput>,
    pub task_responses: Vec<PendingResponse>,
}

/// How a failure is classed, for the status code the server picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// No provider, or it is overloaded / rate-limiting (503).
    Unavailable,
    /// The provider took too long (504).
    Timeout,
    /// The provider failed or broke its stream (502).
    BadGateway,
    /// Storing the turn failed (500).
    Internal,
}

/// Why a turn failed, said so the engineer knows what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TurnFailure {
    pub class: FailureClass,
    pub code: &'static str,
    pub message: String,
    /// The stored turn, when there is one (failed or incomplete).
    pub turn_id: Option<TurnId>,
    /// Seconds the provider asked us to wait, when it said.
    pub retry_after: Option<u64>,
}

impl TurnFailure {
    pub fn no_provider() -> Self {
        Self {
            class: FailureClass::Unavailable,
            code: "no_provider",
            message: "No AI provider is configured, so FlowPilot cannot answer messages. Set FLOWPILOT_LLM_PROVIDER (anthropic or openai), FLOWPILOT_LLM_API_KEY and, for a local or self-hosted model, FLOWPILOT_LLM_BASE_URL, then restart FlowPilot.".into(),
            turn_id: None,
            retry_after: None,
        }
    }

    fn from_llm(e: &LlmError, turn_id: TurnId) -> Self {
        let (class, code) = match e.kind {
            LlmErrorKind::Auth => (FailureClass::BadGateway, "provider_auth"),
            LlmErrorKind::RateLimited => (FailureClass::Unavailable, "provider_rate_limited"),
            LlmErrorKind::Overloaded => (FailureClass::Unavailable, "provider_overloaded"),
            LlmErrorKind::BadRequest => (FailureClass::BadGateway, "provider_rejected"),
            LlmErrorKind::Timeout => (FailureClass::Timeout, "provider_timeout"),
            LlmErrorKind::Network => (FailureClass::BadGateway, "provider_unreachable"),
            LlmErrorKind::Protocol => (FailureClass::BadGateway, "provider_protocol"),
        };
        Self {
            class,
            code,
            message: e.message().to_owned(),
            turn_id: Some(turn_id),
            retry_after: e.retry_after.map(|d| d.as_secs().max(1)),
        }
    }

    fn broken_stream(e: &LlmError, turn_id: TurnId) -> Self {
        Self {
            class: if e.kind == LlmErrorKind::Timeout {
                FailureClass::Timeout
            } else {
                FailureClass::BadGateway
            },
            code: "provider_stream_broken",
            message: format!(
                "The AI provider's answer broke off part-way; what arrived is kept as an incomplete turn and none of its suggestions were applied. Send the message again to get a full answer. ({})",
                e.message()
            ),
            turn_id: Some(turn_id),
            retry_after: None,
        }
    }

    fn storage(turn_id: TurnId, answer_kept: bool) -> Self {
        let kept = if answer_kept {
            "The answer is kept with the turn, but nothing it suggested was applied."
        } else {
            "Nothing was stored."
        };
        Self {
            class: FailureClass::Internal,
            code: "storage_failed",
            message: format!(
                "FlowPilot could not store this turn (a database error; it was logged). {kept} Send the message again in a moment."
            ),
            turn_id: Some(turn_id),
            retry_after: None,
        }
    }

    fn info(&self) -> TurnErrorInfo {
        TurnErrorInfo {
            code: self.code.to_owned(),
            message: self.message.clone(),
        }
    }
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

/// Everything a completed turn produced.
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

#[derive(Debug, Clone)]
pub enum TurnEventKind {
    Started {
        turn_id: TurnId,
    },
    /// Display text only, never marker syntax.
    Delta {
        text: String,
    },
    /// A block closed: `kind` and its payload as `flowpilot markers parse`
    /// prints it. A preview; the completed turn is what was stored.
    Marker {
        kind: markers::MarkerKind,
        data: serde_json::Value,
    },
    Completed(Box<TurnResult>),
    Failed(TurnFailure),
}

#[derive(Debug, Clone)]
pub struct TurnEvent {
    pub id: u64,
    pub kind: TurnEventKind,
}

impl TurnEvent {
    pub fn is_last(&self) -> bool {
        matches!(
            self.kind,
            TurnEventKind::Completed(_) | TurnEventKind::Failed(_)
        )
    }
}

/// A turn in flight: its id and its events, ending with `Completed` or
/// `Failed`. Dropping the handle does not stop the turn.
pub struct TurnHandle {
    pub turn_id: TurnId,
    pub events: mpsc::UnboundedReceiver<TurnEvent>,
}

impl TurnHandle {
    /// Waits for the end of the turn.
    pub async fn outcome(mut self) -> Result<TurnResult> {
        while let Some(event) = self.events.recv().await {
            match event.kind {
                TurnEventKind::Completed(result) => return Ok(*result),
                TurnEventKind::Failed(failure) => return Err(Error::Turn(failure)),
                _ => {}
            }
        }
        Err(Error::Internal(anyhow::anyhow!(
            "the turn's task ended without an outcome"
        )))
    }
}

/// The chat service: sessions' turns.
#[derive(Clone)]
pub struct Chat {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    provider: Option<Arc<dyn LlmProvider>>,
    retriever: Arc<dyn Retriever>,
    limits: ChatLimits,
    tasks: TaskTracker,
}

impl Chat {
    pub fn new(
        store: Arc<dyn Store>,
        provider: Option<Arc<dyn LlmProvider>>,
        retriever: Arc<dyn Retriever>,
        limits: ChatLimits,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                provider,
                retriever,
                limits,
                tasks: TaskTracker::new(),
            }),
        }
    }

    pub fn provider(&self) -> Option<&Arc<dyn LlmProvider>> {
        self.inner.provider.as_ref()
    }

    /// Waits until every turn in flight has been stored (for shutdown).
    pub async fn drain(&self) {
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }

    /// Starts a turn; see the module docs.
    pub async fn send(
        &self,
        who: &Principal,
        session: SessionId,
        message: NewMessage,
    ) -> Result<TurnHandle> {
        let arrived = Instant::now();
        let inner = &self.inner;
        let limits = &inner.limits;
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

        let ctx = inner
            .store
            .turn_context(who, session, limits.history_turns)
            .await
            .map_err(session_error)?;
        if !ctx.session.status.takes_messages() {
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
        let started = inner
            .store
            .begin_turn(
                who,
                session,
                BeginTurn {
                    turn_id,
                    user_message: stored_message(&prompt_message),
                    images: image_meta,
                    task_responses: kept,
                },
            )
            .await
            .map_err(session_error)?;

        let (tx, rx) = mpsc::unbounded_channel();
        let events = Events {
            tx,
            next: u64::try_from(started.event_seq).unwrap_or(0) * EVENT_ID_STRIDE,
        };
        let run = TurnRun {
            inner: self.inner.clone(),
            provider,
            who: *who,
            turn_id,
            ctx,
            text,
            prompt_message,
            images: message.images,
            arrived,
        };
        inner.tasks.spawn(run.run(events));
        Ok(TurnHandle {
            turn_id,
            events: rx,
        })
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

/// Numbers and sends a turn's events; a receiver that went away is fine.
struct Events {
    tx: mpsc::UnboundedSender<TurnEvent>,
    next: u64,
}

impl Events {
    fn send(&mut self, kind: TurnEventKind) {
        self.next += 1;
        let _ = self.tx.send(TurnEvent {
            id: self.next,
            kind,
        });
    }

    fn parser_event(&mut self, event: markers::EventRef<'_>) {
        match event {
            markers::EventRef::Display(text) => self.send(TurnEventKind::Delta {
                text: text.to_owned(),
            }),
            markers::EventRef::Marker(m) => self.marker(m),
        }
    }

    fn marker(&mut self, m: markers::MarkerEvent) {
        let Some(payload) = m.payload else { return };
        let data = match payload {
            markers::Payload::Questions(q) => serde_json::to_value(q),
            markers::Payload::Actions(a) => serde_json::to_value(a),
            markers::Payload::Fork(f) => serde_json::to_value(f),
            markers::Payload::Promote(p) => serde_json::to_value(p),
            markers::Payload::SuggestFix(s) => serde_json::to_value(s),
            markers::Payload::FixOutcome(o) => serde_json::to_value(o),
        };
        if let Ok(data) = data {
            self.send(TurnEventKind::Marker { kind: m.kind, data });
        }
    }
}

struct TurnRun {
    inner: Arc<Inner>,
    provider: Arc<dyn LlmProvider>,
    who: Principal,
    turn_id: TurnId,
    ctx: TurnContext,
    text: String,
    prompt_message: String,
    images: Vec<ImageInput>,
    arrived: Instant,
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

impl TurnRun {
    async fn run(self, mut events: Events) {
        events.send(TurnEventKind::Started {
            turn_id: self.turn_id,
        });
        let inner = self.inner.clone();
        let mut timings = TurnTimings::default();

        let retrieval_started = Instant::now();
        let flows = match inner
            .retriever
            .search(&self.who, &self.text, inner.limits.retrieval_limit)
            .await
        {
            Ok(flows) => flows,
            Err(e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "retrieval failed; answering without the knowledge base"
                );
                Vec::new()
            }
        };
        timings.retrieval_ms = ms(retrieval_started);

        let request = build_request(
            &flows,
            self.ctx.active_fix.as_ref(),
            &self.ctx.task_lane,
            &self.ctx.history,
            self.prompt_message.clone(),
            self.images.clone(),
            inner.limits.budget,
        );
        let model = Some(self.provider.model().to_owned());

        let provider_started = Instant::now();
        let mut parser = markers::StreamParser::new();
        let mut raw = String::new();
        let mut usage = Usage::default();
        let mut failure: Option<LlmError> = None;
        match self.provider.stream(request).await {
            Err(e) => failure = Some(e),
            Ok(mut stream) => {
                let mut done = false;
                while let Some(item) = stream.next().await {
                    match item {
                        Ok(StreamEvent::TextDelta(delta)) => {
                            if timings.first_token_ms.is_none() {
                                timings.first_token_ms = Some(ms(provider_started));
                            }
                            raw.push_str(&delta);
                            parser.push_ref(&delta, |e| events.parser_event(e));
                        }
                        Ok(StreamEvent::Usage(u)) => usage = u,
                        Ok(StreamEvent::Done { .. }) => {
                            done = true;
                            break;
                        }
                        Err(e) => {
                            failure = Some(e);
                            break;
                        }
                    }
                }
                if !done && failure.is_none() {
                    failure = Some(LlmError::new(
                        LlmErrorKind::Protocol,
                        "the stream ended without saying the reply was complete",
                    ));
                }
            }
        }
        timings.provider_ms = ms(provider_started);

        let finished = parser.finish();
        for e in finished.events {
            match e {
                markers::Event::Display(text) => events.send(TurnEventKind::Delta { text }),
                markers::Event::Marker(m) => events.marker(m),
            }
        }
        let parsed = finished.parsed;
        let reply = ReplyRecord {
            display: parsed.display.clone(),
            raw_reply: raw,
            input_tokens: i64::try_from(usage.total_input_tokens()).unwrap_or(i64::MAX),
            output_tokens: i64::try_from(usage.output_tokens).unwrap_or(i64::MAX),
            model,
            timings,
            diagnostics: Vec::new(),
        };

        let outcome = match failure {
            Some(e) => Err(self.store_failure(e, reply).await),
            None => self.store_completed(parsed, reply, flows).await,
        };
        events.send(match outcome {
            Ok(result) => TurnEventKind::Completed(Box::new(result)),
            Err(failure) => TurnEventKind::Failed(failure),
        });
    }

    /// The provider failed: before any text, a failed turn; after some, an
    /// incomplete one keeping that text. No marker is applied either way.
    async fn store_failure(&self, e: LlmError, mut reply: ReplyRecord) -> TurnFailure {
        tracing::warn!(kind = ?e.kind, detail = %e.detail, turn_id = %self.turn_id, "the provider failed a turn");
        let (status, failure) = if reply.raw_reply.is_empty() {
            (TurnStatus::Failed, TurnFailure::from_llm(&e, self.turn_id))
        } else {
            (
                TurnStatus::Incomplete,
                TurnFailure::broken_stream(&e, self.turn_id),
            )
        };
        reply.timings.total_ms = ms(self.arrived);
        let stored = self
            .inner
            .store
            .end_turn(
                &self.who,
                self.ctx.session.id,
                self.turn_id,
                status,
                reply,
                Some(failure.info()),
            )
            .await;
        match stored {
            Ok(_) => failure,
            Err(store_error) => {
                tracing::error!(error = %store_error, turn_id = %self.turn_id, "could not record a failed turn");
                TurnFailure::storage(self.turn_id, false)
            }
        }
    }

    async fn store_completed(
        &self,
        parsed: markers::Parsed,
        mut reply: ReplyRecord,
        flows: Vec<RetrievedFlow>,
    ) -> std::result::Result<TurnResult, TurnFailure> {
        let persist_started = Instant::now();
        let store = &self.inner.store;
        let slug = match parsed
            .suggest_fix
            .as_ref()
            .and_then(|f| f.script_template_slug.clone())
        {
            None => SlugLookup::NoSlug,
            Some(slug) => match store.script_template_by_slug(&self.who, &slug).await {
                Ok(Some(template)) => SlugLookup::Found(template.id),
                Ok(None) => SlugLookup::Unknown(slug),
                Err(e) => {
                    tracing::warn!(error = %e, "could not look up a script template");
                    SlugLookup::Unknown(slug)
                }
            },
        };
        let now = time::OffsetDateTime::now_utc();
        // Times are filled in as late as they can be; the stored total
        // covers everything up to the write itself.
        reply.timings.total_ms = ms(self.arrived);
        let commit = plan(
            self.turn_id,
            PlanInput {
                ctx: &self.ctx,
                parsed,
                reply: reply.clone(),
                slug,
                message: &self.text,
                now,
            },
        );
        let task_lane = commit.task_lane.clone();
        let fork = commit.fork.clone();
        let proposal = commit.outcome_proposal.clone();
        let mut commit = commit;
        commit.reply.timings.persist_ms = ms(persist_started);
        commit.reply.timings.total_ms = ms(self.arrived);
        match store.commit_turn(&self.who, commit).await {
            Ok(committed) => Ok(TurnResult {
                turn: committed.turn,
                session: committed.session,
                task_lane,
                fork,
                facts_added: committed.facts_added,
                suggested_fix: committed.suggested_fix,
                outcome_proposal: proposal.map(|(fix_id, p): (FixId, OutcomeProposal)| {
                    ProposalOut {
                        fix_id,
                        outcome: p.outcome,
                        reason: p.reason,
                        proposed_at: p.proposed_at,
                    }
                }),
                suggested_flows: flows,
            }),
            Err(e) => {
                tracing::error!(error = %e, turn_id = %self.turn_id, "storing a turn failed; it was rolled back");
                if let crate::StoreError::Conflict(_) = e {
                    // Stopped or given up on meanwhile: nothing to keep here.
                    return Err(TurnFailure {
                        class: FailureClass::BadGateway,
                        code: "turn_not_running",
                        message: session_error(e).to_string(),
                        turn_id: Some(self.turn_id),
                        retry_after: None,
                    });
                }
                // Keep the answer with the turn, apply nothing.
                reply.diagnostics.push(crate::sessions::TurnDiagnostic {
                    marker: "turn".into(),
                    reason: "storing what the reply suggested failed; none of it was applied"
                        .into(),
                });
                let failure = TurnFailure::storage(self.turn_id, true);
                let kept = store
                    .end_turn(
                        &self.who,
                        self.ctx.session.id,
                        self.turn_id,
                        TurnStatus::Failed,
                        reply,
                        Some(failure.info()),
                    )
                    .await;
                match kept {
                    Ok(_) => Err(failure),
                    Err(e) => {
                        tracing::error!(error = %e, turn_id = %self.turn_id, "could not record the failed turn either");
                        Err(TurnFailure::storage(self.turn_id, false))
                    }
                }
            }
        }
    }
}
