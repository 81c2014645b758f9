//! Building the display text: prose passes through untouched, except that the
//! run of whitespace around removed blocks (a *seam*) collapses and the whole
//! text is trimmed.
//!
//! The builder is incremental so the streaming parser can use it unchanged: it
//! is fed prose pieces and "a block was removed here" in order, and says how
//! much of what it wrote is final. The only thing not final is the whitespace
//! after the last non-whitespace character, because what that whitespace
//! becomes depends on what follows it (more prose: kept verbatim; a block:
//! part of a seam; the end of the reply: trimmed).

/// ASCII bytes that are `char::is_whitespace` (note U+000B is, unlike in
/// `u8::is_ascii_whitespace`). Every other whitespace char is non-ASCII.
#[inline]
fn ascii_ws(b: u8) -> bool {
    matches!(b, b'\t'..=b'\r' | b' ')
}

/// Length of `s`'s leading whitespace, as `s.len() - s.trim_start().len()`,
/// with a byte loop for the ASCII part.
fn trim_start_len(s: &str) -> usize {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && ascii_ws(b[i]) {
        i += 1;
    }
    if i < b.len() && b[i] >= 0x80 {
        // `i` is at a char start: only ASCII was skipped.
        let rest = &s[i..];
        i += rest.len() - rest.trim_start().len();
    }
    i
}

/// `s.trim_end().len()`, with a byte loop for the ASCII part.
#[inline]
fn trim_end_len(s: &str) -> usize {
    let b = s.as_bytes();
    let mut j = b.len();
    while j > 0 && ascii_ws(b[j - 1]) {
        j -= 1;
    }
    if j > 0 && b[j - 1] >= 0x80 {
        // `j` is after an ASCII byte or at the end: a char boundary.
        j = s[..j].trim_end().len();
    }
    j
}

/// Incremental display-text builder; see the module docs.
///
/// Held whitespace is written to `out` straight away and only its length is
/// kept here: when prose follows (the usual case) it is already in place and
/// costs nothing more, and when a block follows it is cut off again. The
/// caller treats `out[..out.len() - held()]` as final.
#[derive(Debug, Default)]
pub(crate) struct Seams {
    /// Some non-whitespace display text has been written. Until then all
    /// whitespace is leading and is trimmed; a seam there becomes nothing.
    started: bool,
    /// A block was removed since the last non-whitespace prose.
    in_seam: bool,
    /// The seam's whitespace run holds a U+000A.
    seam_lf: bool,
    /// The seam's whitespace run is non-empty.
    seam_ws: bool,
    /// Bytes at the end of `out`: whitespace after the last non-whitespace
    /// prose, outside a seam. Not final yet.
    held: usize,
}

impl Seams {
    /// How many bytes at the end of the output are held back.
    #[inline]
    pub(crate) fn held(&self) -> usize {
        self.held
    }

    /// Whether prose can go out verbatim (see [`append`](Self::append)): the
    /// display has started, so leading whitespace is kept, and no seam is
    /// open, so there is nothing to collapse.
    #[inline]
    pub(crate) fn plain(&self) -> bool {
        self.started && !self.in_seam
    }

    /// Feed a piece of prose (text known not to belong to any block).
    pub(crate) fn text(&mut self, s: &str, out: &mut String) {
        if self.plain() {
            self.append(s, out);
            return;
        }
        let lead = trim_start_len(s);
        if self.in_seam && lead > 0 {
            self.seam_ws = true;
            self.seam_lf |= s.as_bytes()[..lead].contains(&b'\n');
        }
        // Otherwise (not started, no seam) leading whitespace is trimmed.
        if lead == s.len() {
            return;
        }
        if self.in_seam {
            self.resolve(out);
        }
        self.started = true;
        self.append(&s[lead..], out);
    }

    /// Prose written out as it is, its trailing whitespace held. Only valid
    /// while [`plain`](Self::plain), or for text that starts with
    /// non-whitespace once the seam is resolved. The streaming parser's
    /// per-push fast path.
    #[inline]
    pub(crate) fn append(&mut self, s: &str, out: &mut String) {
        out.push_str(s);
        self.appended(s);
    }

