-- Tenancy and sign-in: accounts, users, teams, browser sessions, API tokens.
--
-- Types follow sqlx's SQLite encodings: UUIDs are 16-byte BLOBs, times are
-- RFC 3339 TEXT (always written in UTC by the store). Time columns are never
-- compared or sorted in SQL, because RFC 3339 text with a variable number of
-- fraction digits does not sort correctly; ids are UUID v7, so `ORDER BY id`
-- is creation order.

CREATE TABLE accounts (
    id         BLOB PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE users (
    id            BLOB PRIMARY KEY NOT NULL,
    account_id    BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- Sign-in is by email, across all accounts: one address, one user.
    email         TEXT NOT NULL UNIQUE CHECK (email = lower(email)),
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'engineer')),
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    disabled_at   TEXT,
    -- Lets child tables reference (account_id, id), so a row can never point
    -- at another account's user.
    UNIQUE (account_id, id)
);
CREATE INDEX users_by_account_name ON users (account_id, name);

CREATE TABLE teams (
    id         BLOB PRIMARY KEY NOT NULL,
    account_id BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (account_id, name),
    UNIQUE (account_id, id)
);

CREATE TABLE team_members (
    account_id BLOB NOT NULL,
    team_id    BLOB NOT NULL,
    user_id    BLOB NOT NULL,
    PRIMARY KEY (team_id, user_id),
    FOREIGN KEY (account_id, team_id) REFERENCES teams (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, user_id) REFERENCES users (account_id, id) ON DELETE CASCADE
);
CREATE INDEX team_members_by_user ON team_members (account_id, user_id);

CREATE TABLE web_sessions (
    -- Only the hash of the cookie's secret is stored.
    secret_hash TEXT PRIMARY KEY NOT NULL,
    account_id  BLOB NOT NULL,
    user_id     BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    FOREIGN KEY (account_id, user_id) REFERENCES users (account_id, id) ON DELETE CASCADE
);
CREATE INDEX web_sessions_by_user ON web_sessions (user_id);

CREATE TABLE api_tokens (
    id           BLOB PRIMARY KEY NOT NULL,
    account_id   BLOB NOT NULL,
    user_id      BLOB NOT NULL,
    name         TEXT NOT NULL,
    secret_hash  TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT,
    FOREIGN KEY (account_id, user_id) REFERENCES users (account_id, id) ON DELETE CASCADE
);
CREATE INDEX api_tokens_by_owner ON api_tokens (account_id, user_id, id);
