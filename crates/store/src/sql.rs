//! The SQL both backends run. sqlx's SQLite driver accepts PostgreSQL's
//! `$1` placeholders, and both databases support `RETURNING` and
//! `ON CONFLICT`, so one text serves both; what differs (locking, connection
//! settings) lives in `sqlite.rs` and `postgres.rs`.
//!
//! Conventions: every tenant query is scoped by `account_id`; times are
//! never compared or sorted in SQL (SQLite keeps them as text that does not
//! sort reliably), and lists sort by UUID v7 id, which is creation order.

pub(crate) const PING: &str = "SELECT 1";

pub(crate) const COUNT_USERS: &str = "SELECT COUNT(*) FROM users";

pub(crate) const INSERT_ACCOUNT: &str = "\
    INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3) \
    RETURNING id, name, created_at";

pub(crate) const INSERT_USER: &str = "\
    INSERT INTO users (id, account_id, email, name, role, password_hash, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7) \
    RETURNING id, account_id, email, name, role, created_at";

/// Disabled users can't sign in, so they have no credentials.
pub(crate) const CREDENTIALS_BY_EMAIL: &str = "\
    SELECT id, account_id, email, name, role, created_at, password_hash \
    FROM users WHERE email = $1 AND disabled_at IS NULL";

/// Copies the user's account onto the session, so the row is tenant-scoped
/// like every other; no row is inserted for an unknown or disabled user.
pub(crate) const INSERT_WEB_SESSION: &str = "\
    INSERT INTO web_sessions (secret_hash, account_id, user_id, created_at, expires_at) \
    SELECT $1, account_id, id, $3, $4 FROM users WHERE id = $2 AND disabled_at IS NULL";

pub(crate) const WEB_SESSION_PRINCIPAL: &str = "\
    SELECT u.id AS user_id, u.account_id, u.role, s.expires_at \
    FROM web_sessions s JOIN users u ON u.id = s.user_id AND u.account_id = s.account_id \
    WHERE s.secret_hash = $1 AND u.disabled_at IS NULL";

/// The admins of every account named $1, oldest first.
pub(crate) const ADMINS_OF_ACCOUNTS_NAMED: &str = "\
    SELECT u.id AS user_id, u.account_id, u.role FROM users u \
    JOIN accounts a ON a.id = u.account_id \
    WHERE a.name = $1 AND u.role = 'admin' AND u.disabled_at IS NULL ORDER BY u.id";

pub(crate) const DELETE_WEB_SESSION: &str = "DELETE FROM web_sessions WHERE secret_hash = $1";

pub(crate) const API_TOKEN_PRINCIPAL: &str = "\
    SELECT t.id AS token_id, t.last_used_at, u.id AS user_id, u.account_id, u.role \
    FROM api_tokens t JOIN users u ON u.id = t.user_id AND u.account_id = t.account_id \
    WHERE t.secret_hash = $1 AND t.revoked_at IS NULL AND u.disabled_at IS NULL";

pub(crate) const TOUCH_API_TOKEN: &str = "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1";

pub(crate) const INSERT_API_TOKEN: &str = "\
    INSERT INTO api_tokens (id, account_id, user_id, name, secret_hash, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6) \
    RETURNING id, user_id, name, created_at, last_used_at";

pub(crate) const LIST_API_TOKENS: &str = "\
    SELECT id, user_id, name, created_at, last_used_at FROM api_tokens \
    WHERE account_id = $1 AND user_id = $2 AND revoked_at IS NULL \
    ORDER BY id DESC";

pub(crate) const REVOKE_API_TOKEN: &str = "\
    UPDATE api_tokens SET revoked_at = $4 \
    WHERE id = $1 AND account_id = $2 AND user_id = $3 AND revoked_at IS NULL";

pub(crate) const GET_USER: &str = "\
    SELECT id, account_id, email, name, role, created_at FROM users \
    WHERE id = $1 AND account_id = $2";

/// `lower(name)` so that case doesn't split the list; SQLite's `lower` folds
/// ASCII only, so non-ASCII names may order slightly differently there.
pub(crate) const LIST_USERS: &str = "\
    SELECT id, account_id, email, name, role, created_at FROM users \
    WHERE account_id = $1 ORDER BY lower(name), name, id";

pub(crate) const INSERT_TEAM: &str = "\
    INSERT INTO teams (id, account_id, name, created_at) VALUES ($1, $2, $3, $4) \
    RETURNING id, account_id, name, created_at";

pub(crate) const LIST_TEAMS: &str = "\
    SELECT id, account_id, name, created_at FROM teams \
    WHERE account_id = $1 ORDER BY lower(name), name, id";

pub(crate) const COUNT_TEAM: &str = "SELECT COUNT(*) FROM teams WHERE account_id = $1 AND id = $2";

/// Inserts nothing unless both the team and the user are the account's.
pub(crate) const ADD_TEAM_MEMBER: &str = "\
    INSERT INTO team_members (account_id, team_id, user_id) \
    SELECT t.account_id, t.id, u.id FROM teams t JOIN users u ON u.account_id = t.account_id \
    WHERE t.account_id = $1 AND t.id = $2 AND u.id = $3 \
    ON CONFLICT (team_id, user_id) DO NOTHING";

pub(crate) const COUNT_TEAM_MEMBER: &str = "\
    SELECT COUNT(*) FROM team_members WHERE account_id = $1 AND team_id = $2 AND user_id = $3";

pub(crate) const REMOVE_TEAM_MEMBER: &str = "\
    DELETE FROM team_members WHERE account_id = $1 AND team_id = $2 AND user_id = $3";

pub(crate) const LIST_TEAM_MEMBERS: &str = "\
    SELECT u.id, u.account_id, u.email, u.name, u.role, u.created_at \
    FROM team_members m JOIN users u ON u.id = m.user_id AND u.account_id = m.account_id \
    WHERE m.account_id = $1 AND m.team_id = $2 \
    ORDER BY lower(u.name), u.name, u.id";
