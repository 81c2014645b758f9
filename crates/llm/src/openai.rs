//! The OpenAI-compatible Chat Completions wire format (OpenAI, Azure
//! OpenAI, Ollama, vLLM, llama.cpp server, LM Studio): endpoint and auth
//! per flavour, the request body (images as data-URL `image_url` parts),
//! and the decoder for `data:` chunks ending in `[DONE]`.
//!
//! Pure encoding/decoding; HTTP, retries and timeouts live elsewhere.

use std::collections::VecDeque;

use engine::llm::{ChatRequest, ChatRole, LlmError, LlmErrorKind, StopReason, StreamEvent, Usage};
use http::{HeaderMap, HeaderValue};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::config::{LlmConfig, is_azure_host};
use crate::errors;
use crate::provider::{self, Wire};
use crate::sse::SseEvent;
use crate::stream::WireDecoder;

/// Azure's GA data-plane version, used when a deployment URL names none.
pub const AZURE_DEFAULT_API_VERSION: &str = "2024-10-21";

pub struct OpenAi {
    endpoint: url::Url,
    headers: HeaderMap,
    model: String,
    max_tokens: u32,
    temperature: Option<f32>,
    /// OpenAI's own API wants `max_completion_tokens` (reasoning models
    /// reject `max_tokens`); local servers only know `max_tokens`.
    modern_max_tokens: bool,
}

impl OpenAi {
    pub fn new(cfg: &LlmConfig) -> anyhow::Result<Self> {
        let base = cfg.base_url()?;
        let azure = is_azure_host(&base) || cfg.azure_api_version.is_some();
        let mut endpoint = provider::join(&base, "chat/completions");
        let has_version = endpoint.query_pairs().any(|(k, _)| k == "api-version");
        let version = match &cfg.azure_api_version {
            Some(v) => Some(v.as_str()),
            // Deployment URLs need a version; Azure's newer /openai/v1 API does not.
            None if azure && base.path().contains("/deployments/") => {
                Some(AZURE_DEFAULT_API_VERSION)
            }
            None => None,
        };
        if let (Some(v), false) = (version, has_version) {
            endpoint.query_pairs_mut().append_pair("api-version", v);
        }
        let mut headers = HeaderMap::new();
        if let Some(key) = &cfg.api_key {
            let key = key.expose_secret().trim();
            let value = if azure {
                key.to_owned()
            } else {
                format!("Bearer {key}")
            };
            let mut v = HeaderValue::from_str(&value).map_err(|_| {
                anyhow::anyhow!(
                    "FLOWPILOT_LLM_API_KEY contains characters not allowed in an HTTP header"
                )
            })?;
            v.set_sensitive(true);
            headers.insert(if azure { "api-key" } else { "authorization" }, v);
        }
        let host = base.host_str().unwrap_or_default();
        Ok(Self {
            endpoint,
            headers,
            model: cfg.model.clone(),
            max_tokens: cfg.max_tokens,
            temperature: cfg.temperature,
            modern_max_tokens: host == "api.openai.com" || azure,
        })
    }
}

