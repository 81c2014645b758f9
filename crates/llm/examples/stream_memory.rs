//! Measures memory per open reply stream: opens N concurrent streams
//! against a fake server (in a child process, so its memory is not
//! counted) that stalls before the first token, each polled by its own
//! task as the turn pipeline would, and reads VmRSS before and after.
//! Run: `cargo run --release -p llm --example stream_memory [N [anthropic|openai]]`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use engine::llm::{ChatMessage, ChatRequest};
use futures::StreamExt;
use llm::fake::{Entry, FakeLlm, Fault, Script};
use llm::{LlmConfig, ProviderKind, build_provider};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

async fn serve() -> anyhow::Result<()> {
    let stall = Entry::reply("late")
        .with_fault(Fault::StallFirst {
            stall_before_first_chunk_ms: 600_000,
        })
        .repeating();
    let fake = FakeLlm::start(Script::new(vec![stall])).await?;
    println!("{}", fake.base_url());
    // Serve until the parent closes our stdin.
    tokio::task::spawn_blocking(|| std::io::stdin().lines().count()).await?;
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("serve") {
        return serve().await;
    }
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let mut child = Command::new(std::env::current_exe()?)
        .arg("serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(
        child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no child stdout"))?,
    )
    .read_line(&mut line)?;
    // One kind per process when asked: a second batch would reuse the
    // memory the first one freed and look cheaper than it is.
    let kinds = match std::env::args().nth(2).as_deref() {
        Some("anthropic") => vec![ProviderKind::Anthropic],
        Some("openai") => vec![ProviderKind::OpenAi],
        _ => vec![ProviderKind::Anthropic, ProviderKind::OpenAi],
    };
    for kind in kinds {
        let base = line.trim().to_owned();
        let cfg = LlmConfig {
            base_url: Some(base),
            api_key: Some("sk-bench".into()),
            ..LlmConfig::defaults_for(kind)
        };
        let provider = build_provider(cfg)?;
        let req = ChatRequest {
            system: "You are FlowPilot.".into(),
            messages: vec![ChatMessage::user("printer")],
            ..ChatRequest::default()
        };
        // One stream first, so code pages, the runtime and the client's
        // pool are already counted in the baseline.
        let warm = provider.stream(req.clone()).await?;
        drop(warm);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let before = rss_kib();
        let mut tasks = Vec::with_capacity(n);
        for _ in 0..n {
            let mut s = provider.stream(req.clone()).await?;
            tasks.push(tokio::spawn(
                async move { while s.next().await.is_some() {} },
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = rss_kib();
        println!(
            "{:9} {n} open streams: RSS {before} KiB -> {after} KiB, {:.1} KiB per stream",
            kind.as_str(),
            (after.saturating_sub(before)) as f64 / n as f64
        );
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            let _ = t.await;
        }
    }
    drop(child.stdin.take());
    child.wait()?;
    Ok(())
}
