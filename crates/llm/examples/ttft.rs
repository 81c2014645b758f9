//! Measures the provider layer's added latency to first token: the time
//! from `stream()` to the first text delta, against the same request sent
//! with a bare HTTP client to the fake server (its own time to the first
//! text byte). Run: `cargo run --release -p llm --example ttft [N]`.

use std::time::{Duration, Instant};

use engine::llm::{ChatMessage, ChatRequest, StreamEvent};
use futures::StreamExt;
use llm::fake::{Entry, FakeLlm, Script};
use llm::{LlmConfig, ProviderKind, build_provider};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let reply = Entry::reply("Restart the print spooler service, then retry the job.")
        .chunks(8, 0)
        .repeating();
    let fake = FakeLlm::start(Script::new(vec![reply])).await?;
    let raw = reqwest::Client::new();
    for kind in [ProviderKind::Anthropic, ProviderKind::OpenAi] {
        let (base, path) = match kind {
            ProviderKind::Anthropic => (fake.base_url(), "/v1/messages"),
            ProviderKind::OpenAi => (fake.openai_base_url(), "/chat/completions"),
        };
        let cfg = LlmConfig {
            base_url: Some(base.clone()),
            api_key: Some("sk-bench".into()),
            ..LlmConfig::defaults_for(kind)
        };
        let provider = build_provider(cfg)?;
        let req = ChatRequest {
            system: "You are FlowPilot.".into(),
            messages: vec![ChatMessage::user("printer")],
            ..ChatRequest::default()
        };
        // The same body the provider sends, for the bare client.
        let body = match kind {
            ProviderKind::Anthropic => {
                llm::anthropic::request_body(&req, "claude-sonnet-4-5", 4096, None)
            }
            ProviderKind::OpenAi => {
                llm::openai::request_body(&req, "gpt-4o-mini", 4096, None, false)
            }
        };
        let marker: &[u8] = match kind {
            ProviderKind::Anthropic => b"text_delta",
            ProviderKind::OpenAi => b"\"content\":\"R",
        };
        let (mut ours, mut bare) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for i in 0..n + 200 {
            // Provider: stream() to first TextDelta.
            let t = Instant::now();
            let mut s = provider.stream(req.clone()).await?;
            while let Some(ev) = s.next().await {
                if let StreamEvent::TextDelta(_) = ev? {
                    break;
                }
            }
            let d_ours = t.elapsed();
            while s.next().await.is_some() {}
            // Bare client: send to the first body chunk holding text.
            let t = Instant::now();
            let mut resp = raw
                .post(format!("{base}{path}"))
                .header("anthropic-version", "2023-06-01")
                .json(&body)
                .send()
                .await?;
            let mut d_bare = None;
            while let Some(chunk) = resp.chunk().await? {
                if d_bare.is_none() && chunk.windows(marker.len()).any(|w| w == marker) {
                    d_bare = Some(t.elapsed());
                }
            }
            if i >= 200 {
                // The first 200 rounds warm up connections and allocators.
                ours.push(d_ours);
                bare.push(d_bare.unwrap_or_default());
            }
        }
        ours.sort();
        bare.sort();
        let (o50, b50) = (percentile(&ours, 0.5), percentile(&bare, 0.5));
        println!(
            "{:9} n={n}  provider TTFT p50 {:7.1} µs p90 {:7.1} µs p99 {:7.1} µs | bare HTTP p50 {:7.1} µs p90 {:7.1} µs | added p50 {:6.1} µs",
            kind.as_str(),
            micros(o50),
            micros(percentile(&ours, 0.9)),
            micros(percentile(&ours, 0.99)),
            micros(b50),
            micros(percentile(&bare, 0.9)),
            micros(o50) - micros(b50),
        );
    }
    Ok(())
}
