//! The Anthropic Messages API wire format: the request body (system and
//! retrieval context as cacheable blocks, images as base64 blocks) and the
//! decoder for its SSE events and non-streaming answers.
//!
//! Pure encoding/decoding; HTTP, retries and timeouts live elsewhere.

use std::collections::VecDeque;

use engine::llm::{ChatRequest, ChatRole, LlmError, LlmErrorKind, StopReason, StreamEvent, Usage};
use http::{HeaderMap, HeaderValue};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::config::LlmConfig;
use crate::errors;
use crate::provider::{self, Wire};
use crate::sse::SseEvent;
use crate::stream::WireDecoder;

pub const API_VERSION: &str = "2023-06-01";

pub struct Anthropic {
    endpoint: url::Url,
    headers: HeaderMap,
    model: String,
    max_tokens: u32,
    temperature: Option<f32>,
}

impl Anthropic {
    pub fn new(cfg: &LlmConfig) -> anyhow::Result<Self> {
        let base = cfg.base_url()?;
        // Accept both `https://api.anthropic.com` and `…/v1` as the base.
        let path = if base.path().trim_end_matches('/').ends_with("/v1") {
            "messages"
        } else {
            "v1/messages"
        };
        let mut headers = HeaderMap::new();
        headers.insert("anthropic-version", HeaderValue::from_static(API_VERSION));
        if let Some(key) = &cfg.api_key {
            let mut v = HeaderValue::from_str(key.expose_secret().trim()).map_err(|_| {
                anyhow::anyhow!(
                    "FLOWPILOT_LLM_API_KEY contains characters not allowed in an HTTP header"
                )
            })?;
            v.set_sensitive(true);
            headers.insert("x-api-key", v);
        }
        Ok(Self {
            endpoint: provider::join(&base, path),
            headers,
            model: cfg.model.clone(),
            max_tokens: cfg.max_tokens,
            temperature: cfg.temperature,
        })
    }
}

/// The request body for a chat request.
pub fn request_body(
    req: &ChatRequest,
    model: &str,
    max_tokens: u32,
    temperature: Option<f32>,
) -> Value {
    let cached = json!({"type": "ephemeral"});
    // Two cache breakpoints: the instructions (same every turn) and the
    // retrieved flows (same while the topic is), so later turns reread
    // both from the cache instead of paying for them again.
    let system: Vec<Value> = [Some(req.system.as_str()), req.context.as_deref()]
        .into_iter()
        .flatten()
        .filter(|t| !t.trim().is_empty()) // the API rejects empty text blocks
        .map(|t| json!({"type": "text", "text": t, "cache_control": cached}))
        .collect();
    let messages: Vec<Value> = req
        .messages
        .iter()
        .map(|m| {
            let role = match m.role {
                ChatRole::User => "user",
                ChatRole::Assistant => "assistant",
            };
            // Images first: Anthropic recommends images before the question.
            let mut content: Vec<Value> = m
                .images
                .iter()
                .map(|i| json!({"type": "image", "source": {"type": "base64", "media_type": i.media_type, "data": i.data_base64}}))
                .collect();
            if !m.content.is_empty() || content.is_empty() {
                content.push(json!({"type": "text", "text": m.content}));
            }
            json!({"role": role, "content": content})
        })
        .collect();
    let mut body = json!({
        "model": model,
        "max_tokens": req.max_tokens.unwrap_or(max_tokens),
        "messages": messages,
        "stream": true,
    });
    if !system.is_empty() {
        body["system"] = Value::Array(system);
    }
    if let Some(t) = req.temperature.or(temperature) {
        body["temperature"] = json!(t);
    }
    body
}

impl Wire for Anthropic {
    type Decoder = Decoder;

    fn name(&self) -> &'static str {
        "anthropic"
    }
    fn endpoint(&self) -> &url::Url {
        &self.endpoint
    }
    fn headers(&self) -> &HeaderMap {
        &self.headers
    }
    fn body(&self, req: &ChatRequest) -> Value {
        request_body(req, &self.model, self.max_tokens, self.temperature)
    }
    fn decoder(&self) -> Decoder {
        Decoder::default()
    }
}

/// Decodes Anthropic's stream events.
#[derive(Debug, Default)]
pub struct Decoder {
    usage: Usage,
    stop_reason: Option<String>,
    done: bool,
}

fn protocol(detail: impl Into<String>) -> LlmError {
    LlmError::new(LlmErrorKind::Protocol, detail)
}

