//! Injected faults: retries before the first token, errors that are not
//! retried, broken streams carrying their text, and each timeout.

use std::time::{Duration, Instant};

use engine::llm::LlmErrorKind;
use llm::LlmConfig;
use llm::fake::{Entry, Fault};

use crate::common::*;

fn status(status: u16) -> Fault {
    Fault::Status {
        status,
        retry_after: None,
        retry_after_ms: None,
        message: None,
    }
}

#[tokio::test]
async fn overload_with_retry_after_is_retried_then_succeeds() {
    for kind in KINDS {
        let overloaded = Fault::Status {
            status: 529,
            retry_after: None,
            retry_after_ms: Some(30),
            message: None,
        };
        let fake = start(vec![
            Entry::fault(overloaded).times(2),
            Entry::reply("fine now"),
        ])
        .await;
        let t = Instant::now();
        let c = provider_for(kind, &fake)
            .await
            .complete(ask("hi"))
            .await
            .unwrap();
        assert_eq!(c.text, "fine now");
        assert_eq!(
            fake.request_count(),
            3,
            "{kind:?}: two refusals, one success"
        );
        assert!(
            t.elapsed() >= Duration::from_millis(60),
            "waited as asked: {:?}",
            t.elapsed()
        );
    }
}

#[tokio::test]
async fn retry_after_in_whole_seconds_is_honoured() {
    let limited = Fault::Status {
        status: 429,
        retry_after: Some(1),
        retry_after_ms: None,
        message: None,
    };
    let fake = start(vec![Entry::fault(limited), Entry::reply("ok")]).await;
    let cfg = LlmConfig {
        retry_max_delay: Duration::from_secs(2),
        ..config(llm::ProviderKind::OpenAi, &fake)
    };
    let t = Instant::now();
    llm::build_provider(cfg)
        .unwrap()
        .complete(ask("hi"))
        .await
        .unwrap();
    assert!(t.elapsed() >= Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(fake.request_count(), 2);
}

#[tokio::test]
async fn a_retry_after_longer_than_the_cap_fails_at_once_and_says_how_long() {
    let limited = Fault::Status {
        status: 429,
        retry_after: Some(60),
        retry_after_ms: None,
        message: None,
    };
    let fake = start(vec![Entry::fault(limited).times(5), Entry::reply("ok")]).await;
    let e = provider_for(llm::ProviderKind::Anthropic, &fake)
        .await
        .complete(ask("hi"))
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind, e.retry_after, e.status),
        (
            LlmErrorKind::RateLimited,
            Some(Duration::from_secs(60)),
            Some(429)
        )
    );
    assert_eq!(fake.request_count(), 1);
}

#[tokio::test]
async fn client_errors_are_not_retried_and_map_to_their_kind() {
    let table = [
        (401, LlmErrorKind::Auth),
        (403, LlmErrorKind::Auth),
        (400, LlmErrorKind::BadRequest),
        (404, LlmErrorKind::BadRequest),
    ];
    for kind in KINDS {
        for (code, want) in table {
            let fake = start(vec![
                Entry::fault(status(code)).times(5),
                Entry::reply("ok"),
            ])
            .await;
            let e = provider_for(kind, &fake)
                .await
                .stream(ask("hi"))
                .await
                .err()
                .expect("refused");
            assert_eq!((e.kind, e.status), (want, Some(code)), "{kind:?} {code}");
            assert_eq!(fake.request_count(), 1, "{kind:?} {code} not retried");
        }
    }
    let fake = start(vec![Entry::fault(status(401))]).await;
    let e = provider_for(llm::ProviderKind::Anthropic, &fake)
        .await
        .complete(ask("hi"))
        .await
        .unwrap_err();
    assert!(
        e.message().contains("FLOWPILOT_LLM_API_KEY"),
        "{}",
        e.message()
    );
}

#[tokio::test]
async fn exhausted_retries_report_rate_limited_or_overloaded() {
    for kind in KINDS {
        for (code, want) in [
            (429, LlmErrorKind::RateLimited),
            (529, LlmErrorKind::Overloaded),
            (503, LlmErrorKind::Overloaded),
            (500, LlmErrorKind::Overloaded),
        ] {
            let fake = start(vec![Entry::fault(status(code)).times(10)]).await;
            let e = provider_for(kind, &fake)
                .await
                .complete(ask("hi"))
                .await
                .unwrap_err();
            assert_eq!(e.kind, want, "{kind:?} {code}");
            assert_eq!(
                fake.request_count(),
                4,
                "{kind:?} {code}: one try and max_retries=3 retries"
            );
            assert!(e.detail.contains("after 4 attempts"), "{}", e.detail);
        }
    }
}

