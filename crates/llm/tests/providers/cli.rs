//! The fake server as `flowpilot dev fake-llm` runs it: a script file,
//! a listener, a shutdown signal.

use std::time::Duration;

use llm::ProviderKind;
use llm::fake::{Script, serve};

use crate::common::*;

const YAML: &str = r#"
# Two overloads, then the answer: shows the retry path in a demo.
- fault: {status: 529, retry_after_ms: 10}
  times: 2
- match: printer
  reply: "Restart the spooler."
  chunk_size: 4
  chunk_delay_ms: 1
  usage: {input_tokens: 50, output_tokens: 6, cache_read_tokens: 40}
- reply: "I can only talk about printers."
  repeat: true
"#;

#[tokio::test]
async fn a_yaml_script_served_until_shutdown_answers_both_apis() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("script.yaml");
    std::fs::write(&path, YAML).unwrap();
    let script = Script::from_file(&path).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, script, async move {
        let _ = stopped.await;
    }));

    let mut cfg = llm::LlmConfig {
        base_url: Some(format!("http://{addr}")),
        api_key: Some(KEY.into()),
        ..llm::LlmConfig::defaults_for(ProviderKind::Anthropic)
    };
    cfg.retry_base_delay = Duration::from_millis(5);
    let c = llm::build_provider(cfg)
        .unwrap()
        .complete(ask("printer jam"))
        .await
        .unwrap();
    assert_eq!(
        (c.text.as_str(), c.usage.cache_read_tokens),
        ("Restart the spooler.", 40)
    );

    let cfg = llm::LlmConfig {
        base_url: Some(format!("http://{addr}/v1")),
        ..llm::LlmConfig::defaults_for(ProviderKind::OpenAi)
    };
    let c = llm::build_provider(cfg)
        .unwrap()
        .complete(ask("wifi"))
        .await
        .unwrap();
    assert_eq!(c.text, "I can only talk about printers.");

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_bad_script_file_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(&path, r#"[{"reply": "x", "chunk_sise": 3}]"#).unwrap();
    let e = llm::run_fake_llm("127.0.0.1:0".parse().unwrap(), path.clone(), async {})
        .await
        .unwrap_err();
    assert!(
        format!("{e:#}").contains("bad.json") && format!("{e:#}").contains("chunk_sise"),
        "{e:#}"
    );
    let missing = dir.path().join("missing.yaml");
    let e = llm::run_fake_llm("127.0.0.1:0".parse().unwrap(), missing, async {})
        .await
        .unwrap_err();
    assert!(format!("{e:#}").contains("missing.yaml"), "{e:#}");
}

#[test]
fn the_documented_demo_script_parses() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/demo_script.yaml");
    let script = Script::from_file(&path).unwrap();
    assert_eq!(script.entries.len(), 4);
    assert_eq!(
        script.entries[2].fault,
        Some(llm::fake::Fault::Cut {
            cut_after_chunks: 2
        })
    );
}
