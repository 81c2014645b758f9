//! SQL for sessions and their parts, the same text on both backends.
//!
//! Session-scoped statements bind `$1` account, `$2` user, `$3` session and
//! check visibility in SQL (`visible!`): the caller's own sessions and
//! their teams' sessions in their account. Everything else reads as absent.

/// The visibility rule for the `sessions` row named `$t`.
macro_rules! visible {
    ($t:literal) => {
        concat!(
            $t,
            ".account_id = $1 AND (",
            $t,
            ".user_id = $2 OR EXISTS (",
            "SELECT 1 FROM team_members m WHERE m.account_id = $1 AND m.team_id = ",
            $t,
            ".team_id AND m.user_id = $2))"
        )
    };
}

/// A session's columns, prefixed with `$p`.
macro_rules! session_cols {
    ($p:literal) => {
        concat!(
            $p,
            "id, ",
            $p,
            "user_id, ",
            $p,
            "team_id, ",
            $p,
            "title, ",
            $p,
            "intake, ",
            $p,
            "status, ",
            $p,
            "problem_summary, ",
            $p,
            "step_count, ",
            $p,
            "total_input_tokens, ",
            $p,
            "total_output_tokens, ",
            $p,
            "is_branching, ",
            $p,
            "active_branch_id, ",
            $p,
            "state_version, ",
            $p,
            "task_lane, ",
            $p,
            "created_at, ",
            $p,
            "updated_at"
        )
    };
}

pub(crate) use session_cols;

macro_rules! turn_cols {
    () => {
        "id, session_id, branch_id, status, user_message, display, input_tokens, \
         output_tokens, model, diagnostics, timings, images, task_responses, fork, error, \
         context, created_at, completed_at"
    };
}

macro_rules! fact_cols {
    () => {
        "id, source_type, source_ref, text, summary, turn_id, branch_id, created_at, updated_at"
    };
}

macro_rules! fix_cols {
    ($p:literal) => {
        concat!(
            $p,
            "id, ",
            $p,
            "session_id, ",
            $p,
            "turn_id, ",
            $p,
            "title, ",
            $p,
            "description, ",
            $p,
            "confidence_pct, ",
            $p,
            "script_template_id, ",
            $p,
            "ai_drafted_script, ",
            $p,
            "ai_drafted_parameters, ",
            $p,
            "superseded_at, ",
            $p,
            "decision, ",
            $p,
            "decision_note, ",
            $p,
            "outcome, ",
            $p,
            "outcome_note, ",
            $p,
            "ai_outcome_proposal, ",
            $p,
            "created_at"
        )
    };
}

/// $1 account, $2 user, $3 id, $4 team, $5 title, $6 intake, $7 now.
/// Inserts nothing when the team is set and the user is not in it.
pub(crate) const INSERT_SESSION: &str = concat!(
    "INSERT INTO sessions (id, account_id, user_id, team_id, title, intake, created_at, updated_at) ",
    "SELECT $3, $1, $2, $4, $5, $6, $7, $7 WHERE $4 IS NULL OR EXISTS (",
    "SELECT 1 FROM team_members m WHERE m.account_id = $1 AND m.team_id = $4 AND m.user_id = $2) ",
    "RETURNING ",
    session_cols!("")
);

pub(crate) const GET_SESSION: &str = concat!(
    "SELECT ",
    session_cols!("s."),
    " FROM sessions s WHERE s.id = $3 AND ",
    visible!("s")
);

/// $4 status, $5 LIKE pattern, $6 cursor id, $7 limit.
pub(crate) const LIST_SESSIONS: &str = concat!(
    "SELECT ",
    session_cols!("s."),
    " FROM sessions s WHERE ",
    visible!("s"),
    " AND ($4 IS NULL OR s.status = $4)",
    " AND ($5 IS NULL OR lower(s.title) LIKE $5 ESCAPE '\\')",
    " AND ($6 IS NULL OR s.id < $6)",
    " ORDER BY s.id DESC LIMIT $7"
);

/// Bumps `state_version`, checking visibility and, when `$5` is given,
/// that it is the current version. $4 now.
pub(crate) const BUMP_SESSION: &str = concat!(
    "UPDATE sessions SET state_version = state_version + 1, updated_at = $4 WHERE id = $3 AND ",
    visible!("sessions"),
    " AND ($5 IS NULL OR state_version = $5) RETURNING ",
    session_cols!("")
);

