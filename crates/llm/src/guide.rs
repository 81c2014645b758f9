//! The offline guide: a provider that needs no model. It answers through
//! the marker protocol from the turn's retrieved flows, walking the best
//! matching runbook: its diagnostic questions and checks become the task
//! lane, the engineer's answers become facts, the runbook's resolution
//! becomes the suggested fix once its checks are through, and "it worked" /
//! "still broken" becomes an outcome proposal. Deterministic: the same
//! turn gets the same reply.
//!
//! Which runbook a session is on travels in the lane itself: every item
//! it puts there names the flow (`runbook: slug`).

use async_trait::async_trait;
use engine::kb::outline::{outline, resolution_script, resolution_text};
use engine::llm::{
    ChatRequest, Grounding, LlmError, LlmProvider, ReplyStream, StopReason, StreamEvent, Usage,
};
use engine::retrieval::RetrievedFlow;
use engine::sessions::{LaneKind, ResponseStatus, TaskLane};
use serde_json::json;

pub const MODEL: &str = "offline-guide";

/// Said on the first turn of a session.
const NOTICE: &str = "(Offline guide: no AI model is configured, so these answers come straight from your team's runbooks. An admin can set FLOWPILOT_LLM_PROVIDER to use a model.)";

#[derive(Debug, Default, Clone, Copy)]
pub struct Guide;

#[async_trait]
impl LlmProvider for Guide {
    fn name(&self) -> &str {
        "guide"
    }

    fn model(&self) -> &str {
        MODEL
    }

    async fn stream(&self, req: ChatRequest) -> Result<ReplyStream, LlmError> {
        let grounding = req.grounding.as_deref().cloned().unwrap_or_default();
        let reply = reply(&grounding);
        let output_tokens = u64::try_from(reply.len().div_ceil(4)).unwrap_or(u64::MAX);
        let mut items: Vec<Result<StreamEvent, LlmError>> = chunks(&reply)
            .into_iter()
            .map(|c| Ok(StreamEvent::TextDelta(c)))
            .collect();
        items.push(Ok(StreamEvent::Usage(Usage {
            output_tokens,
            ..Usage::default()
        })));
        items.push(Ok(StreamEvent::Done {
            stop_reason: StopReason::EndTurn,
        }));
        Ok(Box::pin(futures::stream::iter(items)))
    }
}

/// The reply in pieces of about 64 bytes, as a model would stream it.
fn chunks(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + 64).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        out.push(text[start..end].to_owned());
        start = end;
    }
    out
}

const TAG: &str = "runbook: ";

