//! What a session holds, as the engine and its callers see it.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::ids::{
    BranchId, FactId, FixId, ForkPointId, ScriptTemplateId, SessionId, TeamId, TurnId, UserId,
};

/// Declares a string enum with its wire names, `as_str` and `parse`.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }

            /// Parses a wire name; the error lists the accepted ones.
            pub fn parse(field: &'static str, s: &str) -> Result<Self, $crate::account::ValidationError> {
                match s {
                    $($wire => Ok($name::$variant),)+
                    other => Err($crate::account::ValidationError::new(
                        field,
                        format!(
                            "`{other}` is not one of: {}",
                            [$($wire),+].join(", ")
                        ),
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(
    /// Where a session stands. Only `active` and `paused` sessions take
    /// messages; a message to a `paused` one makes it `active` again.
    SessionStatus {
        Active => "active",
        Paused => "paused",
        Resolved => "resolved",
        Closed => "closed",
    }
);

impl SessionStatus {
    pub fn takes_messages(self) -> bool {
        matches!(self, SessionStatus::Active | SessionStatus::Paused)
    }
}

wire_enum!(
    /// How a turn ended (`running` while it streams).
    TurnStatus {
        Running => "running",
        Completed => "completed",
        Stopped => "stopped",
        Incomplete => "incomplete",
        Failed => "failed",
    }
);

wire_enum!(
    /// Where a fact came from; `user_note` is the engineer's own.
    FactSource {
        Question => "question",
        DiagnosticCheck => "diagnostic_check",
        AiSynthesis => "ai_synthesis",
        UserNote => "user_note",
    }
);

impl From<markers::SourceType> for FactSource {
    fn from(s: markers::SourceType) -> Self {
        match s {
            markers::SourceType::Question => FactSource::Question,
            markers::SourceType::DiagnosticCheck => FactSource::DiagnosticCheck,
            markers::SourceType::AiSynthesis => FactSource::AiSynthesis,
        }
    }
}

wire_enum!(
    /// The engineer's decision on a suggested fix.
    FixDecision {
        Accepted => "accepted",
        Rejected => "rejected",
        Deferred => "deferred",
    }
);

wire_enum!(
    /// How an applied fix went.
    FixOutcome {
        Success => "success",
        Failure => "failure",
        Partial => "partial",
    }
);

impl From<markers::Outcome> for FixOutcome {
    fn from(o: markers::Outcome) -> Self {
        match o {
            markers::Outcome::Success => FixOutcome::Success,
            markers::Outcome::Failure => FixOutcome::Failure,
            markers::Outcome::Partial => FixOutcome::Partial,
        }
    }
}

wire_enum!(
    /// The kind of a task-lane item.
    LaneKind {
        Question => "question",
        Action => "action",
    }
);

wire_enum!(
    /// What the engineer did with a task-lane item.
    ResponseStatus {
        Answered => "answered",
        Done => "done",
        Skipped => "skipped",
        Pending => "pending",
    }
);

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub team_id: Option<TeamId>,
    pub title: String,
    pub intake: String,
    pub status: SessionStatus,
    pub problem_summary: Option<String>,
    pub step_count: i64,
    pub total_input_tokens: i64,
    pub total_output_tokens: i64,
    pub is_branching: bool,
    pub active_branch_id: Option<BranchId>,
    pub state_version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A question in the task lane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaneQuestion {
    pub id: Uuid,
    pub text: String,
    pub context: String,
}

/// An action in the task lane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaneAction {
    pub id: Uuid,
    pub label: String,
    pub command: Option<String>,
    pub description: String,
}

/// The latest turn's questions and actions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskLane {
    pub questions: Vec<LaneQuestion>,
    pub actions: Vec<LaneAction>,
}

impl TaskLane {
    pub fn is_empty(&self) -> bool {
        self.questions.is_empty() && self.actions.is_empty()
    }

    /// The item with this id: its kind and its text (question) or label (action).
    pub fn item(&self, id: Uuid) -> Option<(LaneKind, &str)> {
        self.questions
            .iter()
            .find(|q| q.id == id)
            .map(|q| (LaneKind::Question, q.text.as_str()))
            .or_else(|| {
                self.actions
                    .iter()
                    .find(|a| a.id == id)
                    .map(|a| (LaneKind::Action, a.label.as_str()))
            })
    }
}

/// A task-lane item the session has had, now or earlier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneItem {
    pub id: Uuid,
    pub kind: LaneKind,
    pub text: String,
}

/// The engineer's response to one task-lane item, kept with the turn it
/// was sent with (for the report).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskResponse {
    pub item_id: Uuid,
    pub kind: LaneKind,
    /// The question text or action label, as it was in the lane.
    pub text: String,
    pub status: ResponseStatus,
    pub answer: Option<String>,
}

