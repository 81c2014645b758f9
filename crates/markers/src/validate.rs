//! Turning one block's body into a validated payload, per the item rules of
//! each marker. Cross-block rules (de-duplication, first FORK, last
//! SUGGEST_FIX) live in `collect.rs`; this module looks at one block only.

use serde_json::{Map, Value};

use crate::json;
use crate::types::{
    Action, FixOutcome, Fork, ForkOption, Outcome, Promote, Question, SourceType, SuggestFix,
};
use crate::uuid::parse_uuid;

/// Why a block was rejected; becomes a diagnostic's `reason`.
pub(crate) type Reject = &'static str;

pub(crate) const INVALID_JSON: Reject = "invalid json";

/// Strip surrounding whitespace and an optional Markdown fence, then parse.
pub(crate) fn body_json(body: &str) -> Result<Value, Reject> {
    let mut s = body.trim();
    if let Some(rest) = s.strip_prefix("```") {
        let rest = match rest.get(..4) {
            Some(tag) if tag.eq_ignore_ascii_case("json") => &rest[4..],
            _ => rest,
        };
        // An unclosed fence makes the block invalid, not "valid without fence".
        s = rest
            .trim_start()
            .strip_suffix("```")
            .ok_or(INVALID_JSON)?
            .trim_end();
    }
    json::parse(s).ok_or(INVALID_JSON)
}

/// `text` / `label` / `title` rule: a string, non-empty once trimmed, kept trimmed.
fn required_text(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    }
}

/// A string kept as written; anything else becomes `""`.
fn string_or_empty(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

/// A string kept trimmed; anything else becomes `""`.
fn trimmed_or_empty(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.trim().to_owned(),
        _ => String::new(),
    }
}

/// A string, trimmed; empty or anything else becomes `None`.
fn trimmed_nonempty(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    }
}