/// Like `BUMP_SESSION`, also setting the title ($6) and status ($7) when given.
pub(crate) const PATCH_SESSION: &str = concat!(
    "UPDATE sessions SET state_version = state_version + 1, updated_at = $4, ",
    "title = COALESCE($6, title), status = COALESCE($7, status) WHERE id = $3 AND ",
    visible!("sessions"),
    " AND ($5 IS NULL OR state_version = $5) RETURNING ",
    session_cols!("")
);

pub(crate) const DELETE_SESSION: &str = concat!(
    "DELETE FROM sessions WHERE id = $3 AND ",
    visible!("sessions")
);

/// Starts a turn: a paused session becomes active. Matches nothing when
/// the session takes no messages. $4 now.
pub(crate) const BEGIN_TURN_SESSION: &str = concat!(
    "UPDATE sessions SET status = 'active', ",
    "state_version = state_version + 1, updated_at = $4 WHERE id = $3 AND ",
    visible!("sessions"),
    " AND status IN ('active', 'paused') RETURNING ",
    session_cols!("")
);

/// $1 id, $2 account, $3 session, $4 branch, $5 user message, $6 images,
/// $7 task responses, $8 now, $9 lease end (ms), $10 first event id.
/// Inserts nothing (no row back) when the session already has a running
/// turn: the partial unique index of running turns decides.
pub(crate) const INSERT_RUNNING_TURN: &str = "\
    INSERT INTO turns (id, account_id, session_id, branch_id, status, user_message, images, \
    task_responses, created_at, lease_until_ms, first_event_id) \
    VALUES ($1, $2, $3, $4, 'running', $5, $6, $7, $8, $9, $10) \
    ON CONFLICT (session_id) WHERE status = 'running' DO NOTHING RETURNING id";

/// Ends a running turn. $1 account, $2 turn, $3 session, $4 status,
/// $5 display, $6 raw, $7 input tokens, $8 output tokens, $9 model,
/// $10 timings, $11 diagnostics, $12 error, $13 fork, $14 task lane, $15 now,
/// $16 context fit.
pub(crate) const END_TURN: &str = concat!(
    "UPDATE turns SET status = $4, display = $5, raw_reply = $6, input_tokens = $7, ",
    "output_tokens = $8, model = $9, timings = $10, diagnostics = $11, error = $12, ",
    "fork = $13, task_lane = $14, completed_at = $15, context = $16, lease_until_ms = NULL ",
    "WHERE account_id = $1 AND id = $2 AND session_id = $3 AND status = 'running' RETURNING ",
    turn_cols!()
);

/// After a turn: $1 account, $2 session, $3 input tokens, $4 output
/// tokens, $5 steps to add, $6 task lane (NULL keeps it), $7 problem
/// summary if none yet, $8 now, $9 a line to add to the history summary
/// (NULL: none), $10 the summary's most characters (its oldest go first).
/// Only the new line travels: a long parameter costs a TCP round trip's
/// delay with sqlx 0.9 over TLS.
pub(crate) const SESSION_AFTER_TURN: &str = concat!(
    "UPDATE sessions SET step_count = step_count + $5, ",
    "history_summary = CASE WHEN $9 IS NULL THEN history_summary ",
    "WHEN length(history_summary) + length($9) > $10 ",
    "THEN substr(history_summary, CAST(length(history_summary) + length($9) - $10 + 1 AS INTEGER)) || $9 ",
    "ELSE history_summary || $9 END, ",
    "total_input_tokens = total_input_tokens + $3, total_output_tokens = total_output_tokens + $4, ",
    "task_lane = COALESCE($6, task_lane), problem_summary = COALESCE(problem_summary, $7), ",
    "state_version = state_version + 1, updated_at = $8 ",
    "WHERE account_id = $1 AND id = $2 RETURNING ",
    session_cols!("")
);

/// $3 a branch (NULL: every turn).
pub(crate) const LIST_TURNS: &str = concat!(
    "SELECT ",
    turn_cols!(),
    " FROM turns WHERE account_id = $1 AND session_id = $2 AND ($3 IS NULL OR branch_id = $3) ",
    "ORDER BY id"
);

/// The latest $3 exchanges the model should see again, newest first.
pub(crate) const HISTORY: &str = "\
    SELECT user_message, display FROM turns \
    WHERE account_id = $1 AND session_id = $2 AND status IN ('completed', 'stopped', 'incomplete') \
    ORDER BY id DESC LIMIT $3";

