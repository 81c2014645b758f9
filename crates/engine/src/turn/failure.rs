//! Why a turn failed, said so that the engineer knows what to do, and the
//! `turn.failed` event that carries it.

use serde::Serialize;

use crate::events::{NewEvent, names};
use crate::ids::TurnId;
use crate::llm::{LlmError, LlmErrorKind};
use crate::sessions::{LostTurn, TurnErrorInfo};

/// How a failure is classed, for the status code the server picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// No provider, or it is overloaded / rate-limiting (503).
    Unavailable,
    /// The provider took too long (504).
    Timeout,
    /// The provider failed or broke its stream (502).
    BadGateway,
    /// Storing the turn failed (500).
    Internal,
}

/// Why a turn failed, said so the engineer knows what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TurnFailure {
    pub class: FailureClass,
    pub code: &'static str,
    pub message: String,
    /// The stored turn, when there is one (failed or incomplete).
    pub turn_id: Option<TurnId>,
    /// Seconds the provider asked us to wait, when it said.
    pub retry_after: Option<u64>,
}

impl TurnFailure {
    pub fn no_provider() -> Self {
        Self {
            class: FailureClass::Unavailable,
            code: "no_provider",
            message: "No AI provider is configured, so FlowPilot cannot answer messages. Set FLOWPILOT_LLM_PROVIDER (anthropic or openai), FLOWPILOT_LLM_API_KEY and, for a local or self-hosted model, FLOWPILOT_LLM_BASE_URL, then restart FlowPilot.".into(),
            turn_id: None,
            retry_after: None,
        }
    }

    pub(crate) fn from_llm(e: &LlmError, turn_id: TurnId) -> Self {
        let (class, code) = match e.kind {
            LlmErrorKind::Auth => (FailureClass::BadGateway, "provider_auth"),
            LlmErrorKind::RateLimited => (FailureClass::Unavailable, "provider_rate_limited"),
            LlmErrorKind::Overloaded => (FailureClass::Unavailable, "provider_overloaded"),
            LlmErrorKind::BadRequest => (FailureClass::BadGateway, "provider_rejected"),
            LlmErrorKind::Timeout => (FailureClass::Timeout, "provider_timeout"),
            LlmErrorKind::Network => (FailureClass::BadGateway, "provider_unreachable"),
            LlmErrorKind::Protocol => (FailureClass::BadGateway, "provider_protocol"),
        };
        Self {
            class,
            code,
            message: e.message().to_owned(),
            turn_id: Some(turn_id),
            retry_after: e.retry_after.map(|d| d.as_secs().max(1)),
        }
    }

    pub(crate) fn broken_stream(e: &LlmError, turn_id: TurnId) -> Self {
        Self {
            class: if e.kind == LlmErrorKind::Timeout {
                FailureClass::Timeout
            } else {
                FailureClass::BadGateway
            },
            code: "provider_stream_broken",
            message: format!(
                "The AI provider's answer broke off part-way; what arrived is kept as an incomplete turn and none of its suggestions were applied. Send the message again to get a full answer. ({})",
                e.message()
            ),
            turn_id: Some(turn_id),
            retry_after: None,
        }
    }

    pub(crate) fn storage(turn_id: TurnId, answer_kept: bool) -> Self {
        let kept = if answer_kept {
            "The answer is kept with the turn, but nothing it suggested was applied."
        } else {
            "Nothing was stored."
        };
        Self {
            class: FailureClass::Internal,
            code: "storage_failed",
            message: format!(
                "FlowPilot could not store this turn (a database error; it was logged). {kept} Send the message again in a moment."
            ),
            turn_id: Some(turn_id),
            retry_after: None,
        }
    }

    pub fn info(&self) -> TurnErrorInfo {
        TurnErrorInfo {
            code: self.code.to_owned(),
            message: self.message.clone(),
        }
    }
}

impl FailureClass {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Unavailable => "unavailable",
            FailureClass::Timeout => "timeout",
            FailureClass::BadGateway => "bad_gateway",
            FailureClass::Internal => "internal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            FailureClass::Unavailable,
            FailureClass::Timeout,
            FailureClass::BadGateway,
            FailureClass::Internal,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

impl TurnFailure {
    /// This instance is shutting down and takes no new turns.
    pub fn shutting_down() -> Self {
        Self {
            class: FailureClass::Unavailable,
            code: "shutting_down",
            message: "This FlowPilot instance is shutting down and takes no new messages; send the message again in a moment (another instance, or this one after its restart, will answer).".into(),
            turn_id: None,
            retry_after: Some(2),
        }
    }

    /// A running turn given up on: its instance stopped or went away.
    pub fn lost(turn_id: TurnId, why: LostTurn) -> Self {
        let (code, message) = match why {
            LostTurn::Restarted => (
                "server_restarted",
                "FlowPilot stopped while this reply was being written; send the message again.",
            ),
            LostTurn::LeaseExpired => (
                "instance_lost",
                "The FlowPilot instance writing this reply stopped answering before it finished; send the message again.",
            ),
        };
        Self {
            class: FailureClass::Unavailable,
            code,
            message: message.into(),
            turn_id: Some(turn_id),
            retry_after: None,
        }
    }

    /// The `turn.failed` event: `{"error": {"code", "message"}, "turn_id",
    /// "class"}` (`class` tells a replay which status to answer with).
    pub fn event(&self, turn_id: TurnId) -> NewEvent {
        NewEvent::new(
            names::TURN_FAILED,
            Some(turn_id),
            &serde_json::json!({
                "error": { "code": self.code, "message": self.message },
                "turn_id": turn_id,
                "class": self.class.as_str(),
            }),
        )
    }

    /// Rebuilds a failure from its `turn.failed` event data.
    pub fn from_event(data: &serde_json::Value) -> Option<Self> {
        let code = data["error"]["code"].as_str()?;
        Some(Self {
            class: FailureClass::parse(data["class"].as_str()?)?,
            // Codes are a closed set of literals; an unknown one (from a
            // newer instance) is reported as the generic failure.
            code: KNOWN_CODES
                .iter()
                .copied()
                .find(|c| *c == code)
                .unwrap_or("turn_failed"),
            message: data["error"]["message"].as_str()?.to_owned(),
            turn_id: data["turn_id"].as_str().and_then(|t| t.parse().ok()),
            retry_after: None,
        })
    }
}

const KNOWN_CODES: &[&str] = &[
    "no_provider",
    "provider_auth",
    "provider_rate_limited",
    "provider_overloaded",
    "provider_rejected",
    "provider_timeout",
    "provider_unreachable",
    "provider_protocol",
    "provider_stream_broken",
    "storage_failed",
    "turn_not_running",
    "shutting_down",
    "server_restarted",
    "instance_lost",
];

/// The `turn.started` event, written with the running turn.
pub fn started_event(turn_id: TurnId) -> NewEvent {
    NewEvent::new(
        names::TURN_STARTED,
        Some(turn_id),
        &serde_json::json!({ "turn_id": turn_id }),
    )
}
