//! Replies that go right: streaming on both APIs, the prompt on the wire,
//! usage with cache tokens, plain JSON answers, URL flavours.

use std::collections::VecDeque;

use engine::llm::{ChatMessage, ChatRequest, ImageInput, StopReason, StreamEvent, Usage};
use llm::ProviderKind;
use llm::fake::{Api, Entry, UsageSpec};
use llm::stream::WireDecoder;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn a_reply_streams_in_chunks_and_ends_with_usage_then_done_on_both_apis() {
    for kind in KINDS {
        let reply = "Restart the print spooler, then clear C:\\Windows\\System32\\spool\\PRINTERS.";
        let fake = start(vec![Entry::reply(reply).chunks(5, 0)]).await;
        let p = provider_for(kind, &fake).await;
        let got = collect(p.stream(ask("printer queue stuck")).await.unwrap()).await;
        assert!(got.error.is_none(), "{kind:?}: {:?}", got.error);
        assert_eq!(got.text, reply);
        let deltas = got
            .events
            .iter()
            .filter(|e| matches!(e, StreamEvent::TextDelta(_)))
            .count();
        assert_eq!(deltas, reply.chars().count().div_ceil(5), "{kind:?}");
        let n = got.events.len();
        assert!(
            matches!(got.events[n - 2], StreamEvent::Usage(_)),
            "{kind:?}"
        );
        assert_eq!(
            got.events[n - 1],
            StreamEvent::Done {
                stop_reason: StopReason::EndTurn
            }
        );
        assert_eq!(fake.completed(), 1);
    }
}

#[tokio::test]
async fn usage_reports_input_output_and_cache_tokens() {
    let spec = UsageSpec {
        input_tokens: Some(100),
        output_tokens: Some(7),
        cache_read_tokens: 1200,
        cache_write_tokens: 300,
    };
    let want = [
        (
            ProviderKind::Anthropic,
            Usage {
                input_tokens: 100,
                output_tokens: 7,
                cache_read_tokens: 1200,
                cache_write_tokens: 300,
            },
        ),
        // Chat Completions reports only cached reads, inside prompt_tokens.
        (
            ProviderKind::OpenAi,
            Usage {
                input_tokens: 400,
                output_tokens: 7,
                cache_read_tokens: 1200,
                cache_write_tokens: 0,
            },
        ),
    ];
    for (kind, usage) in want {
        let fake = start(vec![Entry::reply("ok").with_usage(spec)]).await;
        let c = provider_for(kind, &fake)
            .await
            .complete(ask("hi"))
            .await
            .unwrap();
        assert_eq!((c.text.as_str(), c.usage), ("ok", usage), "{kind:?}");
        assert_eq!(c.usage.total_input_tokens(), 1600, "{kind:?}");
    }
}

fn rich_request() -> ChatRequest {
    let png = ImageInput {
        media_type: "image/png".into(),
        data_base64: "iVBORw0KGgo=".into(),
    };
    let mut last = ChatMessage::user("Here is the error dialog.");
    last.images.push(png);
    ChatRequest {
        system: "You are FlowPilot.".into(),
        context: Some("Flow: printer spooler reset".into()),
        messages: vec![
            ChatMessage::user("Printer is stuck"),
            ChatMessage::assistant("Which printer?"),
            last,
        ],
        max_tokens: Some(321),
        temperature: Some(0.2),
        grounding: None,
    }
}

#[tokio::test]
async fn anthropic_gets_cacheable_system_blocks_history_and_base64_images() {
    let fake = start(vec![Entry::reply("ok")]).await;
    provider_for(ProviderKind::Anthropic, &fake)
        .await
        .complete(rich_request())
        .await
        .unwrap();
    let r = &fake.requests()[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str(), r.api),
        ("POST", "/v1/messages", Api::Anthropic)
    );
    assert_eq!(r.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(r.header("x-api-key"), Some("[redacted]"));
    let cc = json!({"type": "ephemeral"});
    assert_eq!(
        r.body["system"],
        json!([
            {"type": "text", "text": "You are FlowPilot.", "cache_control": cc},
            {"type": "text", "text": "Flow: printer spooler reset", "cache_control": cc},
        ])
    );
    assert_eq!(
        r.body["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": "Printer is stuck"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Which printer?"}]},
            {"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                {"type": "text", "text": "Here is the error dialog."},
            ]},
        ])
    );
    assert_eq!(
        (
            r.body["max_tokens"].clone(),
            r.body["stream"].clone(),
            r.body["model"].clone()
        ),
        (json!(321), json!(true), json!("test-model"))
    );
    assert!((r.body["temperature"].as_f64().unwrap() - 0.2).abs() < 1e-6);
}

