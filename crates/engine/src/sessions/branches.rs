//! Diagnostic branching: when the evidence allows several explanations the
//! assistant forks the investigation, and each hypothesis gets a branch of
//! its own conversation.
//!
//! The tree: a root branch (the main line, created on the first fork)
//! holds the conversation before and beside the forks; a fork point
//! records the reason, the turn that forked and the branch it forked from;
//! its options become child branches. A fork on the main line leaves the
//! conversation there; a fork inside a branch moves it to the first new
//! branch. Facts and the active fix are the session's; the task lane
//! belongs to the branch it came from (a branch keeps its lane while
//! another is active).

use std::collections::HashSet;

use serde::Serialize;
use time::OffsetDateTime;

use super::model::{ForkRecord, Session};
use super::service::session_error;
use super::store::TURN_RUNNING;
use crate::account::{Principal, ValidationError};
use crate::error::{Error, Result, StoreError};
use crate::ids::{BranchId, ForkPointId, SessionId, TurnId};
use crate::store::Store;

wire_enum!(
    /// Where a line of investigation stands.
    BranchStatus {
        Active => "active",
        RuledOut => "ruled_out",
        Revived => "revived",
        Resolved => "resolved",
    }
);

/// `Conflict` texts of branch changes.
pub const BRANCH_RULED_OUT: &str = "branch_ruled_out";
pub const BRANCH_NOT_RULED_OUT: &str = "branch_not_ruled_out";
pub const ROOT_BRANCH: &str = "root_branch";

