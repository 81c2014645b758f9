//! Building the display text: prose passes through untouched, except that the
//! run of whitespace around removed blocks (a *seam*) collapses and the whole
//! text is trimmed.
//!
//! The builder is incremental so the streaming parser can use it unchanged: it
//! is fed prose pieces and "a block was removed here" in order, and writes out
//! text as soon as it is final. The only thing it ever holds back is the
//! whitespace after the last non-whitespace character, because what that
//! whitespace becomes depends on what follows it (more prose: kept verbatim; a
//! block: part of a seam; the end of the reply: trimmed).

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
    /// Whitespace after the last non-whitespace prose, outside a seam.
    pending: String,
}

impl Seams {
    /// Feed a piece of prose (text known not to belong to any block).
    pub(crate) fn text(&mut self, s: &str, out: &mut String) {
        let lead = trim_start_len(s);
        self.whitespace(&s[..lead]);
        if lead == s.len() {
            return;
        }
        let trimmed_start = &s[lead..];
        let core = &trimmed_start[..trim_end_len(trimmed_start)];
        if self.in_seam || !self.pending.is_empty() {
            self.resolve(out);
        }
        out.push_str(core);
        self.started = true;
        // `resolve` emptied `pending`.
        self.pending.push_str(&trimmed_start[core.len()..]);
    }

    /// As [`text`](Self::text) when no seam is open and the display has
    /// started (so leading whitespace is kept verbatim); returns `false`,
    /// doing nothing, otherwise. The streaming parser's per-push fast path.
    #[inline]
    pub(crate) fn text_plain(&mut self, s: &str, out: &mut String) -> bool {
        if !self.started || self.in_seam {
            return false;
        }
        let core = trim_end_len(s);
        if core == 0 && !s.is_empty() {
            // Whitespace only: held, as `text` would.
            self.pending.push_str(s);
        } else if core > 0 {
            if !self.pending.is_empty() {
                out.push_str(&self.pending);
                self.pending.clear();
            }
            out.push_str(&s[..core]);
            self.pending.push_str(&s[core..]);
        }
        true
    }

    /// A whitespace-only piece.
    fn whitespace(&mut self, ws: &str) {
        if ws.is_empty() {
            return;
        }
        if self.in_seam {
            self.seam_ws = true;
            self.seam_lf |= ws.contains('\n');
        } else if self.started {
            self.pending.push_str(ws);
        }
    }

    /// A block (or stray closing tag) was removed at this point.
    pub(crate) fn removed(&mut self) {
        if !self.in_seam {
            // The whitespace just before the first removed block joins the seam.
            self.in_seam = true;
            self.seam_ws = !self.pending.is_empty();
            self.seam_lf = self.pending.contains('\n');
            self.pending.clear();
        }
    }

    /// Non-whitespace prose follows: write out what the held whitespace
    /// becomes.
    fn resolve(&mut self, out: &mut String) {
        if self.in_seam {
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
        } else {
            out.push_str(&self.pending);
        }
        self.pending.clear();
    }

    // Nothing to do at the end: held whitespace there is trailing (trimmed)
    // or a seam at the end of the reply (becomes nothing).
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pieces: `Some(text)` is prose, `None` a removed block.
    fn run(pieces: &[Option<&str>]) -> String {
        let mut s = Seams::default();
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
                        // `text_plain` == `text` after some started display
                        // with whitespace held.
                        for held in ["", " \n"] {
                            let mut x = Seams::default();
                            let mut ox = String::new();
                            x.text(&format!("z{held}"), &mut ox);
                            let mut y = Seams::default();
                            let mut oy = String::new();
                            y.text(&format!("z{held}"), &mut oy);
                            x.text(&s, &mut ox);
                            assert!(y.text_plain(&s, &mut oy));
                            x.text("e", &mut ox);
                            y.text("e", &mut oy);
                            assert_eq!(ox, oy, "{s:?} {held:?}");
                        }
                    }
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
        }
    }
}
