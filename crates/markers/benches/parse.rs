//! Throughput of the batch parser and of the streaming parser fed 16-byte
//! chunks (`stream16`: `push_with`, one `String` per display delta;
//! `stream16_ref`: `push_ref`, borrowed deltas; `stream16_lean`: `push_ref`
//! on a parser whose caller keeps the display, ended with
//! `finish_with_display`), over the shared benchmark replies in
//! `shared/reference/bench/*.txt` (read at run time; skipped with a message
//! when that directory is absent, e.g. in a bare clone of the repo).

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use markers::{Event, EventRef, MarkerEvent, StreamParser, parse};

const BENCH_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/reference/bench"
);
const FILES: [&str; 3] = ["prose-5k.txt", "mixed-5k.txt", "mixed-64k.txt"];
const CHUNK: usize = 16;

fn chunks(s: &str, n: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < s.len() {
        let mut end = (start + n).min(s.len());
        while !s.is_char_boundary(end) {
            end += 1;
        }
        out.push(&s[start..end]);
        start = end;
    }
    out
}

fn bench(c: &mut Criterion) {
    for name in FILES {
        let path = Path::new(BENCH_DIR).join(name);
        let Ok(text) = std::fs::read_to_string(&path) else {
            eprintln!("skipping {name}: {} not readable", path.display());
            continue;
        };
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function("batch", |b| b.iter(|| parse(black_box(&text))));
        let pieces = chunks(&text, CHUNK);
        // A real consumer forwards each display delta somewhere: here into a
        // reused buffer (cleared per iteration, so no growth after the first
        // run), which is what a UI appending to its transcript does. Both
        // variants also call `finish()`, i.e. build the whole `Parsed`.
        let mut shown = String::with_capacity(text.len());
        g.bench_function("stream16", |b| {
            b.iter(|| {
                shown.clear();
                let mut s = StreamParser::new();
                for p in black_box(&pieces) {
                    s.push_with(p, |e| match e {
                        Event::Display(d) => shown.push_str(&d),
                        Event::Marker(m) => take_marker(m),
                    });
                }
                black_box(&shown);
                s.finish()
            })
        });
        g.bench_function("stream16_ref", |b| {
            b.iter(|| {
                shown.clear();
                let mut s = StreamParser::new();
                for p in black_box(&pieces) {
                    s.push_ref(p, |e| match e {
                        EventRef::Display(d) => shown.push_str(d),
                        EventRef::Marker(m) => take_marker(m),
                    });
                }
                black_box(&shown);
                s.finish()
            })
        });
        // The parser told the consumer keeps the display: the transcript
        // starts empty (as the parser's own display does above) and is
        // handed to `finish_with_display`, becoming `parsed.display`.
        g.bench_function("stream16_lean", |b| {
            b.iter(|| {
                let mut shown = String::new();
                let mut s = StreamParser::caller_keeps_display();
                for p in black_box(&pieces) {
                    s.push_ref(p, |e| match e {
                        EventRef::Display(d) => shown.push_str(d),
                        EventRef::Marker(m) => take_marker(m),
                    });
                }
                s.finish_with_display(shown)
            })
        });
        g.finish();
    }
}

/// What the consumer does with a marker event: takes it (a real one sends
/// it on). Moving it out of the event, rather than `if let Display(d) = e`
/// and dropping `e` whole, also spares a call to the event's out-of-line
/// drop glue on every display delta.
#[inline]
fn take_marker(m: MarkerEvent) {
    black_box(m);
}

criterion_group!(benches, bench);
criterion_main!(benches);
