//! Streaming time over batch time, measured so that machine load cancels out
//! as far as possible: the variants run interleaved (batch, `push_ref`,
//! `push_with`, batch, …), each sample times enough iterations to last
//! ≈50 µs, and each variant keeps its fastest sample. On a shared box
//! criterion's means swing by ±30–50 % between runs; minima taken this way
//! move by a few per cent, and because the variants alternate, a busy spell
//! hits all of them alike rather than one.
//!
//! The streaming variants do what the server does with a reply: 16-byte
//! `push_ref` (or `push_with`) calls whose display deltas are all copied into
//! a transcript buffer, then `finish()` and its `parsed`.
//!
//! `floor` is no parser at all: each chunk is only appended to a buffer (as
//! the parser must, since `finish()` returns the whole display) and the
//! same bytes forwarded to the consumer. No streaming parser that keeps the
//! display can beat it; `floor + batch` (the batch time is mostly block
//! validation, which streaming repeats) bounds what streaming can reach.
//!
//! `cargo bench -p markers --bench ratio [-- SAMPLES]` (default 400 samples
//! per variant and file). Reads `shared/reference/bench/*.txt` beside the
//! repo; skips a file it cannot read.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use markers::{Event, EventRef, Parsed, StreamParser, parse};

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

fn stream_ref(pieces: &[&str], shown: &mut String) -> Parsed {
    shown.clear();
    let mut s = StreamParser::new();
    for p in pieces {
        s.push_ref(p, |e| {
            if let EventRef::Display(d) = e {
                shown.push_str(d);
            }
        });
    }
    let fin = s.finish();
    for e in &fin.events {
        if let Event::Display(d) = e {
            shown.push_str(d);
        }
    }
    fin.parsed
}

fn stream_owned(pieces: &[&str], shown: &mut String) -> Parsed {
    shown.clear();
    let mut s = StreamParser::new();
    for p in pieces {
        s.push_with(p, |e| {
            if let Event::Display(d) = e {
                shown.push_str(&d);
            }
        });
    }
    let fin = s.finish();
    for e in &fin.events {
        if let Event::Display(d) = e {
            shown.push_str(d);
        }
    }
    fin.parsed
}

/// The copy-and-forward floor (see the module docs).
fn floor(pieces: &[&str], shown: &mut String) -> String {
    shown.clear();
    let mut kept = String::new();
    for p in pieces {
        let start = kept.len();
        kept.push_str(p);
        shown.push_str(&kept[start..]);
    }
    kept
}

/// Nanoseconds per call of `f`, one sample of `reps` calls.
fn sample(reps: u32, mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..reps {
        f();
    }
    t.elapsed().as_nanos() as f64 / f64::from(reps)
}

fn reps_for(mut f: impl FnMut()) -> u32 {
    let t = Instant::now();
    let mut n = 0u32;
    while t.elapsed() < Duration::from_millis(20) {
        f();
        n += 1;
    }
    // ≈50 µs per sample.
    (n / 400).max(1)
}

fn main() {
    let samples: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(400);
    println!("min of {samples} interleaved samples; chunk {CHUNK} bytes");
    println!(
        "{:<14} {:>9} {:>7} {:>12} {:>7} {:>9} {:>7} {:>9} {:>7}",
        "file",
        "batch ns",
        "GB/s",
        "push_ref ns",
        "/batch",
        "push_with",
        "/batch",
        "floor ns",
        "/batch"
    );
    for name in FILES {
        let path = Path::new(BENCH_DIR).join(name);
        let Ok(text) = std::fs::read_to_string(&path) else {
            eprintln!("skipping {name}: {} not readable", path.display());
            continue;
        };
        let pieces = chunks(&text, CHUNK);
        let mut shown = String::with_capacity(text.len());
        // The streamed result must be the batch one, or the timing is moot.
        let want = parse(&text);
        assert_eq!(stream_ref(&pieces, &mut shown), want);
        assert_eq!(shown, want.display);
        assert_eq!(stream_owned(&pieces, &mut shown), want);

        let mut batch = || {
            black_box(parse(black_box(&text)));
        };
        let rb = reps_for(&mut batch);
        let mut by_ref = || {
            black_box(stream_ref(black_box(&pieces), &mut shown));
        };
        let rr = reps_for(&mut by_ref);
        let mut shown2 = String::with_capacity(text.len());
        let mut owned = || {
            black_box(stream_owned(black_box(&pieces), &mut shown2));
        };
        let ro = reps_for(&mut owned);
        let mut shown3 = String::with_capacity(text.len());
        let mut copy = || {
            black_box(floor(black_box(&pieces), &mut shown3));
        };
        let rf = reps_for(&mut copy);

        let (mut b, mut r, mut o, mut f) = (f64::MAX, f64::MAX, f64::MAX, f64::MAX);
        for _ in 0..samples {
            b = b.min(sample(rb, &mut batch));
            r = r.min(sample(rr, &mut by_ref));
            o = o.min(sample(ro, &mut owned));
            f = f.min(sample(rf, &mut copy));
        }
        println!(
            "{:<14} {:>9.0} {:>7.2} {:>12.0} {:>6.2}x {:>9.0} {:>6.2}x {:>9.0} {:>6.2}x   push_ref {:.2} GB/s, {:.1} ns/push; (floor+batch)/batch {:.2}x",
            name,
            b,
            text.len() as f64 / b,
            r,
            r / b,
            o,
            o / b,
            f,
            f / b,
            text.len() as f64 / r,
            r / pieces.len() as f64,
            (f + b) / b,
        );
    }
}
