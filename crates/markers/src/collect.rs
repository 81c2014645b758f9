//! Folding blocks, in reply order, into the reply-level result: the rules that
//! span blocks (QUESTIONS/ACTIONS de-duplication, first valid FORK, last
//! SUGGEST_FIX / FIX_OUTCOME) and the diagnostics. Shared by the batch and the
//! streaming parser so the two cannot drift apart on these rules.

use std::collections::HashSet;

use crate::types::{
    Action, Diagnostic, FixOutcome, Fork, MarkerKind, Parsed, Promote, Question, SuggestFix,
};
use crate::validate;

/// What one closed block contributed.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// The block's items that were not duplicates of earlier ones (possibly
    /// none, when every item repeats an earlier one).
    Questions(Vec<Question>),
    /// As for `Questions`, keyed on `label`.
    Actions(Vec<Action>),
    /// Only ever sent for the first valid FORK block.
    Fork(Fork),
    Promote(Promote),
    /// Provisional: a later SUGGEST_FIX block (valid, invalid or
    /// unterminated) replaces it. The final word is in the stream's end.
    SuggestFix(SuggestFix),
    /// Provisional, as for `SuggestFix`.
    FixOutcome(FixOutcome),
}

/// What was removed from the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockForm {
    /// An opening tag, its body and its closing tag.
    Closed,
    /// An opening tag with no closing tag after it; never parsed.
    Unterminated,
    /// A closing tag outside any block. Not a block: it never counts as the
    /// last SUGGEST_FIX / FIX_OUTCOME.
    StrayClosingTag,
}

/// One block (or stray closing tag) as it closes.
#[derive(Debug, Clone, PartialEq)]
pub struct MarkerEvent {
    pub kind: MarkerKind,
    pub form: BlockForm,
    /// `None` when the block was rejected, unterminated, a stray closing tag
    /// or a FORK after the first valid one.
    pub payload: Option<Payload>,
    /// The diagnostics this block gave, if any.
    pub diagnostics: Vec<Diagnostic>,
}

#[derive(Debug, Default)]
pub(crate) struct Collector {
    out: Parsed,
    seen_questions: HashSet<String>,
    seen_actions: HashSet<String>,
}

impl Collector {
    /// A block with its closing tag, for the batch parser: no event is
    /// built, which saves cloning every payload.
    pub(crate) fn block_quiet(&mut self, kind: MarkerKind, body: &str) {
        self.apply(kind, body);
    }

    /// A block with its closing tag. Returns the event describing it for the
    /// streaming parser to hand out.
    pub(crate) fn block(&mut self, kind: MarkerKind, body: &str) -> MarkerEvent {
        let diag_start = self.out.diagnostics.len();
        let payload = self.apply(kind, body);
        MarkerEvent {
            kind,
            form: BlockForm::Closed,
            payload,
            diagnostics: self.out.diagnostics[diag_start..].to_vec(),
        }
    }

    fn diag(&mut self, kind: MarkerKind, reason: &str) {
        self.out.diagnostics.push(Diagnostic::new(kind, reason));
    }

    fn dropped_items(&mut self, kind: MarkerKind, n: usize) {
        for _ in 0..n {
            self.diag(kind, "item dropped");
        }
    }

    fn apply(&mut self, kind: MarkerKind, body: &str) -> Option<Payload> {
        match kind {
            MarkerKind::Questions => match validate::questions(body) {
                Ok((items, dropped)) => {
                    self.dropped_items(kind, dropped);
                    let fresh: Vec<Question> = items
                        .into_iter()
                        .filter(|q| self.seen_questions.insert(q.text.clone()))
                        .collect();
                    self.out.questions.extend_from_slice(&fresh);
                    Some(Payload::Questions(fresh))
                }
                Err((dropped, reason)) => {
                    self.dropped_items(kind, dropped);
                    self.diag(kind, reason);
                    None
                }
            },
            MarkerKind::Actions => match validate::actions(body) {
                Ok((items, dropped)) => {
                    self.dropped_items(kind, dropped);
                    let fresh: Vec<Action> = items
                        .into_iter()
                        .filter(|a| self.seen_actions.insert(a.label.clone()))
                        .collect();
                    self.out.actions.extend_from_slice(&fresh);
                    Some(Payload::Actions(fresh))
                }
                Err((dropped, reason)) => {
                    self.dropped_items(kind, dropped);
                    self.diag(kind, reason);
                    None
                }
            },
            MarkerKind::Fork => {
                if self.out.fork.is_some() {
                    // Not even parsed: only the first valid FORK is used.
                    self.diag(kind, "extra fork ignored");
                    return None;
                }
                match validate::fork(body) {
                    Ok((fork, cut)) => {
                        if cut {
                            self.diag(kind, "options past 8 dropped");
                        }
                        self.out.fork = Some(fork.clone());
                        Some(Payload::Fork(fork))
                    }
                    Err(reason) => {
                        self.diag(kind, reason);
                        None
                    }
                }
            }
            MarkerKind::Promote => match validate::promote(body) {
                Ok(p) => {
                    self.out.promote.push(p.clone());
                    Some(Payload::Promote(p))
                }
                Err(reason) => {
                    self.diag(kind, reason);
                    None
                }
            },
            MarkerKind::SuggestFix => {
                // The last block decides, valid or not: an earlier valid block
                // never stands in for an invalid last one.
                let r = validate::suggest_fix(body);
                self.out.suggest_fix = r.as_ref().ok().cloned();
                match r {
                    Ok(f) => Some(Payload::SuggestFix(f)),
                    Err(reason) => {
                        self.diag(kind, reason);
                        None
                    }
                }
            }
            MarkerKind::FixOutcome => {
                let r = validate::fix_outcome(body);
                self.out.fix_outcome = r.as_ref().ok().cloned();
                match r {
                    Ok(f) => Some(Payload::FixOutcome(f)),
                    Err(reason) => {
                        self.diag(kind, reason);
                        None
                    }
                }
            }
        }
    }

    /// An opening tag with no closing tag: never parsed, but it is still the
    /// last SUGGEST_FIX / FIX_OUTCOME block if it is of that kind.
    pub(crate) fn unterminated(&mut self, kind: MarkerKind) -> MarkerEvent {
        match kind {
            MarkerKind::SuggestFix => self.out.suggest_fix = None,
            MarkerKind::FixOutcome => self.out.fix_outcome = None,
            _ => {}
        }
        self.single(kind, BlockForm::Unterminated, "unterminated")
    }

    /// A closing tag outside any block.
    pub(crate) fn stray(&mut self, kind: MarkerKind) -> MarkerEvent {
        self.single(
            kind,
            BlockForm::StrayClosingTag,
            "closing tag without opening tag",
        )
    }

    fn single(&mut self, kind: MarkerKind, form: BlockForm, reason: &str) -> MarkerEvent {
        let d = Diagnostic::new(kind, reason);
        self.out.diagnostics.push(d.clone());
        MarkerEvent {
            kind,
            form,
            payload: None,
            diagnostics: vec![d],
        }
    }

    pub(crate) fn finish(self, display: String) -> Parsed {
        Parsed {
            display,
            ..self.out
        }
    }
}
