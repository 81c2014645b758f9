//! FlowPilot's model providers behind the engine's `LlmProvider` port:
//! Anthropic Messages and OpenAI-compatible Chat Completions over HTTP,
//! with retries, timeouts and streaming decode; plus [`fake`], a provider
//! server speaking both wire protocols on loopback for tests and demos.
//!
//! Depends on the engine's port types only; the engine, the server and the
//! store must never depend on this crate's internals, only on
//! [`build_provider`] and [`LlmConfig`].
//!
//! Map of the crate: `config` (settings and validation), `provider` (the
//! shared HTTP provider), `retry` (back-off before the first token),
//! `stream` (decode + timeouts), `sse` (event-stream parser), `errors`
//! (status → typed error), `anthropic` / `openai` (wire formats), `fake`.

use std::sync::Arc;

use engine::llm::LlmProvider;

pub mod anthropic;
pub mod config;
pub mod errors;
pub mod fake;
pub mod guide;
pub mod openai;
pub mod provider;
pub mod retry;
pub mod sse;
pub mod stream;

pub use config::{LlmConfig, ProviderKind};
pub use fake::{FakeLlm, run_fake_llm};

/// Builds the configured provider after checking the settings; the error
/// says which `FLOWPILOT_LLM_*` setting to fix.
pub fn build_provider(cfg: LlmConfig) -> anyhow::Result<Arc<dyn LlmProvider>> {
    cfg.validate()?;
    Ok(match cfg.provider {
        ProviderKind::Anthropic => Arc::new(provider::HttpProvider::new(
            anthropic::Anthropic::new(&cfg)?,
            cfg,
        )?),
        ProviderKind::OpenAi => Arc::new(provider::HttpProvider::new(
            openai::OpenAi::new(&cfg)?,
            cfg,
        )?),
    })
}
