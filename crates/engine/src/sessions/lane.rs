//! Task-lane rules: stable item ids across turns, and the engineer's
//! responses rendered into the next message.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use super::model::{
    LaneAction, LaneItem, LaneKind, LaneQuestion, ResponseStatus, TaskLane, TaskResponse,
};
use crate::account::ValidationError;

/// What the UI writes for an item not answered yet, and for a skipped one.
/// The model sees them as written; history keeps `(pending)` / `(skipped)`
/// so later turns do not revive stale items.
pub const PENDING_PLACEHOLDER: &str = "_(not yet completed)_";
pub const SKIPPED_PLACEHOLDER: &str = "_(skipped)_";

/// A response to one task-lane item, as the client sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingResponse {
    pub item_id: Uuid,
    pub status: ResponseStatus,
    pub answer: Option<String>,
}

/// Gives each question and action of a reply its id: the id the session's
/// lane already had for the same question text or action label, or a new
/// one. Repeats within one reply are dropped. Returns the lane and the
/// items that are new to the session.
pub fn assign_lane_ids(
    questions: &[markers::Question],
    actions: &[markers::Action],
    known: &[LaneItem],
) -> (TaskLane, Vec<LaneItem>) {
    let known: HashMap<(LaneKind, &str), Uuid> = known
        .iter()
        .map(|i| ((i.kind, i.text.as_str()), i.id))
        .collect();
    let mut new_items = Vec::new();
    let mut id_for = |kind: LaneKind, text: &str| -> Uuid {
        if let Some(id) = known.get(&(kind, text)) {
            return *id;
        }
        let id = Uuid::now_v7();
        new_items.push(LaneItem {
            id,
            kind,
            text: text.to_owned(),
        });
        id
    };
    let mut seen = HashSet::new();
    let mut lane = TaskLane::default();
    for q in questions {
        if seen.insert((LaneKind::Question, q.text.as_str())) {
            lane.questions.push(LaneQuestion {
                id: id_for(LaneKind::Question, &q.text),
                text: q.text.clone(),
                context: q.context.clone(),
            });
        }
    }
    for a in actions {
        if seen.insert((LaneKind::Action, a.label.as_str())) {
            lane.actions.push(LaneAction {
                id: id_for(LaneKind::Action, &a.label),
                label: a.label.clone(),
                command: a.command.clone(),
                description: a.description.clone(),
            });
        }
    }
    (lane, new_items)
}

/// Checks the responses against the session's current lane and renders
/// them as the "Task responses" section that starts the message the model
/// sees. Answers longer than `max_answer` characters are refused.
pub fn render_task_responses(
    lane: &TaskLane,
    responses: &[PendingResponse],
    max_answer: usize,
) -> Result<(String, Vec<TaskResponse>), ValidationError> {
    if responses.is_empty() {
        return Ok((String::new(), Vec::new()));
    }
    let mut seen = HashSet::new();
    let mut section = String::from("## Task responses\n");
    let mut kept = Vec::with_capacity(responses.len());
    for r in responses {
        let Some((kind, text)) = lane.item(r.item_id) else {
            return Err(ValidationError::new(
                "task_responses",
                format!(
                    "item {} is not in the session's task lane (it may have changed in another tab); reload the session and answer its current items",
                    r.item_id
                ),
            ));
        };
        if !seen.insert(r.item_id) {
            return Err(ValidationError::new(
                "task_responses",
                format!("item {} has more than one response", r.item_id),
            ));
        }
        let answer = r.answer.as_deref().map(str::trim).filter(|a| !a.is_empty());
        if answer.is_some_and(|a| a.chars().count() > max_answer) {
            return Err(ValidationError::new(
                "task_responses",
                format!(
                    "the answer to item {} is longer than {max_answer} characters",
                    r.item_id
                ),
            ));
        }
        let response = TaskResponse {
            item_id: r.item_id,
            kind,
            text: text.to_owned(),
            status: r.status,
            answer: answer.map(str::to_owned),
        };
        section.push_str(&response_line(&response));
        kept.push(response);
    }
    Ok((section, kept))
}