/// The request body. `modern_max_tokens` picks `max_completion_tokens`
/// over `max_tokens`.
pub fn request_body(
    req: &ChatRequest,
    model: &str,
    max_tokens: u32,
    temperature: Option<f32>,
    modern_max_tokens: bool,
) -> Value {
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    // One system message, instructions first then context: several local
    // servers' chat templates refuse a second system message, and OpenAI
    // caches by prefix, so the stable part goes first.
    let system: Vec<&str> = [Some(req.system.as_str()), req.context.as_deref()]
        .into_iter()
        .flatten()
        .filter(|t| !t.trim().is_empty())
        .collect();
    if !system.is_empty() {
        messages.push(json!({"role": "system", "content": system.join("\n\n")}));
    }
    for m in &req.messages {
        let role = match m.role {
            ChatRole::User => "user",
            ChatRole::Assistant => "assistant",
        };
        // Plain string content when there are no images: the widest support.
        let content = if m.images.is_empty() {
            json!(m.content)
        } else {
            let mut parts = vec![json!({"type": "text", "text": m.content})];
            parts.extend(m.images.iter().map(|i| {
                json!({"type": "image_url", "image_url": {"url": format!("data:{};base64,{}", i.media_type, i.data_base64)}})
            }));
            Value::Array(parts)
        };
        messages.push(json!({"role": role, "content": content}));
    }
    let limit_field = if modern_max_tokens {
        "max_completion_tokens"
    } else {
        "max_tokens"
    };
    let mut body = json!({
        "model": model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    body[limit_field] = json!(req.max_tokens.unwrap_or(max_tokens));
    if let Some(t) = req.temperature.or(temperature) {
        body["temperature"] = json!(t);
    }
    body
}

impl Wire for OpenAi {
    type Decoder = Decoder;

    fn name(&self) -> &'static str {
        "openai"
    }
    fn endpoint(&self) -> &url::Url {
        &self.endpoint
    }
    fn headers(&self) -> &HeaderMap {
        &self.headers
    }
    fn body(&self, req: &ChatRequest) -> Value {
        request_body(
            req,
            &self.model,
            self.max_tokens,
            self.temperature,
            self.modern_max_tokens,
        )
    }
    fn decoder(&self) -> Decoder {
        Decoder::default()
    }
}

/// Decodes Chat Completions chunks.
#[derive(Debug, Default)]
pub struct Decoder {
    usage: Option<Usage>,
    finish_reason: Option<String>,
    done: bool,
}

fn protocol(detail: impl Into<String>) -> LlmError {
    LlmError::new(LlmErrorKind::Protocol, detail)
}

fn stop_reason(s: Option<&str>) -> StopReason {
    match s {
        Some("stop") | None => StopReason::EndTurn,
        Some("length") => StopReason::MaxTokens,
        Some(other) => StopReason::Other(other.to_owned()),
    }
}

/// Usage in the engine's convention: `prompt_tokens` includes cached ones.
fn usage_from(v: &Value) -> Option<Usage> {
    let prompt = v.get("prompt_tokens")?.as_u64()?;
    let cached = v["prompt_tokens_details"]["cached_tokens"]
        .as_u64()
        .unwrap_or(0)
        .min(prompt);
    Some(Usage {
        input_tokens: prompt - cached,
        output_tokens: v["completion_tokens"].as_u64().unwrap_or(0),
        cache_read_tokens: cached,
        cache_write_tokens: 0,
    })
}

/// An error object in a body or a chunk.
pub fn error_from(v: &Value) -> LlmError {
    let err = v.get("error").unwrap_or(v);
    let msg = err
        .get("message")
        .and_then(Value::as_str)
        .or_else(|| err.as_str())
        .unwrap_or("");
    let ty = err
        .get("code")
        .and_then(Value::as_str)
        .or_else(|| err.get("type").and_then(Value::as_str));
    let kind = ty.map_or(LlmErrorKind::Overloaded, errors::kind_for_error_type);
    LlmError::new(kind, format!("{}: {msg}", ty.unwrap_or("error")))
}

impl Decoder {
    fn finish(&mut self, out: &mut VecDeque<StreamEvent>) {
        if let Some(u) = self.usage {
            out.push_back(StreamEvent::Usage(u));
        }
        out.push_back(StreamEvent::Done {
            stop_reason: stop_reason(self.finish_reason.as_deref()),
        });
        self.done = true;
    }
}

impl WireDecoder for Decoder {
    fn on_event(&mut self, ev: &SseEvent, out: &mut VecDeque<StreamEvent>) -> Result<(), LlmError> {
        if ev.data.trim() == "[DONE]" {
            self.finish(out);
            return Ok(());
        }
        let v: Value =
            serde_json::from_str(&ev.data).map_err(|e| protocol(format!("bad JSON chunk: {e}")))?;
        if v.get("error").is_some_and(|e| !e.is_null()) {
            return Err(error_from(&v));
        }
        // Azure's first chunk has no choices (content-filter results only);
        // the usage chunk has none either.
        if let Some(choice) = v["choices"].get(0) {
            // `reasoning_content` (vLLM, DeepSeek) is not reply text.
            if let Some(t) = choice["delta"]["content"]
                .as_str()
                .filter(|t| !t.is_empty())
            {
                out.push_back(StreamEvent::TextDelta(t.to_owned()));
            }
            if let Some(r) = choice["finish_reason"].as_str() {
                self.finish_reason = Some(r.to_owned());
            }
        }
        if let Some(u) = usage_from(&v["usage"]) {
            self.usage = Some(u);
        }
        Ok(())
    }

    fn is_done(&self) -> bool {
        self.done
    }

    fn on_eof(&mut self, out: &mut VecDeque<StreamEvent>) -> Result<(), LlmError> {
        // Some servers close without `[DONE]`; a finish_reason still says the
        // reply was complete. Without either, the stream was cut.
        if self.finish_reason.is_none() {
            return Err(protocol("the stream ended without finish_reason or [DONE]"));
        }
        self.finish(out);
        Ok(())
    }

    fn on_json(&mut self, body: &[u8], out: &mut VecDeque<StreamEvent>) -> Result<(), LlmError> {
        let v: Value =
            serde_json::from_slice(body).map_err(|e| protocol(format!("bad JSON answer: {e}")))?;
        if v.get("error").is_some_and(|e| !e.is_null()) {
            return Err(error_from(&v));
        }
        let choice = v["choices"]
            .get(0)
            .ok_or_else(|| protocol("answer has no choices"))?;
        if let Some(t) = choice["message"]["content"]
            .as_str()
            .filter(|t| !t.is_empty())
        {
            out.push_back(StreamEvent::TextDelta(t.to_owned()));
        }
        self.finish_reason = choice["finish_reason"].as_str().map(str::to_owned);
        self.usage = usage_from(&v["usage"]);
        self.finish(out);
        Ok(())
    }
}
