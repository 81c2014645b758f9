//! The task that runs one turn, from retrieval to the stored result. It is
//! owned by the server, not by the request that started it: a client going
//! away does not stop it. Stop does, through a cancellation token that this
//! instance trips when it hears of the stop (from its own `POST …/stop` or
//! another instance's, through the event bus), and through the lease
//! renewal, which also reports a stop asked for while a notice was lost.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::emit::Emitter;
use super::failure::{FailureClass, TurnFailure};
use super::plan::{PlanInput, SlugLookup, plan};
use super::prompt::{ContextWindow, build_request, summary_entry};
use super::{Inner, ProposalOut, TurnResult};
use crate::account::Principal;
use crate::events::names;
use crate::ids::{FixId, TurnId};
use crate::llm::{
    ImageInput, LlmError, LlmErrorKind, LlmProvider, ReplyStream, StreamEvent, Usage,
};
use crate::retrieval::RetrievedFlow;
use crate::sessions::{
    LeaseState, OutcomeProposal, ReplyRecord, TurnContext, TurnDiagnostic, TurnStatus, TurnTimings,
    session_error,
};

pub(crate) struct TurnRun {
    pub inner: Arc<Inner>,
    pub provider: Arc<dyn LlmProvider>,
    pub who: Principal,
    pub turn_id: TurnId,
    pub ctx: TurnContext,
    pub text: String,
    pub prompt_message: String,
    pub images: Vec<ImageInput>,
    /// The engineer's responses to the task lane, as stored.
    pub responses: Vec<crate::sessions::TaskResponse>,
    pub arrived: Instant,
    pub stop: CancellationToken,
    pub emit: Emitter,
    pub outcome: oneshot::Sender<Result<TurnResult, TurnFailure>>,
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

pub(crate) fn now_ms() -> i64 {
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
}

/// How the provider's reply ended.
enum Ending {
    Done,
    Stopped,
    Failed(LlmError),
}

/// What came back from the provider.
struct Reply {
    raw: String,
    usage: Usage,
    ending: Ending,
}

impl TurnRun {
    pub(crate) async fn run(mut self) {
        let outcome = self.answer().await;
        match &outcome {
            Ok(result) => {
                let data = self.inner.renderer.completed(result);
                self.emit.event(names::TURN_COMPLETED, &data);
            }
            Err(failure) => self.emit.raw(failure.event(self.turn_id)),
        }
        self.inner.forget(self.turn_id);
        let _ = self.outcome.send(outcome);
    }

    async fn answer(&mut self) -> Result<TurnResult, TurnFailure> {
        let inner = self.inner.clone();
        let mut timings = TurnTimings::default();
        let retrieval_started = Instant::now();
        let flows = match inner
            .retriever
            .search(
                &self.who,
                &self.retrieval_query(),
                inner.settings.limits.retrieval_limit,
            )
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

        let (mut request, fit) = build_request(
            &flows,
            &self.ctx,
            self.prompt_message.clone(),
            std::mem::take(&mut self.images),
            inner.settings.limits.budget,
            ContextWindow {
                tokens: inner.settings.context_window_tokens,
                reply_tokens: inner.settings.reply_tokens,
            },
        );
        request.grounding = Some(Arc::new(crate::llm::Grounding {
            flows: flows.clone(),
            lane: self.ctx.task_lane.clone(),
            responses: self.responses.clone(),
            active_fix: self.ctx.active_fix.clone(),
            message: self.text.clone(),
            earlier_turns: !self.ctx.history.is_empty(),
        }));
        if fit.folded_turns > 0 {
            self.emit.event(
                names::CONTEXT_FOLDED,
                &serde_json::json!({
                    "turn_id": self.turn_id,
                    "folded_turns": fit.folded_turns,
                    "kept_turns": fit.kept_turns,
                    "window_tokens": fit.window_tokens,
                }),
            );
        }

        let provider_started = Instant::now();
        let mut parser = markers::StreamParser::new();
        let reply = self
            .stream_reply(request, &mut parser, &mut timings, provider_started)
            .await;
        timings.provider_ms = ms(provider_started);

        let finished = parser.finish();
        for e in finished.events {
            match e {
                markers::Event::Display(text) => self.emit.delta(&text),
                markers::Event::Marker(m) => marker_event(&self.emit, m),
            }
        }
        let parsed = finished.parsed;
        // The oldest replayed exchange leaves the window once this turn is
        // in the history: fold it into the session's summary.
        // (Main-line turns only: a branch's history is its path's.)
        let history_line = (self.ctx.history.len() >= inner.settings.limits.history_turns as usize
            && self.ctx.branches.on_branch().is_none())
        .then(|| self.ctx.history.first())
        .flatten()
        .map(summary_entry);
        let record = ReplyRecord {
            display: parsed.display.clone(),
            raw_reply: reply.raw,
            input_tokens: i64::try_from(reply.usage.total_input_tokens()).unwrap_or(i64::MAX),
            output_tokens: i64::try_from(reply.usage.output_tokens).unwrap_or(i64::MAX),
            model: Some(self.provider.model().to_owned()),
            timings,
            diagnostics: Vec::new(),
            context: Some(fit),
            history_line,
        };
        match reply.ending {
            Ending::Done => self.store_completed(parsed, record, flows).await,
            Ending::Stopped => self.store_stopped(record, flows).await,
            Ending::Failed(e) => Err(self.store_failure(e, record).await),
        }
    }

