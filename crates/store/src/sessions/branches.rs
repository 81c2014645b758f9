//! The branch tree of a session: its SQL, rows, and the steps the session
//! store's transactions take with it (reading the tree and a branch's
//! history path, applying a reply's fork, moving the conversation between
//! branches with their task lanes).

use engine::StoreError;
use engine::sessions::{Branch, BranchStatus, ForkPoint, TaskLane};
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::corrupt_row;

macro_rules! branch_cols {
    ($p:literal) => {
        concat!(
            $p,
            "id, ",
            $p,
            "session_id, ",
            $p,
            "fork_point_id, ",
            $p,
            "parent_branch_id, ",
            $p,
            "label, ",
            $p,
            "description, ",
            $p,
            "status, ",
            $p,
            "evidence, ",
            $p,
            "ruled_out_reason, ",
            $p,
            "summary, ",
            $p,
            "position, ",
            $p,
            "task_lane, ",
            $p,
            "created_at, ",
            $p,
            "updated_at, ",
            "(SELECT count(*) FROM turns t WHERE t.account_id = ",
            $p,
            "account_id AND t.branch_id = ",
            $p,
            "id AND t.status IN ('completed', 'stopped', 'incomplete')) AS turn_count"
        )
    };
}

/// $1 account, $2 session.
pub(crate) const LIST_BRANCHES: &str = concat!(
    "SELECT ",
    branch_cols!("b."),
    " FROM branches b WHERE b.account_id = $1 AND b.session_id = $2 ORDER BY b.id"
);

/// $1 account, $2 session.
pub(crate) const LIST_FORK_POINTS: &str = "\
    SELECT id, session_id, turn_id, parent_branch_id, fork_reason, created_at FROM fork_points \
    WHERE account_id = $1 AND session_id = $2 ORDER BY id";

/// A branch of a session the caller can see: $1 account, $2 user, $3 branch.
pub(crate) const VISIBLE_BRANCH: &str = concat!(
    "SELECT ",
    branch_cols!("b."),
    " FROM branches b JOIN sessions s ON s.account_id = b.account_id AND s.id = b.session_id",
    " WHERE b.id = $3 AND b.account_id = $1 AND (s.user_id = $2 OR EXISTS (",
    "SELECT 1 FROM team_members m WHERE m.account_id = $1 AND m.team_id = s.team_id AND m.user_id = $2))"
);

/// $1 account, $2 session, $3 branch.
pub(crate) const GET_BRANCH: &str = concat!(
    "SELECT ",
    branch_cols!("b."),
    " FROM branches b WHERE b.account_id = $1 AND b.session_id = $2 AND b.id = $3"
);

/// $1 id, $2 account, $3 session, $4 fork point, $5 parent, $6 label,
/// $7 description, $8 position, $9 now.
pub(crate) const INSERT_BRANCH: &str = "\
    INSERT INTO branches (id, account_id, session_id, fork_point_id, parent_branch_id, label, \
    description, position, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)";

/// $1 id, $2 account, $3 session, $4 turn, $5 parent branch, $6 reason, $7 now.
pub(crate) const INSERT_FORK_POINT: &str = "\
    INSERT INTO fork_points (id, account_id, session_id, turn_id, parent_branch_id, fork_reason, \
    created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// The main line's turns so far join its root branch: $1 account,
/// $2 session, $3 root.
pub(crate) const ADOPT_TURNS: &str = "\
    UPDATE turns SET branch_id = $3 WHERE account_id = $1 AND session_id = $2 AND branch_id IS NULL";

/// $1 account, $2 session, $3 active branch, $4 task lane.
pub(crate) const SET_ACTIVE_BRANCH: &str = concat!(
    "UPDATE sessions SET is_branching = TRUE, active_branch_id = $3, task_lane = $4 ",
    "WHERE account_id = $1 AND id = $2 RETURNING ",
    super::sql::session_cols!("")
);

/// Keeps a branch's lane while another branch is active: $1 account,
/// $2 branch, $3 lane, $4 now.
pub(crate) const STASH_LANE: &str = "\
    UPDATE branches SET task_lane = $3, updated_at = $4 WHERE account_id = $1 AND id = $2";

/// $1 account, $2 branch, $3 status, $4 evidence (NULL keeps it), $5 ruled-out
/// reason (NULL keeps it), $6 now.
pub(crate) const SET_BRANCH_STATUS: &str = concat!(
    "UPDATE branches SET status = $3, evidence = COALESCE($4, evidence), ",
    "ruled_out_reason = COALESCE($5, ruled_out_reason), updated_at = $6 ",
    "WHERE account_id = $1 AND id = $2 RETURNING ",
    branch_cols!("")
);