    /// What [`append`](Self::append) does besides writing `s`, for a caller
    /// that places the text itself (the streaming parser when its caller
    /// keeps the display): counts `s` as following the output so far and
    /// returns the length of its final part, `s` without its trailing
    /// whitespace. When that is 0 the held run grew by `s`; otherwise the
    /// earlier held run is final and `s[returned..]` is all that is held.
    #[inline]
    pub(crate) fn appended(&mut self, s: &str) -> usize {
        let core = trim_end_len(s);
        // Whitespace only: the held run grows; otherwise the earlier held
        // run is now followed by prose, so final, and only this tail is held.
        self.held = if core == 0 {
            self.held + s.len()
        } else {
            s.len() - core
        };
        core
    }

    /// A block (or stray closing tag) was removed at this point.
    pub(crate) fn removed(&mut self, out: &mut String) {
        if !self.in_seam {
            // The whitespace just before the first removed block joins the
            // seam. `held` bytes of whitespace end at a char boundary and
            // start at one.
            self.in_seam = true;
            let keep = out.len() - self.held;
            self.seam_ws = self.held > 0;
            self.seam_lf = out.as_bytes()[keep..].contains(&b'\n');
            out.truncate(keep);
            self.held = 0;
        }
    }

    /// The end of the reply: held whitespace is trailing, so trimmed, and a
    /// seam there becomes nothing.
    pub(crate) fn end(&mut self, out: &mut String) {
        out.truncate(out.len() - self.held);
        self.held = 0;
    }

