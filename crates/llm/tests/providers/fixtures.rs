//! The decoders and encoders against the providers' documented example
//! payloads (tests/fixtures/), fed in pieces of every size.

use std::collections::VecDeque;

use engine::llm::{
    ChatMessage, ChatRequest, ImageInput, LlmError, LlmErrorKind, StopReason, StreamEvent, Usage,
};
use llm::sse::SseDecoder;
use llm::stream::WireDecoder;
use serde_json::Value;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Decodes `bytes` fed `piece` bytes at a time, as the stream driver does.
fn decode<D: WireDecoder>(
    mut d: D,
    bytes: &[u8],
    piece: usize,
) -> (Vec<StreamEvent>, Option<LlmError>) {
    let mut sse = SseDecoder::new();
    let mut out = VecDeque::new();
    for chunk in bytes.chunks(piece) {
        let mut events = Vec::new();
        sse.feed(chunk, &mut events).unwrap();
        for ev in &events {
            if let Err(e) = d.on_event(ev, &mut out) {
                return (out.into(), Some(e));
            }
            if d.is_done() {
                return (out.into(), None);
            }
        }
    }
    let end = d.on_eof(&mut out).err();
    (out.into(), end)
}

fn each_split<D: WireDecoder>(
    make: impl Fn() -> D,
    name: &str,
) -> (Vec<StreamEvent>, Option<LlmError>) {
    let bytes = fixture(name);
    let whole = decode(make(), &bytes, bytes.len());
    for piece in 1..64 {
        assert_eq!(
            decode(make(), &bytes, piece),
            whole,
            "{name} in pieces of {piece}"
        );
    }
    whole
}

fn text(s: &str) -> StreamEvent {
    StreamEvent::TextDelta(s.into())
}

#[test]
fn anthropic_documented_stream_decodes() {
    let (events, err) = each_split(
        llm::anthropic::Decoder::default,
        "anthropic_stream_basic.sse",
    );
    assert_eq!(err, None);
    assert_eq!(
        events,
        vec![
            text("Hello"),
            text("!"),
            StreamEvent::Usage(Usage {
                input_tokens: 25,
                output_tokens: 15,
                ..Usage::default()
            }),
            StreamEvent::Done {
                stop_reason: StopReason::EndTurn
            },
        ]
    );
}

#[test]
fn anthropic_thinking_is_skipped_and_cache_writes_are_counted() {
    let (events, err) = each_split(
        llm::anthropic::Decoder::default,
        "anthropic_stream_cached_thinking.sse",
    );
    assert_eq!(err, None);
    assert_eq!(
        events,
        vec![
            text("Restart the "),
            text("spooler."),
            StreamEvent::Usage(Usage {
                input_tokens: 21,
                output_tokens: 503,
                cache_read_tokens: 0,
                cache_write_tokens: 188_086
            }),
            StreamEvent::Done {
                stop_reason: StopReason::MaxTokens
            },
        ]
    );
}

#[test]
fn anthropic_error_event_is_a_typed_error() {
    let (events, err) = each_split(
        llm::anthropic::Decoder::default,
        "anthropic_stream_error.sse",
    );
    assert_eq!(events, vec![text("Partial")]);
    let e = err.expect("error event");
    assert_eq!(e.kind, LlmErrorKind::Overloaded);
    assert!(e.detail.contains("Overloaded"));
}

#[test]
fn anthropic_stream_without_message_stop_is_a_protocol_error() {
    let bytes = fixture("anthropic_stream_basic.sse");
    let cut = String::from_utf8(bytes).unwrap().replace(
        "event: message_stop\ndata: {\"type\": \"message_stop\"}\n\n",
        "",
    );
    let (events, err) = decode(llm::anthropic::Decoder::default(), cut.as_bytes(), 10);
    assert_eq!(events, vec![text("Hello"), text("!")]);
    assert_eq!(err.map(|e| e.kind), Some(LlmErrorKind::Protocol));
}

#[test]
fn openai_documented_stream_decodes_with_cached_tokens() {
    let (events, err) = each_split(llm::openai::Decoder::default, "openai_stream_basic.sse");
    assert_eq!(err, None);
    assert_eq!(
        events,
        vec![
            text("Hello"),
            text("!"),
            StreamEvent::Usage(Usage {
                input_tokens: 128,
                output_tokens: 12,
                cache_read_tokens: 1792,
                cache_write_tokens: 0
            }),
            StreamEvent::Done {
                stop_reason: StopReason::EndTurn
            },
        ]
    );
}

