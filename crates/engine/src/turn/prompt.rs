//! Builds what the model sees for a turn: the system prompt (which teaches
//! the marker protocol), the session's state and the retrieved flows, the
//! history, and the engineer's new message with any images.

use std::fmt::Write as _;

use crate::llm::{ChatMessage, ChatRequest, ImageInput};
use crate::retrieval::RetrievedFlow;
use crate::sessions::{
    Branch, BranchContext, BranchStatus, BranchTree, ContextFit, Fact, Fix, HistoryTurn, TaskLane,
    TurnContext,
};

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

/// The "What we know", "Current fix" and "Current task lane" sections:
/// always in the prompt in full, however long the session.
pub fn state_section(facts: &[Fact], active_fix: Option<&Fix>, lane: &TaskLane) -> String {
    let mut out = String::from("## What we know\n\n");
    if facts.is_empty() {
        out.push_str("Nothing established yet.\n");
    }
    for fact in facts {
        let _ = writeln!(out, "- {} ({})", fact.text.trim(), fact.source_type);
    }
    out.push_str("\n## Current fix\n\n");
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

fn status_words(b: &Branch) -> String {
    match b.status {
        BranchStatus::Active => "open".to_owned(),
        BranchStatus::Revived => "revived".to_owned(),
        BranchStatus::Resolved => "resolved".to_owned(),
        BranchStatus::RuledOut => match &b.ruled_out_reason {
            Some(why) => format!("ruled out: {}", one_line(why, 300)),
            None => "ruled out".to_owned(),
        },
    }
}

fn tree_lines(
    out: &mut String,
    tree: &BranchTree,
    b: &Branch,
    active: Option<&Branch>,
    depth: usize,
) {
    let indent = "  ".repeat(depth);
    let here = if active.is_some_and(|a| a.id == b.id) {
        " ← you are here"
    } else {
        ""
    };
    if b.is_root() {
        let _ = writeln!(out, "{indent}- Main line{here}");
    } else {
        let _ = writeln!(out, "{indent}- \"{}\" ({}){here}", b.label, status_words(b));
    }
    let children = tree.children(b.id);
    let mut forks: Vec<_> = children.iter().filter_map(|c| c.fork_point_id).collect();
    forks.dedup();
    for fork in forks {
        if let Some(fp) = tree.fork_point(fork) {
            let _ = writeln!(
                out,
                "{indent}  - forked because: {}",
                one_line(&fp.fork_reason, 300)
            );
        }
        for child in children.iter().filter(|c| c.fork_point_id == Some(fork)) {
            tree_lines(out, tree, child, active, depth + 2);
        }
    }
}

/// The "Investigation branches" section of a branching session: the tree,
/// where the conversation is, the revival evidence of a revived branch,
/// and what the other branches tried and learned (their running
/// summaries, kept as they progress, and the facts their turns promoted).
pub fn branch_section(branches: &BranchContext, facts: &[Fact]) -> Option<String> {
    let tree = &branches.tree;
    let root = tree.root()?;
    let active = branches.active.and_then(|a| tree.get(a));
    let mut out = String::from(
        "## Investigation branches

",
    );
    match branches.on_branch() {
        Some(b) => {
            let _ = writeln!(
                out,
                "The investigation forked. This conversation is the branch \"{}\": {}. Its history above the new message is the main line up to the fork, then this branch's own turns.",
                b.label,
                one_line(&b.description, 600)
            );
            if b.status == BranchStatus::Revived
                && let Some(evidence) = &b.evidence
            {
                let _ = writeln!(
                    out,
                    "\nThis branch was ruled out earlier and has been revived on new evidence: {}",
                    one_line(evidence, 1_000)
                );
            }
        }
        None => out.push_str(
            "The investigation forked; the conversation is on the main line. The engineer can switch to a branch to pursue its hypothesis.\n",
        ),
    }
    out.push_str("\nTree:\n");
    tree_lines(&mut out, tree, root, active, 0);
    let others: Vec<&Branch> = match branches.on_branch() {
        Some(b) => tree.siblings_along(b.id),
        None => tree.children(root.id),
    };
    let others: Vec<&Branch> = others
        .into_iter()
        .filter(|o| o.turn_count > 0 || o.status != BranchStatus::Active)
        .collect();
    if !others.is_empty() {
        out.push_str("\nOther branches, what was tried and learned there:\n");
    }
    for o in others {
        let _ = writeln!(out, "\n### \"{}\" ({})", o.label, status_words(o));
        for line in o.summary.lines().filter(|l| l.starts_with("- Engineer: ")) {
            let _ = writeln!(out, "{line}");
        }
        for f in facts.iter().filter(|f| f.branch_id == Some(o.id)) {
            let _ = writeln!(out, "- Learned: {}", one_line(&f.text, 300));
        }
        if let Some(evidence) = &o.evidence {
            let _ = writeln!(out, "- Revived on: {}", one_line(evidence, 300));
        }
    }
    Some(out)
}

/// The model's context window, as configured.
#[derive(Debug, Clone, Copy)]
pub struct ContextWindow {
    pub tokens: u32,
    /// Kept free for the reply.
    pub reply_tokens: u32,
}

/// About four characters per token, for English prose and code; images
/// count as a fixed amount (providers charge roughly this for a screenshot).
pub fn estimate_tokens(chars: usize) -> u32 {
    u32::try_from(chars.div_ceil(4)).unwrap_or(u32::MAX)
}
const IMAGE_TOKENS: u32 = 1_600;
/// Per message, for the roles and separators around it.
const MESSAGE_TOKENS: u32 = 4;
/// How much of one earlier exchange the summary keeps.
const SUMMARY_USER_CHARS: usize = 160;
const SUMMARY_REPLY_CHARS: usize = 240;

/// `text` on one line, whitespace runs collapsed, cut to `max` characters
/// with an ellipsis. Looks at no more of `text` than it keeps: summaries
/// are built for hundreds of turns.
fn one_line(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(max + 4);
    let mut kept = 0;
    let mut gap = false;
    for c in text.trim_start().chars() {
        if c.is_whitespace() {
            gap = true;
            continue;
        }
        if gap {
            gap = false;
            if kept + 1 >= max {
                out.push('…');
                return out;
            }
            out.push(' ');
            kept += 1;
        }
        if kept == max {
            out.push('…');
            return out;
        }
        out.push(c);
        kept += 1;
    }
    out
}

fn exchange_tokens(t: &HistoryTurn) -> u32 {
    estimate_tokens(t.user_message.len() + t.display.len().max(9)) + 2 * MESSAGE_TOKENS
}

/// Summarises folded exchanges, oldest first, in at most `budget` tokens:
/// the newest of them are kept when not all fit.
/// One exchange as the summary keeps it.
pub(crate) fn summary_line(t: &HistoryTurn) -> String {
    format!(
        "- Engineer: {} / Assistant: {}",
        one_line(&t.user_message, SUMMARY_USER_CHARS),
        one_line(&t.display, SUMMARY_REPLY_CHARS)
    )
}

/// The summary line for `leaving`, the oldest replayed exchange, as the
/// store appends it.
pub(crate) fn summary_entry(leaving: &HistoryTurn) -> String {
    let mut line = summary_line(leaving);
    line.push('\n');
    line
}

/// The stored summary's whole lines: trimming from the start may have cut
/// its first one.
fn stored_lines(summary: &str) -> impl Iterator<Item = &str> {
    summary.lines().filter(|l| l.starts_with("- Engineer: "))
}

/// The summary message: the session's stored lines, then lines for the
/// replayed turns that did not fit, newest kept first within `budget`
/// tokens. Returns it with the number of exchanges it stands for.
fn fold_summary(stored: &str, folded: &[&HistoryTurn], budget: u32) -> (String, u32) {
    let fresh: Vec<String> = folded.iter().map(|t| summary_line(t)).collect();
    let all: Vec<&str> = stored_lines(stored)
        .chain(fresh.iter().map(String::as_str))
        .collect();
    let mut spent = 0;
    let keep = all
        .iter()
        .rev()
        .take_while(|l| {
            spent += estimate_tokens(l.len() + 1);
            spent <= budget
        })
        .count();
    let total = u32::try_from(all.len()).unwrap_or(u32::MAX);
    let mut out = format!(
        "(Earlier in this session: {total} exchanges, folded into this summary to fit the model's context window. The facts, the current fix and the task lane above are complete.)\n"
    );
    if keep < all.len() {
        let _ = writeln!(out, "- … {} earlier exchanges left out …", all.len() - keep);
    }
    for line in &all[all.len() - keep..] {
        out.push_str(line);
        out.push('\n');
    }
    (out, total)
}

/// The whole request, fitted into the context window: the system prompt,
/// the session's state and the flows, as many of the newest earlier turns
/// as fit (within the history budget too), a summary of the rest, and the
/// new message.
pub fn build_request(
    flows: &[RetrievedFlow],
    ctx: &TurnContext,
    message: String,
    images: Vec<ImageInput>,
    budget: PromptBudget,
    window: ContextWindow,
) -> (ChatRequest, ContextFit) {
    let mut context = state_section(&ctx.facts, ctx.active_fix.as_ref(), &ctx.task_lane);
    context.push('\n');
    if let Some(branches) = branch_section(&ctx.branches, &ctx.facts) {
        context.push_str(&branches);
        context.push('\n');
    }
    context.push_str(&knowledge_base_section(flows, budget.retrieval_chars));
    let fixed = estimate_tokens(SYSTEM_PROMPT.len() + context.len() + message.len())
        + IMAGE_TOKENS * u32::try_from(images.len()).unwrap_or(u32::MAX)
        + MESSAGE_TOKENS;
    let room = window
        .tokens
        .saturating_sub(window.reply_tokens)
        .saturating_sub(fixed);
    // Room for the turns in full: all of it when nothing needs folding;
    // otherwise a fifth is left for the summary.
    let history = &ctx.history;
    let all: u32 = history.iter().map(exchange_tokens).sum();
    let fits_whole = ctx.summary.is_empty()
        && all <= room
        && history
            .iter()
            .map(|t| t.user_message.len() + t.display.len())
            .sum::<usize>()
            <= budget.history_chars;
    let full_room = if fits_whole { room } else { room - room / 5 };
    let (mut spent_tokens, mut spent_chars) = (0u32, 0usize);
    let keep = history
        .iter()
        .rev()
        .take_while(|t| {
            spent_tokens += exchange_tokens(t);
            spent_chars += t.user_message.len() + t.display.len();
            spent_tokens <= full_room && spent_chars <= budget.history_chars
        })
        .count();
    let folded: Vec<&HistoryTurn> = history[..history.len() - keep].iter().collect();

    let mut messages = Vec::with_capacity(keep * 2 + 3);
    let mut prompt_tokens = fixed;
    let mut folded_turns = 0;
    if !folded.is_empty() || !ctx.summary.is_empty() {
        let (summary, n) = fold_summary(
            &ctx.summary,
            &folded,
            room.saturating_sub(spent_tokens.min(full_room)),
        );
        folded_turns = n;
        prompt_tokens += estimate_tokens(summary.len()) + 2 * MESSAGE_TOKENS;
        messages.push(ChatMessage::user(summary));
        // The conversation must alternate.
        messages.push(ChatMessage::assistant("Understood."));
    }
    for turn in &history[history.len() - keep..] {
        prompt_tokens += exchange_tokens(turn);
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
    let fit = ContextFit {
        window_tokens: window.tokens,
        prompt_tokens,
        kept_turns: u32::try_from(keep).unwrap_or(u32::MAX),
        folded_turns,
    };
    (
        ChatRequest {
            system: SYSTEM_PROMPT.to_owned(),
            context: Some(context),
            messages,
            max_tokens: None,
            temperature: None,
            grounding: None,
        },
        fit,
    )
}

#[cfg(test)]
mod tests {
    use super::{one_line, stored_lines, summary_entry};
    use crate::sessions::HistoryTurn;

    #[test]
    fn a_summary_cut_mid_line_keeps_only_whole_lines() {
        let turn = |n: usize| HistoryTurn {
            user_message: format!("question {n}"),
            display: format!("answer {n}"),
        };
        let whole: String = (0..3).map(|n| summary_entry(&turn(n))).collect();
        assert!(whole.starts_with("- Engineer: question 0 / Assistant: answer 0\n"));
        let cut = &whole[10..];
        let lines: Vec<&str> = stored_lines(cut).collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains("question 1"));
    }

    #[test]
    fn one_line_collapses_whitespace_and_cuts_at_max_characters() {
        assert_eq!(one_line("  a\n\n b\tc  ", 10), "a b c");
        assert_eq!(one_line("abcdef", 3), "abc…");
        assert_eq!(one_line("ab cd", 3), "ab…");
        assert_eq!(one_line("ab cd", 5), "ab cd");
        assert_eq!(one_line("été à Zürich", 6), "été à…");
        assert_eq!(one_line("", 5), "");
    }
}