/// Adds a line to the running summary of turn $2's branch (if it has one),
/// cutting its oldest characters beyond $4: $1 account, $3 line.
pub(crate) const APPEND_BRANCH_LINE: &str = "\
    UPDATE branches SET summary = CASE \
    WHEN length(summary) + length($3) > $4 \
    THEN substr(summary, CAST(length(summary) + length($3) - $4 + 1 AS INTEGER)) || $3 \
    ELSE summary || $3 END \
    WHERE account_id = $1 AND id = (SELECT branch_id FROM turns WHERE id = $2)";

/// One branch's exchanges for a prompt, newest first: $1 account,
/// $2 session, $3 branch, $4 up to this turn (NULL: all), $5 at most.
pub(crate) const BRANCH_HISTORY: &str = "\
    SELECT id, user_message, display FROM turns \
    WHERE account_id = $1 AND session_id = $2 AND branch_id = $3 \
    AND status IN ('completed', 'stopped', 'incomplete') AND ($4 IS NULL OR id <= $4) \
    ORDER BY id DESC LIMIT $5";

/// Whether the session has a running turn: $1 session.
pub(crate) const RUNNING_TURN: &str =
    "SELECT id FROM turns WHERE session_id = $1 AND status = 'running'";

fn parse_status(s: &str) -> Result<BranchStatus, StoreError> {
    BranchStatus::parse("branch status", s).map_err(|e| corrupt_row("branch status", e.message))
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct BranchRow {
    pub id: Uuid,
    pub session_id: Uuid,
    pub fork_point_id: Option<Uuid>,
    pub parent_branch_id: Option<Uuid>,
    pub label: String,
    pub description: String,
    pub status: String,
    pub evidence: Option<String>,
    pub ruled_out_reason: Option<String>,
    pub summary: String,
    pub position: i64,
    pub task_lane: Option<Json<TaskLane>>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub turn_count: i64,
}

impl TryFrom<BranchRow> for Branch {
    type Error = StoreError;

    fn try_from(row: BranchRow) -> Result<Self, StoreError> {
        Ok(Branch {
            id: row.id.into(),
            session_id: row.session_id.into(),
            fork_point_id: row.fork_point_id.map(Into::into),
            parent_branch_id: row.parent_branch_id.map(Into::into),
            label: row.label,
            description: row.description,
            status: parse_status(&row.status)?,
            evidence: row.evidence,
            ruled_out_reason: row.ruled_out_reason,
            summary: row.summary,
            turn_count: row.turn_count,
            position: row.position,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ForkPointRow {
    pub id: Uuid,
    pub session_id: Uuid,
    pub turn_id: Option<Uuid>,
    pub parent_branch_id: Option<Uuid>,
    pub fork_reason: String,
    pub created_at: OffsetDateTime,
}

impl From<ForkPointRow> for ForkPoint {
    fn from(row: ForkPointRow) -> Self {
        ForkPoint {
            id: row.id.into(),
            session_id: row.session_id.into(),
            turn_id: row.turn_id.map(Into::into),
            parent_branch_id: row.parent_branch_id.map(Into::into),
            fork_reason: row.fork_reason,
            created_at: row.created_at,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PathRow {
    pub id: Uuid,
    pub user_message: String,
    pub display: String,
}

/// The label of the root branch, which holds the main line.
pub(crate) const ROOT_LABEL: &str = "Main line";

/// Implements the branch steps for `$store` as inherent functions the
/// session store's methods call.
macro_rules! impl_branch_steps {
    ($store:ty, $db:ty) => {
        const _: () = {
            use ::engine::ids::{BranchId, ForkPointId, SessionId, TurnId};
            use ::engine::sessions::{
                Branch, BranchTree, ForkPoint, ForkRecord, HistoryTurn, NewFork, Session,
                TURN_RUNNING, TaskLane,
            };
            use ::engine::{Principal, StoreError, StoreResult};
            use ::sqlx::types::Json;
            use ::uuid::Uuid;
            use $crate::error::db_error;
            use $crate::sessions::branches::{self as b, BranchRow, ForkPointRow, PathRow};
            use $crate::sessions::rows::{self, all};
            use $crate::shared::now;

            type Conn = <$db as ::sqlx::Database>::Connection;

            impl $store {
                pub(crate) async fn tree_in(
                    conn: &mut Conn,
                    account: Uuid,
                    session: Uuid,
                ) -> StoreResult<BranchTree> {
                    let branches: Vec<Branch> =
                        all(::sqlx::query_as::<_, BranchRow>(b::LIST_BRANCHES)
                            .bind(account)
                            .bind(session)
                            .fetch_all(&mut *conn)
                            .await
                            .map_err(|e| db_error(e, "reading a session's branches"))?)?;
                    if branches.is_empty() {
                        return Ok(BranchTree::default());
                    }
                    let fork_points: Vec<ForkPoint> =
                        ::sqlx::query_as::<_, ForkPointRow>(b::LIST_FORK_POINTS)
                            .bind(account)
                            .bind(session)
                            .fetch_all(&mut *conn)
                            .await
                            .map_err(|e| db_error(e, "reading a session's fork points"))?
                            .into_iter()
                            .map(ForkPoint::from)
                            .collect();
                    Ok(BranchTree {
                        branches,
                        fork_points,
                    })
                }

                /// The newest `limit` exchanges along the path to `active`,
                /// oldest first.
                pub(crate) async fn path_history(
                    conn: &mut Conn,
                    account: Uuid,
                    session: Uuid,
                    tree: &BranchTree,
                    active: BranchId,
                    limit: u32,
                ) -> StoreResult<Vec<HistoryTurn>> {
                    let mut rows: Vec<PathRow> = Vec::new();
                    for (branch, cut) in tree.path(active) {
                        rows.extend(
                            ::sqlx::query_as::<_, PathRow>(b::BRANCH_HISTORY)
                                .bind(account)
                                .bind(session)
                                .bind(branch.as_uuid())
                                .bind(cut.map(|t| t.as_uuid()))
                                .bind(i64::from(limit))
                                .fetch_all(&mut *conn)
                                .await
                                .map_err(|e| db_error(e, "reading a branch's conversation"))?,
                        );
                    }
                    // Ids are time-ordered, and a branch's turns come after
                    // the fork it grew from: id order is path order.
                    rows.sort_by_key(|r| r.id);
                    let skip = rows.len().saturating_sub(limit as usize);
                    Ok(rows
                        .into_iter()
                        .skip(skip)
                        .map(|r| HistoryTurn {
                            user_message: r.user_message,
                            display: r.display,
                        })
                        .collect())
                }

                /// Fails with `Conflict(TURN_RUNNING)` while a reply is
                /// being written in the session.
                pub(crate) async fn no_running_turn(
                    conn: &mut Conn,
                    session: Uuid,
                ) -> StoreResult<()> {
                    let running: Option<Uuid> = ::sqlx::query_scalar(b::RUNNING_TURN)
                        .bind(session)
                        .fetch_optional(&mut *conn)
                        .await
                        .map_err(|e| db_error(e, "checking for a running turn"))?;
                    match running {
                        Some(_) => Err(StoreError::Conflict(TURN_RUNNING)),
                        None => Ok(()),
                    }
                }

                pub(crate) async fn branch_of(
                    conn: &mut Conn,
                    account: Uuid,
                    session: Uuid,
                    branch: Uuid,
                ) -> StoreResult<Option<BranchRow>> {
                    ::sqlx::query_as::<_, BranchRow>(b::GET_BRANCH)
                        .bind(account)
                        .bind(session)
                        .bind(branch)
                        .fetch_optional(&mut *conn)
                        .await
                        .map_err(|e| db_error(e, "reading a branch"))
                }

                /// Moves the conversation from the session's active branch
                /// (keeping `current_lane` with it) to `to`, bringing back
                /// `to`'s lane.
                pub(crate) async fn move_to(
                    conn: &mut Conn,
                    account: Uuid,
                    session: &Session,
                    current_lane: &TaskLane,
                    to: &BranchRow,
                ) -> StoreResult<Session> {
                    let at = now();
                    if let Some(from) = session.active_branch_id {
                        ::sqlx::query(b::STASH_LANE)
                            .bind(account)
                            .bind(from.as_uuid())
                            .bind(Json(current_lane))
                            .bind(at)
                            .execute(&mut *conn)
                            .await
                            .map_err(|e| db_error(e, "keeping a branch's task lane"))?;
                    }
                    let lane = to
                        .task_lane
                        .as_ref()
                        .map(|l| l.0.clone())
                        .unwrap_or_default();
                    ::sqlx::query_as::<_, rows::SessionRow>(b::SET_ACTIVE_BRANCH)
                        .bind(account)
                        .bind(session.id.as_uuid())
                        .bind(to.id)
                        .bind(Json(&lane))
                        .fetch_one(&mut *conn)
                        .await
                        .map_err(|e| db_error(e, "switching branches"))?
                        .into_session()
                }

                /// Applies a reply's fork inside the turn's transaction:
                /// the root branch first when the session is not branching
                /// yet (the main line's turns join it), the fork point, a
                /// branch per option, and, inside a branch, the move to the
                /// first new one. Returns the fork with its ids, the session
                /// and the lane it now shows.
                #[allow(clippy::too_many_arguments)]
                pub(crate) async fn apply_fork(
                    conn: &mut Conn,
                    who: &Principal,
                    session: Session,
                    turn: TurnId,
                    fork: &NewFork,
                    lane: &TaskLane,
                ) -> StoreResult<(ForkRecord, Session, TaskLane)> {
                    let account = who.account_id.as_uuid();
                    let session_id = session.id.as_uuid();
                    let at = now();
                    let parent = match fork.parent {
                        Some(p) => p,
                        None => {
                            let root = BranchId::new();
                            ::sqlx::query(b::INSERT_BRANCH)
                                .bind(root.as_uuid())
                                .bind(account)
                                .bind(session_id)
                                .bind(None::<Uuid>)
                                .bind(None::<Uuid>)
                                .bind(b::ROOT_LABEL)
                                .bind("The conversation before and beside the forks")
                                .bind(0_i64)
                                .bind(at)
                                .execute(&mut *conn)
                                .await
                                .map_err(|e| db_error(e, "creating the main line's branch"))?;
                            ::sqlx::query(b::ADOPT_TURNS)
                                .bind(account)
                                .bind(session_id)
                                .bind(root.as_uuid())
                                .execute(&mut *conn)
                                .await
                                .map_err(|e| db_error(e, "moving turns to the main line"))?;
                            root
                        }
                    };
                    let point = ForkPointId::new();
                    ::sqlx::query(b::INSERT_FORK_POINT)
                        .bind(point.as_uuid())
                        .bind(account)
                        .bind(session_id)
                        .bind(turn.as_uuid())
                        .bind(parent.as_uuid())
                        .bind(&fork.fork.fork_reason)
                        .bind(at)
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| db_error(e, "recording a fork point"))?;
                    let mut stored = fork.fork.clone();
                    stored.fork_point_id = Some(point);
                    for (position, option) in stored.options.iter_mut().enumerate() {
                        let id = BranchId::new();
                        ::sqlx::query(b::INSERT_BRANCH)
                            .bind(id.as_uuid())
                            .bind(account)
                            .bind(session_id)
                            .bind(point.as_uuid())
                            .bind(parent.as_uuid())
                            .bind(&option.label)
                            .bind(&option.description)
                            .bind(i64::try_from(position).unwrap_or(i64::MAX))
                            .bind(at)
                            .execute(&mut *conn)
                            .await
                            .map_err(|e| db_error(e, "creating a branch"))?;
                        option.branch_id = Some(id);
                    }
                    let first = stored.options.first().and_then(|o| o.branch_id);
                    let (session, lane) = match (fork.move_to_first, first) {
                        (true, Some(first)) => {
                            let to = Self::branch_of(conn, account, session_id, first.as_uuid())
                                .await?
                                .ok_or(StoreError::NotFound)?;
                            let moved = Self::move_to(conn, account, &session, lane, &to).await?;
                            (moved, TaskLane::default())
                        }
                        _ => {
                            let s = ::sqlx::query_as::<_, rows::SessionRow>(b::SET_ACTIVE_BRANCH)
                                .bind(account)
                                .bind(session_id)
                                .bind(parent.as_uuid())
                                .bind(Json(lane))
                                .fetch_one(&mut *conn)
                                .await
                                .map_err(|e| db_error(e, "marking the session as branching"))?
                                .into_session()?;
                            (s, lane.clone())
                        }
                    };
                    Ok((stored, session, lane))
                }

                /// The branch, if the caller can see its session.
                pub(crate) async fn visible_branch(
                    conn: &mut Conn,
                    who: &Principal,
                    branch: BranchId,
                ) -> StoreResult<BranchRow> {
                    ::sqlx::query_as::<_, BranchRow>(b::VISIBLE_BRANCH)
                        .bind(who.account_id.as_uuid())
                        .bind(who.user_id.as_uuid())
                        .bind(branch.as_uuid())
                        .fetch_optional(&mut *conn)
                        .await
                        .map_err(|e| db_error(e, "reading a branch"))?
                        .ok_or(StoreError::NotFound)
                }

                /// The session's current lane (as its row holds it).
                pub(crate) async fn lane_of(
                    conn: &mut Conn,
                    who: &Principal,
                    session: SessionId,
                ) -> StoreResult<TaskLane> {
                    let row = Self::visible_session(&mut *conn, who, session)
                        .await?
                        .ok_or(StoreError::NotFound)?;
                    Ok(row.task_lane.0)
                }
            }
        };
    };
}

pub(crate) use impl_branch_steps;
