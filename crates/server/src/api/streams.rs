//! Server-sent event streams of a session's event log: a turn's own stream
//! (the answer of `POST …/messages` with `Accept: text/event-stream`) and
//! the session's whole stream (`GET …/events`). Both read the log through
//! an `engine::events::Feed`, so ids are the database's, the same on every
//! instance, and a client resumes anywhere with `Last-Event-ID`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use engine::Principal;
use engine::events::{Feed, StoredEvent, names};
use engine::ids::{SessionId, TurnId};
use futures::Stream;
use uuid::Uuid;

use super::dto::ErrorBody;
use crate::auth::Auth;
use crate::error::{ApiError, Result};
use crate::extract::Path;
use crate::state::AppState;

/// Headers that keep reverse proxies from buffering or caching a stream.
pub fn stream_headers(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
}

fn sse_event(e: &StoredEvent) -> Event {
    Event::default()
        .id(e.id.to_string())
        .event(e.name.as_str())
        .data(e.data.as_str())
}

/// The SSE response for `events`, with a heartbeat comment every
/// `heartbeat` so that proxies keep an idle stream open.
pub fn sse_response(
    events: impl Stream<Item = std::result::Result<Event, Infallible>> + Send + 'static,
    heartbeat: Duration,
) -> Response {
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(heartbeat).text("heartbeat"))
        .into_response();
    stream_headers(response.headers_mut());
    response
}

/// Events of one turn, from its `turn.started` (`first_event_id`) to its
/// `turn.completed` or `turn.failed`.
pub async fn turn_stream(
    state: &AppState,
    who: Principal,
    session: SessionId,
    turn: TurnId,
    first_event_id: i64,
) -> Result<Response> {
    let feed = Feed::open(
        state.store.clone().as_event_store(),
        who,
        session,
        first_event_id - 1,
    )
    .await
    .map_err(engine::Error::from)?;
    let events = futures::stream::unfold((feed, false), move |(mut feed, ended)| async move {
        if ended {
            return None;
        }
        loop {
            match feed.next().await {
                Ok(e) if e.turn_id == Some(turn) => {
                    let last = names::ends_turn(&e.name);
                    return Some((Ok(sse_event(&e)), (feed, last)));
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "a turn's stream ended early");
                    return None;
                }
            }
        }
    });
    Ok(sse_response(events, heartbeat(state)))
}

/// Waits for the end of a turn through the log (a retried send whose turn
/// runs, or ran, elsewhere) and answers as the first send did.
pub async fn turn_answer(
    state: &AppState,
    who: Principal,
    session: SessionId,
    turn: TurnId,
    first_event_id: i64,
) -> Result<Response> {
    let mut feed = Feed::open(
        state.store.clone().as_event_store(),
        who,
        session,
        first_event_id - 1,
    )
    .await
    .map_err(engine::Error::from)?;
    loop {
        let e = feed.next().await.map_err(engine::Error::from)?;
        if e.turn_id != Some(turn) || !names::ends_turn(&e.name) {
            continue;
        }
        if e.name == names::TURN_COMPLETED {
            let mut response = e.data.into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            return Ok(response);
        }
        let data: serde_json::Value = serde_json::from_str(&e.data).unwrap_or_default();
        let failure = engine::turn::TurnFailure::from_event(&data).ok_or_else(|| {
            engine::Error::Internal(anyhow::anyhow!("a stored turn.failed event is unreadable"))
        })?;
        return Err(engine::Error::Turn(failure).into());
    }
}

fn heartbeat(state: &AppState) -> Duration {
    Duration::from_secs(state.config.sse_heartbeat_secs)
}

/// `Last-Event-ID`: the id of the last event the client saw.
fn last_event_id(headers: &HeaderMap) -> Result<Option<i64>> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|id| *id >= 0)
        .map(Some)
        .ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "bad_last_event_id",
                "Last-Event-ID must be the id of an event this stream sent (a whole number)",
            )
        })
}

/// The session's live events: every turn's events (`turn.started`,
/// `display.delta`, `marker`, `context.folded`, `turn.completed` /
/// `turn.failed`), whichever instance runs it, and `session.changed`
/// (`{"state_version", "kind", "id"}`) for every other change. With
/// `Last-Event-ID`, everything after that id first (the rest of a running
/// turn included); without, from now. The stream opens with a frame that
/// carries only `id:` (where it starts; EventSource dispatches nothing for
/// it). Ends when the server shuts down; a client reconnects with
/// `Last-Event-ID` and misses nothing.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/events", tag = "sessions",
    params(("id" = Uuid, Path), ("Last-Event-ID" = Option<i64>, Header, description = "resume after this event")),
    responses(
        (status = 200, content_type = "text/event-stream", body = String, description = "SSE: id, event, data per event; a `: heartbeat` comment every few seconds"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn events(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
) -> Result<Response> {
    let session = SessionId::from(id);
    let store: Arc<dyn engine::events::EventStore> = state.store.clone().as_event_store();
    let after = match last_event_id(&headers)? {
        Some(after) => after,
        None => store
            .last_event_id(&who, session)
            .await
            .map_err(engine::Error::from)?,
    };
    let feed = Feed::open(store, who, session, after)
        .await
        .map_err(engine::Error::from)?;
    let shutdown = state.shutdown.clone();
    let events = futures::stream::unfold(feed, |mut feed| async move {
        match feed.next().await {
            Ok(e) => Some((Ok(sse_event(&e)), feed)),
            // The session was deleted (or the database failed): the stream
            // ends; a reconnect tells which.
            Err(_) => None,
        }
    });
    // First, where the stream starts: an `id:` with no data sets the
    // client's last event id without dispatching an event, so a client that
    // reconnects before any event arrived still resumes from here and
    // misses nothing that happened while it was away.
    let position = futures::stream::once(std::future::ready(Ok::<_, Infallible>(
        Event::default().id(after.to_string()),
    )));
    let events = futures::StreamExt::chain(position, events);
    let events = futures::StreamExt::take_until(events, shutdown.cancelled_owned());
    Ok(sse_response(events, heartbeat(&state)))
}