/// The slug the lane's items name, if any.
fn current_slug(lane: &TaskLane) -> Option<String> {
    let named = |s: &str| {
        s.find(TAG)
            .map(|i| s[i + TAG.len()..].trim_end_matches(')').trim().to_owned())
    };
    lane.questions
        .iter()
        .find_map(|q| named(&q.context))
        .or_else(|| lane.actions.iter().find_map(|a| named(&a.description)))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Said {
    Worked,
    Partly,
    Failed,
}

/// What the engineer says about the fix, if anything.
fn outcome_said(message: &str) -> Option<Said> {
    let m = message.to_lowercase();
    let any = |words: &[&str]| words.iter().any(|w| m.contains(w));
    if any(&[
        "didn't work",
        "did not work",
        "didnt work",
        "not fixed",
        "still",
        "no luck",
        "no change",
        "same problem",
        "doesn't work",
        "does not work",
        "failed",
    ]) {
        Some(Said::Failed)
    } else if any(&["partly", "partially", "some users", "mostly", "half"]) {
        Some(Said::Partly)
    } else if any(&[
        "worked",
        "works now",
        "fixed",
        "resolved",
        "solved",
        "that did it",
        "sorted",
        "working again",
        "all good",
    ]) {
        Some(Said::Worked)
    } else {
        None
    }
}

/// The whole reply for a turn.
pub fn reply(g: &Grounding) -> String {
    let mut text = String::new();
    let mut blocks = String::new();

    // The fix's outcome first: that is what the engineer is reporting.
    if let (Some(fix), Some(said)) = (&g.active_fix, outcome_said(&g.message))
        && fix.outcome.is_none()
    {
        let (outcome, line) = match said {
            Said::Worked => (
                "success",
                "Good to hear the fix worked. Confirm the outcome on the fix card, then resolve the session.",
            ),
            Said::Partly => (
                "partial",
                "So the fix helped only in part. Confirm that on the fix card; the remaining checks below may show what is left.",
            ),
            Said::Failed => (
                "failure",
                "Sorry, the fix did not solve it. Record that on the fix card; go through any remaining checks, or describe what you see now so I can look for another runbook.",
            ),
        };
        text.push_str(line);
        text.push_str("\n\n");
        blocks.push_str(&marker(
            "FIX_OUTCOME",
            &json!({"fix_id": fix.id, "outcome": outcome, "reason": g.message.trim()}),
        ));
    }

    // Facts from what the engineer answered and did.
    let mut noted = 0;
    for r in &g.responses {
        let (source_type, fact) = match (r.kind, r.status, r.answer.as_deref().map(str::trim)) {
            (LaneKind::Question, ResponseStatus::Answered, Some(a)) if !a.is_empty() => {
                ("question", format!("{} {a}", r.text.trim()))
            }
            (LaneKind::Action, ResponseStatus::Done | ResponseStatus::Answered, answer) => (
                "diagnostic_check",
                match answer.filter(|a| !a.is_empty()) {
                    Some(a) => format!("{}: {a}", r.text.trim()),
                    None => format!("{}: done", r.text.trim()),
                },
            ),
            _ => continue,
        };
        noted += 1;
        blocks.push_str(&marker(
            "PROMOTE",
            &json!({"source_type": source_type, "source_ref": r.item_id, "text": fact}),
        ));
    }

    let slug = current_slug(&g.lane);
    let flow = slug
        .as_deref()
        .and_then(|s| g.flows.iter().find(|f| f.slug == s))
        .or_else(|| g.flows.first());
    let Some(flow) = flow else {
        if !g.earlier_turns {
            text.push_str(NOTICE);
            text.push_str("\n\n");
        }
        text.push_str("I found no runbook in your knowledge base that matches this. Describe the symptom with the exact error message, code or product name, or add a flow for it to the knowledge base.");
        return format!("{}\n{blocks}", text.trim_end());
    };
    let same_flow = slug.as_deref() == Some(flow.slug.as_str());
    let steps = outline(&flow.body);
    let tag = format!("{TAG}{}", flow.slug);

    // What is still open: on the flow already walked, the lane's items
    // the engineer did not answer, do or skip; on a new one, all of it.
    let closed: Vec<&str> = g
        .responses
        .iter()
        .filter(|r| r.status != ResponseStatus::Pending)
        .map(|r| r.text.as_str())
        .collect();
    let (questions, checks): (Vec<&String>, Vec<_>) = if same_flow {
        let in_lane = |t: &str| {
            g.lane.questions.iter().any(|q| q.text == t)
                || g.lane.actions.iter().any(|a| a.label == t)
        };
        (
            steps
                .questions
                .iter()
                .filter(|q| in_lane(q) && !closed.contains(&q.as_str()))
                .collect(),
            steps
                .checks
                .iter()
                .filter(|c| in_lane(&c.label) && !closed.contains(&c.label.as_str()))
                .collect(),
        )
    } else {
        (
            steps.questions.iter().collect(),
            steps.checks.iter().collect(),
        )
    };

    if !same_flow {
        if !g.earlier_turns {
            text.push_str(NOTICE);
            text.push_str("\n\n");
        }
        text.push_str(&format!(
            "This looks like the runbook **{}**. {}",
            flow.title,
            intro(&flow.body)
        ));
        let others: Vec<&str> = g
            .flows
            .iter()
            .skip(1)
            .take(2)
            .map(|f| f.title.as_str())
            .collect();
        if !others.is_empty() {
            text.push_str(&format!(
                "\n\nIf it isn't, these may fit better: {}.",
                others.join("; ")
            ));
        }
        text.push_str(
            "\n\nWork through the questions and checks in the task lane, then send what you found.",
        );
    } else if noted > 0 {
        text.push_str(&format!(
            "Noted {noted} finding{} in What we know.",
            if noted == 1 { "" } else { "s" }
        ));
    }

    if !questions.is_empty() {
        let items: Vec<_> = questions
            .iter()
            .map(|q| json!({"text": q, "context": tag}))
            .collect();
        blocks.push_str(&marker("QUESTIONS", &json!(items)));
    }
    if !checks.is_empty() {
        let items: Vec<_> = checks
            .iter()
            .map(|c| {
                json!({"label": c.label, "command": c.command, "description": format!("{} ({tag})", c.description)})
            })
            .collect();
        blocks.push_str(&marker("ACTIONS", &json!(items)));
    }

    // The runbook's checks are through: offer its resolution as the fix.
    let fix_title = format!("Resolution from \u{201c}{}\u{201d}", flow.title);
    let has_this_fix = g.active_fix.as_ref().is_some_and(|f| f.title == fix_title);
    if same_flow && questions.is_empty() && checks.is_empty() && !flow.resolution.is_empty() {
        if !has_this_fix {
            text.push_str(&format!(
                "\n\nThat covers the runbook's checks. Its resolution is in the fix card: {}",
                first_sentence(&resolution_text(&flow.resolution))
            ));
            text.push_str(" Tell me whether it worked.");
            blocks.push_str(&marker("SUGGEST_FIX", &fix(flow, &fix_title, noted)));
        } else if g.active_fix.as_ref().is_some_and(|f| f.outcome.is_none())
            && outcome_said(&g.message).is_none()
        {
            text.push_str("\n\nThe runbook's resolution is in the fix card. Apply it and tell me whether it worked.");
        }
    } else if same_flow && (!questions.is_empty() || !checks.is_empty()) && noted == 0 {
        text.push_str("The runbook's remaining questions and checks are in the task lane.");
    }
    format!("{}\n{blocks}", text.trim())
}

fn fix(flow: &RetrievedFlow, title: &str, noted: usize) -> serde_json::Value {
    // More confidence the more of the runbook was confirmed.
    let confidence = (55 + 5 * noted).min(85);
    let mut fix = json!({
        "title": title,
        "description": resolution_text(&flow.resolution),
        "confidence": confidence,
    });
    if let Some(script) = resolution_script(&flow.resolution) {
        fix["ai_drafted_script"] = json!(script);
    }
    fix
}

fn marker(name: &str, payload: &serde_json::Value) -> String {
    format!("[{name}]\n{payload}\n[/{name}]\n")
}

/// The body's first paragraph (before any heading).
fn intro(body: &str) -> String {
    let para: Vec<&str> = body
        .lines()
        .take_while(|l| !l.trim_start().starts_with('#'))
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .collect();
    para.join(" ").trim().to_owned()
}

fn first_sentence(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.find(". ") {
        Some(i) => flat[..=i].to_owned(),
        None => flat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_engineer_says_about_a_fix_is_read_conservatively() {
        assert_eq!(outcome_said("That worked, thanks"), Some(Said::Worked));
        assert_eq!(outcome_said("it didn't work"), Some(Said::Failed));
        assert_eq!(outcome_said("still prompting"), Some(Said::Failed));
        assert_eq!(outcome_said("fixed for some users"), Some(Said::Partly));
        assert_eq!(outcome_said("the printer is on floor 2"), None);
    }

    #[test]
    fn every_reply_parses_cleanly_as_the_marker_protocol() {
        let flow = RetrievedFlow {
            id: engine::ids::FlowId::new(),
            slug: "printer-offline".into(),
            title: "Printer offline".into(),
            symptoms: String::new(),
            body: "Use this when.\n\n## Diagnostic questions\n- Can you ping it?\n\n## Checks\n### Check the port\nIt may have moved.\n```powershell\nGet-PrinterPort\n```\n".into(),
            resolution: "Fix the port.\n```cmd\nnet stop spooler\n```".into(),
            score: 1.0,
            snippet: String::new(),
        };
        let g = Grounding {
            flows: vec![flow],
            message: "printer offline".into(),
            ..Grounding::default()
        };
        let parsed = markers::parse(&reply(&g));
        assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
        assert_eq!(parsed.questions.len(), 1);
        assert_eq!(parsed.actions.len(), 1);
        assert!(parsed.display.contains("Printer offline"));
    }
}