pub(crate) const LANE_ITEMS: &str = "\
    SELECT id, kind, text FROM task_lane_items WHERE account_id = $1 AND session_id = $2";

/// $1 id, $2 account, $3 session, $4 kind, $5 text, $6 turn, $7 now.
pub(crate) const INSERT_LANE_ITEM: &str = "\
    INSERT INTO task_lane_items (id, account_id, session_id, kind, text, turn_id, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (session_id, kind, text) DO NOTHING";

pub(crate) const LIST_FACTS: &str = concat!(
    "SELECT ",
    fact_cols!(),
    " FROM facts WHERE account_id = $1 AND session_id = $2 ORDER BY id"
);

/// $1 id, $2 account, $3 session, $4 turn, $5 source type, $6 source ref,
/// $7 text, $8 summary, $9 now. The fact's branch is its turn's, or for a
/// note the session's active one.
pub(crate) const INSERT_FACT: &str = concat!(
    "INSERT INTO facts (id, account_id, session_id, turn_id, branch_id, source_type, source_ref, ",
    "text, summary, created_at, updated_at) VALUES ($1, $2, $3, $4, ",
    "COALESCE((SELECT branch_id FROM turns WHERE id = $4), ",
    "(SELECT active_branch_id FROM sessions WHERE id = $3)), ",
    "$5, $6, $7, $8, $9, $9) RETURNING ",
    fact_cols!()
);

/// $1 account, $2 session, $3 fact, $4 text, $5 set summary?, $6 summary, $7 now.
pub(crate) const UPDATE_FACT: &str = concat!(
    "UPDATE facts SET text = COALESCE($4, text), ",
    "summary = CASE WHEN $5 THEN $6 ELSE summary END, updated_at = $7 ",
    "WHERE account_id = $1 AND session_id = $2 AND id = $3 RETURNING ",
    fact_cols!()
);

pub(crate) const DELETE_FACT: &str =
    "DELETE FROM facts WHERE account_id = $1 AND session_id = $2 AND id = $3";

pub(crate) const LIST_FIXES: &str = concat!(
    "SELECT ",
    fix_cols!(""),
    " FROM suggested_fixes WHERE account_id = $1 AND session_id = $2 ORDER BY id DESC"
);

pub(crate) const ACTIVE_FIX: &str = concat!(
    "SELECT ",
    fix_cols!(""),
    " FROM suggested_fixes WHERE account_id = $1 AND session_id = $2 AND superseded_at IS NULL"
);

/// A fix of a session the caller can see: $3 is the fix id here.
pub(crate) const GET_FIX: &str = concat!(
    "SELECT ",
    fix_cols!("f."),
    " FROM suggested_fixes f JOIN sessions s ON s.account_id = f.account_id AND s.id = f.session_id",
    " WHERE f.id = $3 AND f.account_id = $1 AND ",
    visible!("s")
);

/// $1 account, $2 session, $3 now.
pub(crate) const SUPERSEDE_ACTIVE_FIX: &str = "\
    UPDATE suggested_fixes SET superseded_at = $3, updated_at = $3 \
    WHERE account_id = $1 AND session_id = $2 AND superseded_at IS NULL";

/// $1 id, $2 account, $3 session, $4 turn, $5 title, $6 description,
/// $7 confidence, $8 template, $9 drafted script, $10 drafted parameters, $11 now.
pub(crate) const INSERT_FIX: &str = concat!(
    "INSERT INTO suggested_fixes (id, account_id, session_id, turn_id, title, description, ",
    "confidence_pct, script_template_id, ai_drafted_script, ai_drafted_parameters, created_at, ",
    "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING ",
    fix_cols!("")
);

/// $1 account, $2 session, $3 fix, $4 proposal, $5 now.
pub(crate) const PROPOSE_OUTCOME: &str = "\
    UPDATE suggested_fixes SET ai_outcome_proposal = $4, updated_at = $5 \
    WHERE account_id = $1 AND session_id = $2 AND id = $3";

/// $1 account, $2 fix, $3 decision, $4 note, $5 now.
pub(crate) const DECIDE_FIX: &str = concat!(
    "UPDATE suggested_fixes SET decision = $3, decision_note = $4, decided_at = $5, updated_at = $5 ",
    "WHERE account_id = $1 AND id = $2 RETURNING ",
    fix_cols!("")
);