    /// What to look up: the message, and for a short one ("done", "it
    /// still fails") the session's title too, so the session's own flows
    /// stay in reach.
    fn retrieval_query(&self) -> String {
        if self.text.split_whitespace().count() >= 6 {
            return self.text.clone();
        }
        match self.ctx.branches.on_branch() {
            // On a branch, its hypothesis says what the message is about.
            Some(b) => format!("{} {} {}", self.text, b.label, self.ctx.session.title),
            None => format!("{} {}", self.text, self.ctx.session.title),
        }
    }

    /// Streams the reply into `parser`, until it ends, fails or is stopped.
    async fn stream_reply(
        &self,
        request: crate::llm::ChatRequest,
        parser: &mut markers::StreamParser,
        timings: &mut TurnTimings,
        started: Instant,
    ) -> Reply {
        let mut reply = Reply {
            raw: String::new(),
            usage: Usage::default(),
            ending: Ending::Done,
        };
        // One future for the whole reply, so its lease-renewal timer keeps
        // its schedule however often chunks arrive.
        let stopped = self.stopped();
        tokio::pin!(stopped);
        let stream = tokio::select! {
            biased;
            () = &mut stopped => {
                reply.ending = Ending::Stopped;
                return reply;
            }
            s = self.provider.stream(request) => s,
        };
        let mut stream: ReplyStream = match stream {
            Ok(s) => s,
            Err(e) => {
                reply.ending = Ending::Failed(e);
                return reply;
            }
        };
        let mut done = false;
        loop {
            let item = tokio::select! {
                biased;
                () = &mut stopped => {
                    // Dropping the stream closes the provider connection:
                    // no more tokens are generated or paid for.
                    reply.ending = Ending::Stopped;
                    return reply;
                }
                item = stream.next() => item,
            };
            match item {
                Some(Ok(StreamEvent::TextDelta(delta))) => {
                    if timings.first_token_ms.is_none() {
                        timings.first_token_ms = Some(ms(started));
                    }
                    reply.raw.push_str(&delta);
                    parser.push_ref(&delta, |e| match e {
                        markers::EventRef::Display(text) => self.emit.delta(text),
                        markers::EventRef::Marker(m) => marker_event(&self.emit, m),
                    });
                }
                Some(Ok(StreamEvent::Usage(u))) => reply.usage = u,
                Some(Ok(StreamEvent::Done { .. })) => {
                    done = true;
                    break;
                }
                Some(Err(e)) => {
                    reply.ending = Ending::Failed(e);
                    return reply;
                }
                None => break,
            }
        }
        if !done {
            reply.ending = Ending::Failed(LlmError::new(
                LlmErrorKind::Protocol,
                "the stream ended without saying the reply was complete",
            ));
        }
        reply
    }

    /// Resolves when Stop was asked for: at once through the token, or, if
    /// the notice was lost, at the next lease renewal (which also keeps the
    /// turn's lease alive while it runs).
    async fn stopped(&self) {
        let every = self.inner.settings.lease / 3;
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tokio::select! {
                () = self.stop.cancelled() => return,
                _ = tick.tick() => {
                    let until = now_ms() + duration_ms(self.inner.settings.lease);
                    match self.inner.store.renew_lease(self.turn_id, until).await {
                        Ok(LeaseState::Running { stop_requested: true }) => return,
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, turn_id = %self.turn_id, "could not renew a turn's lease"),
                    }
                }
            }
        }
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

