//! What the fake server writes, byte for byte, in each provider's real
//! wire format: SSE frames for streams, JSON bodies for plain answers and
//! errors.
//!
//! Pure formatting; the server decides when each frame goes out.

use bytes::Bytes;
use engine::llm::Usage;
use serde_json::{Value, json};

/// Which API a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Anthropic,
    OpenAi,
}

/// A stream's frames: the opening ones, one per text chunk, the closing ones.
pub struct Frames {
    pub opening: Vec<Bytes>,
    pub chunks: Vec<Bytes>,
    pub closing: Vec<Bytes>,
}

fn anthropic_frame(v: &Value) -> Bytes {
    let ty = v["type"].as_str().unwrap_or("unknown");
    Bytes::from(format!("event: {ty}\ndata: {v}\n\n"))
}

fn openai_frame(v: &Value) -> Bytes {
    Bytes::from(format!("data: {v}\n\n"))
}

fn openai_usage(u: &Usage) -> Value {
    let prompt = u.input_tokens + u.cache_read_tokens + u.cache_write_tokens;
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": u.output_tokens,
        "total_tokens": prompt + u.output_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cache_read_tokens},
    })
}

/// The frames of a streamed reply.
pub fn stream_frames(
    api: Api,
    id: &str,
    model: &str,
    chunks: &[String],
    usage: &Usage,
    include_usage: bool,
) -> Frames {
    match api {
        Api::Anthropic => {
            let start = json!({"type": "message_start", "message": {
                "id": id, "type": "message", "role": "assistant", "content": [], "model": model,
                "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": usage.input_tokens, "cache_creation_input_tokens": usage.cache_write_tokens,
                          "cache_read_input_tokens": usage.cache_read_tokens, "output_tokens": 1}}});
            let opening = vec![
                anthropic_frame(&start),
                anthropic_frame(
                    &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
                ),
                anthropic_frame(&json!({"type": "ping"})),
            ];
            let chunks = chunks
                .iter()
                .map(|c| anthropic_frame(&json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": c}})))
                .collect();
            let closing = vec![
                anthropic_frame(&json!({"type": "content_block_stop", "index": 0})),
                anthropic_frame(
                    &json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                                        "usage": {"output_tokens": usage.output_tokens}}),
                ),
                anthropic_frame(&json!({"type": "message_stop"})),
            ];
            Frames {
                opening,
                chunks,
                closing,
            }
        }
        Api::OpenAi => {
            let chunk = |delta: Value, finish: Value| {
                json!({"id": id, "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model,
                       "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
            };
            let opening = vec![openai_frame(&chunk(
                json!({"role": "assistant", "content": ""}),
                Value::Null,
            ))];
            let chunks = chunks
                .iter()
                .map(|c| openai_frame(&chunk(json!({"content": c}), Value::Null)))
                .collect();
            let mut closing = vec![openai_frame(&chunk(json!({}), json!("stop")))];
            if include_usage {
                closing.push(openai_frame(&json!({"id": id, "object": "chat.completion.chunk", "created": 1_700_000_000,
                                                  "model": model, "choices": [], "usage": openai_usage(usage)})));
            }
            closing.push(Bytes::from_static(b"data: [DONE]\n\n"));
            Frames {
                opening,
                chunks,
                closing,
            }
        }
    }
}

/// The body of a non-streaming reply.
pub fn full_reply(api: Api, id: &str, model: &str, text: &str, usage: &Usage) -> Value {
    match api {
        Api::Anthropic => json!({
            "id": id, "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": usage.input_tokens, "cache_creation_input_tokens": usage.cache_write_tokens,
                      "cache_read_input_tokens": usage.cache_read_tokens, "output_tokens": usage.output_tokens},
        }),
        Api::OpenAi => json!({
            "id": id, "object": "chat.completion", "created": 1_700_000_000, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": null, "finish_reason": "stop"}],
            "usage": openai_usage(usage),
        }),
    }
}

/// The error body each provider sends with an HTTP error status.
pub fn error_body(api: Api, status: u16, message: Option<&str>) -> Value {
    let (anthropic_type, openai_type) = match status {
        400 | 404 | 413 | 422 => ("invalid_request_error", "invalid_request_error"),
        401 => ("authentication_error", "invalid_request_error"),
        403 => ("permission_error", "invalid_request_error"),
        429 => ("rate_limit_error", "rate_limit_exceeded"),
        529 => ("overloaded_error", "server_error"),
        _ => ("api_error", "server_error"),
    };
    let msg = message.unwrap_or(match status {
        401 => "invalid x-api-key",
        429 => "Rate limit reached",
        529 => "Overloaded",
        _ => "fake-llm: injected fault",
    });
    match api {
        Api::Anthropic => {
            json!({"type": "error", "error": {"type": anthropic_type, "message": msg}})
        }
        Api::OpenAi => {
            json!({"error": {"message": msg, "type": openai_type, "param": null, "code": null}})
        }
    }
}

/// The text of the last user message in either API's request body.
pub fn last_user_text(body: &Value) -> String {
    let Some(msg) = body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
    else {
        return String::new();
    };
    match &msg["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// What a real provider would refuse with 400, so the client's requests
/// are checked against the documented required fields.
pub fn invalid_request(api: Api, headers: &http::HeaderMap, body: &Value) -> Option<String> {
    if body["model"].as_str().is_none_or(str::is_empty) {
        return Some("model: field required".into());
    }
    if body["messages"].as_array().is_none_or(Vec::is_empty) {
        return Some("messages: at least one message is required".into());
    }
    if api == Api::Anthropic {
        if !headers.contains_key("anthropic-version") {
            return Some("anthropic-version: header is required".into());
        }
        if body["max_tokens"].as_u64().is_none() {
            return Some("max_tokens: field required".into());
        }
    }
    None
}
