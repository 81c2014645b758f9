//! Property tests for the invariants the spec states for every chunking.
//!
//! Replies are built from fragments rich in tag pieces, whitespace of every
//! kind, fences, JSON and multibyte text, then cut at random points. Checked:
//!
//! * the batch display equals an independent, deliberately naive reading of
//!   the spec (`oracle`): blocks found with `str::find`, seams collapsed over
//!   a list of pieces. So the display provably holds no byte of any block;
//! * after every push, the display released so far is exactly the batch
//!   display of the input so far minus a trailing partial tag. That one
//!   equation says both "no delta holds any part of a tag, partial or not"
//!   (released text is never contradicted later, and a partial tag is not
//!   in it) and "nothing is held back that is already known": a `[` that
//!   cannot start a tag, and whitespace followed by known text, are out;
//! * the streamed payloads, diagnostics and display equal the batch ones,
//!   and each block gives exactly one marker event, in the oracle's order;
//! * nothing panics.

use markers::{Event, MarkerKind, StreamParser, parse, parse_streamed};
use proptest::prelude::*;

const TAGS: [&str; 12] = [
    "[QUESTIONS]",
    "[/QUESTIONS]",
    "[ACTIONS]",
    "[/ACTIONS]",
    "[FORK]",
    "[/FORK]",
    "[PROMOTE]",
    "[/PROMOTE]",
    "[SUGGEST_FIX]",
    "[/SUGGEST_FIX]",
    "[FIX_OUTCOME]",
    "[/FIX_OUTCOME]",
];

fn fragment() -> impl Strategy<Value = String> {
    let fixed: Vec<&'static str> = vec![
        "[",
        "]",
        "/",
        "[/",
        "QUESTIONS",
        "ACTIONS",
        "FORK",
        "PROMOTE",
        "SUGGEST_FIX",
        "FIX_OUTCOME",
        "[QUEST",
        "[/FIX_",
        "[SUGG",
        "[F",
        "[x",
        "a[0]",
        "[/ ]",
        " ",
        " ",
        "\n",
        "\n\n",
        "\r",
        "\r\n",
        "\t",
        "\u{a0}",
        "\u{3000}",
        "\u{2028}",
        "```",
        "```json\n",
        "\n```",
        "json",
        "a",
        "word",
        "é",
        "😀",
        "日本",
        "\u{0}",
        "`",
        r#"[{"text":"q"}]"#,
        r#"[{"text":" q2 ","context":"c"},{"text":5}]"#,
        r#"[{"label":"x","command":"ls"}]"#,
        r#"{"options":[{"label":"a"},{"label":"b"}]}"#,
        r#"{"source_type":"question","source_ref":"3F2B8C1E9A4D4C1B8E2F0A1B2C3D4E5F","text":"t"}"#,
        r#"{"title":"t","description":"d","confidence":50.5}"#,
        r#"{"fix_id":"3f2b8c1e-9a4d-4c1b-8e2f-0a1b2c3d4e5f","outcome":"Success"}"#,
        "[QUESTIONS][{\"text\":\"q\"}][/QUESTIONS]",
        "[ACTIONS]\n```json\n[{\"label\":\"y\"}]\n```\n[/ACTIONS]",
        "[FORK]{\"options\":[{\"label\":\"a\"},{\"label\":\"b\"}]}[/FORK]",
        "[SUGGEST_FIX]{\"title\":\"t\",\"description\":\"d\",\"confidence\":7}[/SUGGEST_FIX]",
    ];
    let mut tags: Vec<&'static str> = TAGS.to_vec();
    tags.extend(fixed);
    prop_oneof![
        6 => proptest::sample::select(tags).prop_map(str::to_owned),
        1 => "\\PC{0,3}",
        1 => "[ \\[\\]/A-Z_a-z]{1,4}",
    ]
}

fn reply() -> impl Strategy<Value = String> {
    proptest::collection::vec(fragment(), 0..24).prop_map(|v| v.concat())
}

/// Chunk sizes, used in turn (cycled) to cut the reply.
fn sizes() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(1usize..24, 1..8)
}

fn cut<'a>(s: &'a str, sizes: &[usize]) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut k = 0;
    while start < s.len() {
        let mut end = (start + sizes[k % sizes.len()]).min(s.len());
        while !s.is_char_boundary(end) {
            end += 1;
        }
        out.push(&s[start..end]);
        start = end;
        k += 1;
    }
    out
}

/// Length of a trailing proper prefix of some tag (which starts at the last
/// `[`), or 0.
fn partial_tag_suffix(p: &str) -> usize {
    match p.rfind('[') {
        Some(i)
            if TAGS
                .iter()
                .any(|t| t.len() > p.len() - i && t.starts_with(&p[i..])) =>
        {
            p.len() - i
        }
        _ => 0,
    }
}