#[tokio::test]
async fn back_off_grows_between_attempts() {
    let fake = start(vec![Entry::fault(status(503)).times(2), Entry::reply("ok")]).await;
    let cfg = LlmConfig {
        retry_base_delay: Duration::from_millis(40),
        ..config(llm::ProviderKind::Anthropic, &fake)
    };
    let t = Instant::now();
    llm::build_provider(cfg)
        .unwrap()
        .complete(ask("hi"))
        .await
        .unwrap();
    // Equal jitter: at least half of 40 ms, then half of 80 ms.
    assert!(
        t.elapsed() >= Duration::from_millis(60),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(fake.request_count(), 3);
}

#[tokio::test]
async fn a_refused_connection_is_a_network_error_after_retries() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let fake = start(vec![]).await;
    let cfg = LlmConfig {
        base_url: Some(format!("http://{addr}")),
        ..config(llm::ProviderKind::Anthropic, &fake)
    };
    let e = llm::build_provider(cfg)
        .unwrap()
        .complete(ask("hi"))
        .await
        .unwrap_err();
    assert_eq!(e.kind, LlmErrorKind::Network, "{e}");
    assert!(e.detail.contains("after 4 attempts"), "{}", e.detail);
}

#[tokio::test]
async fn a_stream_cut_after_some_chunks_is_an_error_carrying_the_text_so_far() {
    for kind in KINDS {
        for (cut, partial) in [
            (0, None),
            (2, Some("Check the ")),
            (99, Some("Check the cable.")),
        ] {
            let entry = Entry::reply("Check the cable.")
                .chunks(5, 0)
                .with_fault(Fault::Cut {
                    cut_after_chunks: cut,
                });
            let fake = start(vec![entry]).await;
            let got = collect(
                provider_for(kind, &fake)
                    .await
                    .stream(ask("hi"))
                    .await
                    .unwrap(),
            )
            .await;
            let e = got.error.expect("never a complete reply");
            assert_eq!(e.kind, LlmErrorKind::Network, "{kind:?} cut {cut}: {e}");
            assert_eq!(e.partial_text.as_deref(), partial, "{kind:?} cut {cut}");
            assert_eq!(got.text, partial.unwrap_or(""));
            assert!(
                !got.events
                    .iter()
                    .any(|e| matches!(e, engine::llm::StreamEvent::Done { .. }))
            );
            assert_eq!(
                fake.request_count(),
                1,
                "text may have been billed: never retried"
            );
        }
    }
}

#[tokio::test]
async fn a_stall_before_the_first_token_hits_the_first_token_timeout() {
    for kind in KINDS {
        let entry = Entry::reply("late").with_fault(Fault::StallFirst {
            stall_before_first_chunk_ms: 5_000,
        });
        let fake = start(vec![entry]).await;
        let cfg = LlmConfig {
            first_token_timeout: Duration::from_millis(80),
            ..config(kind, &fake)
        };
        let t = Instant::now();
        let got = collect(
            llm::build_provider(cfg)
                .unwrap()
                .stream(ask("hi"))
                .await
                .unwrap(),
        )
        .await;
        let e = got.error.expect("timed out");
        assert_eq!(
            (e.kind, e.partial_text),
            (LlmErrorKind::Timeout, None),
            "{kind:?}"
        );
        assert!(e.detail.contains("first-token"), "{}", e.detail);
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    }
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_in_stream_itself_without_retry() {
    let entry = Entry::fault(Fault::StallResponse {
        stall_before_response_ms: 5_000,
    });
    let fake = start(vec![entry, Entry::reply("ok")]).await;
    let cfg = LlmConfig {
        first_token_timeout: Duration::from_millis(80),
        ..config(llm::ProviderKind::OpenAi, &fake)
    };
    let e = llm::build_provider(cfg)
        .unwrap()
        .stream(ask("hi"))
        .await
        .err()
        .expect("timed out");
    assert_eq!(e.kind, LlmErrorKind::Timeout);
    assert_eq!(fake.request_count(), 1);
}

#[tokio::test]
async fn a_stall_mid_stream_hits_the_idle_timeout_and_keeps_the_text() {
    for kind in KINDS {
        let entry = Entry::reply("Open Event Viewer now.")
            .chunks(5, 0)
            .with_fault(Fault::Stall {
                stall_ms: 5_000,
                after_chunks: 2,
            });
        let fake = start(vec![entry]).await;
        let cfg = LlmConfig {
            idle_timeout: Duration::from_millis(80),
            ..config(kind, &fake)
        };
        let got = collect(
            llm::build_provider(cfg)
                .unwrap()
                .stream(ask("hi"))
                .await
                .unwrap(),
        )
        .await;
        let e = got.error.expect("timed out");
        assert_eq!(
            (e.kind, e.partial_text.as_deref()),
            (LlmErrorKind::Timeout, Some("Open Event")),
            "{kind:?}"
        );
        assert!(e.detail.contains("idle"), "{}", e.detail);
    }
}

#[tokio::test]
async fn a_slow_but_steady_reply_hits_the_overall_timeout() {
    for kind in KINDS {
        let entry = Entry::reply("x".repeat(100)).chunks(1, 10);
        let fake = start(vec![entry]).await;
        let cfg = LlmConfig {
            timeout: Duration::from_millis(150),
            ..config(kind, &fake)
        };
        let got = collect(
            llm::build_provider(cfg)
                .unwrap()
                .stream(ask("hi"))
                .await
                .unwrap(),
        )
        .await;
        let e = got.error.expect("timed out");
        assert_eq!(e.kind, LlmErrorKind::Timeout, "{kind:?}");
        assert!(e.detail.contains("overall"), "{}", e.detail);
        let partial = e.partial_text.expect("some text arrived");
        assert!(
            !partial.is_empty() && partial.len() < 100,
            "{}",
            partial.len()
        );
    }
}
