//! Throughput of the batch parser and of the streaming parser fed 16-byte
//! chunks (`stream16`: `push_with`, one `String` per display delta;
//! `stream16_ref`: `push_ref`, borrowed deltas), over the shared benchmark replies in
//! `shared/reference/bench/*.txt` (read at run time; skipped with a message
//! when that directory is absent, e.g. in a bare clone of the repo).

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use markers::{Event, EventRef, StreamParser, parse};

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
                    s.push_with(p, |e| {
                        if let Event::Display(d) = e {
                            shown.push_str(&d);
                        }
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
                    s.push_ref(p, |e| {
                        if let EventRef::Display(d) = e {
                            shown.push_str(d);
                        }
                    });
                }
                black_box(&shown);
                s.finish()
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