/// One line of the "Task responses" section.
fn response_line(r: &TaskResponse) -> String {
    let kind_name = match r.kind {
        LaneKind::Question => "Question",
        LaneKind::Action => "Action",
    };
    let outcome = match (r.status, r.answer.as_deref()) {
        (ResponseStatus::Pending, _) => PENDING_PLACEHOLDER.to_owned(),
        (ResponseStatus::Skipped, _) => SKIPPED_PLACEHOLDER.to_owned(),
        (status, Some(answer)) => format!("{}: {}", status.as_str(), answer),
        (status, None) => status.as_str().to_owned(),
    };
    format!("- {kind_name} {} \"{}\": {outcome}\n", r.item_id, r.text)
}

/// What the engineer wrote in a stored turn's message: the message
/// without the "Task responses" section its responses put before it.
pub fn engineer_text<'a>(stored: &'a str, responses: &[TaskResponse]) -> &'a str {
    if responses.is_empty() {
        return stored;
    }
    let mut section = String::from("## Task responses\n");
    for r in responses {
        section.push_str(&response_line(r));
    }
    section.push('\n');
    stored
        .strip_prefix(stored_message(&section).as_str())
        .unwrap_or(stored)
}

/// The message as history keeps it: the UI's placeholders normalised, so
/// later turns don't read them as items still open.
pub fn stored_message(prompt_message: &str) -> String {
    prompt_message
        .replace(PENDING_PLACEHOLDER, "(pending)")
        .replace(SKIPPED_PLACEHOLDER, "(skipped)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str) -> markers::Question {
        markers::Question {
            text: text.into(),
            context: String::new(),
        }
    }

    #[test]
    fn ids_follow_the_question_text_across_turns() {
        let (first, new1) = assign_lane_ids(&[q("A?"), q("B?")], &[], &[]);
        assert_eq!(new1.len(), 2);
        let (second, new2) = assign_lane_ids(&[q("B?"), q("C?")], &[], &new1);
        assert_eq!(second.questions[0].id, first.questions[1].id);
        assert_ne!(second.questions[1].id, first.questions[0].id);
        assert_eq!(new2.len(), 1);
    }

    #[test]
    fn a_repeated_question_in_one_reply_is_kept_once() {
        let (lane, new) = assign_lane_ids(&[q("A?"), q("A?")], &[], &[]);
        assert_eq!(lane.questions.len(), 1);
        assert_eq!(new.len(), 1);
    }

    #[test]
    fn placeholders_are_stored_normalised() {
        assert_eq!(
            stored_message("a _(not yet completed)_ b _(skipped)_"),
            "a (pending) b (skipped)"
        );
    }

    #[test]
    fn responses_must_name_items_of_the_lane() {
        let (lane, _) = assign_lane_ids(&[q("A?")], &[], &[]);
        let ok = PendingResponse {
            item_id: lane.questions[0].id,
            status: ResponseStatus::Answered,
            answer: Some("yes".into()),
        };
        let (text, kept) = render_task_responses(&lane, &[ok], 100).expect("valid");
        assert!(text.contains("\"A?\": answered: yes"), "{text}");
        assert_eq!(kept[0].text, "A?");
        let stray = PendingResponse {
            item_id: Uuid::now_v7(),
            status: ResponseStatus::Done,
            answer: None,
        };
        assert!(render_task_responses(&lane, &[stray], 100).is_err());
    }

    #[test]
    fn the_engineers_words_come_back_without_the_responses_section() {
        let (lane, _) = assign_lane_ids(&[q("A?"), q("B?")], &[], &[]);
        let responses = [
            PendingResponse {
                item_id: lane.questions[0].id,
                status: ResponseStatus::Answered,
                answer: Some("yes\n\nwith a blank line".into()),
            },
            PendingResponse {
                item_id: lane.questions[1].id,
                status: ResponseStatus::Pending,
                answer: None,
            },
        ];
        let (section, kept) = render_task_responses(&lane, &responses, 100).expect("valid");
        let text = "Here is what I found.\n\nSecond paragraph.";
        let stored = stored_message(&format!("{section}\n{text}"));
        assert_eq!(engineer_text(&stored, &kept), text);
        assert_eq!(engineer_text(text, &[]), text);
        // A message that does not start with its section is left whole.
        assert_eq!(engineer_text("no section here", &kept), "no section here");
    }
}
