//! The spec's conformance vectors, run through the batch parser and through
//! the streaming parser at several chunk sizes.
//!
//! The vectors live in `shared/spec/marker-vectors.jsonl`, outside this repo;
//! a copy sits in `tests/data/` so the crate tests on its own, and
//! `copy_matches_shared_spec` fails when the two drift apart.

use markers::{Event, EventRef, StreamParser, parse, parse_streamed, to_cli_json};
use serde_json::Value;

const VECTORS: &str = include_str!("data/marker-vectors.jsonl");
const SHARED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/spec/marker-vectors.jsonl"
);
const CHUNK_SIZES: [usize; 6] = [1, 2, 3, 5, 17, 64];

struct Vector {
    name: String,
    input: String,
    expected: Value,
}

fn vectors() -> Vec<Vector> {
    VECTORS
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("vector line is JSON");
            Vector {
                name: v["name"].as_str().expect("name").to_owned(),
                input: v["input"].as_str().expect("input").to_owned(),
                expected: v["expected"].clone(),
            }
        })
        .collect()
}

/// Diagnostics' `reason` is free text, so only the list of marker names is
/// compared (their presence is the contract; the names keep us honest about
/// which block produced them).
fn normalise(mut v: Value) -> Value {
    let markers: Vec<Value> = v["diagnostics"]
        .as_array()
        .expect("diagnostics is a list")
        .iter()
        .map(|d| d["marker"].clone())
        .collect();
    v["diagnostics"] = Value::Array(markers);
    v
}

#[test]
fn copy_matches_shared_spec() {
    match std::fs::read_to_string(SHARED) {
        Ok(shared) => assert_eq!(
            shared, VECTORS,
            "tests/data copy is stale: copy {SHARED} again"
        ),
        Err(_) => eprintln!("{SHARED} not present; skipping the sync check"),
    }
}

#[test]
fn there_are_56_vectors() {
    assert_eq!(vectors().len(), 56);
}

#[test]
fn batch() {
    let mut failures = Vec::new();
    for v in vectors() {
        let got = normalise(to_cli_json(&parse(&v.input)));
        if got != normalise(v.expected.clone()) {
            failures.push(format!(
                "{}:\n  got  {got}\n  want {}",
                v.name,
                normalise(v.expected)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn streamed_matches_expected_and_batch_exactly() {
    for v in vectors() {
        let batch = parse(&v.input);
        for n in CHUNK_SIZES {
            let streamed = parse_streamed(&v.input, n);
            assert_eq!(
                normalise(to_cli_json(&streamed)),
                normalise(v.expected.clone()),
                "{} chunk {n}",
                v.name
            );
            // Stronger than the vector: reasons and everything else agree too.
            assert_eq!(streamed, batch, "{} chunk {n}", v.name);
        }
    }
}

/// The stream's own final result equals the one rebuilt from its events.
#[test]
fn finish_result_matches_events() {
    for v in vectors() {
        for n in CHUNK_SIZES {
            let mut s = StreamParser::new();
            let mut display = String::new();
            let bytes = v.input.as_bytes();
            let mut start = 0;
            while start < bytes.len() {
                let mut end = (start + n).min(bytes.len());
                while !v.input.is_char_boundary(end) {
                    end += 1;
                }
                for e in s.push(&v.input[start..end]) {
                    if let Event::Display(d) = e {
                        assert!(!d.is_empty());
                        display.push_str(&d);
                    }
                }
                start = end;
            }
            let fin = s.finish();
            for e in fin.events {
                if let Event::Display(d) = e {
                    display.push_str(&d);
                }
            }
            assert_eq!(display, fin.parsed.display, "{} chunk {n}", v.name);
            assert_eq!(fin.parsed, parse(&v.input), "{} chunk {n}", v.name);
        }
    }
}

/// A parser whose caller keeps the display, fed the caller's own deltas at
/// the end, gives the same events and the same `Finished` as the ordinary
/// one on every vector.
#[test]
fn caller_keeps_display_matches_ordinary_stream() {
    for v in vectors() {
        for n in CHUNK_SIZES {
            let mut own = StreamParser::new();
            let mut lean = StreamParser::caller_keeps_display();
            let mut kept = String::new();
            let mut start = 0;
            while start < v.input.len() {
                let mut end = (start + n).min(v.input.len());
                while !v.input.is_char_boundary(end) {
                    end += 1;
                }
                let chunk = &v.input[start..end];
                let want = own.push(chunk);
                let mut got = Vec::new();
                lean.push_ref(chunk, |e| {
                    if let EventRef::Display(d) = &e {
                        kept.push_str(d);
                    }
                    got.push(e.into_owned());
                });
                assert_eq!(got, want, "{} chunk {n} at {start}", v.name);
                start = end;
            }
            let fin = lean.finish_with_display(kept);
            assert_eq!(fin, own.finish(), "{} chunk {n}", v.name);
            assert_eq!(fin.parsed, parse(&v.input), "{} chunk {n}", v.name);
        }
    }
}
