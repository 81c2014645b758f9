//! The batch parser: the whole reply at once, in a single left-to-right pass.
//!
//! `memchr` jumps from `[` to `[`; at each one the tag matcher decides in a
//! few byte comparisons whether a tag starts there. After an opening tag a
//! `[`-to-`[` search finds its closing tag and scanning resumes after it, so
//! every byte is looked at a bounded number of times and prose between tags
//! is copied once.

use memchr::memchr;

use crate::collect::Collector;
use crate::display::Seams;
use crate::tag::{MAX_TAG_LEN, TagMatch, find_tag, match_tag};
use crate::types::Parsed;

/// Parse a whole assistant reply.
///
/// Never fails: invalid blocks are removed from the display and reported in
/// [`Parsed::diagnostics`].
pub fn parse(reply: &str) -> Parsed {
    let b = reply.as_bytes();
    let mut collector = Collector::default();
    let mut seams = Seams::default();
    let mut display = String::with_capacity(reply.len());
    // Start of the prose not yet handed to `seams`.
    let mut prose_start = 0;
    let mut at = 0;
    while let Some(off) = memchr(b'[', &b[at..]) {
        let i = at + off;
        let window = &b[i..b.len().min(i + MAX_TAG_LEN)];
        // A partial tag here can only be one cut off by the end of the reply:
        // that is prose.
        let TagMatch::Tag { kind, closing, len } = match_tag(window) else {
            at = i + 1;
            continue;
        };
        seams.text(&reply[prose_start..i], &mut display);
        seams.removed(&mut display);
        let after = i + len;
        if closing {
            collector.stray(kind);
            prose_start = after;
        } else {
            let close = kind.closing_tag();
            match find_tag(&b[after..], close.as_bytes()) {
                Some(k) => {
                    collector.block_quiet(kind, &reply[after..after + k]);
                    prose_start = after + k + close.len();
                }
                None => {
                    collector.unterminated(kind);
                    prose_start = b.len();
                }
            }
        }
        at = prose_start;
    }
    seams.text(&reply[prose_start..], &mut display);
    seams.end(&mut display);
    collector.finish(display)
}
