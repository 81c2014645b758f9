//! The streaming parser: the reply arrives in arbitrary chunks; display text is
//! released as soon as it is final and each block's payload as the block
//! closes.
//!
//! What is held back, and why:
//! * in prose, a trailing `[…` that is still a proper prefix of some tag
//!   (at most 13 bytes) — releasing it could leak part of a tag;
//! * whitespace after the last non-whitespace prose (already at the end of
//!   the parser's display buffer, its length counted by [`Seams`], but not
//!   sent) — it may turn out to be part of a seam, or trailing and trimmed;
//! * inside a block, its body until the closing tag arrives.
//!
//! Everything else goes out in the same `push`. Each push looks only at the new
//! chunk plus at most [`MAX_TAG_LEN`] bytes of carried-over context, so the
//! cost is amortised O(chunk) however long the reply or a block gets.

use memchr::memchr;

use crate::collect::{Collector, MarkerEvent};
use crate::display::Seams;
use crate::tag::{MAX_TAG_LEN, TagMatch, find_tag, match_tag};
use crate::types::{MarkerKind, Parsed};

/// What the streaming parser emits.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The next piece of display text; never empty. Concatenating all of them
    /// gives exactly the batch parser's [`Parsed::display`].
    Display(String),
    /// A block closed (or, from [`StreamParser::finish`], was found
    /// unterminated), or a stray closing tag was removed.
    Marker(MarkerEvent),
}

/// An [`Event`] that borrows its display text from the parser: what
/// [`StreamParser::push_ref`] hands out, so a push allocates nothing for
/// display text.
#[derive(Debug, Clone, PartialEq)]
pub enum EventRef<'a> {
    /// As [`Event::Display`]; valid only during the sink call.
    Display(&'a str),
    /// As [`Event::Marker`].
    Marker(MarkerEvent),
}

impl EventRef<'_> {
    /// The owned [`Event`] (allocates for display text).
    pub fn into_owned(self) -> Event {
        match self {
            EventRef::Display(d) => Event::Display(d.to_owned()),
            EventRef::Marker(m) => Event::Marker(m),
        }
    }
}

/// The end of a stream: the last events and the whole result.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    /// Events released by the end of input (an unterminated block's
    /// diagnostic, a partial tag that turned out to be prose).
    pub events: Vec<Event>,
    /// The same value [`crate::parse`] returns for the whole reply.
    pub parsed: Parsed,
}

/// Whether `b` holds a `[`: a word at a time, cheaper than a `memchr`
/// call on the short chunks a stream delivers. The words may overlap (8 to
/// 16 bytes are two loads, the first and the last eight) and their tests
/// are or-ed together with one branch at the end, so there is no
/// byte-by-byte tail and, for a typical chunk, no branch per word. Long
/// chunks go to `memchr`.
#[inline]
fn has_bracket(b: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    #[inline]
    fn word(w: &[u8]) -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&w[..8]);
        u64::from_le_bytes(a)
    }
    // The high bit of a byte of the result is set where `w` has a `[`, and
    // possibly above such a byte (borrows), never in a word without one.
    #[inline]
    fn brackets(w: u64) -> u64 {
        let v = w ^ (ONES * u64::from(b'['));
        v.wrapping_sub(ONES) & !v
    }
    let n = b.len();
    if n < 8 {
        return b.contains(&b'[');
    }
    if n > 64 {
        return memchr(b'[', b).is_some();
    }
    let mut acc = brackets(word(b)) | brackets(word(&b[n - 8..]));
    // Whatever lies between the first and the last word.
    let mut at = 8;
    while at + 8 < n {
        acc |= brackets(word(&b[at..]));
        at += 8;
    }
    acc & HIGHS != 0
}

/// `out.push_str(s)` for the held whitespace, usually a single space or
/// newline: that byte is pushed directly rather than through a `memcpy`
/// call.
#[inline]
fn push_short(out: &mut String, s: &str) {
    // A one-byte `str` is one ASCII character.
    if let [b] = s.as_bytes() {
        out.push(char::from(*b));
    } else {
        out.push_str(s);
    }
}

/// What the body buffer starts with at the first block: most blocks fit.
const BODY_CAPACITY: usize = 512;

#[derive(Debug, Clone, Copy)]
enum State {
    Prose,
    /// Inside a block of this kind; its body so far is in
    /// [`StreamParser::body`].
    Block(MarkerKind),
}

