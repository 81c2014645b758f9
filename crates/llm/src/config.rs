//! Provider configuration: what the binary reads from `FLOWPILOT_LLM_*`
//! settings, with defaults and validation that says what to set.
//!
//! Plain data and checks; no I/O. Field names follow the settings
//! (`timeout` is `FLOWPILOT_LLM_TIMEOUT_SECS`, the overall limit).

use std::fmt;
use std::time::Duration;

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

/// Which wire protocol the provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// Anthropic Messages API.
    Anthropic,
    /// OpenAI-compatible Chat Completions (OpenAI, Azure OpenAI, Ollama,
    /// vLLM, llama.cpp server, LM Studio).
    OpenAi,
}

impl ProviderKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Anthropic => "anthropic",
            Self::OpenAi => "openai",
        }
    }

    /// The public API, used when no base URL is set.
    pub const fn default_base_url(self) -> &'static str {
        match self {
            Self::Anthropic => "https://api.anthropic.com",
            Self::OpenAi => "https://api.openai.com/v1",
        }
    }
}

/// Everything needed to build a provider. `Debug` never shows the key.
#[derive(Clone)]
pub struct LlmConfig {
    pub provider: ProviderKind,
    /// `None` means the provider's public API.
    pub base_url: Option<String>,
    pub api_key: Option<SecretString>,
    pub model: String,
    pub max_tokens: u32,
    pub temperature: Option<f32>,
    /// Limit for opening the TCP/TLS connection.
    pub connect_timeout: Duration,
    /// Limit from sending a request (each attempt) to the first reply text.
    pub first_token_timeout: Duration,
    /// Limit on silence between two chunks once text has started.
    pub idle_timeout: Duration,
    /// Limit for the whole reply, retries included.
    pub timeout: Duration,
    /// Retries before the first token on 429/5xx/529/connection errors.
    pub max_retries: u32,
    /// First back-off delay; doubles each retry, with jitter.
    pub retry_base_delay: Duration,
    /// Longest back-off delay. A `Retry-After` longer than this is not
    /// waited out: the error goes back at once, carrying it.
    pub retry_max_delay: Duration,
    /// Azure OpenAI `api-version`. Azure is detected from the host
    /// (`*.openai.azure.com`, `*.cognitiveservices.azure.com`); the version
    /// may also be given in the base URL's query.
    pub azure_api_version: Option<String>,
}

impl LlmConfig {
    /// Defaults matching the binary's settings; the model is a sensible
    /// current one for the provider.
    pub fn defaults_for(provider: ProviderKind) -> Self {
        let model = match provider {
            ProviderKind::Anthropic => "claude-sonnet-4-5",
            ProviderKind::OpenAi => "gpt-4o-mini",
        };
        Self {
            provider,
            base_url: None,
            api_key: None,
            model: model.to_owned(),
            max_tokens: 4096,
            temperature: None,
            connect_timeout: Duration::from_secs(10),
            first_token_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(30),
            timeout: Duration::from_secs(300),
            max_retries: 3,
            retry_base_delay: Duration::from_millis(500),
            retry_max_delay: Duration::from_secs(8),
            azure_api_version: None,
        }
    }