fn stop_reason(s: Option<&str>) -> StopReason {
    match s {
        None | Some("end_turn") => StopReason::EndTurn,
        Some("max_tokens") => StopReason::MaxTokens,
        Some("stop_sequence") => StopReason::StopSequence,
        Some(other) => StopReason::Other(other.to_owned()),
    }
}

/// Overwrites the counts present in a `usage` object: `message_start` has
/// input and cache counts, `message_delta` the cumulative output count
/// (and, on newer API versions, final input counts too).
fn merge_usage(usage: &mut Usage, v: &Value) {
    let fields: [(&str, &mut u64); 4] = [
        ("input_tokens", &mut usage.input_tokens),
        ("output_tokens", &mut usage.output_tokens),
        ("cache_read_input_tokens", &mut usage.cache_read_tokens),
        ("cache_creation_input_tokens", &mut usage.cache_write_tokens),
    ];
    for (name, slot) in fields {
        if let Some(n) = v.get(name).and_then(Value::as_u64) {
            *slot = n;
        }
    }
}

/// An in-stream `error` event or an error body.
pub fn error_from(v: &Value) -> LlmError {
    let err = v.get("error").unwrap_or(v);
    let ty = err.get("type").and_then(Value::as_str).unwrap_or("error");
    let msg = err.get("message").and_then(Value::as_str).unwrap_or("");
    LlmError::new(errors::kind_for_error_type(ty), format!("{ty}: {msg}"))
}

impl WireDecoder for Decoder {
    fn on_event(&mut self, ev: &SseEvent, out: &mut VecDeque<StreamEvent>) -> Result<(), LlmError> {
        let v: Value = serde_json::from_str(&ev.data)
            .map_err(|e| protocol(format!("bad JSON in {:?} event: {e}", ev.event)))?;
        let ty = v.get("type").and_then(Value::as_str).unwrap_or(&ev.event);
        match ty {
            "message_start" => merge_usage(&mut self.usage, &v["message"]["usage"]),
            "content_block_start" => {
                if let Some(t) = v["content_block"]["text"]
                    .as_str()
                    .filter(|t| !t.is_empty())
                {
                    out.push_back(StreamEvent::TextDelta(t.to_owned()));
                }
            }
            "content_block_delta" => {
                // thinking, signature and tool-input deltas are not reply text.
                if v["delta"]["type"] == "text_delta"
                    && let Some(t) = v["delta"]["text"].as_str().filter(|t| !t.is_empty())
                {
                    out.push_back(StreamEvent::TextDelta(t.to_owned()));
                }
            }
            "message_delta" => {
                if let Some(r) = v["delta"]["stop_reason"].as_str() {
                    self.stop_reason = Some(r.to_owned());
                }
                merge_usage(&mut self.usage, &v["usage"]);
            }
            "message_stop" => {
                out.push_back(StreamEvent::Usage(self.usage));
                out.push_back(StreamEvent::Done {
                    stop_reason: stop_reason(self.stop_reason.as_deref()),
                });
                self.done = true;
            }
            "error" => return Err(error_from(&v)),
            // ping, content_block_stop, and event types added later.
            _ => {}
        }
        Ok(())
    }

    fn is_done(&self) -> bool {
        self.done
    }

    fn on_eof(&mut self, _out: &mut VecDeque<StreamEvent>) -> Result<(), LlmError> {
        Err(protocol("the stream ended before message_stop"))
    }

    fn on_json(&mut self, body: &[u8], out: &mut VecDeque<StreamEvent>) -> Result<(), LlmError> {
        let v: Value =
            serde_json::from_slice(body).map_err(|e| protocol(format!("bad JSON answer: {e}")))?;
        if v["type"] == "error" {
            return Err(error_from(&v));
        }
        let blocks = v["content"]
            .as_array()
            .ok_or_else(|| protocol("answer has no content array"))?;
        let text: String = blocks
            .iter()
            .filter(|b| b["type"] == "text")
            .filter_map(|b| b["text"].as_str())
            .collect();
        if !text.is_empty() {
            out.push_back(StreamEvent::TextDelta(text));
        }
        merge_usage(&mut self.usage, &v["usage"]);
        out.push_back(StreamEvent::Usage(self.usage));
        out.push_back(StreamEvent::Done {
            stop_reason: stop_reason(v["stop_reason"].as_str()),
        });
        self.done = true;
        Ok(())
    }
}