/// Incremental parser; see the module docs. Feed chunks with
/// [`push`](Self::push) (or [`push_with`](Self::push_with) /
/// [`push_ref`](Self::push_ref)), then call [`finish`](Self::finish).
///
/// `StreamParser` (that is, `StreamParser<true>`) keeps its own copy of the
/// display so that `finish()` can return it in [`Parsed::display`]. A
/// caller that keeps every display delta anyway can spare the parser that
/// copy: [`StreamParser::caller_keeps_display`] gives a
/// [`CallerDisplayParser`] (`StreamParser<false>`), which pushes exactly
/// the same way and emits exactly the same events, but has no `finish()`;
/// it ends with [`finish_with_display`](CallerDisplayParser::finish_with_display),
/// which takes the caller's concatenated deltas.
#[derive(Debug)]
pub struct StreamParser<const KEEPS_DISPLAY: bool = true> {
    state: State,
    collector: Collector,
    seams: Seams,
    /// A partial tag at the end of the prose seen so far: starts with `[`,
    /// shorter than [`MAX_TAG_LEN`].
    carry: String,
    /// The open block's body so far. Kept across blocks so its buffer is
    /// allocated once per stream, not once per block.
    body: String,
    /// With `KEEPS_DISPLAY`: all display text so far, followed by the
    /// whitespace [`Seams`] holds (`seams.held()` bytes). `finish()` needs
    /// the whole display, and keeping the held whitespace in place means
    /// prose that follows it costs no extra copy. `display[..released]` has
    /// been sent.
    ///
    /// Without: only what has not been sent. Between pushes that is exactly
    /// the held whitespace, and `released` is 0; within a push the slow path
    /// writes here as above and [`flush`](Self::flush) drops what it sent.
    display: String,
    released: usize,
    /// In prose with no partial tag carried and no seam open, i.e. a chunk
    /// without `[` is display text as it stands. What the fast path of
    /// [`push_ref`](Self::push_ref) checks; one flag instead of three tests
    /// per push, kept up to date by the slow path (the only one that can
    /// change any of them).
    plain: bool,
    /// Debug builds only, without `KEEPS_DISPLAY`: every display delta sent
    /// so far, to check what the caller hands to `finish_with_display`.
    #[cfg(debug_assertions)]
    sent: String,
}

/// A [`StreamParser`] for a caller that keeps the display itself; made by
/// [`StreamParser::caller_keeps_display`], ended by
/// [`finish_with_display`](Self::finish_with_display).
pub type CallerDisplayParser = StreamParser<false>;

impl Default for StreamParser {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamParser {
    pub fn new() -> Self {
        Self::start()
    }

    /// A parser for a caller that keeps every display delta it is given
    /// (appends them to its own transcript, say): it does not keep a copy
    /// of the display itself, so a chunk of plain prose is not copied at
    /// all, only handed on. Pushes as [`StreamParser::new`]'s does and
    /// emits the same events; see
    /// [`finish_with_display`](CallerDisplayParser::finish_with_display)
    /// for what the caller must keep.
    pub fn caller_keeps_display() -> CallerDisplayParser {
        StreamParser::start()
    }

    /// End of input. A held partial tag is prose after all; an open block is
    /// unterminated.
    pub fn finish(mut self) -> Finished {
        let events = self.end();
        Finished {
            events,
            parsed: self.collector.finish(self.display),
        }
    }
}

impl CallerDisplayParser {
    /// End of input, as [`StreamParser::finish`], given the display the
    /// caller kept. Returns exactly what `finish()` would: the last events
    /// and, in `parsed`, the same value [`crate::parse`] returns for the
    /// whole reply. `parsed.display` is `display` itself, with the display
    /// text of the returned events appended.
    ///
    /// **Contract:** `display` must be the concatenation, in order, of the
    /// text of every display delta this parser's pushes emitted
    /// ([`EventRef::Display`] / [`Event::Display`]), nothing left out or
    /// added; the deltas in the returned `events` are not in it yet (they
    /// are appended here, so the caller forwards them as usual, but need not
    /// add them to `display` first). Debug builds check this and panic on a
    /// mismatch; release builds trust it, and a wrong `display` gives a
    /// wrong `parsed.display` (payloads and diagnostics are unaffected).
    pub fn finish_with_display(mut self, mut display: String) -> Finished {
        #[cfg(debug_assertions)]
        assert!(
            display == self.sent,
            "finish_with_display: `display` ({} bytes) is not the concatenation \
             of the display deltas sent ({} bytes)",
            display.len(),
            self.sent.len()
        );
        let events = self.end();
        for e in &events {
            if let Event::Display(d) = e {
                display.push_str(d);
            }
        }
        Finished {
            events,
            parsed: self.collector.finish(display),
        }
    }
}

impl<const KEEPS_DISPLAY: bool> StreamParser<KEEPS_DISPLAY> {
    fn start() -> Self {
        StreamParser {
            state: State::Prose,
            collector: Collector::default(),
            seams: Seams::default(),
            carry: String::new(),
            body: String::new(),
            display: String::new(),
            released: 0,
            // Nothing is shown yet, so leading whitespace must be trimmed.
            plain: false,
            #[cfg(debug_assertions)]
            sent: String::new(),
        }
    }

