//! The storage port for sessions. Every method takes the caller and sees
//! only sessions the caller may open: their own, and their teams' sessions,
//! within their account. Anything else is `StoreError::NotFound`.
//!
//! Methods that change a session or its parts take `expected`, the
//! `state_version` the caller last saw: when it is given and stale, the
//! answer is `Conflict(STALE_STATE)` and nothing changes. Every change bumps
//! the session's `state_version`.

use async_trait::async_trait;
use uuid::Uuid;

use super::branches::{Branch, BranchChange, BranchContext, BranchTree, ForkChange};
use super::model::{
    ContextFit, Fact, FactSource, Fix, FixDecision, FixOutcome, ForkRecord, ImageMeta, LaneItem,
    OutcomeProposal, Session, SessionStatus, TaskLane, TaskResponse, Turn, TurnDiagnostic,
    TurnErrorInfo, TurnStatus, TurnTimings,
};
use crate::account::Principal;
use crate::error::StoreResult;
use crate::events::ExpiredTurn;
use crate::ids::{BranchId, FactId, FixId, ScriptTemplateId, SessionId, TeamId, TurnId};

/// `Conflict` texts the engine maps to messages.
pub const STALE_STATE: &str = "stale_state_version";
pub const TURN_RUNNING: &str = "turn_running";
pub const SESSION_RESOLVED: &str = "session_resolved";
pub const SESSION_CLOSED: &str = "session_closed";
pub const NOT_A_TEAM_MEMBER: &str = "not_a_team_member";
pub const TURN_NOT_RUNNING: &str = "turn_not_running";
pub const NO_TURN_RUNNING: &str = "no_turn_running";
pub const IDEMPOTENCY_MISMATCH: &str = "idempotency_key_reused";

/// An `Idempotency-Key` and what it was sent with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub key: String,
    /// A hash of the request, so that a key reused for a different request
    /// is refused (`Conflict(IDEMPOTENCY_MISMATCH)`) rather than answered
    /// with another request's result.
    pub request_hash: String,
}

/// The most characters a session's history summary keeps (about 6,000
/// tokens); its oldest lines go first.
pub const SUMMARY_MAX_CHARS: i64 = 24_000;

/// How long a key is remembered.
pub const IDEMPOTENCY_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

#[derive(Debug, Clone)]
pub struct NewSession {
    pub title: String,
    pub intake: String,
    pub team_id: Option<TeamId>,
    /// With a key seen before, the session it created is returned instead.
    pub idempotency: Option<IdempotencyKey>,
}

#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    pub status: Option<SessionStatus>,
    /// Matches titles containing it, ignoring ASCII case.
    pub title_contains: Option<String>,
    /// Only sessions older than this one (the list cursor).
    pub before: Option<SessionId>,
    pub limit: u32,
}

#[derive(Debug, Clone, Default)]
pub struct SessionPatch {
    pub title: Option<String>,
    pub status: Option<SessionStatus>,
}

/// A session with what its workspace shows.
#[derive(Debug, Clone)]
pub struct SessionView {
    pub session: Session,
    pub task_lane: TaskLane,
    pub facts: Vec<Fact>,
    pub active_fix: Option<Fix>,
    pub branches: BranchTree,
}

#[derive(Debug, Clone)]
pub struct NewFact {
    pub source_type: FactSource,
    pub source_ref: Option<Uuid>,
    pub text: String,
    pub summary: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct FactPatch {
    pub text: Option<String>,
    /// `Some(None)` clears the summary.
    pub summary: Option<Option<String>>,
}

/// One earlier exchange, as the prompt replays it.
#[derive(Debug, Clone)]
pub struct HistoryTurn {
    pub user_message: String,
    pub display: String,
}

/// What a turn needs to know before it calls the model.
#[derive(Debug, Clone)]
pub struct TurnContext {
    pub session: Session,
    pub task_lane: TaskLane,
    /// Every task-lane item the session has had.
    pub lane_items: Vec<LaneItem>,
    pub active_fix: Option<Fix>,
    /// Every fix of the session, superseded ones included.
    pub fix_ids: Vec<FixId>,
    /// Completed turns, oldest first; at most `history_limit` of the latest.
    /// When branching: of the active branch's path, i.e. each ancestor's
    /// turns up to the fork that led on, then the branch's own.
    pub history: Vec<HistoryTurn>,
    /// One line per exchange before those (oldest first), kept with the
    /// session as main-line turns leave the replayed window.
    pub summary: String,
    /// "What we know", oldest first.
    pub facts: Vec<Fact>,
    /// The branch tree and the active branch (empty before the first fork).
    pub branches: BranchContext,
}

/// The turn row written when a message arrives.
#[derive(Debug, Clone)]
pub struct BeginTurn {
    pub turn_id: TurnId,
    pub user_message: String,
    pub images: Vec<ImageMeta>,
    pub task_responses: Vec<TaskResponse>,
    /// How long the turn may go unrenewed before any instance fails it.
    pub lease_ms: i64,
    pub idempotency: Option<IdempotencyKey>,
}

/// A running turn, and the session as it is once the turn has begun.
#[derive(Debug, Clone)]
pub struct TurnStarted {
    pub session: Session,
    /// The id of the turn's `turn.started` event.
    pub first_event_id: i64,
}

/// A turn an `Idempotency-Key` already started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayedTurn {
    pub turn_id: TurnId,
    /// Where its events start.
    pub first_event_id: i64,
}