#[tokio::test]
async fn openai_gets_one_system_message_data_url_images_and_include_usage() {
    let fake = start(vec![Entry::reply("ok")]).await;
    provider_for(ProviderKind::OpenAi, &fake)
        .await
        .complete(rich_request())
        .await
        .unwrap();
    let r = &fake.requests()[0];
    assert_eq!(
        (r.path.as_str(), r.api),
        ("/v1/chat/completions", Api::OpenAi)
    );
    assert_eq!(r.header("authorization"), Some("[redacted]"));
    assert_eq!(
        r.body["messages"],
        json!([
            {"role": "system", "content": "You are FlowPilot.\n\nFlow: printer spooler reset"},
            {"role": "user", "content": "Printer is stuck"},
            {"role": "assistant", "content": "Which printer?"},
            {"role": "user", "content": [
                {"type": "text", "text": "Here is the error dialog."},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            ]},
        ])
    );
    assert_eq!(r.body["stream_options"], json!({"include_usage": true}));
    // A local server: the classic field name every implementation knows.
    assert_eq!(r.body["max_tokens"], json!(321));
    assert!(r.body.get("max_completion_tokens").is_none());
}

#[tokio::test]
async fn base_urls_work_with_or_without_v1() {
    for (kind, suffix, path) in [
        (ProviderKind::Anthropic, "/v1", "/v1/messages"),
        (ProviderKind::OpenAi, "", "/chat/completions"),
    ] {
        let fake = start(vec![Entry::reply("ok")]).await;
        let cfg = llm::LlmConfig {
            base_url: Some(format!("{}{suffix}", fake.base_url())),
            ..config(kind, &fake)
        };
        llm::build_provider(cfg)
            .unwrap()
            .complete(ask("hi"))
            .await
            .unwrap();
        assert_eq!(fake.requests()[0].path, path);
    }
}

#[tokio::test]
async fn azure_deployments_get_api_key_header_and_api_version() {
    let fake = start(vec![Entry::reply("ok")]).await;
    let cfg = llm::LlmConfig {
        base_url: Some(format!("{}/openai/deployments/gpt4o", fake.base_url())),
        azure_api_version: Some("2024-10-21".into()),
        ..config(ProviderKind::OpenAi, &fake)
    };
    llm::build_provider(cfg)
        .unwrap()
        .complete(ask("hi"))
        .await
        .unwrap();
    let r = &fake.requests()[0];
    assert_eq!(r.path, "/openai/deployments/gpt4o/chat/completions");
    assert_eq!(r.query.as_deref(), Some("api-version=2024-10-21"));
    assert_eq!(r.header("api-key"), Some("[redacted]"));
    assert_eq!(r.header("authorization"), None);
    assert_eq!(r.body["max_completion_tokens"], json!(4096));
}

#[tokio::test]
async fn non_streaming_requests_get_a_whole_json_answer_that_decodes() {
    for api in [Api::Anthropic, Api::OpenAi] {
        let fake = start(vec![Entry::reply("Reboot it.").with_usage(UsageSpec {
            input_tokens: Some(5),
            output_tokens: Some(3),
            ..UsageSpec::default()
        })])
        .await;
        let (url, body) = match api {
            Api::Anthropic => (
                format!("{}/v1/messages", fake.base_url()),
                json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}),
            ),
            Api::OpenAi => (
                format!("{}/chat/completions", fake.openai_base_url()),
                json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
            ),
        };
        let resp = reqwest::Client::new()
            .post(url)
            .header("anthropic-version", "2023-06-01")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let bytes = resp.bytes().await.unwrap();
        let mut out = VecDeque::new();
        match api {
            Api::Anthropic => llm::anthropic::Decoder::default()
                .on_json(&bytes, &mut out)
                .unwrap(),
            Api::OpenAi => llm::openai::Decoder::default()
                .on_json(&bytes, &mut out)
                .unwrap(),
        }
        assert_eq!(
            Vec::from(out),
            vec![
                StreamEvent::TextDelta("Reboot it.".into()),
                StreamEvent::Usage(Usage {
                    input_tokens: 5,
                    output_tokens: 3,
                    ..Usage::default()
                }),
                StreamEvent::Done {
                    stop_reason: StopReason::EndTurn
                },
            ]
        );
    }
}

#[tokio::test]
async fn the_script_matches_on_the_last_user_message() {
    for kind in KINDS {
        let fake = start(vec![
            Entry::reply("spooler").matching("printer"),
            Entry::reply("dns").matching("website"),
        ])
        .await;
        let p = provider_for(kind, &fake).await;
        let mut req = ask("the website is down");
        req.messages.insert(0, ChatMessage::user("printer earlier"));
        assert_eq!(p.complete(req).await.unwrap().text, "dns");
        assert_eq!(p.complete(ask("printer")).await.unwrap().text, "spooler");
        let e = p.complete(ask("printer")).await.unwrap_err();
        assert_eq!(
            e.kind,
            engine::llm::LlmErrorKind::BadRequest,
            "script exhausted: {e}"
        );
    }
}

#[tokio::test]
async fn a_finished_reply_leaves_its_connection_for_the_next_one() {
    for kind in KINDS {
        let fake = start(vec![Entry::reply("one"), Entry::reply("two")]).await;
        let p = provider_for(kind, &fake).await;
        p.complete(ask("a")).await.unwrap();
        p.complete(ask("b")).await.unwrap();
        let r = fake.requests();
        assert_eq!(
            r[0].peer, r[1].peer,
            "{kind:?}: no new connection (no new TLS handshake) per turn"
        );
    }
}
