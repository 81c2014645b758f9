//! The `LlmProvider` port: what the turn pipeline asks of a model provider,
//! and the typed errors it can get back.
//!
//! Types only. This module must not depend on reqwest, axum or any wire
//! format: the `llm` crate implements the port (Anthropic, OpenAI-compatible)
//! and the server maps [`LlmError`] to 502/503/504 in one place.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;

/// Who said a message in the conversation sent to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatRole {
    User,
    Assistant,
}

/// An image attached to a message (a screenshot of an error dialog, say).
#[derive(Clone, PartialEq, Eq)]
pub struct ImageInput {
    /// `image/png`, `image/jpeg`, `image/gif` or `image/webp`.
    pub media_type: String,
    /// The image bytes, base64-encoded (standard alphabet, padded).
    pub data_base64: String,
}

// Images are large: Debug shows the size, not megabytes of base64 in logs.
impl fmt::Debug for ImageInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImageInput")
            .field("media_type", &self.media_type)
            .field("base64_len", &self.data_base64.len())
            .finish()
    }
}

/// One message of the conversation history.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatMessage {
    pub role: ChatRole,
    pub content: String,
    pub images: Vec<ImageInput>,
}

impl ChatMessage {
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: ChatRole::User,
            content: content.into(),
            images: Vec::new(),
        }
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: ChatRole::Assistant,
            content: content.into(),
            images: Vec::new(),
        }
    }
}

/// Everything a provider needs to answer one turn.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatRequest {
    /// The instructions; stable across turns, so providers may cache it.
    pub system: String,
    /// Retrieved knowledge-base flows. Kept apart from `system` because it
    /// changes less often than the history: providers that support prompt
    /// caching mark it cacheable.
    pub context: Option<String>,
    /// The conversation, oldest first; the last one is the engineer's.
    pub messages: Vec<ChatMessage>,
    /// Overrides the configured maximum reply length.
    pub max_tokens: Option<u32>,
    /// Overrides the configured sampling temperature.
    pub temperature: Option<f32>,
    /// The turn's material in structured form, for providers that work
    /// from it rather than from text (the offline guide); model providers
    /// ignore it.
    pub grounding: Option<std::sync::Arc<Grounding>>,
}

/// What a turn knows, structured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Grounding {
    /// The flows retrieved for the turn, best first.
    pub flows: Vec<crate::retrieval::RetrievedFlow>,
    /// The task lane before this message.
    pub lane: crate::sessions::TaskLane,
    /// The engineer's responses to it, sent with this message.
    pub responses: Vec<crate::sessions::TaskResponse>,
    pub active_fix: Option<crate::sessions::Fix>,
    /// The engineer's own words in this message.
    pub message: String,
    /// Whether the session has had turns before.
    pub earlier_turns: bool,
}

/// Token counts for one reply.
///
/// `input_tokens` counts prompt tokens billed at the full rate, i.e. neither
/// read from nor written to the provider's prompt cache (Anthropic's
/// convention; OpenAI-compatible counts are converted to it), so the prompt
/// size is [`Usage::total_input_tokens`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
}

impl Usage {
    pub fn total_input_tokens(&self) -> u64 {
        self.input_tokens + self.cache_read_tokens + self.cache_write_tokens
    }
}

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// The model finished its answer.
    EndTurn,
    /// The reply hit `max_tokens`: the text is complete as sent, but cut.
    MaxTokens,
    StopSequence,
    /// Anything else the provider said (`content_filter`, `refusal`, …).
    Other(String),
}

/// One item of a reply stream.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// More reply text, in order.
    TextDelta(String),
    /// Token counts; sent once, just before `Done`.
    Usage(Usage),
    /// The reply is complete. Always the last item of a successful stream;
    /// a stream that ends without it has failed.
    Done { stop_reason: StopReason },
}

/// What kind of failure; the server picks the status code from this alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LlmErrorKind {
    /// The key is missing, wrong, or lacks access (401/403). Not retried.
    Auth,
    /// Too many requests, still after retries (429).
    RateLimited,
    /// The provider is overloaded or failing (5xx, 529), still after retries.
    Overloaded,
    /// The provider refused the request itself: unknown model, prompt too
    /// long, bad parameter (400/404/413/422). Not retried.
    BadRequest,
    /// Connect, first-token, idle or overall timeout.
    Timeout,
    /// The connection failed or broke.
    Network,
    /// The provider answered something we could not understand, or ended
    /// its stream without saying the reply was complete.
    Protocol,
}

impl LlmErrorKind {
    /// Whether trying the same request again later can help.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            Self::RateLimited | Self::Overloaded | Self::Timeout | Self::Network
        )
    }

    /// What the engineer is told: what went wrong and what to do.
    pub fn message(self) -> &'static str {
        match self {
            Self::Auth => {
                "The AI provider rejected the API key; check FLOWPILOT_LLM_API_KEY (and that the key may use this model)."
            }
            Self::RateLimited => {
                "The AI provider is rate-limiting FlowPilot; wait a minute and send the message again, or raise the account's rate limit."
            }
            Self::Overloaded => {
                "The AI provider is overloaded or failing right now; send the message again in a moment."
            }
            Self::BadRequest => {
                "The AI provider refused the request; check FLOWPILOT_LLM_MODEL and FLOWPILOT_LLM_BASE_URL, or shorten the conversation."
            }
            Self::Timeout => {
                "The AI provider took too long to answer; send the message again, or raise the FLOWPILOT_LLM_*_TIMEOUT_SECS settings for a slow model."
            }
            Self::Network => {
                "FlowPilot could not reach the AI provider, or the connection broke; check FLOWPILOT_LLM_BASE_URL and the network, then send the message again."
            }
            Self::Protocol => {
                "The AI provider sent an answer FlowPilot could not read, or stopped mid-reply; send the message again, and check that FLOWPILOT_LLM_PROVIDER matches the server at FLOWPILOT_LLM_BASE_URL."
            }
        }
    }
}