#[derive(Debug, Clone)]
pub enum BeginOutcome {
    Started(TurnStarted),
    /// The key was used for this very request before: no new turn.
    Replay(ReplayedTurn),
}

/// What a renewal found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseState {
    Running {
        stop_requested: bool,
    },
    /// Ended meanwhile (its lease ran out and another instance failed it).
    Gone,
}

/// Why a running turn is being given up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LostTurn {
    /// The single instance restarted (SQLite).
    Restarted,
    /// Its instance stopped renewing the lease.
    LeaseExpired,
}

/// What the model said, common to every way a turn ends.
#[derive(Debug, Clone, Default)]
pub struct ReplyRecord {
    pub display: String,
    pub raw_reply: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub model: Option<String>,
    pub timings: TurnTimings,
    pub diagnostics: Vec<TurnDiagnostic>,
    /// How the prompt was fitted into the context window.
    pub context: Option<ContextFit>,
    /// A line for the session's history summary, when this turn pushes the
    /// oldest replayed exchange out of the window (see
    /// `TurnContext::summary`); the store appends it, keeping the summary
    /// within `SUMMARY_MAX_CHARS` by cutting its start.
    pub history_line: Option<String>,
}

/// A fix the turn suggests.
#[derive(Debug, Clone)]
pub struct NewFix {
    pub title: String,
    pub description: String,
    pub confidence_pct: u8,
    pub script_template_id: Option<ScriptTemplateId>,
    pub ai_drafted_script: Option<String>,
    pub ai_drafted_parameters: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Clone)]
pub enum FixChange {
    /// The reply suggested no fix.
    None,
    /// The reply repeated the active fix: keep it, and the decision on it.
    KeepActive(FixId),
    /// Supersede the active fix (if any) with this one.
    Supersede(NewFix),
}

/// Everything a completed turn writes, in one transaction.
#[derive(Debug, Clone)]
pub struct TurnCommit {
    pub turn_id: TurnId,
    pub session_id: SessionId,
    pub reply: ReplyRecord,
    /// The FORK as the reply wrote it, kept with the turn (with the ids of
    /// what `fork_change` made filled in by the store).
    pub fork: Option<ForkRecord>,
    pub fork_change: ForkChange,
    /// When branching: the line the running summary of the turn's branch
    /// gains.
    pub branch_line: Option<String>,
    /// The new lane (ids assigned); empty clears it.
    pub task_lane: TaskLane,
    /// Items of the new lane the session has not had before.
    pub new_lane_items: Vec<LaneItem>,
    pub facts: Vec<NewFact>,
    pub fix: FixChange,
    pub outcome_proposal: Option<(FixId, OutcomeProposal)>,
    /// Set when the session has no problem summary yet.
    pub problem_summary: Option<String>,
}

/// What a completed turn stored.
#[derive(Debug, Clone)]
pub struct TurnCommitted {
    pub turn: Turn,
    pub session: Session,
    pub facts_added: Vec<Fact>,
    /// The new fix, or the active one the reply repeated.
    pub suggested_fix: Option<Fix>,
    /// The FORK as stored, with the fork point and branches it made.
    pub fork: Option<ForkRecord>,
    /// The lane the session now shows: the turn's, or the new branch's
    /// (empty) when the fork moved the conversation.
    pub task_lane: TaskLane,
}

