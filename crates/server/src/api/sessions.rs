//! Troubleshooting sessions, their turns, facts and fixes.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use engine::ids::{FactId, FixId, SessionId, TeamId};
use engine::llm::ImageInput;
use engine::sessions::{self, PendingResponse, ResponseStatus};
use engine::turn::{NewMessage, Sent};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::dto::{ErrorBody, Page};
use super::session_dto::{
    FactDto, FactEnvelope, FixDto, FixEnvelope, SessionDto, SessionEnvelope, SessionViewDto,
    TurnDto, TurnResultDto,
};
use crate::auth::Auth;
use crate::error::Result;
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get, update, delete))
        .routes(routes!(send_message))
        .routes(routes!(stop_turn))
        .routes(routes!(super::streams::events))
        .routes(routes!(list_turns))
        .routes(routes!(list_facts, add_fact))
        .routes(routes!(edit_fact, delete_fact))
        .routes(routes!(list_fixes))
        .routes(routes!(decide_fix))
        .routes(routes!(record_outcome))
        .routes(routes!(dismiss_proposal))
        .routes(routes!(report))
}

#[derive(Deserialize, ToSchema)]
pub struct CreateSessionBody {
    /// The problem, in the engineer's words; titles the session.
    text: String,
    /// Share the session with a team the caller is in.
    team_id: Option<Uuid>,
}

/// The `Idempotency-Key` header, if sent.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => v.to_str().map(|k| Some(k.trim().to_owned())).map_err(|_| {
            engine::Error::from(engine::ValidationError::new(
                "Idempotency-Key",
                "must be visible ASCII characters, e.g. a UUID",
            ))
            .into()
        }),
    }
}

/// Opens a session: stores the problem and titles the session from it.
/// Calls no model; post the first message (with any images) next. With an
/// `Idempotency-Key` seen in the last 24 hours, answers with the session
/// that key created instead of a second one.
#[utoipa::path(post, path = "/api/v1/sessions", tag = "sessions", request_body = CreateSessionBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "retry safely: the same key returns the first session")),
    responses((status = 201, body = SessionEnvelope), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Auth(who): Auth,
    headers: HeaderMap,
    Json(body): Json<CreateSessionBody>,
) -> Result<(StatusCode, Json<SessionEnvelope>)> {
    let session = sessions::create_session(
        state.store(),
        &who,
        &body.text,
        body.team_id.map(TeamId::from),
        idempotency_key(&headers)?,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(session.into())))
}

#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    /// `active`, `paused`, `resolved` or `closed`.
    status: Option<String>,
    /// Only sessions whose title contains this (ignoring case).
    q: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<Uuid>,
    /// Page size, 1 to 200 (default 50).
    limit: Option<u32>,
}

