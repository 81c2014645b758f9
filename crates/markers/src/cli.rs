//! What `flowpilot markers parse` prints: the spec's output object, and the
//! `--stream-chunks N` mode that builds the same object from the streaming
//! parser's events (so the CLI can exercise the streaming path end to end).

use serde_json::{Map, Value, json};

use crate::collect::{BlockForm, Payload};
use crate::stream::{Event, StreamParser};
use crate::types::{MarkerKind, Parsed};

/// The spec's "Output of `flowpilot markers parse`" object. Empty lists are
/// written as `null` (except `diagnostics`, always a list).
pub fn to_cli_json(p: &Parsed) -> Value {
    fn list<T: serde::Serialize>(items: &[T]) -> Value {
        if items.is_empty() {
            Value::Null
        } else {
            json!(items)
        }
    }
    let mut o = Map::new();
    o.insert("display".into(), json!(p.display));
    o.insert("questions".into(), list(&p.questions));
    o.insert("actions".into(), list(&p.actions));
    o.insert("fork".into(), json!(p.fork));
    o.insert("promote".into(), list(&p.promote));
    o.insert("suggest_fix".into(), json!(p.suggest_fix));
    o.insert("fix_outcome".into(), json!(p.fix_outcome));
    o.insert("diagnostics".into(), json!(p.diagnostics));
    Value::Object(o)
}

/// Feed `reply` to a [`StreamParser`] in chunks of `chunk_bytes` bytes and
/// build the result from the events alone (display deltas concatenated,
/// payloads gathered, the last SUGGEST_FIX / FIX_OUTCOME event deciding).
///
/// Chunks are cut at character boundaries: a cut that would split a
/// character moves back to its start, or forward past it when that would
/// leave the chunk empty. `chunk_bytes` of 0 is treated as 1.
pub fn parse_streamed(reply: &str, chunk_bytes: usize) -> Parsed {
    let mut stream = StreamParser::new();
    let mut out = Parsed::default();
    let mut take = |e: Event| apply(&mut out, e);
    for chunk in chunks(reply, chunk_bytes.max(1)) {
        stream.push_with(chunk, &mut take);
    }
    for e in stream.finish().events {
        take(e);
    }
    out
}

/// Split `s` into pieces of about `n` bytes at char boundaries.
pub(crate) fn chunks(s: &str, n: usize) -> impl Iterator<Item = &str> {
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= s.len() {
            return None;
        }
        let mut end = (start + n).min(s.len());
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        if end == start {
            end = start + 1;
            while !s.is_char_boundary(end) {
                end += 1;
            }
        }
        let piece = &s[start..end];
        start = end;
        Some(piece)
    })
}

/// Fold one event into the result being rebuilt.
fn apply(out: &mut Parsed, e: Event) {
    let m = match e {
        Event::Display(d) => {
            out.display.push_str(&d);
            return;
        }
        Event::Marker(m) => m,
    };
    out.diagnostics.extend(m.diagnostics);
    // The last SUGGEST_FIX / FIX_OUTCOME block decides, even if it gave
    // nothing; a stray closing tag is not a block.
    match (m.kind, m.form) {
        (_, BlockForm::StrayClosingTag) => {}
        (MarkerKind::SuggestFix, _) => out.suggest_fix = None,
        (MarkerKind::FixOutcome, _) => out.fix_outcome = None,
        _ => {}
    }
    match m.payload {
        None => {}
        Some(Payload::Questions(q)) => out.questions.extend(q),
        Some(Payload::Actions(a)) => out.actions.extend(a),
        Some(Payload::Fork(f)) => out.fork = Some(f),
        Some(Payload::Promote(p)) => out.promote.push(p),
        Some(Payload::SuggestFix(f)) => out.suggest_fix = Some(f),
        Some(Payload::FixOutcome(f)) => out.fix_outcome = Some(f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunking_respects_char_boundaries() {
        let s = "aé😀b";
        for n in 1..8 {
            let parts: Vec<&str> = chunks(s, n).collect();
            assert_eq!(parts.concat(), s, "{n}");
            assert!(parts.iter().all(|p| !p.is_empty()));
        }
        assert_eq!(chunks("abcde", 2).collect::<Vec<_>>(), ["ab", "cd", "e"]);
        assert_eq!(chunks("", 3).count(), 0);
    }

    #[test]
    fn cli_json_shape() {
        let v = to_cli_json(&crate::parse(
            "hi [QUESTIONS][{\"text\":\"q\"}][/QUESTIONS]",
        ));
        let keys: Vec<&str> = v
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        let mut want = vec![
            "display",
            "questions",
            "actions",
            "fork",
            "promote",
            "suggest_fix",
            "fix_outcome",
            "diagnostics",
        ];
        want.sort_unstable();
        assert_eq!(sorted, want);
        assert_eq!(v["questions"], json!([{"text": "q", "context": ""}]));
        assert_eq!(v["actions"], Value::Null);
        assert_eq!(v["diagnostics"], json!([]));
    }
}
