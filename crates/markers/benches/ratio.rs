//! Streaming time over batch time, measured so that machine load cancels out
//! as far as possible: the variants run interleaved (batch, lean, ref, with,
//! floor2, floor1, batch, …), each sample times enough iterations to last
//! ≈50 µs, and each variant keeps its fastest sample. On a shared box
//! criterion's means swing by ±30–50 % between runs; minima taken this way
//! move by a few per cent, and because the variants alternate, a busy spell
//! hits all of them alike rather than one.
//!
//! The streaming variants do what a consumer keeping a transcript does with
//! a reply: 16-byte pushes whose display deltas are all appended to that
//! transcript, then the end of the stream and its whole `parsed`:
//!
//! * `lean`: a [`StreamParser::caller_keeps_display`] parser with
//!   `push_ref`; the transcript (started empty per reply) is handed to
//!   `finish_with_display` and becomes `parsed.display`;
//! * `ref`: `StreamParser::new()` with `push_ref`, then `finish()` (the
//!   parser keeps its own display; the transcript buffer is reused);
//! * `with`: the same with `push_with`, one `String` per delta.
//!
//! The floors are no parser at all. `floor2`: each chunk appended to a
//! buffer (as a parser keeping the display must) and the same bytes
//! forwarded to the consumer; `floor1`: each chunk only appended to the
//! consumer's transcript, as with `lean`. Streaming also validates every
//! block as the batch parser does, and the batch time is mostly that, so
//! `floor + batch` bounds what the corresponding mode can reach.
//!
//! `cargo bench -p markers --bench ratio [-- SAMPLES]` (default 400 samples
//! per variant and file). Reads `shared/reference/bench/*.txt` beside the
//! repo; skips a file it cannot read.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use markers::{Event, EventRef, MarkerEvent, Parsed, StreamParser, parse};

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
        s.push_ref(p, |e| match e {
            EventRef::Display(d) => shown.push_str(d),
            EventRef::Marker(m) => take_marker(m),
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

/// As [`stream_ref`], with the parser told the consumer keeps the display.
/// The consumer's transcript starts empty, as the parser's own display does
/// in the other variants, and becomes `parsed.display`: handed to
/// `finish_with_display`, which appends the last deltas (the consumer still
/// gets them as events, and they are small; forwarding them is skipped here).
fn stream_lean(pieces: &[&str]) -> Parsed {
    let mut shown = String::new();
    let mut s = StreamParser::caller_keeps_display();
    for p in pieces {
        s.push_ref(p, |e| match e {
            EventRef::Display(d) => shown.push_str(d),
            EventRef::Marker(m) => take_marker(m),
        });
    }
    s.finish_with_display(shown).parsed
}

fn stream_owned(pieces: &[&str], shown: &mut String) -> Parsed {
    shown.clear();
    let mut s = StreamParser::new();
    for p in pieces {
        s.push_with(p, |e| match e {
            Event::Display(d) => shown.push_str(&d),
            Event::Marker(m) => take_marker(m),
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

/// The forward-only floor: each chunk only appended to the consumer's
/// transcript, which is what is returned (see the module docs).
fn floor_forward(pieces: &[&str]) -> String {
    let mut shown = String::new();
    for p in pieces {
        shown.push_str(p);
    }
    shown
}

/// What the consumer does with a marker event: takes it (a real one sends
/// it on, as the engine does). Matching on the event and moving the marker
/// out, rather than `if let Display(d) = e` and dropping `e` whole, is also
/// what keeps the compiler from calling `EventRef`'s out-of-line drop glue
/// on every display delta (≈2 ns per push here).
#[inline]
fn take_marker(m: MarkerEvent) {
    black_box(m);
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
    println!("min of {samples} interleaved samples; chunk {CHUNK} bytes; times in ns");
    println!(
        "{:<14} {:>7} {:>6} | {:>7} {:>6} | {:>7} {:>6} | {:>7} {:>6} | {:>7} {:>6} | {:>7} {:>6}",
        "file",
        "batch",
        "GB/s",
        "lean",
        "/batch",
        "ref",
        "/batch",
        "with",
        "/batch",
        "floor2",
        "/batch",
        "floor1",
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
        assert_eq!(stream_lean(&pieces), want);

        let mut batch = || {
            black_box(parse(black_box(&text)));
        };
        let rb = reps_for(&mut batch);
        let mut lean = || {
            black_box(stream_lean(black_box(&pieces)));
        };
        let rl = reps_for(&mut lean);
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
        let mut forward = || {
            black_box(floor_forward(black_box(&pieces)));
        };
        let rf1 = reps_for(&mut forward);

        let mut t = [f64::MAX; 6];
        for _ in 0..samples {
            t[0] = t[0].min(sample(rb, &mut batch));
            t[1] = t[1].min(sample(rl, &mut lean));
            t[2] = t[2].min(sample(rr, &mut by_ref));
            t[3] = t[3].min(sample(ro, &mut owned));
            t[4] = t[4].min(sample(rf, &mut copy));
            t[5] = t[5].min(sample(rf1, &mut forward));
        }
        let b = t[0];
        let gbs = |ns: f64| text.len() as f64 / ns;
        println!(
            "{:<14} {:>7.0} {:>6.2} | {:>7.0} {:>5.2}x | {:>7.0} {:>5.2}x | {:>7.0} {:>5.2}x | {:>7.0} {:>5.2}x | {:>7.0} {:>5.2}x",
            name,
            b,
            gbs(b),
            t[1],
            t[1] / b,
            t[2],
            t[2] / b,
            t[3],
            t[3] / b,
            t[4],
            t[4] / b,
            t[5],
            t[5] / b,
        );
        println!(
            "{:<14} lean {:.2} GB/s, {:.1} ns/push; ref {:.2} GB/s, {:.1} ns/push; ({} pushes) (floor2+batch)/batch {:.2}x, (floor1+batch)/batch {:.2}x",
            "",
            gbs(t[1]),
            t[1] / pieces.len() as f64,
            gbs(t[2]),
            t[2] / pieces.len() as f64,
            pieces.len(),
            (t[4] + b) / b,
            (t[5] + b) / b,
        );
    }
}
