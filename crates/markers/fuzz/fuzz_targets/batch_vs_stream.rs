//! Fuzz target: the streaming parser, cut at input-chosen points, must agree
//! with the batch parser on everything (display, payloads, diagnostics), and
//! the display deltas must concatenate to the batch display.
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
    let mut display = String::new();
    let mut take = |e: Event| {
        if let Event::Display(d) = e {
            assert!(!d.is_empty());
            display.push_str(&d);
        }
    };
    let mut start = 0;
    let mut k = seed as usize;
    while start < reply.len() {
        // Sizes 1..=32 from a cheap LCG over the seed.
        k = k.wrapping_mul(1103515245).wrapping_add(12345);
        let mut end = (start + 1 + (k >> 8) % 32).min(reply.len());
        while !reply.is_char_boundary(end) {
            end += 1;
        }
        s.push_with(&reply[start..end], &mut take);
        start = end;
    }
    let fin = s.finish();
    for e in fin.events {
        take(e);
    }
    assert_eq!(display, batch.display);
    assert_eq!(fin.parsed, batch);
    assert_eq!(markers::parse_streamed(&reply, 1 + seed as usize % 7), batch);
});