    /// Stopped by the engineer: the text so far is kept, nothing applied.
    async fn store_stopped(
        &self,
        mut reply: ReplyRecord,
        flows: Vec<RetrievedFlow>,
    ) -> Result<TurnResult, TurnFailure> {
        reply.timings.total_ms = ms(self.arrived);
        let stored = self
            .inner
            .store
            .end_turn(
                &self.who,
                self.ctx.session.id,
                self.turn_id,
                TurnStatus::Stopped,
                reply,
                None,
            )
            .await;
        match stored {
            Ok((turn, session)) => Ok(TurnResult {
                turn,
                session,
                task_lane: self.ctx.task_lane.clone(),
                fork: None,
                facts_added: Vec::new(),
                suggested_fix: None,
                outcome_proposal: None,
                suggested_flows: flows,
            }),
            Err(e) => {
                tracing::error!(error = %e, turn_id = %self.turn_id, "could not record a stopped turn");
                Err(TurnFailure::storage(self.turn_id, false))
            }
        }
    }

    async fn slug_lookup(&self, parsed: &markers::Parsed) -> SlugLookup {
        let Some(slug) = parsed
            .suggest_fix
            .as_ref()
            .and_then(|f| f.script_template_slug.clone())
        else {
            return SlugLookup::NoSlug;
        };
        match self
            .inner
            .store
            .script_template_by_slug(&self.who, &slug)
            .await
        {
            Ok(Some(template)) => SlugLookup::Found(template.id),
            Ok(None) => SlugLookup::Unknown(slug),
            Err(e) => {
                tracing::warn!(error = %e, "could not look up a script template");
                SlugLookup::Unknown(slug)
            }
        }
    }

    async fn store_completed(
        &self,
        parsed: markers::Parsed,
        mut reply: ReplyRecord,
        flows: Vec<RetrievedFlow>,
    ) -> Result<TurnResult, TurnFailure> {
        let persist_started = Instant::now();
        let store = &self.inner.store;
        let slug = self.slug_lookup(&parsed).await;
        let now = time::OffsetDateTime::now_utc();
        // Times are filled in as late as they can be; the stored total
        // covers everything up to the write itself.
        reply.timings.total_ms = ms(self.arrived);
        let mut commit = plan(
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
        let proposal = commit.outcome_proposal.clone();
        commit.reply.timings.persist_ms = ms(persist_started);
        commit.reply.timings.total_ms = ms(self.arrived);
        match store.commit_turn(&self.who, commit).await {
            Ok(committed) => Ok(TurnResult {
                turn: committed.turn,
                session: committed.session,
                task_lane: committed.task_lane,
                fork: committed.fork,
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
            Err(e) => Err(self.commit_failed(e, reply).await),
        }
    }

    /// Storing what the reply produced failed and was rolled back: keep the
    /// answer with the turn, apply nothing.
    async fn commit_failed(&self, e: crate::StoreError, mut reply: ReplyRecord) -> TurnFailure {
        tracing::error!(error = %e, turn_id = %self.turn_id, "storing a turn failed; it was rolled back");
        if let crate::StoreError::Conflict(_) = e {
            // Stopped or given up on meanwhile: nothing to keep here.
            return TurnFailure {
                class: FailureClass::BadGateway,
                code: "turn_not_running",
                message: session_error(e).to_string(),
                turn_id: Some(self.turn_id),
                retry_after: None,
            };
        }
        reply.diagnostics.push(TurnDiagnostic {
            marker: "turn".into(),
            reason: "storing what the reply suggested failed; none of it was applied".into(),
        });
        let failure = TurnFailure::storage(self.turn_id, true);
        let kept = self
            .inner
            .store
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
            Ok(_) => failure,
            Err(e) => {
                tracing::error!(error = %e, turn_id = %self.turn_id, "could not record the failed turn either");
                TurnFailure::storage(self.turn_id, false)
            }
        }
    }
}

pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A block closed: its payload as `flowpilot markers parse` prints it.
fn marker_event(emit: &Emitter, m: markers::MarkerEvent) {
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
        emit.event(
            names::MARKER,
            &serde_json::json!({ "kind": m.kind.name().to_ascii_lowercase(), "data": data }),
        );
    }
}