/// A non-empty string kept as written; anything else becomes `None`.
fn nonempty_as_written(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// Outcome of a list block: valid items and how many were dropped, or the
/// count of dropped items plus the rejection.
pub(crate) type ListResult<T> = Result<(Vec<T>, usize), (usize, Reject)>;

fn list_block<T>(body: &str, item: impl Fn(&Map<String, Value>) -> Option<T>) -> ListResult<T> {
    let Value::Array(arr) = body_json(body).map_err(|r| (0, r))? else {
        return Err((0, "not an array"));
    };
    let mut out = Vec::with_capacity(arr.len());
    let mut dropped = 0;
    for v in &arr {
        match v.as_object().and_then(&item) {
            Some(t) => out.push(t),
            None => dropped += 1,
        }
    }
    if out.is_empty() {
        return Err((dropped, "no valid item"));
    }
    Ok((out, dropped))
}

pub(crate) fn questions(body: &str) -> ListResult<Question> {
    list_block(body, |o| {
        Some(Question {
            text: required_text(o.get("text"))?,
            context: string_or_empty(o.get("context")),
        })
    })
}

pub(crate) fn actions(body: &str) -> ListResult<Action> {
    list_block(body, |o| {
        Some(Action {
            label: required_text(o.get("label"))?,
            command: nonempty_as_written(o.get("command")),
            description: string_or_empty(o.get("description")),
        })
    })
}

/// Maximum options kept in a FORK.
const MAX_FORK_OPTIONS: usize = 8;

/// A FORK block: the fork and whether options past the eighth were cut.
pub(crate) fn fork(body: &str) -> Result<(Fork, bool), Reject> {
    let Value::Object(o) = body_json(body)? else {
        return Err("not an object");
    };
    let Some(Value::Array(raw)) = o.get("options") else {
        return Err("options missing or not an array");
    };
    // Invalid options are dropped before the cap is applied.
    let mut options: Vec<ForkOption> = raw
        .iter()
        .filter_map(|v| {
            let opt = v.as_object()?;
            Some(ForkOption {
                label: required_text(opt.get("label"))?,
                description: string_or_empty(opt.get("description")),
            })
        })
        .collect();
    if options.len() < 2 {
        return Err("fewer than 2 options");
    }
    let cut = options.len() > MAX_FORK_OPTIONS;
    options.truncate(MAX_FORK_OPTIONS);
    Ok((
        Fork {
            fork_reason: trimmed_or_empty(o.get("fork_reason")),
            options,
        },
        cut,
    ))
}

pub(crate) fn promote(body: &str) -> Result<Promote, Reject> {
    let Value::Object(o) = body_json(body)? else {
        return Err("not an object");
    };
    let source_type = match o.get("source_type").and_then(Value::as_str) {
        Some("question") => SourceType::Question,
        Some("diagnostic_check") => SourceType::DiagnosticCheck,
        Some("ai_synthesis") => SourceType::AiSynthesis,
        _ => return Err("invalid"),
    };
    let text = required_text(o.get("text")).ok_or("invalid")?;
    let source_ref = match (source_type, o.get("source_ref")) {
        (SourceType::AiSynthesis, _) => None,
        (_, Some(Value::String(s))) => parse_uuid(s),
        _ => None,
    };
    Ok(Promote {
        source_type,
        source_ref,
        text,
        summary: trimmed_nonempty(o.get("summary")),
    })
}

/// Maximum title length, in Unicode scalar values.
const MAX_TITLE_CHARS: usize = 200;

pub(crate) fn suggest_fix(body: &str) -> Result<SuggestFix, Reject> {
    let Value::Object(o) = body_json(body)? else {
        return Err("not an object");
    };
    let (Some(mut title), Some(description), Some(Value::Number(n))) = (
        required_text(o.get("title")),
        required_text(o.get("description")),
        o.get("confidence"),
    ) else {
        return Err("missing fields");
    };
    if let Some((cut, _)) = title.char_indices().nth(MAX_TITLE_CHARS) {
        title.truncate(cut);
    }
    // as_f64 is total for the numbers our reader produces (finite doubles
    // and exact i64/u64); the fallback only guards a future representation.
    let c = n
        .as_f64()
        .ok_or("missing fields")?
        .round_ties_even()
        .clamp(0.0, 100.0);
    Ok(SuggestFix {
        title,
        description,
        // In 0..=100 after the clamp, so the cast cannot wrap.
        confidence_pct: c as u8,
        script_template_slug: trimmed_nonempty(o.get("script_template_slug")),
        ai_drafted_script: nonempty_as_written(o.get("ai_drafted_script")),
        ai_drafted_parameters: match o.get("ai_drafted_parameters") {
            Some(Value::Object(m)) => Some(m.clone()),
            _ => None,
        },
    })
}

pub(crate) fn fix_outcome(body: &str) -> Result<FixOutcome, Reject> {
    let Value::Object(o) = body_json(body)? else {
        return Err("not an object");
    };
    let fix_id = o
        .get("fix_id")
        .and_then(Value::as_str)
        .and_then(parse_uuid)
        .ok_or("invalid")?;
    let outcome = match o
        .get("outcome")
        .and_then(Value::as_str)
        .map(|s| s.trim().to_lowercase())
        .as_deref()
    {
        Some("success") => Outcome::Success,
        Some("failure") => Outcome::Failure,
        Some("partial") => Outcome::Partial,
        _ => return Err("invalid"),
    };
    Ok(FixOutcome {
        fix_id,
        outcome,
        reason: trimmed_or_empty(o.get("reason")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fences() {
        let cases: &[(&str, Option<Value>)] = &[
            ("[1]", Some(json!([1]))),
            ("  \n[1]\n ", Some(json!([1]))),
            ("```json\n[1]\n```", Some(json!([1]))),
            ("```JsOn [1] ```", Some(json!([1]))),
            ("```\n[1]\n```", Some(json!([1]))),
            ("```[1]```", Some(json!([1]))),
            ("```json\n[1]\n", None),
            ("```", None),
            ("```json```", None),
            ("``[1]``", None),
            ("```jso\n[1]```", None),
        ];
        for (body, want) in cases {
            assert_eq!(body_json(body).ok(), *want, "{body:?}");
        }
    }

    #[test]
    fn confidence_rounding() {
        let cases: &[(&str, Option<u8>)] = &[
            ("0.5", Some(0)),
            ("1.5", Some(2)),
            ("2.5", Some(2)),
            ("3.5", Some(4)),
            ("82.4", Some(82)),
            ("99.5", Some(100)),
            ("100.4", Some(100)),
            ("-0.4", Some(0)),
            ("-3.7", Some(0)),
            ("1e300", Some(100)),
            ("18446744073709551616", Some(100)),
            ("-9223372036854775809", Some(0)),
            ("true", None),
            ("\"50\"", None),
            ("null", None),
        ];
        for (conf, want) in cases {
            let body = format!(r#"{{"title":"t","description":"d","confidence":{conf}}}"#);
            assert_eq!(
                suggest_fix(&body).ok().map(|f| f.confidence_pct),
                *want,
                "{conf}"
            );
        }
    }

    #[test]
    fn title_cut_counts_scalars() {
        let long = "é".repeat(250);
        let body = format!(r#"{{"title":"  {long}  ","description":"d","confidence":1}}"#);
        let fix = suggest_fix(&body).expect("valid");
        assert_eq!(fix.title.chars().count(), 200);
        let exact = "x".repeat(200);
        let body = format!(r#"{{"title":"{exact}","description":"d","confidence":1}}"#);
        assert_eq!(suggest_fix(&body).expect("valid").title, exact);
    }

    #[test]
    fn fix_outcome_rules() {
        let id = "3f2b8c1e-9a4d-4c1b-8e2f-0a1b2c3d4e5f";
        let cases: &[(String, Option<Outcome>)] = &[
            (
                format!(r#"{{"fix_id":"{id}","outcome":" PARTIAL\n"}}"#),
                Some(Outcome::Partial),
            ),
            (
                format!(r#"{{"fix_id":"{id}","outcome":"failure"}}"#),
                Some(Outcome::Failure),
            ),
            (format!(r#"{{"fix_id":"{id}","outcome":"fail"}}"#), None),
            (format!(r#"{{"fix_id":"{id}"}}"#), None),
            (r#"{"fix_id":5,"outcome":"success"}"#.to_owned(), None),
            (r#"{"outcome":"success"}"#.to_owned(), None),
        ];
        for (body, want) in cases {
            assert_eq!(fix_outcome(body).ok().map(|f| f.outcome), *want, "{body}");
        }
    }

    #[test]
    fn promote_rules() {
        let id = "3F2B8C1E9A4D4C1B8E2F0A1B2C3D4E5F";
        let p = promote(&format!(
            r#"{{"source_type":"diagnostic_check","source_ref":" {id} ","text":" t ","summary":"  "}}"#
        ))
        .expect("valid");
        assert_eq!(
            p.source_ref.map(|u| u.to_string()).as_deref(),
            Some("3f2b8c1e-9a4d-4c1b-8e2f-0a1b2c3d4e5f")
        );
        assert_eq!((p.text.as_str(), p.summary), ("t", None));
        for bad in [
            r#"{"source_type":"user_note","text":"t"}"#,
            r#"{"source_type":"Question","text":"t"}"#,
            r#"{"source_type":"question","text":"  "}"#,
            r#"{"source_type":"question"}"#,
            r#"["x"]"#,
        ] {
            assert!(promote(bad).is_err(), "{bad}");
        }
    }
}