/// $1 account, $2 fix, $3 outcome, $4 note, $5 now.
pub(crate) const FIX_OUTCOME: &str = concat!(
    "UPDATE suggested_fixes SET outcome = $3, outcome_note = $4, outcome_at = $5, ",
    "ai_outcome_proposal = NULL, updated_at = $5 WHERE account_id = $1 AND id = $2 RETURNING ",
    fix_cols!("")
);

/// $1 account, $2 fix, $3 now.
pub(crate) const DISMISS_PROPOSAL: &str = concat!(
    "UPDATE suggested_fixes SET ai_outcome_proposal = NULL, updated_at = $3 ",
    "WHERE account_id = $1 AND id = $2 RETURNING ",
    fix_cols!("")
);

pub(crate) const HISTORY_SUMMARY: &str =
    "SELECT history_summary FROM sessions WHERE account_id = $1 AND id = $2";

/// Fails the running turn of session $4 if its lease ended before $2 (ms):
/// $1 error, $3 now. (`session_id` and `status` first: the partial index
/// of running turns answers it.)
pub(crate) const EXPIRE_LEASES: &str = "\
    UPDATE turns SET status = 'failed', error = $1, completed_at = $3, lease_until_ms = NULL \
    WHERE session_id = $4 AND status = 'running' \
    AND (lease_until_ms IS NULL OR lease_until_ms < $2) RETURNING account_id, session_id, id";

/// Sessions with a running turn whose lease ended before $1 (ms).
pub(crate) const SESSIONS_WITH_EXPIRED_TURNS: &str = "\
    SELECT DISTINCT session_id FROM turns WHERE status = 'running' \
    AND (lease_until_ms IS NULL OR lease_until_ms < $1)";

/// Takes the session's row lock (PostgreSQL) without changing it.
pub(crate) const LOCK_SESSION: &str = "UPDATE sessions SET event_seq = event_seq WHERE id = $1";

/// $1 turn, $2 new lease end (ms).
pub(crate) const RENEW_LEASE: &str = "\
    UPDATE turns SET lease_until_ms = $2 WHERE id = $1 AND status = 'running' \
    RETURNING stop_requested";

/// Marks the running turn of a visible session as asked to stop.
pub(crate) const REQUEST_STOP: &str = concat!(
    "UPDATE turns SET stop_requested = TRUE WHERE status = 'running' AND session_id = $3 ",
    "AND account_id = $1 AND EXISTS (SELECT 1 FROM sessions s WHERE s.id = $3 AND ",
    visible!("s"),
    ") RETURNING id"
);

/// $1 account, $2 user, $3 key, $4 not before (ms).
pub(crate) const FIND_KEY: &str = "\
    SELECT k.scope, k.request_hash, k.session_id, k.turn_id, t.first_event_id \
    FROM idempotency_keys k LEFT JOIN turns t ON t.id = k.turn_id \
    WHERE k.account_id = $1 AND k.user_id = $2 AND k.key = $3 AND k.created_ms >= $4";

/// $1 account, $2 user, $3 key, $4 not before (ms): forgets an expired key.
pub(crate) const DROP_EXPIRED_KEY: &str = "\
    DELETE FROM idempotency_keys WHERE account_id = $1 AND user_id = $2 AND key = $3 \
    AND created_ms < $4";

/// $1 account, $2 user, $3 key, $4 scope, $5 hash, $6 session, $7 turn, $8 now (ms).
pub(crate) const INSERT_KEY: &str = "\
    INSERT INTO idempotency_keys \
    (account_id, user_id, key, scope, request_hash, session_id, turn_id, created_ms) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// $1 keys created before (ms).
pub(crate) const PRUNE_KEYS: &str = "DELETE FROM idempotency_keys WHERE created_ms < $1";

/// A session's events after `$4`, at most `$5`, if the caller can see it.
pub(crate) const EVENTS_AFTER: &str = concat!(
    "SELECT e.id, e.session_id, e.turn_id, e.name, e.data FROM session_events e ",
    "JOIN sessions s ON s.id = e.session_id ",
    "WHERE e.session_id = $3 AND e.id > $4 AND s.id = $3 AND ",
    visible!("s"),
    " ORDER BY e.id LIMIT $5"
);

/// The id of the session's latest event.
pub(crate) const LAST_EVENT_ID: &str = concat!(
    "SELECT s.event_seq FROM sessions s WHERE s.id = $3 AND ",
    visible!("s")
);
