//! The system prompt teaches the marker protocol mostly by example, and a
//! model copies examples more faithfully than rules. So every example reply in
//! `prompts/system.md` must be exactly what `markers::parse` accepts: if an
//! example drifts from the parser, the model learns the drift on every turn.
//!
//! An example is the text between a line `<example>` and a line `</example>`;
//! everything else in the prompt is its teaching text.

use markers::{MarkerKind, Parsed, SourceType};

const PROMPT: &str = include_str!("../prompts/system.md");

/// One example reply of the prompt.
struct Example {
    /// 1-based, in prompt order; what failure messages call it.
    number: usize,
    /// 1-based line of its `<example>` line.
    line: usize,
    body: String,
}

impl Example {
    fn name(&self) -> String {
        format!("example {} (line {})", self.number, self.line)
    }

    fn parsed(&self) -> Parsed {
        markers::parse(&self.body)
    }
}

/// The examples, and the teaching text with the examples left out. Panics on
/// a nested or unclosed `<example>`, naming the line.
fn split_prompt() -> (Vec<Example>, String) {
    let mut examples = Vec::new();
    let mut teaching = String::new();
    let mut open: Option<(usize, Vec<&str>)> = None;
    for (i, line) in PROMPT.lines().enumerate() {
        let line_no = i + 1;
        match (line.trim_end(), open.as_mut()) {
            ("<example>", Some((start, _))) => {
                panic!("line {line_no}: <example> inside the example opened at line {start}")
            }
            ("<example>", None) => open = Some((line_no, Vec::new())),
            ("</example>", None) => panic!("line {line_no}: </example> without <example>"),
            ("</example>", Some(_)) => {
                let (start, lines) = open.take().expect("matched Some above");
                examples.push(Example {
                    number: examples.len() + 1,
                    line: start,
                    body: lines.join("\n"),
                });
            }
            (_, Some((_, lines))) => lines.push(line),
            (_, None) => {
                teaching.push_str(line);
                teaching.push('\n');
            }
        }
    }
    if let Some((start, _)) = open {
        panic!("the <example> opened at line {start} is never closed");
    }
    (examples, teaching)
}

fn examples() -> Vec<Example> {
    let (examples, _) = split_prompt();
    assert!(
        !examples.is_empty(),
        "the prompt has no <example> … </example> block"
    );
    examples
}

/// The marker kinds an example's parse produced.
fn kinds_used(parsed: &Parsed) -> Vec<MarkerKind> {
    let present = [
        !parsed.questions.is_empty(),
        !parsed.actions.is_empty(),
        parsed.fork.is_some(),
        !parsed.promote.is_empty(),
        parsed.suggest_fix.is_some(),
        parsed.fix_outcome.is_some(),
    ];
    MarkerKind::ALL
        .into_iter()
        .zip(present)
        .filter_map(|(kind, present)| present.then_some(kind))
        .collect()
}

/// Every word of `text` (a maximal run of ASCII letters, digits and `-`) that
/// reads as a UUID, hyphenated or as 32 bare hex digits, in any case.
fn uuid_like_words(text: &str) -> Vec<&str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|word| uuid::Uuid::try_parse(word).is_ok())
        .collect()
}

fn opening_tag(kind: MarkerKind) -> String {
    format!("[{}]", kind.name())
}

#[test]
fn the_prompt_has_at_least_one_example() {
    examples();
}

#[test]
fn every_example_parses_without_diagnostics_and_has_prose() {
    for example in examples() {
        let parsed = example.parsed();
        assert!(
            parsed.diagnostics.is_empty(),
            "{}: the parser rejected part of it: {:?}",
            example.name(),
            parsed.diagnostics
        );
        assert!(
            !parsed.display.trim().is_empty(),
            "{}: no prose is left for the engineer once the markers are removed",
            example.name()
        );
    }
}

#[test]
fn no_example_shows_marker_syntax_to_the_engineer() {
    for example in examples() {
        let display = example.parsed().display;
        for kind in MarkerKind::ALL {
            for tag in [format!("[{}", kind.name()), format!("[/{}", kind.name())] {
                assert!(
                    !display.contains(&tag),
                    "{}: its display text still contains {tag:?}:\n{display}",
                    example.name()
                );
            }
        }
    }
}

