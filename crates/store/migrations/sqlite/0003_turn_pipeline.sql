-- What the turn pipeline needs beyond 0002: the session's event counter
-- (turn event ids derive from it, so they come from the database), the
-- task-lane items a session has had (stable ids; facts may point at them),
-- and the FORK and task responses kept with each turn.

ALTER TABLE sessions ADD COLUMN event_seq INTEGER NOT NULL DEFAULT 0;

ALTER TABLE turns ADD COLUMN fork TEXT;
ALTER TABLE turns ADD COLUMN task_responses TEXT NOT NULL DEFAULT '[]';
ALTER TABLE turns ADD COLUMN task_lane TEXT;

-- Every question and action a session's lane has held. An item keeps its
-- id whenever the model re-emits the same question text or action label.
CREATE TABLE task_lane_items (
    id         BLOB PRIMARY KEY NOT NULL,
    account_id BLOB NOT NULL,
    session_id BLOB NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('question', 'action')),
    text       TEXT NOT NULL,
    turn_id    BLOB,
    created_at TEXT NOT NULL,
    UNIQUE (session_id, kind, text),
    FOREIGN KEY (account_id, session_id) REFERENCES sessions (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (turn_id) REFERENCES turns (id) ON DELETE SET NULL
);
CREATE INDEX task_lane_items_by_session ON task_lane_items (account_id, session_id);
