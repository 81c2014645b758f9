//! The one `LlmProvider` implementation both wire formats share: encode the
//! request, send it with retries, hand the response to the stream driver.
//!
//! A [`Wire`] says what differs (URL, headers, body, decoder); this module
//! holds the HTTP client and the limits.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use engine::llm::{ChatRequest, LlmError, LlmErrorKind, LlmProvider, ReplyStream};
use http::HeaderMap;
use secrecy::SecretString;
use tokio::time::Instant;
use tracing::Instrument;

use crate::config::LlmConfig;
use crate::retry::{self, Deadlines, RetryPolicy};
use crate::stream::{self, Limits, WireDecoder};

/// What one provider's wire protocol decides.
pub trait Wire: Send + Sync + 'static {
    type Decoder: WireDecoder;
    fn name(&self) -> &'static str;
    /// The full endpoint URL.
    fn endpoint(&self) -> &url::Url;
    /// Auth and version headers (auth values marked sensitive).
    fn headers(&self) -> &HeaderMap;
    /// The JSON body for a request, streaming on.
    fn body(&self, req: &ChatRequest) -> serde_json::Value;
    fn decoder(&self) -> Self::Decoder;
}

/// An `LlmProvider` over HTTP for a given wire protocol.
pub struct HttpProvider<W> {
    wire: W,
    client: reqwest::Client,
    cfg: Arc<LlmConfig>,
}

impl<W: Wire> HttpProvider<W> {
    pub fn new(wire: W, cfg: LlmConfig) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .build()
            .map_err(|e| {
                anyhow::anyhow!("could not build the HTTP client for the AI provider: {e}")
            })?;
        Ok(Self {
            wire,
            client,
            cfg: Arc::new(cfg),
        })
    }

    fn key(&self) -> Option<&SecretString> {
        self.cfg.api_key.as_ref()
    }
}

#[async_trait]
impl<W: Wire> LlmProvider for HttpProvider<W> {
    fn name(&self) -> &str {
        self.wire.name()
    }

    fn model(&self) -> &str {
        &self.cfg.model
    }

    async fn stream(&self, req: ChatRequest) -> Result<ReplyStream, LlmError> {
        let called = Instant::now();
        let span =
            tracing::info_span!("llm.stream", provider = self.wire.name(), model = %self.cfg.model);
        // Encoded once: retries resend the same bytes.
        let body = serde_json::to_vec(&self.wire.body(&req))
            .map(Bytes::from)
            .map_err(|e| {
                LlmError::new(
                    LlmErrorKind::Protocol,
                    format!("could not encode the request: {e}"),
                )
            })?;
        let policy = RetryPolicy {
            max_retries: self.cfg.max_retries,
            base_delay: self.cfg.retry_base_delay,
            max_delay: self.cfg.retry_max_delay,
        };
        let overall = called + self.cfg.timeout;
        let deadlines = Deadlines {
            first_token: self.cfg.first_token_timeout,
            overall,
        };
        let make = || {
            self.client
                .post(self.wire.endpoint().clone())
                .headers(self.wire.headers().clone())
                .header(http::header::CONTENT_TYPE, "application/json")
                .header(http::header::ACCEPT, "text/event-stream, application/json")
                .body(body.clone())
        };
        let (resp, started) = retry::send(policy, deadlines, self.key(), make)
            .instrument(span)
            .await?;
        let limits = Limits {
            first_token: started + self.cfg.first_token_timeout,
            idle: self.cfg.idle_timeout,
            overall,
        };
        Ok(stream::reply_stream(
            resp,
            self.wire.decoder(),
            limits,
            self.cfg.api_key.clone(),
        ))
    }
}

/// Joins a base URL and an endpoint path, keeping the base's query (Azure
/// puts `api-version` there) and never doubling slashes.
pub fn join(base: &url::Url, path: &str) -> url::Url {
    let mut url = base.clone();
    let joined = format!(
        "{}/{}",
        base.path().trim_end_matches('/'),
        path.trim_start_matches('/')
    );
    url.set_path(&joined);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_keeps_the_query_and_one_slash() {
        let cases = [
            (
                "http://h:1/v1",
                "chat/completions",
                "http://h:1/v1/chat/completions",
            ),
            (
                "http://h:1/v1/",
                "/chat/completions",
                "http://h:1/v1/chat/completions",
            ),
            ("https://h", "v1/messages", "https://h/v1/messages"),
            (
                "https://r.openai.azure.com/openai/deployments/d?api-version=2024-10-21",
                "chat/completions",
                "https://r.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21",
            ),
        ];
        for (base, path, want) in cases {
            assert_eq!(join(&url::Url::parse(base).unwrap(), path).as_str(), want);
        }
    }
}