#[derive(Debug)]
enum Item {
    Text(String),
    /// A removed block (or stray closing tag), by tag name.
    Block(String),
}

/// A direct, slow reading of the spec's "Block syntax" and "Display text".
fn oracle(reply: &str) -> (String, Vec<String>) {
    let mut items = Vec::new();
    let mut pos = 0;
    loop {
        let next = TAGS
            .iter()
            .filter_map(|t| reply[pos..].find(t).map(|i| (pos + i, *t)))
            .min_by_key(|(i, _)| *i);
        let Some((i, tag)) = next else { break };
        items.push(Item::Text(reply[pos..i].to_owned()));
        let name = tag
            .trim_matches(|c| c == '[' || c == ']' || c == '/')
            .to_owned();
        let after = i + tag.len();
        pos = if tag.starts_with("[/") {
            after
        } else {
            let close = format!("[/{name}]");
            reply[after..]
                .find(&close)
                .map_or(reply.len(), |k| after + k + close.len())
        };
        items.push(Item::Block(name));
    }
    items.push(Item::Text(reply[pos..].to_owned()));

    let blocks = items
        .iter()
        .filter_map(|it| match it {
            Item::Block(n) => Some(n.clone()),
            Item::Text(_) => None,
        })
        .collect();

    let mut out = String::new();
    let mut i = 0;
    while i < items.len() {
        match &items[i] {
            Item::Text(t) => {
                out.push_str(t);
                i += 1;
            }
            Item::Block(_) => {
                let kept = out.trim_end().len();
                let mut run = out[kept..].to_owned();
                out.truncate(kept);
                let at_start = out.trim().is_empty();
                let mut j = i + 1;
                let mut tail = String::new();
                loop {
                    match items.get(j) {
                        Some(Item::Block(_)) => j += 1,
                        Some(Item::Text(t))
                            if t.trim().is_empty()
                                && matches!(items.get(j + 1), Some(Item::Block(_))) =>
                        {
                            run.push_str(t);
                            j += 1;
                        }
                        Some(Item::Text(t)) => {
                            let rest = t.trim_start();
                            run.push_str(&t[..t.len() - rest.len()]);
                            tail = rest.to_owned();
                            j += 1;
                            break;
                        }
                        None => break,
                    }
                }
                let at_end = tail.is_empty()
                    && items[j..]
                        .iter()
                        .all(|it| matches!(it, Item::Text(t) if t.trim().is_empty()));
                if !(at_start || at_end) {
                    if run.contains('\n') {
                        out.push_str("\n\n");
                    } else if !run.is_empty() {
                        out.push(' ');
                    }
                }
                out.push_str(&tail);
                i = j;
            }
        }
    }
    (out.trim().to_owned(), blocks)
}

fn kind_name(k: MarkerKind) -> String {
    k.name().to_owned()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn batch_display_matches_oracle(r in reply()) {
        let (display, _) = oracle(&r);
        prop_assert_eq!(parse(&r).display, display);
    }

    #[test]
    fn stream_releases_exactly_what_is_known(r in reply(), sizes in sizes()) {
        let batch = parse(&r);
        let (_, oracle_blocks) = oracle(&r);
        let mut s = StreamParser::new();
        let mut released = String::new();
        let mut kinds = Vec::new();
        let mut seen = 0;
        let take = |e: Event, released: &mut String, kinds: &mut Vec<String>| match e {
            Event::Display(d) => {
                assert!(!d.is_empty(), "empty delta");
                released.push_str(&d);
            }
            Event::Marker(m) => kinds.push(kind_name(m.kind)),
        };
        for chunk in cut(&r, &sizes) {
            for e in s.push(chunk) {
                take(e, &mut released, &mut kinds);
            }
            seen += chunk.len();
            let prefix = &r[..seen];
            let known = &prefix[..prefix.len() - partial_tag_suffix(prefix)];
            prop_assert_eq!(&released, &parse(known).display, "after {:?}", prefix);
        }
        let fin = s.finish();
        for e in fin.events {
            take(e, &mut released, &mut kinds);
        }
        prop_assert_eq!(&released, &batch.display);
        prop_assert_eq!(&fin.parsed, &batch);
        prop_assert_eq!(kinds, oracle_blocks);
    }

    #[test]
    fn streamed_payloads_equal_batch(r in reply(), n in 1usize..40) {
        prop_assert_eq!(parse_streamed(&r, n), parse(&r));
    }

    #[test]
    fn arbitrary_text_never_panics(r in "\\PC{0,200}", n in 1usize..16) {
        let batch = parse(&r);
        prop_assert_eq!(parse_streamed(&r, n), batch);
        prop_assert_eq!(caller_keeps_display_agrees(&r, &[n]), Ok(()));
    }

    /// A parser told the caller keeps the display emits, push by push,
    /// exactly the events the ordinary one does, and given those deltas
    /// ends with exactly its `Finished`, whose `parsed` is `parse(reply)`.
    #[test]
    fn caller_keeps_display_is_the_same_stream(r in reply(), sizes in sizes()) {
        prop_assert_eq!(caller_keeps_display_agrees(&r, &sizes), Ok(()));
    }
}

