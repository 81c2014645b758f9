//! Turning an accepted (2xx) HTTP response into the engine's reply stream:
//! SSE decoding, the first-token / idle / overall timeouts, and the rule
//! that a stream which breaks or ends early is an error carrying the text
//! that had arrived.
//!
//! Provider formats plug in through [`WireDecoder`]; this module knows
//! neither. Dropping the returned stream drops the response body, which
//! closes the connection: the provider stops generating.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use engine::llm::{LlmError, LlmErrorKind, ReplyStream, StreamEvent};
use futures::StreamExt;
use futures::stream::BoxStream;
use secrecy::SecretString;
use tokio::time::{Instant, timeout_at};

use crate::errors;
use crate::sse::{SseDecoder, SseEvent};

/// How long to wait for the body's end after the reply's end marker.
const DRAIN_WAIT: Duration = Duration::from_millis(20);

/// A provider's reply format.
pub trait WireDecoder: Send + 'static {
    /// Handles one SSE event, pushing what it means for the caller.
    fn on_event(&mut self, ev: &SseEvent, out: &mut VecDeque<StreamEvent>) -> Result<(), LlmError>;
    /// Whether the reply is complete (`Done` has been pushed).
    fn is_done(&self) -> bool;
    /// The body ended without the format's end marker: pushes `Done` if the
    /// format allows that, else says what was missing.
    fn on_eof(&mut self, out: &mut VecDeque<StreamEvent>) -> Result<(), LlmError>;
    /// A whole non-streaming JSON answer (some proxies ignore `stream`).
    fn on_json(&mut self, body: &[u8], out: &mut VecDeque<StreamEvent>) -> Result<(), LlmError>;
}

/// The stream's time limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// When the first text must have arrived.
    pub first_token: Instant,
    pub idle: Duration,
    pub overall: Instant,
}

/// Builds the reply stream for a 2xx response.
pub fn reply_stream<D: WireDecoder>(
    resp: reqwest::Response,
    decoder: D,
    limits: Limits,
    key: Option<SecretString>,
) -> ReplyStream {
    let is_json = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    let driver = Driver {
        body: resp.bytes_stream().boxed(),
        sse: SseDecoder::new(),
        json: is_json.then(Vec::new),
        decoder,
        pending: VecDeque::new(),
        text: String::new(),
        last_chunk: Instant::now(),
        limits,
        key,
        finished: false,
    };
    futures::stream::unfold(driver, |mut d| async move {
        let item = d.next().await?;
        Some((item, d))
    })
    .boxed()
}

struct Driver<D> {
    body: BoxStream<'static, reqwest::Result<Bytes>>,
    sse: SseDecoder,
    /// `Some` when the answer is plain JSON, buffered until the end.
    json: Option<Vec<u8>>,
    decoder: D,
    pending: VecDeque<StreamEvent>,
    /// All text yielded so far: what an error carries as `partial_text`.
    text: String,
    last_chunk: Instant,
    limits: Limits,
    key: Option<SecretString>,
    finished: bool,
}

impl<D: WireDecoder> Driver<D> {
    async fn next(&mut self) -> Option<Result<StreamEvent, LlmError>> {
        loop {
            if let Some(ev) = self.pending.pop_front() {
                if let StreamEvent::TextDelta(t) = &ev {
                    self.text.push_str(t);
                }
                return Some(Ok(ev));
            }
            if self.finished {
                return None;
            }
            if let Err(e) = self.pump().await {
                self.finished = true;
                self.pending.clear();
                return Some(Err(e.with_partial(&self.text)));
            }
        }
    }

    /// Reads one chunk (or the end) and decodes it into `pending`.
    async fn pump(&mut self) -> Result<(), LlmError> {
        let (deadline, which) = self.deadline();
        let chunk = match timeout_at(deadline, self.body.next()).await {
            Err(_) => return Err(LlmError::new(LlmErrorKind::Timeout, which)),
            Ok(chunk) => chunk,
        };
        self.last_chunk = Instant::now();
        match chunk {
            Some(Ok(bytes)) => {
                self.decode(&bytes)?;
                if self.finished {
                    self.drain().await;
                }
                Ok(())
            }
            Some(Err(e)) => {
                let detail = errors::from_transport(&e, self.key.as_ref()).detail;
                // Whatever the transport said, a body that breaks mid-reply is
                // a broken connection to the engineer.
                Err(LlmError::new(
                    LlmErrorKind::Network,
                    format!("reply stream broke: {detail}"),
                ))
            }
            None => {
                self.finished = true;
                if let Some(body) = self.json.take() {
                    return self.decoder.on_json(&body, &mut self.pending);
                }
                if self.sse.finish() {
                    tracing::debug!("provider stream ended inside an event");
                }
                self.decoder.on_eof(&mut self.pending)
            }
        }
    }

    fn decode(&mut self, bytes: &[u8]) -> Result<(), LlmError> {
        if let Some(buf) = &mut self.json {
            buf.extend_from_slice(bytes);
            return Ok(());
        }
        let mut events = Vec::new();
        self.sse
            .feed(bytes, &mut events)
            .map_err(|e| LlmError::new(LlmErrorKind::Protocol, e.to_string()))?;
        for ev in &events {
            self.decoder.on_event(ev, &mut self.pending)?;
            if self.decoder.is_done() {
                // Stop reading: anything after the end marker is not ours,
                // and dropping the body now frees the connection.
                self.finished = true;
                break;
            }
        }
        Ok(())
    }

    /// After the end marker, reads the body's own end if it is right there,
    /// so the connection goes back to the pool instead of being closed
    /// (a new TLS handshake to the provider costs more than this wait).
    async fn drain(&mut self) {
        for _ in 0..4 {
            match timeout_at(Instant::now() + DRAIN_WAIT, self.body.next()).await {
                Ok(Some(Ok(_))) => continue,
                _ => return,
            }
        }
    }

    /// The next deadline and what to say if it passes.
    fn deadline(&self) -> (Instant, &'static str) {
        let (soft, which) = if self.text.is_empty() && self.pending.is_empty() {
            (
                self.limits.first_token,
                "no reply text within the first-token timeout",
            )
        } else {
            (
                self.last_chunk + self.limits.idle,
                "the provider went silent mid-reply (idle timeout)",
            )
        };
        if self.limits.overall <= soft {
            (
                self.limits.overall,
                "the reply took longer than the overall timeout",
            )
        } else {
            (soft, which)
        }
    }
}
