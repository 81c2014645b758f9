//! Shapes of sessions and what they hold, as `api.md` fixes them.

use engine::retrieval::RetrievedFlow;
use engine::sessions::{
    Branch, BranchTree, Fact, Fix, ForkPoint, ForkRecord, ImageMeta, OutcomeProposal, Session,
    TaskLane, TaskResponse, Turn, TurnDiagnostic, TurnErrorInfo, TurnTimings,
};
use engine::turn::{ProposalOut, TurnResult};
use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionDto {
    pub id: Uuid,
    pub title: String,
    /// `active`, `paused`, `resolved` or `closed`.
    pub status: String,
    /// The problem text the session started with.
    pub intake: String,
    pub problem_summary: Option<String>,
    pub user_id: Uuid,
    pub team_id: Option<Uuid>,
    /// Completed turns.
    pub step_count: i64,
    pub total_input_tokens: i64,
    pub total_output_tokens: i64,
    pub is_branching: bool,
    pub active_branch_id: Option<Uuid>,
    /// Send it back with writes; a stale one gets 409.
    pub state_version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<Session> for SessionDto {
    fn from(s: Session) -> Self {
        Self {
            id: s.id.as_uuid(),
            title: s.title,
            status: s.status.as_str().to_owned(),
            intake: s.intake,
            problem_summary: s.problem_summary,
            user_id: s.user_id.as_uuid(),
            team_id: s.team_id.map(|t| t.as_uuid()),
            step_count: s.step_count,
            total_input_tokens: s.total_input_tokens,
            total_output_tokens: s.total_output_tokens,
            is_branching: s.is_branching,
            active_branch_id: s.active_branch_id.map(|b| b.as_uuid()),
            state_version: s.state_version,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// `{"session": {...}}`
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionEnvelope {
    pub session: SessionDto,
}

impl From<Session> for SessionEnvelope {
    fn from(s: Session) -> Self {
        Self { session: s.into() }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QuestionDto {
    pub id: Uuid,
    pub text: String,
    pub context: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActionDto {
    pub id: Uuid,
    pub label: String,
    pub command: Option<String>,
    pub description: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskLaneDto {
    pub questions: Vec<QuestionDto>,
    pub actions: Vec<ActionDto>,
}

impl From<TaskLane> for TaskLaneDto {
    fn from(l: TaskLane) -> Self {
        Self {
            questions: l
                .questions
                .into_iter()
                .map(|q| QuestionDto {
                    id: q.id,
                    text: q.text,
                    context: q.context,
                })
                .collect(),
            actions: l
                .actions
                .into_iter()
                .map(|a| ActionDto {
                    id: a.id,
                    label: a.label,
                    command: a.command,
                    description: a.description,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FactDto {
    pub id: Uuid,
    /// `question`, `diagnostic_check`, `ai_synthesis` or `user_note`.
    pub source_type: String,
    /// The task-lane item it came from.
    pub source_ref: Option<Uuid>,
    pub text: String,
    pub summary: Option<String>,
    pub turn_id: Option<Uuid>,
    /// The branch whose turn established it (facts belong to the whole
    /// session).
    pub branch_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<Fact> for FactDto {
    fn from(f: Fact) -> Self {
        Self {
            id: f.id.as_uuid(),
            source_type: f.source_type.as_str().to_owned(),
            source_ref: f.source_ref,
            text: f.text,
            summary: f.summary,
            turn_id: f.turn_id.map(|t| t.as_uuid()),
            branch_id: f.branch_id.map(|b| b.as_uuid()),
            created_at: f.created_at,
            updated_at: f.updated_at,
        }
    }
}

/// `{"fact": {...}, "session": {...}}`
#[derive(Debug, Serialize, ToSchema)]
pub struct FactEnvelope {
    pub fact: FactDto,
    /// The session after the change (its new `state_version`).
    pub session: SessionDto,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProposalDto {
    /// `success`, `failure` or `partial`.
    pub outcome: String,
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub proposed_at: OffsetDateTime,
}

impl From<OutcomeProposal> for ProposalDto {
    fn from(p: OutcomeProposal) -> Self {
        Self {
            outcome: p.outcome.as_str().to_owned(),
            reason: p.reason,
            proposed_at: p.proposed_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FixDto {
    pub id: Uuid,
    pub session_id: Uuid,
    pub title: String,
    pub description: String,
    pub confidence_pct: u8,
    pub script_template_id: Option<Uuid>,
    pub ai_drafted_script: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub ai_drafted_parameters: Option<Map<String, Value>>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub superseded_at: Option<OffsetDateTime>,
    /// `accepted`, `rejected` or `deferred`.
    pub decision: Option<String>,
    pub decision_note: Option<String>,
    /// The confirmed outcome: `success`, `failure` or `partial`.
    pub outcome: Option<String>,
    pub outcome_note: Option<String>,
    /// The assistant's view, until the engineer confirms or dismisses it.
    pub ai_outcome_proposal: Option<ProposalDto>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<Fix> for FixDto {
    fn from(f: Fix) -> Self {
        Self {
            id: f.id.as_uuid(),
            session_id: f.session_id.as_uuid(),
            title: f.title,
            description: f.description,
            confidence_pct: f.confidence_pct,
            script_template_id: f.script_template_id.map(|t| t.as_uuid()),
            ai_drafted_script: f.ai_drafted_script,
            ai_drafted_parameters: f.ai_drafted_parameters,
            superseded_at: f.superseded_at,
            decision: f.decision.map(|d| d.as_str().to_owned()),
            decision_note: f.decision_note,
            outcome: f.outcome.map(|o| o.as_str().to_owned()),
            outcome_note: f.outcome_note,
            ai_outcome_proposal: f.ai_outcome_proposal.map(Into::into),
            created_at: f.created_at,
        }
    }
}

/// `{"fix": {...}, "session": {...}}`
#[derive(Debug, Serialize, ToSchema)]
pub struct FixEnvelope {
    pub fix: FixDto,
    /// The session after the change (its new `state_version`).
    pub session: SessionDto,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DiagnosticDto {
    /// The marker kind (`questions`, `promote`, …) or `turn`.
    pub marker: String,
    pub reason: String,
}

impl From<TurnDiagnostic> for DiagnosticDto {
    fn from(d: TurnDiagnostic) -> Self {
        Self {
            marker: d.marker,
            reason: d.reason,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimingsDto {
    pub retrieval_ms: f64,
    pub first_token_ms: Option<f64>,
    pub provider_ms: f64,
    pub persist_ms: f64,
    pub total_ms: f64,
}

impl From<TurnTimings> for TimingsDto {
    fn from(t: TurnTimings) -> Self {
        Self {
            retrieval_ms: t.retrieval_ms,
            first_token_ms: t.first_token_ms,
            provider_ms: t.provider_ms,
            persist_ms: t.persist_ms,
            total_ms: t.total_ms,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImageDto {
    pub media_type: String,
    pub bytes: usize,
}

impl From<ImageMeta> for ImageDto {
    fn from(i: ImageMeta) -> Self {
        Self {
            media_type: i.media_type,
            bytes: i.bytes,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskResponseDto {
    pub item_id: Uuid,
    /// `question` or `action`.
    pub kind: String,
    pub text: String,
    /// `answered`, `done`, `skipped` or `pending`.
    pub status: String,
    pub answer: Option<String>,
}

impl From<TaskResponse> for TaskResponseDto {
    fn from(r: TaskResponse) -> Self {
        Self {
            item_id: r.item_id,
            kind: r.kind.as_str().to_owned(),
            text: r.text,
            status: r.status.as_str().to_owned(),
            answer: r.answer,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TurnErrorDto {
    pub code: String,
    pub message: String,
}

impl From<TurnErrorInfo> for TurnErrorDto {
    fn from(e: TurnErrorInfo) -> Self {
        Self {
            code: e.code,
            message: e.message,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ForkBranchDto {
    /// `null` when the fork repeated branches that already exist (see the
    /// turn's diagnostics).
    pub branch_id: Option<Uuid>,
    pub label: String,
    pub description: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ForkDto {
    /// `null` when the fork made no branches (it repeated existing ones).
    pub fork_point_id: Option<Uuid>,
    pub fork_reason: String,
    pub branches: Vec<ForkBranchDto>,
    /// Where the conversation is after the turn: unchanged after a fork on
    /// the main line, the first new branch after a fork inside a branch.
    pub active_branch_id: Option<Uuid>,
}

impl ForkDto {
    fn new(f: ForkRecord, active_branch_id: Option<Uuid>) -> Self {
        Self {
            fork_point_id: f.fork_point_id.map(|p| p.as_uuid()),
            fork_reason: f.fork_reason,
            branches: f
                .options
                .into_iter()
                .map(|o| ForkBranchDto {
                    branch_id: o.branch_id.map(|b| b.as_uuid()),
                    label: o.label,
                    description: o.description,
                })
                .collect(),
            active_branch_id,
        }
    }
}

/// A line of investigation.
#[derive(Debug, Serialize, ToSchema)]
pub struct BranchDto {
    pub id: Uuid,
    pub session_id: Uuid,
    /// `null` for the root branch (the main line).
    pub fork_point_id: Option<Uuid>,
    pub parent_branch_id: Option<Uuid>,
    pub label: String,
    /// The hypothesis.
    pub description: String,
    /// `active`, `ruled_out`, `revived` or `resolved`.
    pub status: String,
    /// The evidence that revived it.
    pub evidence: Option<String>,
    /// Why it was ruled out.
    pub ruled_out_reason: Option<String>,
    pub is_root: bool,
    /// The option's place in its fork (0 first).
    pub position: i64,
    /// Completed, stopped or incomplete turns on the branch.
    pub turn_count: i64,
    /// One line per exchange on the branch (what its siblings' prompts
    /// read of it).
    pub summary: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<Branch> for BranchDto {
    fn from(b: Branch) -> Self {
        Self {
            id: b.id.as_uuid(),
            session_id: b.session_id.as_uuid(),
            is_root: b.is_root(),
            fork_point_id: b.fork_point_id.map(|f| f.as_uuid()),
            parent_branch_id: b.parent_branch_id.map(|p| p.as_uuid()),
            label: b.label,
            description: b.description,
            status: b.status.as_str().to_owned(),
            evidence: b.evidence,
            ruled_out_reason: b.ruled_out_reason,
            position: b.position,
            turn_count: b.turn_count,
            summary: b.summary,
            created_at: b.created_at,
            updated_at: b.updated_at,
        }
    }
}

/// Where the investigation forked.
#[derive(Debug, Serialize, ToSchema)]
pub struct ForkPointDto {
    pub id: Uuid,
    /// The turn whose reply forked.
    pub turn_id: Option<Uuid>,
    /// The branch it forked from.
    pub parent_branch_id: Option<Uuid>,
    pub fork_reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<ForkPoint> for ForkPointDto {
    fn from(f: ForkPoint) -> Self {
        Self {
            id: f.id.as_uuid(),
            turn_id: f.turn_id.map(|t| t.as_uuid()),
            parent_branch_id: f.parent_branch_id.map(|p| p.as_uuid()),
            fork_reason: f.fork_reason,
            created_at: f.created_at,
        }
    }
}

/// `{"branch": {...}, "session": {...}}`
#[derive(Debug, Serialize, ToSchema)]
pub struct BranchEnvelope {
    pub branch: BranchDto,
    pub session: SessionDto,
}

/// The tree as flat lists: each branch names its parent and fork point.
pub fn tree_dto(tree: BranchTree) -> (Vec<BranchDto>, Vec<ForkPointDto>) {
    (
        tree.branches.into_iter().map(Into::into).collect(),
        tree.fork_points.into_iter().map(Into::into).collect(),
    )
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TurnDto {
    pub id: Uuid,
    pub session_id: Uuid,
    pub branch_id: Option<Uuid>,
    /// `running`, `completed`, `stopped`, `incomplete` or `failed`.
    pub status: String,
    /// The message as the model read it: the "Task responses" section (when
    /// the turn carried responses), then what the engineer wrote.
    pub user_message: String,
    /// What the engineer wrote, without the task-responses section.
    pub text: String,
    /// The reply without marker syntax. Plain text: render it as text or
    /// sanitised Markdown, never as HTML.
    pub display: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub model: Option<String>,
    pub diagnostics: Vec<DiagnosticDto>,
    pub timings: Option<TimingsDto>,
    pub images: Vec<ImageDto>,
    pub task_responses: Vec<TaskResponseDto>,
    /// The FORK the reply carried, as written.
    pub fork: Option<ForkDto>,
    pub error: Option<TurnErrorDto>,
    /// How the prompt was fitted into the model's context window.
    pub context: Option<ContextFitDto>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub completed_at: Option<OffsetDateTime>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContextFitDto {
    /// The model's context window (the setting), in tokens.
    pub window_tokens: u32,
    /// The prompt's estimated size, in tokens.
    pub prompt_tokens: u32,
    /// Earlier turns replayed in full.
    pub kept_turns: u32,
    /// Earlier turns folded into a summary so the prompt fits the window.
    pub folded_turns: u32,
}

impl From<engine::sessions::ContextFit> for ContextFitDto {
    fn from(c: engine::sessions::ContextFit) -> Self {
        Self {
            window_tokens: c.window_tokens,
            prompt_tokens: c.prompt_tokens,
            kept_turns: c.kept_turns,
            folded_turns: c.folded_turns,
        }
    }
}

impl From<Turn> for TurnDto {
    fn from(t: Turn) -> Self {
        Self {
            id: t.id.as_uuid(),
            session_id: t.session_id.as_uuid(),
            branch_id: t.branch_id.map(|b| b.as_uuid()),
            status: t.status.as_str().to_owned(),
            text: engine::sessions::engineer_text(&t.user_message, &t.task_responses).to_owned(),
            user_message: t.user_message,
            display: t.display,
            input_tokens: t.input_tokens,
            output_tokens: t.output_tokens,
            model: t.model,
            diagnostics: t.diagnostics.into_iter().map(Into::into).collect(),
            timings: t.timings.map(Into::into),
            images: t.images.into_iter().map(Into::into).collect(),
            task_responses: t.task_responses.into_iter().map(Into::into).collect(),
            fork: t.fork.map(|f| ForkDto::new(f, None)),
            error: t.error.map(Into::into),
            context: t.context.map(Into::into),
            created_at: t.created_at,
            completed_at: t.completed_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FlowRefDto {
    pub id: Uuid,
    pub slug: String,
    pub title: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SuggestedFlowDto {
    pub flow: FlowRefDto,
    pub score: f64,
    pub snippet: String,
}

impl From<RetrievedFlow> for SuggestedFlowDto {
    fn from(f: RetrievedFlow) -> Self {
        Self {
            flow: FlowRefDto {
                id: f.id.as_uuid(),
                slug: f.slug,
                title: f.title,
            },
            score: f.score,
            snippet: f.snippet,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutcomeProposalDto {
    pub fix_id: Uuid,
    pub outcome: String,
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub proposed_at: OffsetDateTime,
}

impl From<ProposalOut> for OutcomeProposalDto {
    fn from(p: ProposalOut) -> Self {
        Self {
            fix_id: p.fix_id.as_uuid(),
            outcome: p.outcome.as_str().to_owned(),
            reason: p.reason,
            proposed_at: p.proposed_at,
        }
    }
}

/// What a turn produced: the answer of `POST …/messages`, and the data of
/// its `turn.completed` event.
#[derive(Debug, Serialize, ToSchema)]
pub struct TurnResultDto {
    pub turn: TurnDto,
    pub session: SessionDto,
    pub task_lane: TaskLaneDto,
    pub fork: Option<ForkDto>,
    pub facts_added: Vec<FactDto>,
    pub suggested_fix: Option<FixDto>,
    pub outcome_proposal: Option<OutcomeProposalDto>,
    pub suggested_flows: Vec<SuggestedFlowDto>,
}

impl From<TurnResult> for TurnResultDto {
    fn from(r: TurnResult) -> Self {
        let active_branch = r.session.active_branch_id.map(|b| b.as_uuid());
        Self {
            turn: r.turn.into(),
            session: r.session.into(),
            task_lane: r.task_lane.into(),
            fork: r.fork.map(|f| ForkDto::new(f, active_branch)),
            facts_added: r.facts_added.into_iter().map(Into::into).collect(),
            suggested_fix: r.suggested_fix.map(Into::into),
            outcome_proposal: r.outcome_proposal.map(Into::into),
            suggested_flows: r.suggested_flows.into_iter().map(Into::into).collect(),
        }
    }
}

/// `GET /sessions/{id}`: the session and its workspace.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionViewDto {
    pub session: SessionDto,
    pub task_lane: TaskLaneDto,
    pub facts: Vec<FactDto>,
    pub active_fix: Option<FixDto>,
    /// The branch tree, root first, as a flat list (each branch names its
    /// parent and fork point); empty until the investigation forks.
    pub branches: Vec<BranchDto>,
    /// Where the investigation forked, oldest first.
    pub fork_points: Vec<ForkPointDto>,
}
