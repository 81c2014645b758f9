//! Turns a parsed reply into what the turn stores: the task lane with
//! stable ids, facts with checked references, the fix change and the
//! outcome proposal, with a diagnostic for everything set aside.

use std::collections::HashSet;

use time::OffsetDateTime;
use uuid::Uuid;

use super::prompt::summary_entry;
use crate::ids::{FixId, ScriptTemplateId};
use crate::sessions::{
    FactSource, FixChange, ForkChange, ForkRecord, HistoryTurn, NewFact, NewFix, OutcomeProposal,
    ReplyRecord, TurnCommit, TurnContext, TurnDiagnostic, assign_lane_ids, plan_fork,
};

/// A SUGGEST_FIX's `script_template_slug`, looked up in the account's library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlugLookup {
    NoSlug,
    Found(ScriptTemplateId),
    Unknown(String),
}

fn uuid_of(u: &markers::Uuid) -> Uuid {
    Uuid::from_bytes(*u.as_bytes())
}

fn diagnostic(marker: &str, reason: String) -> TurnDiagnostic {
    TurnDiagnostic {
        marker: marker.to_owned(),
        reason,
    }
}

/// What makes two facts the same one.
fn fact_key(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

pub struct PlanInput<'a> {
    pub ctx: &'a TurnContext,
    pub parsed: markers::Parsed,
    pub reply: ReplyRecord,
    pub slug: SlugLookup,
    /// For the problem summary, when the session has none yet.
    pub message: &'a str,
    pub now: OffsetDateTime,
}

pub fn plan(turn_id: crate::ids::TurnId, input: PlanInput<'_>) -> TurnCommit {
    let PlanInput {
        ctx,
        parsed,
        mut reply,
        slug,
        message,
        now,
    } = input;
    reply
        .diagnostics
        .extend(parsed.diagnostics.iter().map(TurnDiagnostic::from));

    let (task_lane, new_lane_items) =
        assign_lane_ids(&parsed.questions, &parsed.actions, &ctx.lane_items);
    let known: HashSet<Uuid> = ctx
        .lane_items
        .iter()
        .chain(&new_lane_items)
        .map(|i| i.id)
        .collect();

    // A fact the session already has (same text, ignoring case and
    // spacing) is not added again: models re-promote what they know.
    let mut have: HashSet<String> = ctx.facts.iter().map(|f| fact_key(&f.text)).collect();
    let (fresh, repeated): (Vec<_>, Vec<_>) = parsed
        .promote
        .iter()
        .partition(|p| have.insert(fact_key(&p.text)));
    for p in repeated {
        reply.diagnostics.push(diagnostic(
            "promote",
            format!(
                "\"{}\" is already in \"What we know\"; not added again",
                p.text
            ),
        ));
    }
    let facts = fresh
        .into_iter()
        .map(|p| {
            let source_ref = p.source_ref.as_ref().map(uuid_of);
            let source_ref = match source_ref {
                Some(r) if !known.contains(&r) => {
                    reply.diagnostics.push(diagnostic(
                        "promote",
                        format!(
                            "source_ref {r} names no task-lane item of this session; the fact is kept without it"
                        ),
                    ));
                    None
                }
                other => other,
            };
            NewFact {
                source_type: FactSource::from(p.source_type),
                source_ref,
                text: p.text.clone(),
                summary: p.summary.clone(),
            }
        })
        .collect();

    let fix = match parsed.suggest_fix {
        None => FixChange::None,
        Some(s) => {
            let script_template_id = match slug {
                SlugLookup::Found(id) => Some(id),
                SlugLookup::NoSlug => None,
                SlugLookup::Unknown(slug) => {
                    reply.diagnostics.push(diagnostic(
                        "suggest_fix",
                        format!(
                            "script template `{slug}` is not in the account's library; the fix is kept with its drafted script only"
                        ),
                    ));
                    None
                }
            };
            let repeats_active = ctx.active_fix.as_ref().filter(|a| {
                a.title == s.title
                    && a.description == s.description
                    && a.script_template_id == script_template_id
                    && a.ai_drafted_script == s.ai_drafted_script
            });
            match repeats_active {
                Some(active) => FixChange::KeepActive(active.id),
                None => FixChange::Supersede(NewFix {
                    title: s.title,
                    description: s.description,
                    confidence_pct: s.confidence_pct,
                    script_template_id,
                    ai_drafted_script: s.ai_drafted_script,
                    ai_drafted_parameters: s.ai_drafted_parameters,
                }),
            }
        }
    };

    let outcome_proposal = parsed.fix_outcome.and_then(|o| {
        let fix_id = FixId::from(uuid_of(&o.fix_id));
        if ctx.fix_ids.contains(&fix_id) {
            Some((
                fix_id,
                OutcomeProposal {
                    outcome: o.outcome.into(),
                    reason: o.reason,
                    proposed_at: now,
                },
            ))
        } else {
            reply.diagnostics.push(diagnostic(
                "fix_outcome",
                format!("fix_id {fix_id} is not a fix of this session; the proposal was dropped"),
            ));
            None
        }
    });

    let fork = parsed.fork.as_ref().map(ForkRecord::from);
    let fork_change = match &fork {
        None => ForkChange::None,
        Some(f) => {
            let (change, why) = plan_fork(&ctx.branches, f);
            if let Some(why) = why {
                reply.diagnostics.push(diagnostic("fork", why));
            }
            change
        }
    };
    // What the branch's siblings will read of this exchange.
    let branch_line = ctx.branches.active.map(|_| {
        summary_entry(&HistoryTurn {
            user_message: message.to_owned(),
            display: reply.display.clone(),
        })
    });

    let problem_summary = ctx
        .session
        .problem_summary
        .is_none()
        .then(|| crate::sessions::title_from(message));

    TurnCommit {
        turn_id,
        session_id: ctx.session.id,
        reply,
        fork,
        fork_change,
        branch_line,
        task_lane,
        new_lane_items,
        facts,
        fix,
        outcome_proposal,
        problem_summary,
    }
}
