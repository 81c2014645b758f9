//! The session as a Markdown report, to paste into a ticket: the problem,
//! what we know, the investigation's branches (which hypotheses were ruled
//! out and why), the questions asked and their answers, the actions run,
//! and every fix tried with its outcome.

use std::fmt::Write as _;

use super::branches::{Branch, BranchStatus, BranchTree};
use super::model::{Fact, FactSource, Fix, LaneKind, ResponseStatus, Session, Turn, TurnStatus};

/// Text from the model or the engineer, made safe for one Markdown line or
/// table-free paragraph: no raw HTML, no line breaks where one line is
/// expected.
fn inline(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn block(text: &str) -> String {
    text.trim().replace('<', "&lt;").replace('>', "&gt;")
}

/// One branch and, indented below it, its children.
fn write_branch(
    out: &mut String,
    tree: &BranchTree,
    b: &Branch,
    active: Option<&Branch>,
    depth: usize,
) {
    let indent = "  ".repeat(depth);
    let status = match b.status {
        BranchStatus::Active => "open",
        BranchStatus::RuledOut => "ruled out",
        BranchStatus::Revived => "revived",
        BranchStatus::Resolved => "resolved",
    };
    let current = if active.is_some_and(|a| a.id == b.id) {
        ", current"
    } else {
        ""
    };
    let turns = match b.turn_count {
        1 => "1 turn".to_owned(),
        n => format!("{n} turns"),
    };
    if b.is_root() {
        let _ = writeln!(out, "{indent}- **Main line** ({turns}{current})");
    } else {
        let _ = writeln!(
            out,
            "{indent}- **{}** — {status} ({turns}{current})",
            inline(&b.label)
        );
        if !b.description.trim().is_empty() {
            let _ = writeln!(out, "{indent}  - Hypothesis: {}", inline(&b.description));
        }
    }
    if let Some(reason) = &b.ruled_out_reason {
        let _ = writeln!(out, "{indent}  - Ruled out because: {}", inline(reason));
    }
    if let Some(evidence) = &b.evidence {
        let _ = writeln!(out, "{indent}  - Revived on: {}", inline(evidence));
    }
    let children = tree.children(b.id);
    let mut forks: Vec<_> = children.iter().filter_map(|c| c.fork_point_id).collect();
    forks.dedup();
    for fork in forks {
        if let Some(fp) = tree.fork_point(fork) {
            let _ = writeln!(out, "{indent}  - Forked: {}", inline(&fp.fork_reason));
        }
        for child in children.iter().filter(|c| c.fork_point_id == Some(fork)) {
            write_branch(out, tree, child, active, depth + 2);
        }
    }
}

pub fn render_report(
    session: &Session,
    facts: &[Fact],
    tree: &BranchTree,
    turns: &[Turn],
    fixes: &[Fix],
) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "# {}\n", inline(&session.title));
    let _ = writeln!(
        out,
        "- Status: {}\n- Opened: {}\n- Turns: {}\n",
        session.status,
        session
            .created_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        session.step_count,
    );
    let _ = writeln!(out, "## Problem\n\n{}\n", block(&session.intake));

    out.push_str("## What we know\n\n");
    if facts.is_empty() {
        out.push_str("Nothing recorded.\n\n");
    }
    for f in facts {
        let source = match f.source_type {
            FactSource::UserNote => "engineer's note",
            FactSource::Question => "from a question",
            FactSource::DiagnosticCheck => "from a check",
            FactSource::AiSynthesis => "assistant's conclusion",
        };
        let _ = writeln!(out, "- {} _({source})_", inline(&f.text));
    }
    out.push('\n');

    if let Some(root) = tree.root() {
        out.push_str(
            "## Investigation

",
        );
        let active = session.active_branch_id.and_then(|a| tree.get(a));
        write_branch(&mut out, tree, root, active, 0);
        out.push('\n');
    }

    let responses: Vec<_> = turns.iter().flat_map(|t| &t.task_responses).collect();
    let answered = |kind: LaneKind| {
        responses
            .iter()
            .filter(move |r| r.kind == kind && r.status != ResponseStatus::Pending)
    };
    out.push_str("## Questions asked\n\n");
    let mut any = false;
    for r in answered(LaneKind::Question) {
        any = true;
        let answer = match (r.status, &r.answer) {
            (ResponseStatus::Skipped, _) => "_skipped_".to_owned(),
            (_, Some(a)) => inline(a),
            (status, None) => status.as_str().to_owned(),
        };
        let _ = writeln!(out, "- **{}** {}", inline(&r.text), answer);
    }
    if !any {
        out.push_str("None answered.\n");
    }
    out.push_str("\n## Actions run\n\n");
    any = false;
    for r in answered(LaneKind::Action) {
        any = true;
        let result = match (r.status, &r.answer) {
            (ResponseStatus::Skipped, _) => "_skipped_".to_owned(),
            (_, Some(a)) => format!("done: {}", inline(a)),
            (_, None) => "done".to_owned(),
        };
        let _ = writeln!(out, "- **{}** {}", inline(&r.text), result);
    }
    if !any {
        out.push_str("None recorded.\n");
    }

    out.push_str("\n## Fixes tried\n\n");
    if fixes.is_empty() {
        out.push_str("None suggested.\n");
    }
    // Oldest first reads as a story.
    for fix in fixes.iter().rev() {
        let state = if fix.superseded_at.is_some() {
            "superseded"
        } else {
            "current"
        };
        let _ = writeln!(
            out,
            "### {} ({}% confidence, {state})\n\n{}\n",
            inline(&fix.title),
            fix.confidence_pct,
            block(&fix.description)
        );
        if let Some(script) = &fix.ai_drafted_script {
            let fence = if script.contains("```") {
                "~~~~"
            } else {
                "```"
            };
            let _ = writeln!(out, "{fence}\n{}\n{fence}\n", script.trim_end());
        }
        let decision = fix.decision.map_or("none yet", |d| d.as_str());
        let outcome = fix.outcome.map_or("not recorded", |o| o.as_str());
        let _ = writeln!(out, "- Decision: {decision}\n- Outcome: {outcome}");
        if let Some(note) = &fix.outcome_note {
            let _ = writeln!(out, "- Outcome note: {}", inline(note));
        }
        out.push('\n');
    }
    let stopped = turns
        .iter()
        .filter(|t| matches!(t.status, TurnStatus::Failed | TurnStatus::Incomplete))
        .count();
    if stopped > 0 {
        let _ = writeln!(
            out,
            "_{stopped} turn(s) failed or broke off and are not reflected above._"
        );
    }
    out
}