    /// The base URL to use, parsed.
    pub fn base_url(&self) -> anyhow::Result<Url> {
        let raw = self
            .base_url
            .as_deref()
            .unwrap_or(self.provider.default_base_url());
        let url = Url::parse(raw.trim()).with_context(|| {
            format!(
                "FLOWPILOT_LLM_BASE_URL {raw:?} is not a URL; use e.g. http://localhost:11434/v1"
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            bail!("FLOWPILOT_LLM_BASE_URL must start with http:// or https://, not {raw:?}");
        }
        Ok(url)
    }

    /// Refuses settings that cannot work, saying what to set instead.
    pub fn validate(&self) -> anyhow::Result<()> {
        let url = self.base_url()?;
        if self.model.trim().is_empty() {
            bail!(
                "FLOWPILOT_LLM_MODEL is empty; set the model name, e.g. claude-sonnet-4-5 or gpt-4o-mini"
            );
        }
        if self.max_tokens == 0 {
            bail!("FLOWPILOT_LLM_MAX_TOKENS must be at least 1");
        }
        let has_key = self
            .api_key
            .as_ref()
            .is_some_and(|k| !k.expose_secret().trim().is_empty());
        let public_openai = url.host_str() == Some("api.openai.com");
        let needs_key = match self.provider {
            ProviderKind::Anthropic => true,
            // Local servers (Ollama, vLLM, llama.cpp) usually take no key.
            ProviderKind::OpenAi => public_openai || is_azure_host(&url),
        };
        if needs_key && !has_key {
            let fallback = match self.provider {
                ProviderKind::Anthropic => "ANTHROPIC_API_KEY",
                ProviderKind::OpenAi => "OPENAI_API_KEY",
            };
            bail!(
                "the {} provider at {url} needs an API key; set FLOWPILOT_LLM_API_KEY (or {fallback})",
                self.provider.as_str()
            );
        }
        if let Some(t) = self.temperature {
            let max = match self.provider {
                ProviderKind::Anthropic => 1.0,
                ProviderKind::OpenAi => 2.0,
            };
            if !(0.0..=max).contains(&t) {
                bail!(
                    "FLOWPILOT_LLM_TEMPERATURE is {t}; the {} API accepts 0 to {max}",
                    self.provider.as_str()
                );
            }
        }
        let zero = [
            ("FLOWPILOT_LLM_CONNECT_TIMEOUT_SECS", self.connect_timeout),
            (
                "FLOWPILOT_LLM_FIRST_TOKEN_TIMEOUT_SECS",
                self.first_token_timeout,
            ),
            ("FLOWPILOT_LLM_IDLE_TIMEOUT_SECS", self.idle_timeout),
            ("FLOWPILOT_LLM_TIMEOUT_SECS", self.timeout),
        ];
        if let Some((name, _)) = zero.iter().find(|(_, d)| d.is_zero()) {
            bail!("{name} must be more than 0");
        }
        Ok(())
    }
}

/// Whether the URL is an Azure OpenAI resource (different auth header and
/// an `api-version` query).
pub(crate) fn is_azure_host(url: &Url) -> bool {
    url.host_str().is_some_and(|h| {
        h.ends_with(".openai.azure.com") || h.ends_with(".cognitiveservices.azure.com")
    })
}

impl fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmConfig")
            .field("provider", &self.provider)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("model", &self.model)
            .field("max_tokens", &self.max_tokens)
            .field("temperature", &self.temperature)
            .field("connect_timeout", &self.connect_timeout)
            .field("first_token_timeout", &self.first_token_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("retry_base_delay", &self.retry_base_delay)
            .field("retry_max_delay", &self.retry_max_delay)
            .field("azure_api_version", &self.azure_api_version)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anthropic_with_key() -> LlmConfig {
        LlmConfig {
            api_key: Some("sk-ant-secret".into()),
            ..LlmConfig::defaults_for(ProviderKind::Anthropic)
        }
    }

    #[test]
    fn anthropic_without_a_key_is_refused_with_the_setting_to_fix() {
        let e = LlmConfig::defaults_for(ProviderKind::Anthropic)
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("FLOWPILOT_LLM_API_KEY"), "{e}");
    }

    #[test]
    fn a_local_openai_compatible_server_needs_no_key() {
        let cfg = LlmConfig {
            base_url: Some("http://localhost:11434/v1".into()),
            ..LlmConfig::defaults_for(ProviderKind::OpenAi)
        };
        cfg.validate().unwrap();
        let public = LlmConfig::defaults_for(ProviderKind::OpenAi);
        assert!(
            public
                .validate()
                .unwrap_err()
                .to_string()
                .contains("OPENAI_API_KEY")
        );
    }

    #[test]
    fn bad_settings_are_refused() {
        let bad = [
            LlmConfig {
                base_url: Some("localhost:11434".into()),
                ..anthropic_with_key()
            },
            LlmConfig {
                base_url: Some("not a url".into()),
                ..anthropic_with_key()
            },
            LlmConfig {
                model: " ".into(),
                ..anthropic_with_key()
            },
            LlmConfig {
                temperature: Some(1.5),
                ..anthropic_with_key()
            },
            LlmConfig {
                idle_timeout: Duration::ZERO,
                ..anthropic_with_key()
            },
            LlmConfig {
                max_tokens: 0,
                ..anthropic_with_key()
            },
        ];
        for cfg in bad {
            assert!(cfg.validate().is_err(), "{cfg:?}");
        }
        anthropic_with_key().validate().unwrap();
    }

    #[test]
    fn debug_never_shows_the_key() {
        let s = format!("{:?}", anthropic_with_key());
        assert!(
            !s.contains("sk-ant-secret") && s.contains("[redacted]"),
            "{s}"
        );
    }
}
