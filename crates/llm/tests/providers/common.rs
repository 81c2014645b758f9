//! Shared helpers: configs pointing at a fake server, with small limits so
//! the suite stays fast.

use std::sync::Arc;
use std::time::Duration;

use engine::llm::{ChatMessage, ChatRequest, LlmError, LlmProvider, ReplyStream, StreamEvent};
use futures::StreamExt;
use llm::fake::{Entry, FakeLlm, Script};
use llm::{LlmConfig, ProviderKind, build_provider};

pub const KEY: &str = "sk-test-VERY-SECRET-4242";
pub const KINDS: [ProviderKind; 2] = [ProviderKind::Anthropic, ProviderKind::OpenAi];

pub fn config(kind: ProviderKind, fake: &FakeLlm) -> LlmConfig {
    let base = match kind {
        ProviderKind::Anthropic => fake.base_url(),
        ProviderKind::OpenAi => fake.openai_base_url(),
    };
    LlmConfig {
        base_url: Some(base),
        api_key: Some(KEY.into()),
        model: "test-model".into(),
        connect_timeout: Duration::from_secs(2),
        first_token_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(5),
        timeout: Duration::from_secs(10),
        max_retries: 3,
        retry_base_delay: Duration::from_millis(10),
        retry_max_delay: Duration::from_millis(500),
        ..LlmConfig::defaults_for(kind)
    }
}

pub async fn start(entries: Vec<Entry>) -> FakeLlm {
    FakeLlm::start(Script::new(entries))
        .await
        .expect("fake server starts")
}

pub async fn provider_for(kind: ProviderKind, fake: &FakeLlm) -> Arc<dyn LlmProvider> {
    build_provider(config(kind, fake)).expect("valid config")
}

pub fn ask(text: &str) -> ChatRequest {
    ChatRequest {
        system: "You are FlowPilot.".into(),
        context: None,
        messages: vec![ChatMessage::user(text)],
        max_tokens: None,
        temperature: None,
        grounding: None,
    }
}

/// Everything a stream yields: the text, the events, and the error if any.
pub struct Collected {
    pub text: String,
    pub events: Vec<StreamEvent>,
    pub error: Option<LlmError>,
}

pub async fn collect(mut stream: ReplyStream) -> Collected {
    let mut c = Collected {
        text: String::new(),
        events: Vec::new(),
        error: None,
    };
    while let Some(item) = stream.next().await {
        match item {
            Ok(ev) => {
                if let StreamEvent::TextDelta(t) = &ev {
                    c.text.push_str(t);
                }
                c.events.push(ev);
            }
            Err(e) => {
                assert!(c.error.is_none(), "a stream yields at most one error");
                c.error = Some(e);
            }
        }
    }
    c
}
