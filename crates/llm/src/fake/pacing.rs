//! The fake server's streamed replies: the frames of a reply laid out as
//! timed steps (chunk delays, stalls, cuts) and played out as an HTTP body,
//! noting whether the client stayed to the end.
//!
//! Used by `server`; knows the wire formats only through `wire`.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::Response;

use super::script::{Entry, Fault};
use super::server::Shared;
use super::wire::{self, Api};

enum Step {
    Send(Bytes),
    /// A text chunk: counted, so tests can see how far a stream got.
    Text(Bytes),
    Wait(Duration),
    Cut,
}

/// Counts the stream as dropped by the client unless it ran to its end.
struct Guard {
    shared: Arc<Shared>,
    finished: bool,
}

impl Guard {
    /// The stream ended as planned (or the server is shutting down).
    fn finish(&mut self) {
        self.finished = true;
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.finished {
            self.shared.bump(&self.shared.disconnects);
        }
    }
}

/// A pause before a cut, so hyper flushes what was sent before it: without
/// it the headers and chunks may die in hyper's buffer with the connection,
/// and the client would see a refused request instead of a broken stream.
const FLUSH: Duration = Duration::from_millis(5);

fn plan(api: Api, id: &str, model: &str, entry: &Entry, include_usage: bool) -> VecDeque<Step> {
    let chunks = entry.chunks_of_reply();
    let frames = wire::stream_frames(api, id, model, &chunks, &entry.usage(), include_usage);
    let mut steps: VecDeque<Step> = frames.opening.into_iter().map(Step::Send).collect();
    let delay = Duration::from_millis(entry.chunk_delay_ms);
    for (i, chunk) in frames.chunks.into_iter().enumerate() {
        match entry.fault {
            Some(Fault::StallFirst {
                stall_before_first_chunk_ms: ms,
            }) if i == 0 => {
                steps.push_back(Step::Wait(Duration::from_millis(ms)));
            }
            Some(Fault::Stall {
                stall_ms,
                after_chunks,
            }) if i == after_chunks => {
                steps.push_back(Step::Wait(Duration::from_millis(stall_ms)));
            }
            Some(Fault::Cut { cut_after_chunks }) if i == cut_after_chunks => {
                steps.extend([Step::Wait(FLUSH), Step::Cut]);
                return steps;
            }
            _ => {}
        }
        if i > 0 && !delay.is_zero() {
            steps.push_back(Step::Wait(delay));
        }
        steps.push_back(Step::Text(chunk));
    }
    if matches!(entry.fault, Some(Fault::Cut { .. })) {
        // Cut after every text chunk: the end events never come.
        steps.extend([Step::Wait(FLUSH), Step::Cut]);
        return steps;
    }
    steps.extend(frames.closing.into_iter().map(Step::Send));
    // Real servers' body end often trails the last event in its own
    // segment; the client must still reuse the connection.
    steps.push_back(Step::Wait(FLUSH));
    steps
}

pub(super) fn stream_response(
    s: Arc<Shared>,
    api: Api,
    id: &str,
    model: &str,
    entry: &Entry,
    include_usage: bool,
) -> Response {
    let steps = plan(api, id, model, entry, include_usage);
    let guard = Guard {
        shared: s,
        finished: false,
    };
    let body = futures::stream::unfold((steps, guard), |(mut steps, mut guard)| async move {
        loop {
            if guard.finished {
                return None; // cut: nothing more, and not "completed"
            }
            let Some(step) = steps.pop_front() else {
                guard.finished = true;
                guard.shared.bump(&guard.shared.completed);
                return None;
            };
            match step {
                Step::Send(b) => return Some((Ok(b), (steps, guard))),
                Step::Text(b) => {
                    guard.shared.chunk_sent();
                    return Some((Ok(b), (steps, guard)));
                }
                Step::Wait(d) => {
                    if !guard.shared.pause(d).await {
                        guard.finish();
                        return None;
                    }
                }
                Step::Cut => {
                    guard.finished = true;
                    // An error item makes hyper drop the connection without
                    // the chunked body's terminator: an abrupt close.
                    return Some((
                        Err(io::Error::other("fake-llm: cut")),
                        (VecDeque::new(), guard),
                    ));
                }
            }
        }
    });
    let mut resp = Response::new(Body::from_stream(body));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    resp
}
