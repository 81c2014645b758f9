-- Turns that survive disconnects, retries, Stop and lost instances.
--
-- Times that are compared in SQL (leases, retention) are Unix milliseconds,
-- so that they order the same on both backends.

-- The session's event log: every event of every turn and a
-- `session.changed` for every other change. `id` is the session's
-- `event_seq` at the time of the write, so ids increase by one per event
-- within a session, in commit order, whichever instance wrote them: a
-- client resumes from any instance with `Last-Event-ID`.
CREATE TABLE session_events (
    session_id BLOB NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    id         INTEGER NOT NULL,
    account_id BLOB NOT NULL,
    turn_id    BLOB,
    name       TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (session_id, id)
);
CREATE INDEX session_events_by_age ON session_events (created_ms);

-- A running turn holds a lease that its instance renews; a turn whose
-- lease ran out lost its instance and is failed, freeing the session.
ALTER TABLE turns ADD COLUMN lease_until_ms INTEGER;
-- Set by Stop through any instance; the running instance also hears of it
-- at once through the event bus.
ALTER TABLE turns ADD COLUMN stop_requested INTEGER NOT NULL DEFAULT 0;
-- The id of the turn's `turn.started` event, where a re-attach starts.
ALTER TABLE turns ADD COLUMN first_event_id INTEGER;
-- How the prompt was fitted into the model's context window.
ALTER TABLE turns ADD COLUMN context TEXT;

-- The session's earlier exchanges beyond the ones a prompt replays in
-- full, one short line each: folded in as turns leave the replayed window,
-- so a long session's prompt costs the same to build as a short one's.
ALTER TABLE sessions ADD COLUMN history_summary TEXT NOT NULL DEFAULT '';

-- `Idempotency-Key`s: the same key from the same user within 24 hours
-- returns the first answer instead of doing the work again.
CREATE TABLE idempotency_keys (
    account_id   BLOB NOT NULL,
    user_id      BLOB NOT NULL,
    key          TEXT NOT NULL,
    -- What the key was used for (`create_session`, `send_message`) and a
    -- hash of the request, so a key reused for another request is refused.
    scope        TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    session_id   BLOB NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    turn_id      BLOB,
    created_ms   INTEGER NOT NULL,
    PRIMARY KEY (account_id, user_id, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_ms);