/// Why part of a reply was not used, or was changed before it was stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnDiagnostic {
    /// The marker kind (`questions`, `promote`, …).
    pub marker: String,
    pub reason: String,
}

impl From<&markers::Diagnostic> for TurnDiagnostic {
    fn from(d: &markers::Diagnostic) -> Self {
        Self {
            marker: d.marker.name().to_ascii_lowercase(),
            reason: d.reason.clone(),
        }
    }
}

/// Where a turn's time went, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TurnTimings {
    pub retrieval_ms: f64,
    /// From sending the request to the provider to its first text.
    pub first_token_ms: Option<f64>,
    /// Waiting on the provider, from request to end of stream.
    pub provider_ms: f64,
    /// Storing the turn and what it produced.
    pub persist_ms: f64,
    /// From the message's arrival to the stored turn.
    pub total_ms: f64,
}

/// What a failed or broken turn reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnErrorInfo {
    pub code: String,
    pub message: String,
}

/// How a turn's prompt was fitted into the model's context window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextFit {
    /// The model's context window, in tokens (the setting).
    pub window_tokens: u32,
    /// The prompt's estimated size, in tokens (about four characters each).
    pub prompt_tokens: u32,
    /// Earlier turns replayed in full.
    pub kept_turns: u32,
    /// Earlier turns folded into the summary at the top of the history.
    pub folded_turns: u32,
}

/// An image attached to a turn: what is kept of it (not the bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageMeta {
    pub media_type: String,
    pub bytes: usize,
}

/// The FORK a reply carried, kept with the turn: with the fork point and
/// branches it made (none when it repeated an existing fork).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkRecord {
    pub fork_reason: String,
    pub options: Vec<ForkOptionRecord>,
    #[serde(default)]
    pub fork_point_id: Option<ForkPointId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkOptionRecord {
    pub label: String,
    pub description: String,
    #[serde(default)]
    pub branch_id: Option<BranchId>,
}

impl From<&markers::Fork> for ForkRecord {
    fn from(f: &markers::Fork) -> Self {
        Self {
            fork_reason: f.fork_reason.clone(),
            options: f
                .options
                .iter()
                .map(|o| ForkOptionRecord {
                    label: o.label.clone(),
                    description: o.description.clone(),
                    branch_id: None,
                })
                .collect(),
            fork_point_id: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Turn {
    pub id: TurnId,
    pub session_id: SessionId,
    pub branch_id: Option<BranchId>,
    pub status: TurnStatus,
    /// The engineer's message as stored (placeholders normalised).
    pub user_message: String,
    /// The reply without marker syntax.
    pub display: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub model: Option<String>,
    pub diagnostics: Vec<TurnDiagnostic>,
    pub timings: Option<TurnTimings>,
    pub images: Vec<ImageMeta>,
    pub task_responses: Vec<TaskResponse>,
    pub fork: Option<ForkRecord>,
    pub error: Option<TurnErrorInfo>,
    pub context: Option<ContextFit>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub completed_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fact {
    pub id: FactId,
    pub source_type: FactSource,
    pub source_ref: Option<Uuid>,
    pub text: String,
    pub summary: Option<String>,
    pub turn_id: Option<TurnId>,
    /// The branch whose turn established it (facts are the session's).
    pub branch_id: Option<BranchId>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// The assistant's view of how a fix went, until the engineer confirms or
/// dismisses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeProposal {
    pub outcome: FixOutcome,
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub proposed_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fix {
    pub id: FixId,
    pub session_id: SessionId,
    pub turn_id: Option<TurnId>,
    pub title: String,
    pub description: String,
    pub confidence_pct: u8,
    pub script_template_id: Option<ScriptTemplateId>,
    pub ai_drafted_script: Option<String>,
    pub ai_drafted_parameters: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub superseded_at: Option<OffsetDateTime>,
    pub decision: Option<FixDecision>,
    pub decision_note: Option<String>,
    pub outcome: Option<FixOutcome>,
    pub outcome_note: Option<String>,
    pub ai_outcome_proposal: Option<OutcomeProposal>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}