#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// `Conflict(NOT_A_TEAM_MEMBER)` when `team_id` is a team of the
    /// account the caller is not in; `NotFound` when it is not the account's.
    async fn create_session(&self, who: &Principal, new: NewSession) -> StoreResult<Session>;

    /// Newest first.
    async fn list_sessions(
        &self,
        who: &Principal,
        filter: SessionFilter,
    ) -> StoreResult<Vec<Session>>;

    async fn get_session(&self, who: &Principal, id: SessionId) -> StoreResult<Session>;

    async fn session_view(&self, who: &Principal, id: SessionId) -> StoreResult<SessionView>;

    async fn update_session(
        &self,
        who: &Principal,
        id: SessionId,
        patch: SessionPatch,
        expected: Option<i64>,
    ) -> StoreResult<Session>;

    async fn delete_session(&self, who: &Principal, id: SessionId) -> StoreResult<()>;

    /// The session's turns, oldest first; with `branch`, that branch's only.
    async fn list_turns(
        &self,
        who: &Principal,
        session: SessionId,
        branch: Option<BranchId>,
    ) -> StoreResult<Vec<Turn>>;

    async fn turn_context(
        &self,
        who: &Principal,
        session: SessionId,
        history_limit: u32,
    ) -> StoreResult<TurnContext>;

    /// Records a running turn: `Conflict(TURN_RUNNING)` when one already
    /// runs, `Conflict(SESSION_RESOLVED | SESSION_CLOSED)` when the session
    /// takes no messages. A paused session becomes active.
    async fn begin_turn(
        &self,
        who: &Principal,
        session: SessionId,
        turn: BeginTurn,
    ) -> StoreResult<BeginOutcome>;

    /// Stores a completed turn and everything it produced, atomically.
    async fn commit_turn(&self, who: &Principal, commit: TurnCommit) -> StoreResult<TurnCommitted>;

    /// Ends a running turn as `failed`, `incomplete` or `stopped`, keeping
    /// what the model said and applying none of it.
    async fn end_turn(
        &self,
        who: &Principal,
        session: SessionId,
        turn: TurnId,
        status: TurnStatus,
        reply: ReplyRecord,
        error: Option<TurnErrorInfo>,
    ) -> StoreResult<(Turn, Session)>;

    /// Asks the session's running turn to stop, telling every instance;
    /// `Conflict(NO_TURN_RUNNING)` when none runs.
    async fn request_stop(&self, who: &Principal, session: SessionId) -> StoreResult<TurnId>;

    /// Extends a running turn's lease to `until_ms` (Unix milliseconds).
    async fn renew_lease(&self, turn: TurnId, until_ms: i64) -> StoreResult<LeaseState>;

    /// Fails every running turn whose lease ended before `now_ms` (all of
    /// them with `i64::MAX`), with a `turn.failed` event each, so their
    /// sessions take messages again.
    async fn expire_leases(&self, now_ms: i64, why: LostTurn) -> StoreResult<Vec<ExpiredTurn>>;

    async fn list_facts(&self, who: &Principal, session: SessionId) -> StoreResult<Vec<Fact>>;

    /// The session's branches and fork points.
    async fn branch_tree(&self, who: &Principal, session: SessionId) -> StoreResult<BranchTree>;

    /// Makes `branch` (of `session`) the active one, keeping the departing
    /// branch's task lane with it and bringing back the new one's:
    /// `Conflict(BRANCH_RULED_OUT)` for a ruled-out branch,
    /// `Conflict(TURN_RUNNING)` while a reply is being written.
    async fn switch_branch(
        &self,
        who: &Principal,
        session: SessionId,
        branch: BranchId,
        expected: Option<i64>,
    ) -> StoreResult<Session>;

    /// Rules out, revives or resolves a branch of a session the caller can
    /// see (`NotFound` otherwise); see `BranchChange` for where the
    /// conversation goes. `Conflict(ROOT_BRANCH)` for the root branch.
    async fn update_branch(
        &self,
        who: &Principal,
        branch: BranchId,
        change: BranchChange,
        expected: Option<i64>,
    ) -> StoreResult<(Branch, Session)>;

    async fn create_fact(
        &self,
        who: &Principal,
        session: SessionId,
        fact: NewFact,
        expected: Option<i64>,
    ) -> StoreResult<(Fact, Session)>;

    async fn update_fact(
        &self,
        who: &Principal,
        session: SessionId,
        fact: FactId,
        patch: FactPatch,
        expected: Option<i64>,
    ) -> StoreResult<(Fact, Session)>;

    async fn delete_fact(
        &self,
        who: &Principal,
        session: SessionId,
        fact: FactId,
        expected: Option<i64>,
    ) -> StoreResult<Session>;

    /// Every fix of the session, newest first.
    async fn list_fixes(&self, who: &Principal, session: SessionId) -> StoreResult<Vec<Fix>>;

    async fn get_fix(&self, who: &Principal, fix: FixId) -> StoreResult<Fix>;

    async fn decide_fix(
        &self,
        who: &Principal,
        fix: FixId,
        decision: FixDecision,
        note: Option<String>,
        expected: Option<i64>,
    ) -> StoreResult<(Fix, Session)>;

    /// Records the confirmed outcome and clears the assistant's proposal.
    async fn record_fix_outcome(
        &self,
        who: &Principal,
        fix: FixId,
        outcome: FixOutcome,
        note: Option<String>,
        expected: Option<i64>,
    ) -> StoreResult<(Fix, Session)>;

    async fn dismiss_outcome_proposal(
        &self,
        who: &Principal,
        fix: FixId,
        expected: Option<i64>,
    ) -> StoreResult<(Fix, Session)>;
}
