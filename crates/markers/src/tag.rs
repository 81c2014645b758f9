//! Recognising marker tags (`[NAME]` / `[/NAME]`) at a given `[`.
//!
//! Both parsers call this at every `[` they meet, so it answers in a few byte
//! comparisons and also says when the bytes seen so far are only the start of a
//! tag — the streaming parser must hold exactly those bytes back.

use crate::types::MarkerKind;

/// The longest tag, `[/SUGGEST_FIX]` / `[/FIX_OUTCOME]`; a held-back partial
/// tag is always shorter than this.
pub(crate) const MAX_TAG_LEN: usize = 14;

/// What the bytes starting at a `[` are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TagMatch {
    /// A complete tag of `len` bytes.
    Tag {
        kind: MarkerKind,
        closing: bool,
        len: usize,
    },
    /// All the bytes given are a proper prefix of some tag: more input decides.
    Partial,
    /// These bytes can never become a tag.
    No,
}

/// Classify `b`, which must start with `[`, looking at no more than
/// [`MAX_TAG_LEN`] bytes.
pub(crate) fn match_tag(b: &[u8]) -> TagMatch {
    debug_assert_eq!(b.first(), Some(&b'['));
    let mut i = 1;
    let closing = b.get(1) == Some(&b'/');
    if closing {
        i = 2;
    }
    let Some(&first) = b.get(i) else {
        return TagMatch::Partial;
    };
    // Dispatch on the first letter: the names start with Q, A, P, S or F,
    // and only F is shared (FORK / FIX_OUTCOME), which the second byte splits.
    let candidates: &[MarkerKind] = match first {
        b'Q' => &[MarkerKind::Questions],
        b'A' => &[MarkerKind::Actions],
        b'P' => &[MarkerKind::Promote],
        b'S' => &[MarkerKind::SuggestFix],
        b'F' => &[MarkerKind::Fork, MarkerKind::FixOutcome],
        _ => return TagMatch::No,
    };
    let rest = &b[i..];
    for &kind in candidates {
        let name = kind.name().as_bytes();
        if rest.len() > name.len() {
            if rest.starts_with(name) && rest[name.len()] == b']' {
                return TagMatch::Tag {
                    kind,
                    closing,
                    len: i + name.len() + 1,
                };
            }
        } else if name.starts_with(rest) {
            return TagMatch::Partial;
        }
    }
    TagMatch::No
}

/// Position of `needle` (a tag, so starting with `[`) in `hay`.
///
/// Jumps between `[` bytes with `memchr` instead of using `memmem::find`,
/// which builds a searcher on every call — too costly for the 16-byte pieces
/// the streaming parser typically searches.
pub(crate) fn find_tag(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let mut at = 0;
    while let Some(off) = memchr::memchr(b'[', &hay[at..]) {
        let i = at + off;
        if hay[i..].starts_with(needle) {
            return Some(i);
        }
        at = i + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_tag_table() {
        assert_eq!(find_tag(b"ab[/FORK]", b"[/FORK]"), Some(2));
        assert_eq!(find_tag(b"[[/FORK", b"[/FORK]"), None);
        assert_eq!(find_tag(b"[x][/FORK][/FORK]", b"[/FORK]"), Some(3));
        assert_eq!(find_tag(b"", b"[/FORK]"), None);
    }

    #[test]
    fn table() {
        use MarkerKind::*;
        let t = |kind, closing, len| TagMatch::Tag { kind, closing, len };
        let cases: &[(&str, TagMatch)] = &[
            ("[", TagMatch::Partial),
            ("[/", TagMatch::Partial),
            ("[Q", TagMatch::Partial),
            ("[QUESTIONS", TagMatch::Partial),
            ("[QUESTIONS]", t(Questions, false, 11)),
            ("[QUESTIONS]xyz", t(Questions, false, 11)),
            ("[/QUESTIONS]", t(Questions, true, 12)),
            ("[QUESTIONSX", TagMatch::No),
            ("[QUEST]", TagMatch::No),
            ("[questions]", TagMatch::No),
            ("[F", TagMatch::Partial),
            ("[FI", TagMatch::Partial),
            ("[FO", TagMatch::Partial),
            ("[FX", TagMatch::No),
            ("[FORK]", t(Fork, false, 6)),
            ("[/FIX_OUTCOME]", t(FixOutcome, true, 14)),
            ("[SUGGEST_FIX]", t(SuggestFix, false, 13)),
            ("[/SUGGEST_FIX]", t(SuggestFix, true, 14)),
            ("[ACTIONS]", t(Actions, false, 9)),
            ("[PROMOTE]", t(Promote, false, 9)),
            ("[/ ]", TagMatch::No),
            ("[0]", TagMatch::No),
            ("[[QUESTIONS]", TagMatch::No),
            ("[//FORK]", TagMatch::No),
        ];
        for (input, want) in cases {
            assert_eq!(match_tag(input.as_bytes()), *want, "{input:?}");
        }
    }

    #[test]
    fn every_proper_prefix_is_partial() {
        for kind in MarkerKind::ALL {
            for tag in [format!("[{}]", kind.name()), kind.closing_tag().to_owned()] {
                assert!(tag.len() <= MAX_TAG_LEN);
                for n in 1..tag.len() {
                    assert_eq!(
                        match_tag(&tag.as_bytes()[..n]),
                        TagMatch::Partial,
                        "{tag} {n}"
                    );
                }
            }
        }
    }
}