    /// Non-whitespace prose follows an open seam: write out what its
    /// whitespace becomes.
    fn resolve(&mut self, out: &mut String) {
        // A seam at the start of the reply becomes nothing.
        if self.started {
            if self.seam_lf {
                out.push_str("\n\n");
            } else if self.seam_ws {
                out.push(' ');
            }
        }
        self.in_seam = false;
        self.seam_lf = false;
        self.seam_ws = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The builder as it was first written, with the held whitespace in a
    /// separate buffer and copied out only once prose follows: a second,
    /// plainer reading of the seam rules to check [`Seams`] against.
    #[derive(Default)]
    struct Model {
        started: bool,
        in_seam: bool,
        seam_lf: bool,
        seam_ws: bool,
        pending: String,
    }

    impl Model {
        fn text(&mut self, s: &str, out: &mut String) {
            let ws = &s[..s.len() - s.trim_start().len()];
            if !ws.is_empty() {
                if self.in_seam {
                    self.seam_ws = true;
                    self.seam_lf |= ws.contains('\n');
                } else if self.started {
                    self.pending.push_str(ws);
                }
            }
            let t = s.trim_start();
            if t.is_empty() {
                return;
            }
            let core = t.trim_end();
            if self.in_seam {
                if self.started {
                    if self.seam_lf {
                        out.push_str("\n\n");
                    } else if self.seam_ws {
                        out.push(' ');
                    }
                }
                self.in_seam = false;
            } else {
                out.push_str(&self.pending);
            }
            self.pending.clear();
            out.push_str(core);
            self.started = true;
            self.pending.push_str(&t[core.len()..]);
        }

        fn removed(&mut self) {
            if !self.in_seam {
                self.in_seam = true;
                self.seam_ws = !self.pending.is_empty();
                self.seam_lf = self.pending.contains('\n');
                self.pending.clear();
            }
        }
    }

    /// Pieces: `Some(text)` is prose, `None` a removed block.
    fn run(pieces: &[Option<&str>]) -> String {
        let mut s = Seams::default();
        let mut out = String::new();
        for p in pieces {
            match p {
                Some(t) => s.text(t, &mut out),
                None => s.removed(&mut out),
            }
        }
        s.end(&mut out);
        out
    }

    fn run_model(pieces: &[Option<&str>]) -> String {
        let mut s = Model::default();
        let mut out = String::new();
        for p in pieces {
            match p {
                Some(t) => s.text(t, &mut out),
                None => s.removed(),
            }
        }
        out
    }

    #[test]
    fn trims_match_std() {
        let ws = [
            " ", "\t", "\n", "\u{b}", "\u{c}", "\r", "\u{85}", "\u{a0}", "\u{2003}", "\u{3000}",
            "x", "é", "\u{1c}", "",
        ];
        for a in ws {
            for b in ws {
                for c in ws {
                    for d in ws {
                        let s = format!("{a}{b}{c}{d}");
                        assert_eq!(trim_start_len(&s), s.len() - s.trim_start().len(), "{s:?}");
                        assert_eq!(trim_end_len(&s), s.trim_end().len(), "{s:?}");
                    }
                }
            }
        }
    }

    /// [`Seams`] (held whitespace written in place, cut back at a block)
    /// equals the model on every sequence of two pieces and blocks drawn
    /// from whitespace of each kind, prose and nothing, in every state the
    /// prefixes reach; and after each piece, what it calls final is exactly
    /// the model's output so far.
    #[test]
    fn matches_model() {
        let words = [
            " ", "\n", "\r", "\u{a0}", "\u{3000}", " \n", "x", "é", "x ", " x", "x\u{a0}", "",
        ];
        let mut items: Vec<Option<String>> = vec![None];
        for a in words {
            for b in words {
                items.push(Some(format!("{a}{b}")));
            }
        }
        let prefixes: [&[Option<&str>]; 5] = [
            &[],
            &[Some("z")],
            &[Some("z \n")],
            &[Some("z "), None],
            &[None],
        ];
        for pre in prefixes {
            for x in &items {
                for y in &items {
                    let mut pieces: Vec<Option<&str>> = pre.to_vec();
                    pieces.push(x.as_deref());
                    pieces.push(y.as_deref());
                    pieces.push(Some("e"));
                    let mut s = Seams::default();
                    let mut m = Model::default();
                    let (mut out, mut mout) = (String::new(), String::new());
                    for p in &pieces {
                        match p {
                            Some(t) => {
                                s.text(t, &mut out);
                                m.text(t, &mut mout);
                            }
                            None => {
                                s.removed(&mut out);
                                m.removed();
                            }
                        }
                        assert_eq!(out[..out.len() - s.held()], mout, "{pieces:?}");
                    }
                    assert_eq!(run(&pieces), run_model(&pieces), "{pieces:?}");
                    pieces.pop();
                    assert_eq!(run(&pieces), run_model(&pieces), "{pieces:?}");
                }
            }
        }
    }

    #[test]
    fn table() {
        let cases: &[(&[Option<&str>], &str)] = &[
            (&[Some("  a  b  ")], "a  b"),
            (&[Some("a "), None, Some(" b")], "a b"),
            (&[Some("a"), None, Some("b")], "ab"),
            (&[Some("a\r\n"), None, Some("b")], "a\n\nb"),
            (&[Some("a\r"), None, Some("\rb")], "a b"),
            (&[Some("a\u{a0}"), None, Some("b")], "a b"),
            (&[Some("a "), None, Some("\n"), None, Some(" b")], "a\n\nb"),
            (&[Some("a"), None, Some(""), None, Some("b")], "ab"),
            (&[Some(" \n "), None, Some(" \n a")], "a"),
            (&[Some("a \n"), None, Some(" \n ")], "a"),
            (
                &[Some("a\n\n\n"), None, Some("b\n\n\n\nc")],
                "a\n\nb\n\n\n\nc",
            ),
            (&[Some("a "), Some(" b")], "a  b"),
            (&[Some("a "), Some(" "), Some("\n"), Some("b")], "a  \nb"),
            (&[None, Some("x"), None], "x"),
        ];
        for (pieces, want) in cases {
            assert_eq!(run(pieces), *want, "{pieces:?}");
            assert_eq!(run_model(pieces), *want, "{pieces:?}");
        }
    }
}
