//! The API key never shows: not in Debug, not in errors, not in what the
//! fake server records.

use engine::llm::LlmErrorKind;
use llm::fake::{Entry, Fault};

use crate::common::*;

#[tokio::test]
async fn the_api_key_never_appears_in_debug_errors_or_recorded_headers() {
    for kind in KINDS {
        // Real providers echo (parts of) a rejected key back.
        let echo = Fault::Status {
            status: 401,
            retry_after: None,
            retry_after_ms: None,
            message: Some(format!("Incorrect API key provided: {KEY}")),
        };
        let fake = start(vec![Entry::fault(echo), Entry::reply("ok")]).await;
        let cfg = config(kind, &fake);
        assert!(!format!("{cfg:?}").contains(KEY));
        let p = llm::build_provider(cfg).unwrap();
        let e = p.complete(ask("hi")).await.unwrap_err();
        assert_eq!(e.kind, LlmErrorKind::Auth);
        for shown in [
            format!("{e}"),
            format!("{e:?}"),
            e.detail.clone(),
            e.message().to_owned(),
        ] {
            assert!(!shown.contains(KEY), "{kind:?}: {shown}");
        }
        assert!(e.detail.contains("[redacted]"), "{}", e.detail);
        p.complete(ask("hi")).await.unwrap();
        for r in fake.requests() {
            assert!(!format!("{r:?}").contains(KEY), "{kind:?}: {r:?}");
        }
    }
}
