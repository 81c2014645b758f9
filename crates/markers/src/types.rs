//! The typed, validated results of parsing a reply: one struct per marker
//! payload, the diagnostics, and [`Parsed`], which gathers them with the
//! display text. Every field here has already passed the spec's item rules, so
//! consumers never re-validate.

use serde::Serialize;

/// The six marker names, as they appear between the brackets of a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum MarkerKind {
    #[serde(rename = "QUESTIONS")]
    Questions,
    #[serde(rename = "ACTIONS")]
    Actions,
    #[serde(rename = "FORK")]
    Fork,
    #[serde(rename = "PROMOTE")]
    Promote,
    #[serde(rename = "SUGGEST_FIX")]
    SuggestFix,
    #[serde(rename = "FIX_OUTCOME")]
    FixOutcome,
}

impl MarkerKind {
    /// All kinds, in the order the spec lists them.
    pub const ALL: [MarkerKind; 6] = [
        MarkerKind::Questions,
        MarkerKind::Actions,
        MarkerKind::Fork,
        MarkerKind::Promote,
        MarkerKind::SuggestFix,
        MarkerKind::FixOutcome,
    ];

    /// The tag name, e.g. `SUGGEST_FIX`.
    pub fn name(self) -> &'static str {
        match self {
            MarkerKind::Questions => "QUESTIONS",
            MarkerKind::Actions => "ACTIONS",
            MarkerKind::Fork => "FORK",
            MarkerKind::Promote => "PROMOTE",
            MarkerKind::SuggestFix => "SUGGEST_FIX",
            MarkerKind::FixOutcome => "FIX_OUTCOME",
        }
    }

    /// The closing tag, e.g. `[/FORK]`; used as the needle when looking for
    /// the end of a block.
    pub fn closing_tag(self) -> &'static str {
        match self {
            MarkerKind::Questions => "[/QUESTIONS]",
            MarkerKind::Actions => "[/ACTIONS]",
            MarkerKind::Fork => "[/FORK]",
            MarkerKind::Promote => "[/PROMOTE]",
            MarkerKind::SuggestFix => "[/SUGGEST_FIX]",
            MarkerKind::FixOutcome => "[/FIX_OUTCOME]",
        }
    }
}

impl std::fmt::Display for MarkerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A question for the engineer (QUESTIONS item).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Question {
    /// Trimmed, never empty.
    pub text: String,
    /// As written; `""` when absent or not a string.
    pub context: String,
}

/// A suggested action (ACTIONS item).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    /// Trimmed, never empty.
    pub label: String,
    /// A non-empty string as written, or `None`.
    pub command: Option<String>,
    /// As written; `""` when absent or not a string.
    pub description: String,
}

/// One option of a FORK.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForkOption {
    /// Trimmed, never empty.
    pub label: String,
    /// As written; `""` when absent or not a string.
    pub description: String,
}

/// A fork between hypotheses: 2 to 8 options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fork {
    /// Trimmed; `""` when absent or not a string.
    pub fork_reason: String,
    pub options: Vec<ForkOption>,
}

/// Where a promoted fact came from. `user_note` is deliberately absent: only
/// the engineer may create those, never the assistant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceType {
    Question,
    DiagnosticCheck,
    AiSynthesis,
}

impl SourceType {
    /// The wire name, e.g. `diagnostic_check`.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceType::Question => "question",
            SourceType::DiagnosticCheck => "diagnostic_check",
            SourceType::AiSynthesis => "ai_synthesis",
        }
    }
}

/// A UUID in canonical form: 36 chars, hyphenated, lower-case hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Uuid([u8; 16]);

impl Uuid {
    pub(crate) fn from_bytes(bytes: [u8; 16]) -> Self {
        Uuid(bytes)
    }

    /// The 16 raw bytes, big-endian as written.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl std::fmt::Display for Uuid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl Serialize for Uuid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A fact the assistant asks to pin (PROMOTE block).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Promote {
    pub source_type: SourceType,
    /// Always `None` for [`SourceType::AiSynthesis`].
    pub source_ref: Option<Uuid>,
    /// Trimmed, never empty.
    pub text: String,
    /// Trimmed, never empty when present.
    pub summary: Option<String>,
}

/// A proposed fix (the last SUGGEST_FIX block, when valid).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SuggestFix {
    /// Trimmed, non-empty, at most 200 Unicode scalar values.
    pub title: String,
    /// Trimmed, non-empty.
    pub description: String,
    /// 0..=100, rounded half to even.
    pub confidence_pct: u8,
    /// Trimmed, non-empty when present.
    pub script_template_slug: Option<String>,
    /// Non-empty, as written, when present.
    pub ai_drafted_script: Option<String>,
    pub ai_drafted_parameters: Option<serde_json::Map<String, serde_json::Value>>,
}

/// How an applied fix went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
    Partial,
}

impl Outcome {
    /// The wire name, e.g. `partial`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Partial => "partial",
        }
    }
}

/// The result of a fix (the last FIX_OUTCOME block, when valid).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FixOutcome {
    pub fix_id: Uuid,
    pub outcome: Outcome,
    /// Trimmed; `""` when absent or not a string.
    pub reason: String,
}

/// Why some of the model's output was not used. Only the presence of
/// diagnostics is contract; `reason` is free text for prompt authors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub marker: MarkerKind,
    pub reason: String,
}

impl Diagnostic {
    pub(crate) fn new(marker: MarkerKind, reason: &str) -> Self {
        Diagnostic {
            marker,
            reason: reason.to_owned(),
        }
    }
}

/// Everything parsed out of one reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Parsed {
    /// The prose the engineer sees: blocks removed, seams collapsed, trimmed.
    pub display: String,
    pub questions: Vec<Question>,
    pub actions: Vec<Action>,
    pub fork: Option<Fork>,
    pub promote: Vec<Promote>,
    pub suggest_fix: Option<SuggestFix>,
    pub fix_outcome: Option<FixOutcome>,
    pub diagnostics: Vec<Diagnostic>,
}
