-- Troubleshooting sessions and what they produce (turns, branches, facts,
-- fixes), and the account's knowledge: script templates and flows.
--
-- SQLite twin of postgres/0002: BLOB ids, TEXT times and JSON; foreign keys
-- that PostgreSQL adds with ALTER TABLE are inline here.
--
-- Every table carries account_id, and references its parent by
-- (account_id, id), so no row can point into another account.

CREATE TABLE script_templates (
    id          BLOB PRIMARY KEY NOT NULL,
    account_id  BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    slug        TEXT NOT NULL,
    name        TEXT NOT NULL,
    language    TEXT NOT NULL,
    body        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    -- The `{{name}}`s found in the body, kept so lists need not re-parse.
    parameters  TEXT NOT NULL DEFAULT '[]',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (account_id, slug),
    UNIQUE (account_id, id)
);

CREATE TABLE flows (
    id         BLOB PRIMARY KEY NOT NULL,
    account_id BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    slug       TEXT NOT NULL,
    title      TEXT NOT NULL,
    symptoms   TEXT NOT NULL DEFAULT '',
    body       TEXT NOT NULL,
    resolution TEXT NOT NULL DEFAULT '',
    tags       TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (account_id, slug),
    UNIQUE (account_id, id)
);

CREATE TABLE sessions (
    id                  BLOB PRIMARY KEY NOT NULL,
    account_id          BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    user_id             BLOB NOT NULL,
    team_id             BLOB,
    title               TEXT NOT NULL,
    intake              TEXT NOT NULL,
    status              TEXT NOT NULL DEFAULT 'active'
                        CHECK (status IN ('active', 'paused', 'resolved', 'closed')),
    problem_summary     TEXT,
    problem_domain      TEXT,
    confidence_tier     TEXT,
    confidence_score    INTEGER CHECK (confidence_score BETWEEN 0 AND 100),
    step_count          INTEGER NOT NULL DEFAULT 0,
    total_input_tokens  INTEGER NOT NULL DEFAULT 0,
    total_output_tokens INTEGER NOT NULL DEFAULT 0,
    is_branching        BOOLEAN NOT NULL DEFAULT FALSE,
    active_branch_id    BLOB,
    task_lane           TEXT NOT NULL DEFAULT '{"questions": [], "actions": []}',
    -- Bumped by every change to the session or its parts (optimistic
    -- concurrency: a write with a stale version changes nothing).
    state_version       INTEGER NOT NULL DEFAULT 1,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    UNIQUE (account_id, id),
    FOREIGN KEY (account_id, user_id) REFERENCES users (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, team_id) REFERENCES teams (account_id, id),
    FOREIGN KEY (account_id, active_branch_id)
        REFERENCES branches (account_id, id) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX sessions_by_owner ON sessions (account_id, user_id, id);
CREATE INDEX sessions_by_team ON sessions (account_id, team_id, id) WHERE team_id IS NOT NULL;

CREATE TABLE fork_points (
    id               BLOB PRIMARY KEY NOT NULL,
    account_id       BLOB NOT NULL,
    session_id       BLOB NOT NULL,
    -- The turn whose reply forked, and the branch it was on (NULL: main line).
    turn_id          BLOB,
    parent_branch_id BLOB,
    fork_reason      TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    UNIQUE (account_id, id),
    FOREIGN KEY (account_id, session_id) REFERENCES sessions (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, parent_branch_id) REFERENCES branches (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, turn_id) REFERENCES turns (account_id, id) ON DELETE CASCADE
);
CREATE INDEX fork_points_by_session ON fork_points (account_id, session_id, id);

CREATE TABLE branches (
    id               BLOB PRIMARY KEY NOT NULL,
    account_id       BLOB NOT NULL,
    session_id       BLOB NOT NULL,
    -- NULL for the root branch, which holds the conversation before the first fork.
    fork_point_id    BLOB,
    parent_branch_id BLOB,
    label            TEXT NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    status           TEXT NOT NULL DEFAULT 'active'
                     CHECK (status IN ('active', 'ruled_out', 'revived', 'resolved')),
    evidence         TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    UNIQUE (account_id, id),
    FOREIGN KEY (account_id, session_id) REFERENCES sessions (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, fork_point_id) REFERENCES fork_points (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, parent_branch_id) REFERENCES branches (account_id, id) ON DELETE CASCADE
);
CREATE INDEX branches_by_session ON branches (account_id, session_id, id);


CREATE TABLE turns (
    id                 BLOB PRIMARY KEY NOT NULL,
    account_id         BLOB NOT NULL,
    session_id         BLOB NOT NULL,
    branch_id          BLOB,
    status             TEXT NOT NULL
                       CHECK (status IN ('completed', 'stopped', 'incomplete', 'failed', 'running')),
    user_message       TEXT NOT NULL,
    display            TEXT NOT NULL DEFAULT '',
    raw_reply          TEXT NOT NULL DEFAULT '',
    input_tokens       INTEGER NOT NULL DEFAULT 0,
    output_tokens      INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens  INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    model              TEXT,
    latency_ms         INTEGER,
    timings            TEXT,
    diagnostics        TEXT NOT NULL DEFAULT '[]',
    -- Image metadata (media type, size); the bytes are not kept here.
    images             TEXT NOT NULL DEFAULT '[]',
    error              TEXT,
    created_at         TEXT NOT NULL,
    completed_at       TEXT,
    UNIQUE (account_id, id),
    FOREIGN KEY (account_id, session_id) REFERENCES sessions (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, branch_id) REFERENCES branches (account_id, id) ON DELETE CASCADE
);
CREATE INDEX turns_by_session ON turns (account_id, session_id, id);
-- At most one turn in flight per session, whichever instance runs it.
CREATE UNIQUE INDEX turns_one_running_per_session ON turns (session_id) WHERE status = 'running';

CREATE TABLE facts (
    id          BLOB PRIMARY KEY NOT NULL,
    account_id  BLOB NOT NULL,
    session_id  BLOB NOT NULL,
    turn_id     BLOB,
    branch_id   BLOB,
    source_type TEXT NOT NULL
                CHECK (source_type IN ('question', 'diagnostic_check', 'ai_synthesis', 'user_note')),
    -- A task-lane item id of the same session (checked by the engine).
    source_ref  TEXT,
    text        TEXT NOT NULL,
    summary     TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    FOREIGN KEY (account_id, session_id) REFERENCES sessions (account_id, id) ON DELETE CASCADE,
    -- Optional links are single-column so that deleting their target can
    -- set just them to NULL (a composite key would null account_id too).
    FOREIGN KEY (turn_id) REFERENCES turns (id) ON DELETE SET NULL,
    FOREIGN KEY (branch_id) REFERENCES branches (id) ON DELETE SET NULL
);
CREATE INDEX facts_by_session ON facts (account_id, session_id, id);

CREATE TABLE suggested_fixes (
    id                    BLOB PRIMARY KEY NOT NULL,
    account_id            BLOB NOT NULL,
    session_id            BLOB NOT NULL,
    turn_id               BLOB,
    title                 TEXT NOT NULL,
    description           TEXT NOT NULL,
    confidence_pct        INTEGER NOT NULL CHECK (confidence_pct BETWEEN 0 AND 100),
    script_template_id    BLOB,
    ai_drafted_script     TEXT,
    ai_drafted_parameters TEXT,
    superseded_at         TEXT,
    decision              TEXT CHECK (decision IN ('accepted', 'rejected', 'deferred')),
    decision_note         TEXT,
    decided_at            TEXT,
    outcome               TEXT CHECK (outcome IN ('success', 'failure', 'partial')),
    outcome_note          TEXT,
    outcome_at            TEXT,
    -- {"outcome", "reason", "proposed_at"} until the engineer confirms or dismisses it.
    ai_outcome_proposal   TEXT,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    FOREIGN KEY (account_id, session_id) REFERENCES sessions (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (turn_id) REFERENCES turns (id) ON DELETE SET NULL,
    FOREIGN KEY (script_template_id) REFERENCES script_templates (id) ON DELETE SET NULL
);
CREATE INDEX suggested_fixes_by_session ON suggested_fixes (account_id, session_id, id);
-- One active fix per session; older ones are superseded but kept.
CREATE UNIQUE INDEX suggested_fixes_one_active_per_session
    ON suggested_fixes (session_id) WHERE superseded_at IS NULL;