/// The caller's sessions and their teams', newest first.
#[utoipa::path(get, path = "/api/v1/sessions", tag = "sessions", params(ListQuery),
    responses((status = 200, body = Page<SessionDto>), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(who): Auth,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page<SessionDto>>> {
    let limit = q.limit.unwrap_or(50);
    let items = sessions::list_sessions(
        state.store(),
        &who,
        q.status.as_deref(),
        q.q.as_deref(),
        q.cursor.map(SessionId::from),
        Some(limit),
    )
    .await?;
    let next_cursor = (items.len() == limit as usize)
        .then(|| items.last().map(|s| s.id.to_string()))
        .flatten();
    Ok(Json(Page {
        items: items.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}

/// The session with its task lane, facts, active fix and branches.
#[utoipa::path(get, path = "/api/v1/sessions/{id}", tag = "sessions", params(("id" = Uuid, Path)),
    responses((status = 200, body = SessionViewDto), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<Uuid>,
) -> Result<Json<SessionViewDto>> {
    let view = sessions::session_view(state.store(), &who, SessionId::from(id)).await?;
    let (branches, fork_points) = super::session_dto::tree_dto(view.branches);
    Ok(Json(SessionViewDto {
        session: view.session.into(),
        task_lane: view.task_lane.into(),
        facts: view.facts.into_iter().map(Into::into).collect(),
        active_fix: view.active_fix.map(Into::into),
        branches,
        fork_points,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateSessionBody {
    title: Option<String>,
    /// `active`, `paused`, `resolved` or `closed`.
    status: Option<String>,
    /// The version you last saw; a stale one gets 409 and changes nothing.
    state_version: Option<i64>,
}

/// Renames the session or changes its status (pause, resume, resolve, close).
#[utoipa::path(patch, path = "/api/v1/sessions/{id}", tag = "sessions", params(("id" = Uuid, Path)),
    request_body = UpdateSessionBody,
    responses((status = 200, body = SessionEnvelope), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<Uuid>,
    Json(body): Json<UpdateSessionBody>,
) -> Result<Json<SessionEnvelope>> {
    let session = sessions::update_session(
        state.store(),
        &who,
        SessionId::from(id),
        body.title.as_deref(),
        body.status.as_deref(),
        body.state_version,
    )
    .await?;
    Ok(Json(session.into()))
}

/// Deletes the session and everything in it.
#[utoipa::path(delete, path = "/api/v1/sessions/{id}", tag = "sessions", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<Uuid>,
) -> Result<StatusCode> {
    sessions::delete_session(state.store(), &who, SessionId::from(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct ImageBody {
    /// `image/png`, `image/jpeg`, `image/gif` or `image/webp`.
    media_type: String,
    /// Base64 (standard alphabet).
    data: String,
}

#[derive(Deserialize, ToSchema)]
pub struct TaskResponseBody {
    item_id: Uuid,
    /// `answered`, `done`, `skipped` or `pending`.
    status: String,
    answer: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct MessageBody {
    text: String,
    #[serde(default)]
    images: Vec<ImageBody>,
    /// Responses to the current task lane's items.
    #[serde(default)]
    task_responses: Vec<TaskResponseBody>,
}

fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"))
}

/// Sends a message and answers with the turn: JSON once it is stored, or,
/// with `Accept: text/event-stream`, its events as they happen
/// (`turn.started`, `display.delta`, `marker`, `context.folded`, then
/// `turn.completed` or `turn.failed`), each with the id `GET …/events`
/// resumes from. The turn completes and is stored even if the client goes
/// away. With an `Idempotency-Key` seen in the last 24 hours for the same
/// message, no new turn starts: the first one's answer comes back (or, while
/// it still runs, its stream, or its answer once it ends).
#[utoipa::path(post, path = "/api/v1/sessions/{id}/messages", tag = "sessions",
    params(("id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header, description = "retry safely: the same key never starts a second turn")),
    request_body = MessageBody,
    responses(
        (status = 200, body = TurnResultDto, description = "The stored turn, or an SSE stream of its events"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub async fn send_message(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(body): Json<MessageBody>,
) -> Result<Response> {
    let task_responses = body
        .task_responses
        .into_iter()
        .map(|r| {
            Ok(PendingResponse {
                item_id: r.item_id,
                status: ResponseStatus::parse("task_responses.status", &r.status)?,
                answer: r.answer,
            })
        })
        .collect::<std::result::Result<Vec<_>, engine::ValidationError>>()
        .map_err(engine::Error::from)?;
    let message = NewMessage {
        text: body.text,
        images: body
            .images
            .into_iter()
            .map(|i| ImageInput {
                media_type: i.media_type,
                data_base64: i.data,
            })
            .collect(),
        task_responses,
    };
    let session = SessionId::from(id);
    let key = idempotency_key(&headers)?;
    let streaming = wants_stream(&headers);
    match state.chat.send(&who, session, message, key).await? {
        Sent::Started(handle) if streaming => {
            super::streams::turn_stream(&state, who, session, handle.turn_id, handle.first_event_id)
                .await
        }
        Sent::Started(handle) => {
            let result = handle.outcome().await?;
            Ok(Json(TurnResultDto::from(result)).into_response())
        }
        Sent::Replay { turn, .. } if streaming => {
            super::streams::turn_stream(&state, who, session, turn.turn_id, turn.first_event_id)
                .await
        }
        Sent::Replay { turn, .. } => {
            super::streams::turn_answer(&state, who, session, turn.turn_id, turn.first_event_id)
                .await
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct StopAnswer {
    /// The turn asked to stop; its stream ends with `turn.completed`
    /// (status `stopped`).
    turn_id: Uuid,
}

/// Stops the reply being written, whichever instance writes it: the
/// provider request is cancelled at once, the text so far is kept as a
/// `stopped` turn, and none of its markers are applied.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/stop", tag = "sessions", params(("id" = Uuid, Path)),
    responses((status = 202, body = StopAnswer), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn stop_turn(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<Uuid>,
) -> Result<(StatusCode, Json<StopAnswer>)> {
    let turn = state.chat.stop(&who, SessionId::from(id)).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(StopAnswer {
            turn_id: turn.as_uuid(),
        }),
    ))
}

#[derive(Deserialize, IntoParams)]
pub struct TurnsQuery {
    /// Only this branch's own turns.
    branch_id: Option<Uuid>,
}

/// The session's turns, oldest first; `?branch_id=` for one branch's.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/turns", tag = "sessions", params(("id" = Uuid, Path), TurnsQuery),
    responses((status = 200, body = Page<TurnDto>), (status = 404, body = ErrorBody)))]
pub async fn list_turns(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<Uuid>,
    Query(q): Query<TurnsQuery>,
) -> Result<Json<Page<TurnDto>>> {
    let turns = sessions::list_turns(
        state.store(),
        &who,
        SessionId::from(id),
        q.branch_id.map(Into::into),
    )
    .await?;
    Ok(Json(Page::all(turns)))
}

/// "What we know": the session's facts, oldest first.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/facts", tag = "facts", params(("id" = Uuid, Path)),
    responses((status = 200, body = Page<FactDto>), (status = 404, body = ErrorBody)))]
pub async fn list_facts(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<Uuid>,
) -> Result<Json<Page<FactDto>>> {
    let facts = sessions::list_facts(state.store(), &who, SessionId::from(id)).await?;
    Ok(Json(Page::all(facts)))
}

#[derive(Deserialize, ToSchema)]
pub struct AddFactBody {
    text: String,
    summary: Option<String>,
    state_version: Option<i64>,
}

/// Adds the engineer's own note (`source_type: user_note`).
#[utoipa::path(post, path = "/api/v1/sessions/{id}/facts", tag = "facts", params(("id" = Uuid, Path)),
    request_body = AddFactBody,
    responses((status = 201, body = FactEnvelope), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_fact(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<Uuid>,
    Json(body): Json<AddFactBody>,
) -> Result<(StatusCode, Json<FactEnvelope>)> {
    let (fact, session) = sessions::add_note(
        state.store(),
        &who,
        SessionId::from(id),
        &body.text,
        body.summary,
        body.state_version,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(FactEnvelope {
            fact: fact.into(),
            session: session.into(),
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct EditFactBody {
    text: Option<String>,
    /// `null` clears the summary; leave it out to keep it.
    #[serde(default, deserialize_with = "present")]
    summary: Option<Option<String>>,
    state_version: Option<i64>,
}

/// Tells "absent" (`None`) from "null" (`Some(None)`).
fn present<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Edits a fact, the assistant's or the engineer's.
#[utoipa::path(patch, path = "/api/v1/sessions/{id}/facts/{fact_id}", tag = "facts",
    params(("id" = Uuid, Path), ("fact_id" = Uuid, Path)), request_body = EditFactBody,
    responses((status = 200, body = FactEnvelope), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn edit_fact(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path((id, fact_id)): Path<(Uuid, Uuid)>,
    Json(body): Json<EditFactBody>,
) -> Result<Json<FactEnvelope>> {
    let (fact, session) = sessions::edit_fact(
        state.store(),
        &who,
        SessionId::from(id),
        FactId::from(fact_id),
        body.text.as_deref(),
        body.summary,
        body.state_version,
    )
    .await?;
    Ok(Json(FactEnvelope {
        fact: fact.into(),
        session: session.into(),
    }))
}

#[derive(Deserialize, IntoParams)]
pub struct VersionQuery {
    /// The version you last saw; a stale one gets 409 and changes nothing.
    state_version: Option<i64>,
}

/// Deletes a fact.
#[utoipa::path(delete, path = "/api/v1/sessions/{id}/facts/{fact_id}", tag = "facts",
    params(("id" = Uuid, Path), ("fact_id" = Uuid, Path), VersionQuery),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_fact(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path((id, fact_id)): Path<(Uuid, Uuid)>,
    Query(q): Query<VersionQuery>,
) -> Result<StatusCode> {
    sessions::delete_fact(
        state.store(),
        &who,
        SessionId::from(id),
        FactId::from(fact_id),
        q.state_version,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every fix suggested in the session, newest first, superseded ones included.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/fixes", tag = "fixes", params(("id" = Uuid, Path)),
    responses((status = 200, body = Page<FixDto>), (status = 404, body = ErrorBody)))]
pub async fn list_fixes(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<Uuid>,
) -> Result<Json<Page<FixDto>>> {
    let fixes = sessions::list_fixes(state.store(), &who, SessionId::from(id)).await?;
    Ok(Json(Page::all(fixes)))
}

#[derive(Deserialize, ToSchema)]
pub struct DecisionBody {
    /// `accepted`, `rejected` or `deferred`.
    decision: String,
    note: Option<String>,
    state_version: Option<i64>,
}

/// Records the engineer's decision on a fix.
#[utoipa::path(post, path = "/api/v1/fixes/{id}/decision", tag = "fixes", params(("id" = Uuid, Path)),
    request_body = DecisionBody,
    responses((status = 200, body = FixEnvelope), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn decide_fix(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<Uuid>,
    Json(body): Json<DecisionBody>,
) -> Result<Json<FixEnvelope>> {
    let (fix, session) = sessions::decide_fix(
        state.store(),
        &who,
        FixId::from(id),
        &body.decision,
        body.note,
        body.state_version,
    )
    .await?;
    Ok(Json(FixEnvelope {
        fix: fix.into(),
        session: session.into(),
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct OutcomeBody {
    /// `success`, `failure` or `partial`.
    outcome: String,
    note: Option<String>,
    state_version: Option<i64>,
}

/// Records how the fix went (confirming or overriding the assistant's
/// proposal, which this clears).
#[utoipa::path(patch, path = "/api/v1/fixes/{id}/outcome", tag = "fixes", params(("id" = Uuid, Path)),
    request_body = OutcomeBody,
    responses((status = 200, body = FixEnvelope), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn record_outcome(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<Uuid>,
    Json(body): Json<OutcomeBody>,
) -> Result<Json<FixEnvelope>> {
    let (fix, session) = sessions::record_fix_outcome(
        state.store(),
        &who,
        FixId::from(id),
        &body.outcome,
        body.note,
        body.state_version,
    )
    .await?;
    Ok(Json(FixEnvelope {
        fix: fix.into(),
        session: session.into(),
    }))
}

/// Dismisses the assistant's outcome proposal.
#[utoipa::path(delete, path = "/api/v1/fixes/{id}/outcome-proposal", tag = "fixes",
    params(("id" = Uuid, Path), VersionQuery),
    responses((status = 200, body = FixEnvelope), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn dismiss_proposal(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<Uuid>,
    Query(q): Query<VersionQuery>,
) -> Result<Json<FixEnvelope>> {
    let (fix, session) =
        sessions::dismiss_outcome_proposal(state.store(), &who, FixId::from(id), q.state_version)
            .await?;
    Ok(Json(FixEnvelope {
        fix: fix.into(),
        session: session.into(),
    }))
}

/// The session as a Markdown report to paste into a ticket.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/report", tag = "sessions", params(("id" = Uuid, Path)),
    responses((status = 200, content_type = "text/markdown", body = String), (status = 404, body = ErrorBody)))]
pub async fn report(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<Uuid>,
) -> Result<Response> {
    let store = state.store();
    let id = SessionId::from(id);
    let view = sessions::session_view(store, &who, id).await?;
    let turns = sessions::list_turns(store, &who, id, None).await?;
    let fixes = sessions::list_fixes(store, &who, id).await?;
    let markdown =
        sessions::render_report(&view.session, &view.facts, &view.branches, &turns, &fixes);
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/markdown; charset=utf-8"),
        )],
        markdown,
    )
        .into_response())
}
