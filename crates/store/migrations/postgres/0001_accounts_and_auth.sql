-- Tenancy and sign-in: accounts, users, teams, browser sessions, API tokens.

CREATE TABLE accounts (
    id         UUID PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE users (
    id            UUID PRIMARY KEY,
    account_id    UUID NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- Sign-in is by email, across all accounts: one address, one user.
    email         TEXT NOT NULL UNIQUE CHECK (email = lower(email)),
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'engineer')),
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    disabled_at   TIMESTAMPTZ,
    -- Lets child tables reference (account_id, id), so a row can never point
    -- at another account's user.
    UNIQUE (account_id, id)
);
CREATE INDEX users_by_account_name ON users (account_id, name);

CREATE TABLE teams (
    id         UUID PRIMARY KEY,
    account_id UUID NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (account_id, name),
    UNIQUE (account_id, id)
);

CREATE TABLE team_members (
    account_id UUID NOT NULL,
    team_id    UUID NOT NULL,
    user_id    UUID NOT NULL,
    PRIMARY KEY (team_id, user_id),
    FOREIGN KEY (account_id, team_id) REFERENCES teams (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, user_id) REFERENCES users (account_id, id) ON DELETE CASCADE
);
CREATE INDEX team_members_by_user ON team_members (account_id, user_id);

CREATE TABLE web_sessions (
    -- Only the hash of the cookie's secret is stored.
    secret_hash TEXT PRIMARY KEY,
    account_id  UUID NOT NULL,
    user_id     UUID NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    FOREIGN KEY (account_id, user_id) REFERENCES users (account_id, id) ON DELETE CASCADE
);
CREATE INDEX web_sessions_by_user ON web_sessions (user_id);
CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_at);

CREATE TABLE api_tokens (
    id           UUID PRIMARY KEY,
    account_id   UUID NOT NULL,
    user_id      UUID NOT NULL,
    name         TEXT NOT NULL,
    secret_hash  TEXT NOT NULL UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ,
    FOREIGN KEY (account_id, user_id) REFERENCES users (account_id, id) ON DELETE CASCADE
);
CREATE INDEX api_tokens_by_owner ON api_tokens (account_id, user_id, id);
