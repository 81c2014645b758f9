//! Fuzz target: the streaming parser, cut at input-chosen points, must agree
//! with the batch parser on everything (display, payloads, diagnostics), and
//! the display deltas must concatenate to the batch display. A parser told
//! the caller keeps the display must emit the same events, push by push, and
//! end with the same result.
#![no_main]

use libfuzzer_sys::fuzz_target;
use markers::{Event, StreamParser, parse};

fuzz_target!(|data: &[u8]| {
    // The first byte seeds the chunk sizes; the rest is the reply (lossily
    // decoded so every input exercises the parser).
    let Some((&seed, rest)) = data.split_first() else {
        return;
    };
    let reply = String::from_utf8_lossy(rest);
    let batch = parse(&reply);

    let mut s = StreamParser::new();
    let mut lean = StreamParser::caller_keeps_display();
    let mut display = String::new();
    let mut kept = String::new();
    let mut start = 0;
    let mut k = seed as usize;
    while start < reply.len() {
        // Sizes 1..=32 from a cheap LCG over the seed.
        k = k.wrapping_mul(1103515245).wrapping_add(12345);
        let mut end = (start + 1 + (k >> 8) % 32).min(reply.len());
        while !reply.is_char_boundary(end) {
            end += 1;
        }
        let chunk = &reply[start..end];
        let events = s.push(chunk);
        let mut lean_events = Vec::new();
        lean.push_ref(chunk, |e| lean_events.push(e.into_owned()));
        assert_eq!(lean_events, events);
        for e in events {
            if let Event::Display(d) = e {
                assert!(!d.is_empty());
                display.push_str(&d);
                kept.push_str(&d);
            }
        }
        start = end;
    }
    let fin = s.finish();
    let lean_fin = lean.finish_with_display(kept);
    assert_eq!(lean_fin, fin);
    for e in fin.events {
        if let Event::Display(d) = e {
            assert!(!d.is_empty());
            display.push_str(&d);
        }
    }
    assert_eq!(display, batch.display);
    assert_eq!(fin.parsed, batch);
    assert_eq!(markers::parse_streamed(&reply, 1 + seed as usize % 7), batch);
});