#[test]
fn azure_crlf_stream_with_filter_results_decodes() {
    let (events, err) = each_split(
        llm::openai::Decoder::default,
        "openai_stream_azure_crlf.sse",
    );
    assert_eq!(err, None);
    assert_eq!(
        events,
        vec![
            text("Hi there"),
            StreamEvent::Done {
                stop_reason: StopReason::MaxTokens
            }
        ]
    );
}

#[test]
fn ollama_stream_without_usage_decodes() {
    let (events, err) = each_split(llm::openai::Decoder::default, "openai_stream_ollama.sse");
    assert_eq!(err, None);
    assert_eq!(
        events,
        vec![
            text("Try"),
            text(" ipconfig"),
            StreamEvent::Done {
                stop_reason: StopReason::EndTurn
            }
        ]
    );
}

#[test]
fn openai_stream_error_object_is_a_typed_error() {
    let (events, err) = each_split(llm::openai::Decoder::default, "openai_stream_error.sse");
    assert_eq!(events, vec![text("Part")]);
    assert_eq!(err.map(|e| e.kind), Some(LlmErrorKind::Overloaded));
}

#[test]
fn openai_stream_without_done_or_finish_reason_is_a_protocol_error() {
    let bytes = fixture("openai_stream_basic.sse");
    let text_only: String = String::from_utf8(bytes)
        .unwrap()
        .split("\n\n")
        .take(3)
        .map(|f| format!("{f}\n\n"))
        .collect();
    let (events, err) = decode(llm::openai::Decoder::default(), text_only.as_bytes(), 13);
    assert_eq!(events, vec![text("Hello"), text("!")]);
    assert_eq!(err.map(|e| e.kind), Some(LlmErrorKind::Protocol));
}

#[test]
fn documented_non_streaming_answers_decode() {
    let mut out = VecDeque::new();
    llm::anthropic::Decoder::default()
        .on_json(&fixture("anthropic_response.json"), &mut out)
        .unwrap();
    assert_eq!(
        Vec::from(std::mem::take(&mut out)),
        vec![
            text("Hi! My name is Claude."),
            StreamEvent::Usage(Usage {
                input_tokens: 2095,
                output_tokens: 503,
                cache_read_tokens: 1800,
                cache_write_tokens: 0
            }),
            StreamEvent::Done {
                stop_reason: StopReason::EndTurn
            },
        ]
    );
    llm::openai::Decoder::default()
        .on_json(&fixture("openai_response.json"), &mut out)
        .unwrap();
    assert_eq!(
        Vec::from(out),
        vec![
            text("Hello! How can I assist you today?"),
            StreamEvent::Usage(Usage {
                input_tokens: 19,
                output_tokens: 10,
                ..Usage::default()
            }),
            StreamEvent::Done {
                stop_reason: StopReason::EndTurn
            },
        ]
    );
}

fn outlook_request() -> ChatRequest {
    let mut last = ChatMessage::user("Desktop. Screenshot attached.");
    last.images.push(ImageInput {
        media_type: "image/jpeg".into(),
        data_base64: "/9j/4AAQSkZJRg==".into(),
    });
    ChatRequest {
        system: "You are FlowPilot, a troubleshooting copilot.".into(),
        context: Some("Flow 12: Outlook keeps asking for a password.".into()),
        messages: vec![
            ChatMessage::user("Outlook prompts for a password."),
            ChatMessage::assistant("Is it Outlook desktop or web?"),
            last,
        ],
        max_tokens: None,
        temperature: None,
        grounding: None,
    }
}

fn json_fixture(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).unwrap()
}

#[test]
fn request_bodies_match_the_documented_shapes() {
    let req = outlook_request();
    assert_eq!(
        llm::anthropic::request_body(&req, "claude-sonnet-4-5", 1024, Some(0.5)),
        json_fixture("anthropic_request.json")
    );
    assert_eq!(
        llm::openai::request_body(&req, "gpt-4o-mini", 1024, Some(0.5), true),
        json_fixture("openai_request.json")
    );
}