/// A provider failure. Never contains the API key: the `llm` crate scrubs
/// provider error bodies before they land in `detail`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{kind:?}: {detail}")]
pub struct LlmError {
    pub kind: LlmErrorKind,
    /// Technical detail for the logs (the provider's own error text, which
    /// timeout fired, …).
    pub detail: String,
    /// Text that had already arrived when a stream broke; `None` when the
    /// failure came before any text. The turn keeps it as `incomplete`.
    pub partial_text: Option<String>,
    /// How long the provider asked us to wait, when it said.
    pub retry_after: Option<Duration>,
    /// The provider's HTTP status, when the failure was an HTTP answer.
    pub status: Option<u16>,
}

impl LlmError {
    pub fn new(kind: LlmErrorKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
            partial_text: None,
            retry_after: None,
            status: None,
        }
    }

    /// What the engineer is told (see [`LlmErrorKind::message`]).
    pub fn message(&self) -> &'static str {
        self.kind.message()
    }

    /// Attaches the text received before the failure (ignored when empty).
    pub fn with_partial(mut self, text: &str) -> Self {
        self.partial_text = (!text.is_empty()).then(|| text.to_owned());
        self
    }
}

/// A whole reply, as collected by [`LlmProvider::complete`].
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub text: String,
    pub usage: Usage,
    pub stop_reason: StopReason,
}

/// The stream a provider returns: text deltas, then usage, then `Done`; or
/// an error item, after which the stream ends.
pub type ReplyStream = BoxStream<'static, Result<StreamEvent, LlmError>>;

/// A model provider. Implementations retry transient failures before the
/// first token themselves and apply their timeouts to the stream.
#[async_trait]
pub trait LlmProvider: Send + Sync {
    /// `anthropic`, `openai`, …: for logs and the admin page.
    fn name(&self) -> &str;

    /// The configured model.
    fn model(&self) -> &str;

    /// Starts a reply. Returns `Ok` once the provider accepted the request
    /// (HTTP 2xx); failures after that arrive as the stream's last item.
    /// Dropping the stream closes the provider connection at once, so no
    /// more tokens are generated or paid for (the engineer's Stop).
    async fn stream(&self, req: ChatRequest) -> Result<ReplyStream, LlmError>;

    /// Collects a whole reply. A stream that breaks returns the error with
    /// the text received so far in `partial_text`.
    async fn complete(&self, req: ChatRequest) -> Result<Completion, LlmError> {
        let mut stream = self.stream(req).await?;
        let mut text = String::new();
        let mut usage = Usage::default();
        while let Some(item) = stream.next().await {
            match item {
                Ok(StreamEvent::TextDelta(delta)) => text.push_str(&delta),
                Ok(StreamEvent::Usage(u)) => usage = u,
                Ok(StreamEvent::Done { stop_reason }) => {
                    return Ok(Completion {
                        text,
                        usage,
                        stop_reason,
                    });
                }
                Err(e) => {
                    return Err(match e.partial_text {
                        Some(_) => e,
                        None => e.with_partial(&text),
                    });
                }
            }
        }
        Err(
            LlmError::new(LlmErrorKind::Protocol, "reply stream ended without Done")
                .with_partial(&text),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Canned(Vec<Result<StreamEvent, LlmError>>);

    #[async_trait]
    impl LlmProvider for Canned {
        fn name(&self) -> &str {
            "canned"
        }
        fn model(&self) -> &str {
            "m"
        }
        async fn stream(&self, _req: ChatRequest) -> Result<ReplyStream, LlmError> {
            Ok(futures::stream::iter(self.0.clone()).boxed())
        }
    }

    fn delta(s: &str) -> Result<StreamEvent, LlmError> {
        Ok(StreamEvent::TextDelta(s.into()))
    }

    #[tokio::test]
    async fn complete_collects_text_usage_and_stop_reason() {
        let usage = Usage {
            input_tokens: 3,
            output_tokens: 2,
            ..Usage::default()
        };
        let p = Canned(vec![
            delta("Hel"),
            delta("lo"),
            Ok(StreamEvent::Usage(usage)),
            Ok(StreamEvent::Done {
                stop_reason: StopReason::EndTurn,
            }),
        ]);
        let c = p.complete(ChatRequest::default()).await.unwrap();
        assert_eq!(
            c,
            Completion {
                text: "Hello".into(),
                usage,
                stop_reason: StopReason::EndTurn
            }
        );
    }

    #[tokio::test]
    async fn complete_without_done_is_a_protocol_error_carrying_the_text() {
        let e = Canned(vec![delta("Hel")])
            .complete(ChatRequest::default())
            .await
            .unwrap_err();
        assert_eq!(e.kind, LlmErrorKind::Protocol);
        assert_eq!(e.partial_text.as_deref(), Some("Hel"));
    }

    #[tokio::test]
    async fn complete_attaches_collected_text_to_a_mid_stream_error() {
        let err = LlmError::new(LlmErrorKind::Network, "reset");
        let e = Canned(vec![delta("a"), delta("b"), Err(err)])
            .complete(ChatRequest::default())
            .await
            .unwrap_err();
        assert_eq!(
            (e.kind, e.partial_text.as_deref()),
            (LlmErrorKind::Network, Some("ab"))
        );
    }

    #[test]
    fn image_debug_hides_the_bytes() {
        let img = ImageInput {
            media_type: "image/png".into(),
            data_base64: "QUJD".repeat(100),
        };
        let s = format!("{img:?}");
        assert!(s.contains("base64_len: 400") && !s.contains("QUJD"), "{s}");
    }
}