#[test]
fn every_example_puts_its_markers_after_the_prose() {
    for example in examples() {
        let first_tag = MarkerKind::ALL
            .into_iter()
            .filter_map(|kind| example.body.find(&opening_tag(kind)))
            .min();
        let Some(first_tag) = first_tag else {
            continue;
        };
        let prose = example.body[..first_tag].trim();
        assert_eq!(
            example.parsed().display,
            prose,
            "{}: text follows or sits between its marker blocks; all prose goes before the first block",
            example.name()
        );
    }
}

#[test]
fn no_example_emits_a_single_use_marker_twice() {
    for example in examples() {
        for kind in [
            MarkerKind::Fork,
            MarkerKind::SuggestFix,
            MarkerKind::FixOutcome,
        ] {
            let count = example.body.matches(&opening_tag(kind)).count();
            assert!(
                count <= 1,
                "{}: {count} {kind} blocks; the prompt allows at most one per reply",
                example.name()
            );
        }
    }
}

#[test]
fn the_examples_together_use_every_marker_kind() {
    let used: Vec<MarkerKind> = examples()
        .iter()
        .flat_map(|example| kinds_used(&example.parsed()))
        .collect();
    let missing: Vec<&str> = MarkerKind::ALL
        .into_iter()
        .filter(|kind| !used.contains(kind))
        .map(MarkerKind::name)
        .collect();
    assert!(
        missing.is_empty(),
        "no example shows a valid block of: {}",
        missing.join(", ")
    );
}

#[test]
fn uuids_in_the_examples_are_canonical_lower_case() {
    for example in examples() {
        for word in uuid_like_words(&example.body) {
            let canonical = uuid::Uuid::try_parse(word)
                .expect("uuid_like_words only returns UUIDs")
                .hyphenated()
                .to_string();
            assert_eq!(
                word,
                canonical,
                "{}: UUID {word:?} is not hyphenated lower case",
                example.name()
            );
        }
        // Forms the word scan cannot see (braces, a `urn:uuid:` prefix) still
        // parse; the id must appear in the JSON exactly as the parser writes it.
        let parsed = example.parsed();
        let ids = parsed
            .promote
            .iter()
            .filter_map(|fact| fact.source_ref)
            .chain(parsed.fix_outcome.iter().map(|outcome| outcome.fix_id));
        for id in ids {
            assert!(
                example.body.contains(&format!("\"{id}\"")),
                "{}: id {id} is not written as the plain string \"{id}\"",
                example.name()
            );
        }
    }
}

#[test]
fn ids_in_the_examples_come_from_the_situation_the_prompt_describes() {
    // The prompt tells the model never to make up an id; its examples must
    // only use ids that the teaching text hands them.
    let (examples, teaching) = split_prompt();
    for example in examples {
        for word in uuid_like_words(&example.body) {
            assert!(
                teaching.contains(word),
                "{}: id {word} appears nowhere outside the examples, so the example invents it",
                example.name()
            );
        }
    }
}

#[test]
fn facts_from_answers_point_at_their_task_lane_item() {
    for example in examples() {
        for fact in example.parsed().promote {
            let needs_ref = matches!(
                fact.source_type,
                SourceType::Question | SourceType::DiagnosticCheck
            );
            assert!(
                !needs_ref || fact.source_ref.is_some(),
                "{}: the {} fact {:?} has no source_ref to the item it came from",
                example.name(),
                fact.source_type.as_str(),
                fact.text
            );
        }
    }
}

#[test]
fn the_teaching_text_names_every_tag() {
    let (_, teaching) = split_prompt();
    let missing: Vec<String> = MarkerKind::ALL
        .into_iter()
        .map(opening_tag)
        .filter(|tag| !teaching.contains(tag))
        .collect();
    assert!(
        missing.is_empty(),
        "the teaching text outside the examples never writes {}",
        missing.join(", ")
    );
}
