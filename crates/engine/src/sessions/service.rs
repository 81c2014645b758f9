//! What the API does with sessions outside a turn: create, list, open,
//! rename, change status, delete; facts; decisions and outcomes on fixes.
//! Input is validated here; the store enforces who may see what.

use super::model::{Fact, FactSource, Fix, FixDecision, FixOutcome, Session, SessionStatus, Turn};
use super::store::{
    FactPatch, IDEMPOTENCY_MISMATCH, IdempotencyKey, NO_TURN_RUNNING, NOT_A_TEAM_MEMBER, NewFact,
    NewSession, SESSION_CLOSED, SESSION_RESOLVED, STALE_STATE, SessionFilter, SessionPatch,
    SessionView, TURN_NOT_RUNNING, TURN_RUNNING,
};
use crate::account::{Principal, ValidationError};
use crate::error::{Error, Result, StoreError};
use crate::ids::{BranchId, FactId, FixId, SessionId, TeamId};
use crate::store::Store;

/// The longest problem text a session may start with, in characters.
pub const MAX_INTAKE_CHARS: usize = 20_000;
/// The longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Titles made from the problem text stop near this many characters.
const AUTO_TITLE_CHARS: usize = 80;
/// The longest fact or note, in characters.
pub const MAX_FACT_CHARS: usize = 4_000;
/// The largest page of a list.
pub const MAX_PAGE: u32 = 200;

/// Turns a store error into what the engineer is told.
pub(crate) fn session_error(e: StoreError) -> Error {
    match e {
        StoreError::Conflict(STALE_STATE) => Error::conflict(
            "stale_state_version",
            "the session changed since you loaded it (another tab or a teammate); reload it and try again",
        ),
        StoreError::Conflict(TURN_RUNNING) => Error::conflict(
            "turn_in_progress",
            "a reply is still being written in this session; wait for it or stop it, then send again",
        ),
        StoreError::Conflict(SESSION_RESOLVED) => Error::conflict(
            "session_resolved",
            "this session is resolved; set its status back to active to continue it",
        ),
        StoreError::Conflict(SESSION_CLOSED) => Error::conflict(
            "session_closed",
            "this session is closed; set its status back to active to continue it",
        ),
        StoreError::Conflict(TURN_NOT_RUNNING) => Error::conflict(
            "turn_not_running",
            "the turn was stopped or given up on before its reply could be stored",
        ),
        StoreError::Conflict(NO_TURN_RUNNING) => Error::conflict(
            "no_turn_running",
            "no reply is being written in this session, so there is nothing to stop",
        ),
        StoreError::Conflict(IDEMPOTENCY_MISMATCH) => Error::Invalid(ValidationError::new(
            "Idempotency-Key",
            "this key was already used for a different request; use a new key for each new request",
        )),
        StoreError::Conflict(NOT_A_TEAM_MEMBER) => Error::Invalid(ValidationError::new(
            "team_id",
            "you are not a member of that team; ask an admin to add you, or leave team_id out",
        )),
        other => other.into(),
    }
}

fn required_text(field: &'static str, text: &str, max: usize) -> Result<String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ValidationError::new(field, "must not be empty").into());
    }
    if text.chars().count() > max {
        return Err(
            ValidationError::new(field, format!("must be at most {max} characters")).into(),
        );
    }
    Ok(text.to_owned())
}

fn optional_text(field: &'static str, text: Option<String>, max: usize) -> Result<Option<String>> {
    match text.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => required_text(field, t, max).map(Some),
    }
}

/// A title from the problem text: its first line, whitespace collapsed,
/// cut at a word boundary near `AUTO_TITLE_CHARS`.
pub fn title_from(text: &str) -> String {
    let first_line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let collapsed = first_line.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= AUTO_TITLE_CHARS {
        return if collapsed.is_empty() {
            "New session".to_owned()
        } else {
            collapsed
        };
    }
    let cut: String = collapsed.chars().take(AUTO_TITLE_CHARS).collect();
    let at_word = match cut.rfind(' ') {
        Some(i) if i > AUTO_TITLE_CHARS / 2 => &cut[..i],
        _ => cut.as_str(),
    };
    format!(
        "{}…",
        at_word.trim_end_matches([',', ';', ':', '.', '-', ' '])
    )
}

/// Longest `Idempotency-Key` accepted.
const MAX_KEY_LEN: usize = 255;

/// Checks an `Idempotency-Key` and pairs it with a hash of the request it
/// came with (`parts`, e.g. the session and the message), so that a key
/// reused for a different request can be refused.
pub fn idempotency_key(key: String, parts: &[&[u8]]) -> Result<IdempotencyKey> {
    use sha2::{Digest as _, Sha256};
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ValidationError::new(
            "Idempotency-Key",
            format!("must be 1 to {MAX_KEY_LEN} visible ASCII characters, e.g. a UUID"),
        )
        .into());
    }
    let mut h = Sha256::new();
    for part in parts {
        // Length-prefixed, so that parts can't run into each other.
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    Ok(IdempotencyKey {
        key,
        request_hash: hex::encode(h.finalize()),
    })
}

pub async fn create_session(
    store: &dyn Store,
    who: &Principal,
    text: &str,
    team_id: Option<TeamId>,
    key: Option<String>,
) -> Result<Session> {
    let intake = required_text("text", text, MAX_INTAKE_CHARS)?;
    let title = title_from(&intake);
    let team = team_id.map(|t| t.to_string()).unwrap_or_default();
    let idempotency = key
        .map(|k| idempotency_key(k, &[b"create_session", intake.as_bytes(), team.as_bytes()]))
        .transpose()?;
    store
        .create_session(
            who,
            NewSession {
                title,
                intake,
                team_id,
                idempotency,
            },
        )
        .await
        .map_err(|e| match e {
            StoreError::NotFound => {
                ValidationError::new("team_id", "no such team in your account").into()
            }
            other => session_error(other),
        })
}

