//! Builds what the model sees for a turn: the system prompt (which teaches
//! the marker protocol), the session's state and the retrieved flows, the
//! history, and the engineer's new message with any images.

use std::fmt::Write as _;

use crate::llm::{ChatMessage, ChatRequest, ImageInput};
use crate::retrieval::RetrievedFlow;
use crate::sessions::{Fix, HistoryTurn, TaskLane};

/// FlowPilot's system prompt, kept under version control and tested: every
/// example in it parses cleanly.
pub const SYSTEM_PROMPT: &str = include_str!("../../prompts/system.md");

/// Budgets, in characters (about four per token).
#[derive(Debug, Clone, Copy)]
pub struct PromptBudget {
    /// For the knowledge-base flows.
    pub retrieval_chars: usize,
    /// For earlier turns; the oldest are left out first.
    pub history_chars: usize,
}

impl Default for PromptBudget {
    fn default() -> Self {
        Self {
            retrieval_chars: 24_000,
            history_chars: 160_000,
        }
    }
}

fn clip(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The "Knowledge base" section: the flows, best first, each cut to its
/// share of the budget, until the budget is spent.
pub fn knowledge_base_section(flows: &[RetrievedFlow], budget: usize) -> String {
    let mut out = String::from("## Knowledge base\n\n");
    if flows.is_empty() {
        out.push_str("No flow in the team's knowledge base matched this message.\n");
        return out;
    }
    let share = budget / flows.len().max(1);
    for flow in flows {
        if out.len() >= budget {
            break;
        }
        let mut entry = String::new();
        let _ = writeln!(entry, "### {} (`{}`)", flow.title, flow.slug);
        if !flow.symptoms.trim().is_empty() {
            let _ = writeln!(entry, "Symptoms: {}", flow.symptoms.trim());
        }
        let _ = writeln!(entry, "\n{}", flow.body.trim());
        if !flow.resolution.trim().is_empty() {
            let _ = writeln!(entry, "\nResolution: {}", flow.resolution.trim());
        }
        let entry = clip(&entry, share.max(400));
        out.push_str(entry);
        if !entry.ends_with('\n') {
            out.push_str(" …\n");
        }
        out.push('\n');
    }
    out
}

/// The "Current fix" and "Current task lane" sections.
pub fn state_section(active_fix: Option<&Fix>, lane: &TaskLane) -> String {
    let mut out = String::from("## Current fix\n\n");
    match active_fix {
        None => out.push_str("None suggested yet.\n"),
        Some(fix) => {
            let status = fix
                .outcome
                .map(|o| format!("outcome recorded: {o}"))
                .or_else(|| fix.decision.map(|d| d.to_string()))
                .unwrap_or_else(|| "not decided yet".to_owned());
            let _ = writeln!(
                out,
                "- id {}: \"{}\" ({}% confidence), {status}",
                fix.id, fix.title, fix.confidence_pct
            );
        }
    }
    out.push_str("\n## Current task lane\n\n");
    if lane.is_empty() {
        out.push_str("Empty.\n");
    }
    for q in &lane.questions {
        let _ = writeln!(out, "- Question {} \"{}\"", q.id, q.text);
    }
    for a in &lane.actions {
        let _ = writeln!(out, "- Action {} \"{}\"", a.id, a.label);
    }
    out
}

/// The whole request.
pub fn build_request(
    flows: &[RetrievedFlow],
    active_fix: Option<&Fix>,
    lane: &TaskLane,
    history: &[HistoryTurn],
    message: String,
    images: Vec<ImageInput>,
    budget: PromptBudget,
) -> ChatRequest {
    let context = format!(
        "{}\n{}",
        state_section(active_fix, lane),
        knowledge_base_section(flows, budget.retrieval_chars)
    );
    // The newest turns that fit the budget, oldest first.
    let mut spent = 0;
    let keep = history
        .iter()
        .rev()
        .take_while(|t| {
            spent += t.user_message.len() + t.display.len();
            spent <= budget.history_chars
        })
        .count();
    let mut messages = Vec::with_capacity(keep * 2 + 1);
    for turn in &history[history.len() - keep..] {
        messages.push(ChatMessage::user(turn.user_message.clone()));
        // A reply that was only markers still needs an assistant message
        // for the conversation to alternate.
        let display = if turn.display.is_empty() {
            "(no text)".to_owned()
        } else {
            turn.display.clone()
        };
        messages.push(ChatMessage::assistant(display));
    }
    let mut last = ChatMessage::user(message);
    last.images = images;
    messages.push(last);
    ChatRequest {
        system: SYSTEM_PROMPT.to_owned(),
        context: Some(context),
        messages,
        max_tokens: None,
        temperature: None,
    }
}
