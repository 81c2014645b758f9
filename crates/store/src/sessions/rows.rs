//! Rows of the session tables and their conversion to engine types.

use engine::StoreError;
use engine::sessions::{
    ContextFit, Fact, FactSource, Fix, FixDecision, FixOutcome, ForkRecord, ImageMeta, LaneItem,
    LaneKind, OutcomeProposal, Session, SessionStatus, TaskLane, TaskResponse, Turn,
    TurnDiagnostic, TurnErrorInfo, TurnStatus, TurnTimings,
};
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::corrupt_row;

fn parse<T>(
    what: &'static str,
    value: &str,
    parse: fn(&'static str, &str) -> Result<T, engine::ValidationError>,
) -> Result<T, StoreError> {
    parse(what, value).map_err(|e| corrupt_row(what, e.message))
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct SessionRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub team_id: Option<Uuid>,
    pub title: String,
    pub intake: String,
    pub status: String,
    pub problem_summary: Option<String>,
    pub step_count: i64,
    pub total_input_tokens: i64,
    pub total_output_tokens: i64,
    pub is_branching: bool,
    pub active_branch_id: Option<Uuid>,
    pub state_version: i64,
    pub task_lane: Json<TaskLane>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl SessionRow {
    pub fn into_session(self) -> Result<Session, StoreError> {
        Ok(Session {
            id: self.id.into(),
            user_id: self.user_id.into(),
            team_id: self.team_id.map(Into::into),
            title: self.title,
            intake: self.intake,
            status: parse("session status", &self.status, SessionStatus::parse)?,
            problem_summary: self.problem_summary,
            step_count: self.step_count,
            total_input_tokens: self.total_input_tokens,
            total_output_tokens: self.total_output_tokens,
            is_branching: self.is_branching,
            active_branch_id: self.active_branch_id.map(Into::into),
            state_version: self.state_version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct TurnRow {
    pub id: Uuid,
    pub session_id: Uuid,
    pub branch_id: Option<Uuid>,
    pub status: String,
    pub user_message: String,
    pub display: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub model: Option<String>,
    pub diagnostics: Json<Vec<TurnDiagnostic>>,
    pub timings: Option<Json<TurnTimings>>,
    pub images: Json<Vec<ImageMeta>>,
    pub task_responses: Json<Vec<TaskResponse>>,
    pub fork: Option<Json<ForkRecord>>,
    pub error: Option<Json<TurnErrorInfo>>,
    pub context: Option<Json<ContextFit>>,
    pub created_at: OffsetDateTime,
    pub completed_at: Option<OffsetDateTime>,
}

impl TryFrom<TurnRow> for Turn {
    type Error = StoreError;

    fn try_from(row: TurnRow) -> Result<Self, StoreError> {
        Ok(Turn {
            id: row.id.into(),
            session_id: row.session_id.into(),
            branch_id: row.branch_id.map(Into::into),
            status: parse("turn status", &row.status, TurnStatus::parse)?,
            user_message: row.user_message,
            display: row.display,
            input_tokens: row.input_tokens,
            output_tokens: row.output_tokens,
            model: row.model,
            diagnostics: row.diagnostics.0,
            timings: row.timings.map(|t| t.0),
            images: row.images.0,
            task_responses: row.task_responses.0,
            fork: row.fork.map(|f| f.0),
            error: row.error.map(|e| e.0),
            context: row.context.map(|c| c.0),
            created_at: row.created_at,
            completed_at: row.completed_at,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct FactRow {
    pub id: Uuid,
    pub source_type: String,
    pub source_ref: Option<String>,
    pub text: String,
    pub summary: Option<String>,
    pub turn_id: Option<Uuid>,
    pub branch_id: Option<Uuid>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl TryFrom<FactRow> for Fact {
    type Error = StoreError;

    fn try_from(row: FactRow) -> Result<Self, StoreError> {
        let source_ref = row
            .source_ref
            .map(|r| Uuid::parse_str(&r).map_err(|e| corrupt_row("fact source_ref", e)))
            .transpose()?;
        Ok(Fact {
            id: row.id.into(),
            source_type: parse("fact source", &row.source_type, FactSource::parse)?,
            source_ref,
            text: row.text,
            summary: row.summary,
            turn_id: row.turn_id.map(Into::into),
            branch_id: row.branch_id.map(Into::into),
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct FixRow {
    pub id: Uuid,
    pub session_id: Uuid,
    pub turn_id: Option<Uuid>,
    pub title: String,
    pub description: String,
    pub confidence_pct: i32,
    pub script_template_id: Option<Uuid>,
    pub ai_drafted_script: Option<String>,
    pub ai_drafted_parameters: Option<Json<serde_json::Map<String, serde_json::Value>>>,
    pub superseded_at: Option<OffsetDateTime>,
    pub decision: Option<String>,
    pub decision_note: Option<String>,
    pub outcome: Option<String>,
    pub outcome_note: Option<String>,
    pub ai_outcome_proposal: Option<Json<OutcomeProposal>>,
    pub created_at: OffsetDateTime,
}

impl TryFrom<FixRow> for Fix {
    type Error = StoreError;

    fn try_from(row: FixRow) -> Result<Self, StoreError> {
        Ok(Fix {
            id: row.id.into(),
            session_id: row.session_id.into(),
            turn_id: row.turn_id.map(Into::into),
            title: row.title,
            description: row.description,
            confidence_pct: u8::try_from(row.confidence_pct)
                .map_err(|e| corrupt_row("fix confidence", e))?,
            script_template_id: row.script_template_id.map(Into::into),
            ai_drafted_script: row.ai_drafted_script,
            ai_drafted_parameters: row.ai_drafted_parameters.map(|p| p.0),
            superseded_at: row.superseded_at,
            decision: row
                .decision
                .map(|d| parse("fix decision", &d, FixDecision::parse))
                .transpose()?,
            decision_note: row.decision_note,
            outcome: row
                .outcome
                .map(|o| parse("fix outcome", &o, FixOutcome::parse))
                .transpose()?,
            outcome_note: row.outcome_note,
            ai_outcome_proposal: row.ai_outcome_proposal.map(|p| p.0),
            created_at: row.created_at,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct LaneItemRow {
    pub id: Uuid,
    pub kind: String,
    pub text: String,
}

impl TryFrom<LaneItemRow> for LaneItem {
    type Error = StoreError;

    fn try_from(row: LaneItemRow) -> Result<Self, StoreError> {
        Ok(LaneItem {
            id: row.id,
            kind: parse("task-lane item kind", &row.kind, LaneKind::parse)?,
            text: row.text,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct HistoryRow {
    pub user_message: String,
    pub display: String,
}

pub(crate) fn all<R, T>(rows: Vec<R>) -> Result<Vec<T>, StoreError>
where
    T: TryFrom<R, Error = StoreError>,
{
    rows.into_iter().map(T::try_from).collect()
}

/// An `Idempotency-Key` seen before, with where its turn's events start.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct KeyRow {
    pub scope: String,
    pub request_hash: String,
    pub session_id: Uuid,
    pub turn_id: Option<Uuid>,
    pub first_event_id: Option<i64>,
}