pub async fn list_sessions(
    store: &dyn Store,
    who: &Principal,
    status: Option<&str>,
    q: Option<&str>,
    before: Option<SessionId>,
    limit: Option<u32>,
) -> Result<Vec<Session>> {
    let status = status
        .map(|s| SessionStatus::parse("status", s))
        .transpose()?;
    let title_contains = q
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_owned);
    let limit = limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ValidationError::new("limit", format!("must be 1 to {MAX_PAGE}")).into());
    }
    store
        .list_sessions(
            who,
            SessionFilter {
                status,
                title_contains,
                before,
                limit,
            },
        )
        .await
        .map_err(session_error)
}

pub async fn session_view(
    store: &dyn Store,
    who: &Principal,
    id: SessionId,
) -> Result<SessionView> {
    store.session_view(who, id).await.map_err(session_error)
}

pub async fn update_session(
    store: &dyn Store,
    who: &Principal,
    id: SessionId,
    title: Option<&str>,
    status: Option<&str>,
    expected: Option<i64>,
) -> Result<Session> {
    let title = title
        .map(|t| required_text("title", t, MAX_TITLE_CHARS))
        .transpose()?;
    let status = status
        .map(|s| SessionStatus::parse("status", s))
        .transpose()?;
    store
        .update_session(who, id, SessionPatch { title, status }, expected)
        .await
        .map_err(session_error)
}

pub async fn delete_session(store: &dyn Store, who: &Principal, id: SessionId) -> Result<()> {
    store.delete_session(who, id).await.map_err(session_error)
}

/// The session's turns, oldest first; with `branch`, that branch's only.
pub async fn list_turns(
    store: &dyn Store,
    who: &Principal,
    id: SessionId,
    branch: Option<BranchId>,
) -> Result<Vec<Turn>> {
    store
        .list_turns(who, id, branch)
        .await
        .map_err(session_error)
}

pub async fn list_facts(store: &dyn Store, who: &Principal, id: SessionId) -> Result<Vec<Fact>> {
    store.list_facts(who, id).await.map_err(session_error)
}

/// The engineer's own note (`source_type: user_note`).
pub async fn add_note(
    store: &dyn Store,
    who: &Principal,
    session: SessionId,
    text: &str,
    summary: Option<String>,
    expected: Option<i64>,
) -> Result<(Fact, Session)> {
    let fact = NewFact {
        source_type: FactSource::UserNote,
        source_ref: None,
        text: required_text("text", text, MAX_FACT_CHARS)?,
        summary: optional_text("summary", summary, MAX_FACT_CHARS)?,
    };
    store
        .create_fact(who, session, fact, expected)
        .await
        .map_err(session_error)
}

pub async fn edit_fact(
    store: &dyn Store,
    who: &Principal,
    session: SessionId,
    fact: FactId,
    text: Option<&str>,
    summary: Option<Option<String>>,
    expected: Option<i64>,
) -> Result<(Fact, Session)> {
    let text = text
        .map(|t| required_text("text", t, MAX_FACT_CHARS))
        .transpose()?;
    let summary = summary
        .map(|s| optional_text("summary", s, MAX_FACT_CHARS))
        .transpose()?;
    store
        .update_fact(who, session, fact, FactPatch { text, summary }, expected)
        .await
        .map_err(session_error)
}

pub async fn delete_fact(
    store: &dyn Store,
    who: &Principal,
    session: SessionId,
    fact: FactId,
    expected: Option<i64>,
) -> Result<Session> {
    store
        .delete_fact(who, session, fact, expected)
        .await
        .map_err(session_error)
}

pub async fn list_fixes(store: &dyn Store, who: &Principal, id: SessionId) -> Result<Vec<Fix>> {
    store.list_fixes(who, id).await.map_err(session_error)
}

pub async fn decide_fix(
    store: &dyn Store,
    who: &Principal,
    fix: FixId,
    decision: &str,
    note: Option<String>,
    expected: Option<i64>,
) -> Result<(Fix, Session)> {
    let decision = FixDecision::parse("decision", decision)?;
    let note = optional_text("note", note, MAX_FACT_CHARS)?;
    store
        .decide_fix(who, fix, decision, note, expected)
        .await
        .map_err(session_error)
}

pub async fn record_fix_outcome(
    store: &dyn Store,
    who: &Principal,
    fix: FixId,
    outcome: &str,
    note: Option<String>,
    expected: Option<i64>,
) -> Result<(Fix, Session)> {
    let outcome = FixOutcome::parse("outcome", outcome)?;
    let note = optional_text("note", note, MAX_FACT_CHARS)?;
    store
        .record_fix_outcome(who, fix, outcome, note, expected)
        .await
        .map_err(session_error)
}

pub async fn dismiss_outcome_proposal(
    store: &dyn Store,
    who: &Principal,
    fix: FixId,
    expected: Option<i64>,
) -> Result<(Fix, Session)> {
    store
        .dismiss_outcome_proposal(who, fix, expected)
        .await
        .map_err(session_error)
}

#[cfg(test)]
mod tests {
    use super::title_from;

    #[test]
    fn titles_come_from_the_first_line() {
        assert_eq!(title_from("\n  Outlook   prompts\nmore"), "Outlook prompts");
        assert_eq!(title_from("   "), "New session");
        let long = "word ".repeat(40);
        let t = title_from(&long);
        assert!(t.ends_with('…') && t.chars().count() <= 81, "{t}");
    }
}
