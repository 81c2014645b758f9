//! The marker protocol parser: takes an assistant reply, pulls out the marker
//! blocks (`[QUESTIONS] … [/QUESTIONS]` and friends), validates them into typed
//! payloads and returns the prose the engineer should see. The contract is
//! `shared/spec/markers.md`; `tests/data/marker-vectors.jsonl` holds its
//! examples.
//!
//! * [`parse`] — batch: one reply in, one [`Parsed`] out.
//! * [`StreamParser`] — the same result fed chunk by chunk, emitting display
//!   deltas and each block's payload as it closes.
//! * [`to_cli_json`] / [`parse_streamed`] — what `flowpilot markers parse`
//!   prints, and its `--stream-chunks N` mode.
//!
//! Only ever call these on assistant output: marker syntax typed by a user is
//! plain text.

mod batch;
mod cli;
mod collect;
mod display;
mod json;
mod stream;
mod tag;
mod types;
mod uuid;
mod validate;

pub use batch::parse;
pub use cli::{parse_streamed, to_cli_json};
pub use collect::{BlockForm, MarkerEvent, Payload};
pub use stream::{CallerDisplayParser, Event, EventRef, Finished, StreamParser};
pub use types::{
    Action, Diagnostic, FixOutcome, Fork, ForkOption, MarkerKind, Outcome, Parsed, Promote,
    Question, SourceType, SuggestFix, Uuid,
};