    /// Feed the next chunk; returns the events it released, in order.
    pub fn push(&mut self, chunk: &str) -> Vec<Event> {
        let mut events = Vec::new();
        self.push_with(chunk, |e| events.push(e));
        events
    }

    /// As [`push`](Self::push), handing each event to `sink` instead of
    /// collecting them. Each display delta is still an allocated `String`;
    /// [`push_ref`](Self::push_ref) avoids that.
    pub fn push_with(&mut self, chunk: &str, mut sink: impl FnMut(Event)) {
        self.push_ref(chunk, |e| sink(e.into_owned()));
    }

    /// As [`push_with`](Self::push_with), but display deltas are borrowed
    /// (valid only during the call to `sink`): no allocation per push for
    /// display text. Same events, same order.
    #[inline]
    pub fn push_ref(&mut self, chunk: &str, mut sink: impl FnMut(EventRef<'_>)) {
        if !has_bracket(chunk.as_bytes()) {
            // Fast path, the common case for small chunks of prose: no tag
            // can start or end in the chunk, nothing is carried and no seam
            // is open, so the chunk is display text as it stands, its
            // trailing whitespace held as always.
            if self.plain {
                debug_assert!(
                    matches!(self.state, State::Prose)
                        && self.carry.is_empty()
                        && self.seams.plain()
                );
                if KEEPS_DISPLAY {
                    // Copied once, into the display; the held whitespace is
                    // simply not sent yet.
                    self.seams.append(chunk, &mut self.display);
                    self.flush(&mut sink);
                } else {
                    self.forward(chunk, &mut sink);
                }
                return;
            }
            // Inside a block: the closing tag cannot be in the chunk, nor
            // straddle into it unless the body's last bytes hold a `[`. So
            // the chunk only joins the body, as `block` would do.
            if matches!(self.state, State::Block(_)) {
                let b = self.body.as_bytes();
                if !has_bracket(&b[b.len().saturating_sub(MAX_TAG_LEN - 1)..]) {
                    self.body.push_str(chunk);
                    return;
                }
            }
        }
        self.push_slow(chunk, &mut sink);
    }

    /// The fast path without `KEEPS_DISPLAY`: `display` holds only the held
    /// whitespace. Unless that is non-empty (the previous chunk ended in
    /// whitespace), the chunk's final part is sent straight from the chunk,
    /// not copied at all; only its trailing whitespace is kept.
    #[inline]
    fn forward(&mut self, chunk: &str, sink: &mut impl FnMut(EventRef<'_>)) {
        debug_assert!(self.released == 0 && self.display.len() == self.seams.held());
        let core = self.seams.appended(chunk);
        if core == 0 {
            push_short(&mut self.display, chunk);
            return;
        }
        // One call site for `sink`, so the compiler can inline it here.
        let d = if self.display.is_empty() {
            &chunk[..core]
        } else {
            self.display.push_str(&chunk[..core]);
            self.display.as_str()
        };
        sink(EventRef::Display(d));
        #[cfg(debug_assertions)]
        self.sent.push_str(d);
        self.display.clear();
        if core < chunk.len() {
            push_short(&mut self.display, &chunk[core..]);
        }
    }

    fn push_slow(&mut self, chunk: &str, sink: &mut impl FnMut(EventRef<'_>)) {
        let mut rest = chunk;
        while !rest.is_empty() {
            rest = match self.state {
                State::Prose => self.prose(rest, sink),
                State::Block(kind) => self.block(kind, rest, sink),
            };
        }
        self.plain =
            matches!(self.state, State::Prose) && self.carry.is_empty() && self.seams.plain();
        self.flush(sink);
    }

    /// The end of input for both kinds of parser: a held partial tag is
    /// prose after all; an open block is unterminated. Returns the events
    /// released; afterwards only [`Collector::finish`] is left to do.
    fn end(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        let mut sink = |e: EventRef<'_>| events.push(e.into_owned());
        if !self.carry.is_empty() {
            let carry = std::mem::take(&mut self.carry);
            self.seams.text(&carry, &mut self.display);
        }
        if let State::Block(kind) = self.state {
            self.flush(&mut sink);
            sink(EventRef::Marker(self.collector.unterminated(kind)));
        }
        self.flush(&mut sink);
        // Only the held trailing whitespace is left unsent, and it is trimmed.
        self.seams.end(&mut self.display);
        events
    }

    /// Send the display text that became final since the last flush, if any.
    #[inline]
    fn flush(&mut self, sink: &mut impl FnMut(EventRef<'_>)) {
        // Held whitespace ends the display and is whole characters, so `end`
        // is a char boundary.
        let end = self.display.len() - self.seams.held();
        if end > self.released {
            sink(EventRef::Display(&self.display[self.released..end]));
            #[cfg(debug_assertions)]
            if !KEEPS_DISPLAY {
                self.sent.push_str(&self.display[self.released..end]);
            }
            self.released = end;
        }
        if !KEEPS_DISPLAY && end > 0 {
            // Sent, and the caller keeps it: drop it, keeping the held run.
            self.display.drain(..end);
            self.released = 0;
        }
    }

    fn marker(&mut self, ev: MarkerEvent, sink: &mut impl FnMut(EventRef<'_>)) {
        // Keep the order of the reply: prose before the block goes first.
        self.flush(sink);
        sink(EventRef::Marker(ev));
    }

    /// A complete tag was read in prose.
    fn tag(&mut self, kind: MarkerKind, closing: bool, sink: &mut impl FnMut(EventRef<'_>)) {
        self.seams.removed(&mut self.display);
        if closing {
            let ev = self.collector.stray(kind);
            self.marker(ev, sink);
        } else {
            // `body` was emptied when the previous block closed. The first
            // block allocates room for a typical one at once, rather than
            // growing the buffer 8, 16, 32, … bytes at a time chunk by chunk.
            if self.body.capacity() == 0 {
                self.body.reserve(BODY_CAPACITY);
            }
            self.state = State::Block(kind);
        }
    }

    /// Consume prose from `rest` up to and including the next tag; returns
    /// what is left.
    fn prose<'a>(&mut self, rest: &'a str, sink: &mut impl FnMut(EventRef<'_>)) -> &'a str {
        let b = rest.as_bytes();
        if !self.carry.is_empty() {
            // Decide the held partial tag with the new bytes.
            let mut buf = [0u8; MAX_TAG_LEN];
            let held = self.carry.len();
            let take = b.len().min(MAX_TAG_LEN - held);
            buf[..held].copy_from_slice(self.carry.as_bytes());
            buf[held..held + take].copy_from_slice(&b[..take]);
            match match_tag(&buf[..held + take]) {
                TagMatch::Tag { kind, closing, len } => {
                    self.carry.clear();
                    self.tag(kind, closing, sink);
                    // Tags are ASCII, so this is a char boundary.
                    return &rest[len - held..];
                }
                TagMatch::Partial => {
                    // Only possible when all of `rest` fit in the window.
                    self.carry.push_str(rest);
                    return "";
                }
                TagMatch::No => {
                    // A tag prefix holds a single `[`, at its start, so the
                    // whole carry is prose.
                    let carry = std::mem::take(&mut self.carry);
                    self.seams.text(&carry, &mut self.display);
                }
            }
        }
        let mut at = 0;
        while let Some(off) = memchr(b'[', &b[at..]) {
            let i = at + off;
            match match_tag(&b[i..b.len().min(i + MAX_TAG_LEN)]) {
                TagMatch::Tag { kind, closing, len } => {
                    self.seams.text(&rest[..i], &mut self.display);
                    self.tag(kind, closing, sink);
                    return &rest[i + len..];
                }
                TagMatch::Partial => {
                    // The window was cut by the end of the chunk.
                    self.seams.text(&rest[..i], &mut self.display);
                    self.carry.push_str(&rest[i..]);
                    return "";
                }
                TagMatch::No => at = i + 1,
            }
        }
        self.seams.text(rest, &mut self.display);
        ""
    }

    /// Consume block content from `rest` up to and including the closing
    /// tag; returns what is left.
    fn block<'a>(
        &mut self,
        kind: MarkerKind,
        rest: &'a str,
        sink: &mut impl FnMut(EventRef<'_>),
    ) -> &'a str {
        let close = kind.closing_tag().as_bytes();
        let b = rest.as_bytes();
        let body = &mut self.body;
        // The closing tag may straddle the previous chunk and this one: look
        // at the last len-1 body bytes joined with the first len-1 new ones,
        // which can only matter if those body bytes hold a `[`. Anything
        // further back was searched already.
        let mut found: Option<(usize, usize)> = None; // (body length kept, bytes of rest consumed)
        let tail = body.len().min(close.len() - 1);
        let tail_bytes = &body.as_bytes()[body.len() - tail..];
        // These searches run on every chunk of a block: a few word tests,
        // and `find_tag` (a `memchr` call) only where a `[` was seen.
        if has_bracket(tail_bytes)
            && let Some(s) = tail_bytes.iter().position(|&c| c == b'[')
        {
            let mut buf = [0u8; 2 * MAX_TAG_LEN];
            let tail_bytes = &tail_bytes[s..];
            let tail = tail_bytes.len();
            let head = b.len().min(close.len() - 1);
            buf[..tail].copy_from_slice(tail_bytes);
            buf[tail..tail + head].copy_from_slice(&b[..head]);
            if let Some(p) = find_tag(&buf[..tail + head], close)
                && p < tail
            {
                found = Some((body.len() - tail + p, p + close.len() - tail));
            }
        }
        if found.is_none()
            && has_bracket(b)
            && let Some(k) = find_tag(b, close)
        {
            body.push_str(&rest[..k]);
            found = Some((body.len(), k + close.len()));
        }
        let Some((keep, consumed)) = found else {
            body.push_str(rest);
            return "";
        };
        // `keep` is at a `[`, hence a char boundary.
        body.truncate(keep);
        self.state = State::Prose;
        let ev = self.collector.block(kind, &self.body);
        self.body.clear();
        self.marker(ev, sink);
        &rest[consumed..]
    }
}

#[cfg(test)]
mod tests {
    use super::{EventRef, StreamParser, has_bracket};

    /// `push_ref` (fast path and slow path) gives the batch display and
    /// releases exactly what `push` does, push by push.
    #[test]
    fn push_ref_matches_push() {
        let reply = "  Hi there,\n\nsome  prose [QUESTIONS][{\"text\":\"q?\"}][/QUESTIONS] \n more\u{a0} text \
                     [ not a tag [/FORK] end\u{3000}of  reply \t\n";
        for n in 1..24 {
            let pieces = crate::cli::chunks(reply, n);
            let mut a = StreamParser::new();
            let mut b = StreamParser::new();
            let mut shown = String::new();
            for p in pieces {
                let mut got = String::new();
                a.push_ref(p, |e| {
                    if let EventRef::Display(d) = e {
                        got.push_str(d);
                    }
                });
                let want: String = b
                    .push(p)
                    .into_iter()
                    .filter_map(|e| match e {
                        super::Event::Display(d) => Some(d),
                        super::Event::Marker(_) => None,
                    })
                    .collect();
                assert_eq!(got, want, "{n} {p:?}");
                shown.push_str(&got);
            }
            let fa = a.finish();
            for e in &fa.events {
                if let super::Event::Display(d) = e {
                    shown.push_str(d);
                }
            }
            assert_eq!(fa.parsed, crate::parse(reply), "{n}");
            assert_eq!(shown, fa.parsed.display, "{n}");
        }
    }

    #[test]
    fn bracket_search() {
        for len in 0..80 {
            let mut v = vec![b'a'; len];
            assert!(!has_bracket(&v));
            for i in 0..len {
                v[i] = b'[';
                assert!(has_bracket(&v), "{len} {i}");
                v[i] = 0xdb; // '[' | 0x80
                assert!(!has_bracket(&v), "{len} {i}");
                v[i] = b'Z';
                assert!(!has_bracket(&v), "{len} {i}");
                v[i] = b'a';
            }
        }
    }
}