/// The most characters a branch's running summary keeps; its oldest lines
/// go first.
pub const BRANCH_SUMMARY_MAX_CHARS: i64 = 2_000;
/// The longest evidence or reason text, in characters.
pub const MAX_EVIDENCE_CHARS: usize = 4_000;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Branch {
    pub id: BranchId,
    pub session_id: SessionId,
    /// `None` for the root branch.
    pub fork_point_id: Option<ForkPointId>,
    pub parent_branch_id: Option<BranchId>,
    pub label: String,
    pub description: String,
    pub status: BranchStatus,
    /// What revived it.
    pub evidence: Option<String>,
    /// Why it was ruled out.
    pub ruled_out_reason: Option<String>,
    /// One line per exchange on the branch, newest last, within
    /// `BRANCH_SUMMARY_MAX_CHARS`: what its siblings' prompts say of it.
    pub summary: String,
    pub turn_count: i64,
    /// The option's place in its fork.
    pub position: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Branch {
    pub fn is_root(&self) -> bool {
        self.fork_point_id.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForkPoint {
    pub id: ForkPointId,
    pub session_id: SessionId,
    /// The turn whose reply forked.
    pub turn_id: Option<TurnId>,
    /// The branch it forked from.
    pub parent_branch_id: Option<BranchId>,
    pub fork_reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A session's branches and fork points, oldest first (the root first).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BranchTree {
    pub branches: Vec<Branch>,
    pub fork_points: Vec<ForkPoint>,
}

/// What the prompt of a turn on a branch needs beyond the history.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BranchContext {
    pub tree: BranchTree,
    /// The active branch (the root when on the main line).
    pub active: Option<BranchId>,
}

impl BranchContext {
    /// The active branch when it is not the main line.
    pub fn on_branch(&self) -> Option<&Branch> {
        self.active
            .and_then(|a| self.tree.get(a))
            .filter(|b| !b.is_root())
    }
}

impl BranchTree {
    pub fn is_empty(&self) -> bool {
        self.branches.is_empty()
    }

    pub fn get(&self, id: BranchId) -> Option<&Branch> {
        self.branches.iter().find(|b| b.id == id)
    }

    pub fn root(&self) -> Option<&Branch> {
        self.branches.iter().find(|b| b.is_root())
    }

    pub fn fork_point(&self, id: ForkPointId) -> Option<&ForkPoint> {
        self.fork_points.iter().find(|f| f.id == id)
    }

    /// The children of `parent`, in their forks' order.
    pub fn children(&self, parent: BranchId) -> Vec<&Branch> {
        let mut children: Vec<&Branch> = self
            .branches
            .iter()
            .filter(|b| b.parent_branch_id == Some(parent))
            .collect();
        children.sort_by_key(|b| (b.fork_point_id, b.position));
        children
    }

    /// From the root down to `id`: each branch with the turn its child on
    /// the path forked at (`None` for `id` itself: all its turns count).
    pub fn path(&self, id: BranchId) -> Vec<(BranchId, Option<TurnId>)> {
        let mut path = Vec::new();
        let mut cut = None;
        let mut at = self.get(id);
        // Bounded by the number of branches, whatever the rows say.
        for _ in 0..=self.branches.len() {
            let Some(b) = at else { break };
            path.push((b.id, cut));
            cut = b
                .fork_point_id
                .and_then(|f| self.fork_point(f))
                .and_then(|f| f.turn_id);
            at = b.parent_branch_id.and_then(|p| self.get(p));
        }
        path.reverse();
        path
    }

    /// The siblings of each branch on the path to `id` (not the path's own
    /// branches), nearest level last.
    pub fn siblings_along(&self, id: BranchId) -> Vec<&Branch> {
        let on_path: HashSet<BranchId> = self.path(id).into_iter().map(|(b, _)| b).collect();
        self.path(id)
            .iter()
            .filter_map(|(b, _)| self.get(*b))
            .filter_map(|b| b.parent_branch_id)
            .flat_map(|parent| self.children(parent))
            .filter(|b| !on_path.contains(&b.id))
            .collect()
    }
}

/// What a reply's FORK does to the tree.
#[derive(Debug, Clone, PartialEq)]
pub enum ForkChange {
    None,
    Create(NewFork),
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewFork {
    pub fork: ForkRecord,
    /// The branch the fork starts from; `None`: the main line, whose root
    /// branch is created first when the session is not branching yet.
    pub parent: Option<BranchId>,
    /// Inside a branch the conversation moves to the first new branch.
    pub move_to_first: bool,
}

fn label_key(label: &str) -> String {
    label
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Decides what a FORK on the active branch does: a new fork point, or
/// nothing when its options repeat the labels of branches already forked
/// from the same branch (the model re-emitting its fork in a later turn).
/// Returns the change and, when nothing is created, why.
pub fn plan_fork(ctx: &BranchContext, fork: &ForkRecord) -> (ForkChange, Option<String>) {
    let tree = &ctx.tree;
    let active = ctx.active.and_then(|a| tree.get(a));
    let parent = active.map(|b| b.id);
    if let Some(parent) = parent {
        let existing: HashSet<String> = tree
            .children(parent)
            .iter()
            .map(|b| label_key(&b.label))
            .collect();
        if !existing.is_empty()
            && fork
                .options
                .iter()
                .all(|o| existing.contains(&label_key(&o.label)))
        {
            return (
                ForkChange::None,
                Some(
                    "the fork repeats branches this branch already has; no new branches were made"
                        .to_owned(),
                ),
            );
        }
    }
    let inside_branch = active.is_some_and(|b| !b.is_root());
    (
        ForkChange::Create(NewFork {
            fork: fork.clone(),
            parent,
            move_to_first: inside_branch,
        }),
        None,
    )
}

/// A change to a branch's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BranchChange {
    /// With why; when it is the active branch, the conversation moves to
    /// its parent.
    RuleOut {
        reason: Option<String>,
    },
    /// With the evidence that revives it; the conversation moves to it.
    Revive {
        evidence: String,
    },
    Resolve,
}

/// Turns a branch store error into what the engineer is told.
pub(crate) fn branch_error(e: StoreError) -> Error {
    match e {
        StoreError::Conflict(BRANCH_RULED_OUT) => Error::conflict(
            "branch_ruled_out",
            "that branch was ruled out; revive it with the new evidence first, then switch to it",
        ),
        StoreError::Conflict(BRANCH_NOT_RULED_OUT) => Error::conflict(
            "branch_not_ruled_out",
            "only a ruled-out branch can be revived",
        ),
        StoreError::Conflict(ROOT_BRANCH) => Error::conflict(
            "root_branch",
            "the main line is not a hypothesis: it cannot be ruled out, revived or resolved",
        ),
        StoreError::Conflict(TURN_RUNNING) => Error::conflict(
            "turn_in_progress",
            "a reply is still being written in this session; wait for it or stop it, then change branches",
        ),
        other => session_error(other),
    }
}

/// The session's branch tree.
pub async fn branch_tree(
    store: &dyn Store,
    who: &Principal,
    session: SessionId,
) -> Result<BranchTree> {
    store.branch_tree(who, session).await.map_err(session_error)
}

/// Makes `branch` the active one: the next message goes to it. A
/// ruled-out branch must be revived first.
pub async fn switch_branch(
    store: &dyn Store,
    who: &Principal,
    session: SessionId,
    branch: BranchId,
    expected: Option<i64>,
) -> Result<Session> {
    store
        .switch_branch(who, session, branch, expected)
        .await
        .map_err(branch_error)
}

fn evidence_text(field: &'static str, text: Option<String>) -> Result<Option<String>> {
    match text.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) if t.chars().count() > MAX_EVIDENCE_CHARS => Err(ValidationError::new(
            field,
            format!("must be at most {MAX_EVIDENCE_CHARS} characters"),
        )
        .into()),
        Some(t) => Ok(Some(t.to_owned())),
    }
}

/// Rules a branch out, revives it with evidence, or marks it resolved
/// (`status`: `ruled_out`, `revived`, `resolved`).
pub async fn update_branch(
    store: &dyn Store,
    who: &Principal,
    branch: BranchId,
    status: &str,
    evidence: Option<String>,
    expected: Option<i64>,
) -> Result<(Branch, Session)> {
    let change = match BranchStatus::parse("status", status)? {
        BranchStatus::RuledOut => BranchChange::RuleOut {
            reason: evidence_text("evidence", evidence)?,
        },
        BranchStatus::Revived => BranchChange::Revive {
            evidence: evidence_text("evidence", evidence)?.ok_or_else(|| {
                ValidationError::new(
                    "evidence",
                    "say what new evidence revives this branch (it goes into the branch's prompt)",
                )
            })?,
        },
        BranchStatus::Resolved => BranchChange::Resolve,
        BranchStatus::Active => {
            return Err(ValidationError::new(
                "status",
                "a branch becomes active by switching to it; set `ruled_out`, `revived` or `resolved`",
            )
            .into());
        }
    };
    store
        .update_branch(who, branch, change, expected)
        .await
        .map_err(branch_error)
}