fn caller_keeps_display_agrees(r: &str, sizes: &[usize]) -> Result<(), String> {
    let mut own = StreamParser::new();
    let mut lean = StreamParser::caller_keeps_display();
    let mut kept = String::new();
    for (i, chunk) in cut(r, sizes).into_iter().enumerate() {
        let want = own.push(chunk);
        // Alternate the two ways of pushing; `push` is `push_ref` plus
        // `into_owned`, but the consumer's side differs.
        let got = if i % 2 == 0 {
            lean.push(chunk)
        } else {
            let mut v = Vec::new();
            lean.push_ref(chunk, |e| v.push(e.into_owned()));
            v
        };
        if got != want {
            return Err(format!("push {i} ({chunk:?}): {got:?} != {want:?}"));
        }
        for e in got {
            if let Event::Display(d) = e {
                kept.push_str(&d);
            }
        }
    }
    let want = own.finish();
    let got = lean.finish_with_display(kept);
    if got != want {
        return Err(format!("finish: {got:?} != {want:?}"));
    }
    if got.parsed != parse(r) {
        return Err("parsed differs from parse()".into());
    }
    Ok(())
}

/// The contract of `finish_with_display` is checked in debug builds: a
/// display missing a delta is refused.
#[cfg(debug_assertions)]
#[test]
#[should_panic(expected = "not the concatenation")]
fn finish_with_display_checks_its_argument() {
    let mut s = StreamParser::caller_keeps_display();
    let mut kept = String::new();
    for chunk in ["Hello ", "world, ", "and more."] {
        s.push_ref(chunk, |e| {
            if let markers::EventRef::Display(d) = e {
                kept.push_str(d);
            }
        });
    }
    kept.truncate(kept.len() - 1);
    let _ = s.finish_with_display(kept);
}

/// The spec's "released at once" examples, spelled out.
#[test]
fn released_at_once() {
    fn deltas(s: &mut StreamParser, chunk: &str) -> String {
        s.push(chunk)
            .into_iter()
            .filter_map(|e| match e {
                Event::Display(d) => Some(d),
                Event::Marker(_) => None,
            })
            .collect()
    }
    let mut s = StreamParser::new();
    assert_eq!(deltas(&mut s, "a [x"), "a [x");

    let mut s = StreamParser::new();
    assert_eq!(deltas(&mut s, "hello "), "hello");
    assert_eq!(deltas(&mut s, "world"), " world");

    // A possible tag is held, whitespace before it too, until decided.
    let mut s = StreamParser::new();
    assert_eq!(deltas(&mut s, "a [QUEST"), "a");
    assert_eq!(deltas(&mut s, "X"), " [QUESTX");

    let mut s = StreamParser::new();
    assert_eq!(deltas(&mut s, "a\n[QUEST"), "a");
    assert_eq!(deltas(&mut s, "IONS][{\"text\":\"q\"}][/QUES"), "");
    assert_eq!(deltas(&mut s, "TIONS]\n"), "");
    assert_eq!(deltas(&mut s, "b"), "\n\nb");

    // `[/` followed by something that is no tag name goes at once.
    let mut s = StreamParser::new();
    assert_eq!(deltas(&mut s, "x [/"), "x");
    assert_eq!(deltas(&mut s, " ]"), " [/ ]");
}

/// Found by `streamed_payloads_equal_batch`: a stray `[/SUGGEST_FIX]` after a
/// valid block is not a block, so it must not void the suggested fix when the
/// result is rebuilt from stream events.
#[test]
fn stray_closing_tag_is_not_the_last_block() {
    let r = "[SUGGEST_FIX]{\"title\":\"t\",\"description\":\"d\",\"confidence\":7}[/SUGGEST_FIX][/SUGGEST_FIX]";
    assert!(parse(r).suggest_fix.is_some());
    for n in [1, 3, 100] {
        assert_eq!(parse_streamed(r, n), parse(r));
    }
}
