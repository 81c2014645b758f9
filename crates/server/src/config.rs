//! Settings for `flowpilot serve`: every one is a flag and an environment
//! variable, validated at start so that a mistake stops the server with a
//! message that says what to set, instead of failing on the first request.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use secrecy::SecretString;

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address and port to listen on.
    #[arg(long, env = "FLOWPILOT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Directory for the SQLite database and other local files.
    #[arg(long, env = "FLOWPILOT_DATA_DIR", default_value = "./flowpilot-data")]
    pub data_dir: PathBuf,

    /// Database URL: `postgres://…` for PostgreSQL, `sqlite:PATH` for a
    /// SQLite file elsewhere. Default: SQLite in the data directory.
    #[arg(long, env = "FLOWPILOT_DATABASE_URL")]
    pub database_url: Option<String>,

    /// Largest database connection pool this instance opens.
    #[arg(long, env = "FLOWPILOT_DB_MAX_CONNECTIONS", default_value_t = 10)]
    pub db_max_connections: u32,

    /// Largest accepted request body, in bytes (JSON; images ride in it).
    #[arg(long, env = "FLOWPILOT_MAX_BODY_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// How long a browser sign-in lasts, in hours.
    #[arg(long, env = "FLOWPILOT_SESSION_TTL_HOURS", default_value_t = 12)]
    pub session_ttl_hours: u32,

    /// Mark the sign-in cookie `Secure` (set this when served over HTTPS).
    #[arg(long, env = "FLOWPILOT_COOKIE_SECURE", default_value_t = false)]
    pub cookie_secure: bool,

    /// Sign-in attempts allowed per email address per minute.
    #[arg(
        long,
        env = "FLOWPILOT_LOGIN_PER_EMAIL_PER_MINUTE",
        default_value_t = 10
    )]
    pub login_per_email_per_minute: u32,

    /// Sign-in attempts allowed per client address per minute.
    #[arg(
        long,
        env = "FLOWPILOT_LOGIN_PER_ADDRESS_PER_MINUTE",
        default_value_t = 30
    )]
    pub login_per_address_per_minute: u32,

    /// Seconds a running turn may go without its instance renewing it
    /// before any instance gives up on it (its instance died) and frees the
    /// session. Renewed every third of this.
    #[arg(long, env = "FLOWPILOT_TURN_LEASE_SECS", default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub turn_lease_secs: u64,

    /// Seconds between heartbeat comments on event streams (at most 15,
    /// so that proxies keep idle streams open).
    #[arg(long, env = "FLOWPILOT_SSE_HEARTBEAT_SECS", default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..=15))]
    pub sse_heartbeat_secs: u64,

    /// Seconds a shutdown waits for running turns to finish and be stored.
    #[arg(long, env = "FLOWPILOT_SHUTDOWN_GRACE_SECS", default_value_t = 60)]
    pub shutdown_grace_secs: u64,

    /// A sentence-transformers model folder (`model.safetensors`,
    /// `tokenizer.json`, `config.json`) for hybrid search. Default: the one
    /// `flowpilot models fetch` puts in the data directory, if it is there;
    /// without a model, search is full-text only. `off` turns it off.
    #[arg(long, env = "FLOWPILOT_EMBEDDING_MODEL")]
    pub embedding_model: Option<PathBuf>,

    /// How much the embedding side counts in hybrid search, from 0 (full
    /// text only) to 1 (embeddings only).
    #[arg(long, env = "FLOWPILOT_DENSE_WEIGHT", default_value_t = search::DEFAULT_DENSE_WEIGHT,
        value_parser = parse_weight)]
    pub dense_weight: f32,

    #[command(flatten)]
    pub llm: LlmSettings,
}

fn parse_weight(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(w) if (0.0..=1.0).contains(&w) => Ok(w),
        _ => Err(format!("{text:?} is not a weight between 0 and 1")),
    }
}

/// Where `flowpilot models fetch` puts the embedding model.
pub fn default_model_dir(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("models").join("all-MiniLM-L6-v2")
}

/// Which model provider answers turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProviderKind {
    /// The Anthropic Messages API.
    Anthropic,
    /// Any OpenAI-compatible Chat Completions endpoint (OpenAI, Azure
    /// OpenAI, Ollama, vLLM, llama.cpp server, LM Studio).
    Openai,
    /// The offline guide: answers from the knowledge base, no model.
    Guide,
}

impl ProviderKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Openai => "openai",
            ProviderKind::Guide => "guide",
        }
    }
}

/// The model provider, from configuration only (admins see it read-only).
#[derive(Debug, Clone, Args)]
pub struct LlmSettings {
    /// Model provider. Without one, FlowPilot runs the offline guide.
    #[arg(long = "llm-provider", env = "FLOWPILOT_LLM_PROVIDER", value_enum)]
    pub provider: Option<ProviderKind>,

    /// Provider base URL, e.g. `http://localhost:11434/v1` for Ollama.
    /// Default: the provider's public API.
    #[arg(long = "llm-base-url", env = "FLOWPILOT_LLM_BASE_URL")]
    pub base_url: Option<String>,

    /// Provider API key. Falls back to ANTHROPIC_API_KEY or OPENAI_API_KEY.
    #[arg(
        long = "llm-api-key",
        env = "FLOWPILOT_LLM_API_KEY",
        hide_env_values = true
    )]
    pub api_key: Option<SecretString>,

    /// Model name, e.g. `claude-sonnet-4-5` or `gpt-4o-mini`.
    #[arg(long = "llm-model", env = "FLOWPILOT_LLM_MODEL")]
    pub model: Option<String>,

    /// Most tokens a reply may have.
    #[arg(
        long = "llm-max-tokens",
        env = "FLOWPILOT_LLM_MAX_TOKENS",
        default_value_t = 4096
    )]
    pub max_tokens: u32,

    /// Sampling temperature (provider default when unset).
    #[arg(long = "llm-temperature", env = "FLOWPILOT_LLM_TEMPERATURE")]
    pub temperature: Option<f32>,

    /// Seconds to wait for the provider's connection.
    #[arg(
        long = "llm-connect-timeout-secs",
        env = "FLOWPILOT_LLM_CONNECT_TIMEOUT_SECS",
        default_value_t = 10
    )]
    pub connect_timeout_secs: u64,

    /// Seconds to wait for the first token of a reply.
    #[arg(
        long = "llm-first-token-timeout-secs",
        env = "FLOWPILOT_LLM_FIRST_TOKEN_TIMEOUT_SECS",
        default_value_t = 60
    )]
    pub first_token_timeout_secs: u64,

    /// Seconds of silence allowed between two chunks of a reply.
    #[arg(
        long = "llm-idle-timeout-secs",
        env = "FLOWPILOT_LLM_IDLE_TIMEOUT_SECS",
        default_value_t = 30
    )]
    pub idle_timeout_secs: u64,

    /// Seconds a whole reply may take.
    #[arg(
        long = "llm-timeout-secs",
        env = "FLOWPILOT_LLM_TIMEOUT_SECS",
        default_value_t = 300
    )]
    pub timeout_secs: u64,

    /// The model's context window in tokens. Default: by model name
    /// (200000 for Claude, 128000 for GPT-4o / GPT-4.1 / o-series, 8192 for
    /// anything else, e.g. local models). Longer sessions fold their oldest
    /// turns into a summary to fit.
    #[arg(long = "llm-context-tokens", env = "FLOWPILOT_LLM_CONTEXT_TOKENS",
        value_parser = clap::value_parser!(u32).range(1024..))]
    pub context_tokens: Option<u32>,

    /// Retries on overload, rate limits and network errors before the first
    /// token.
    #[arg(
        long = "llm-max-retries",
        env = "FLOWPILOT_LLM_MAX_RETRIES",
        default_value_t = 3
    )]
    pub max_retries: u32,
}

impl LlmSettings {
    /// Fills in what follows from the provider (the fallback API key, the
    /// default model) and refuses combinations that can't work.
    pub fn resolve(mut self) -> anyhow::Result<Self> {
        let Some(provider) = self.provider else {
            return Ok(self);
        };
        if self.api_key.is_none() {
            let fallback = match provider {
                ProviderKind::Anthropic => "ANTHROPIC_API_KEY",
                ProviderKind::Openai => "OPENAI_API_KEY",
                ProviderKind::Guide => "",
            };
            if !fallback.is_empty() {
                self.api_key = std::env::var(fallback)
                    .ok()
                    .filter(|k| !k.trim().is_empty())
                    .map(SecretString::from);
            }
        }
        if let Some(url) = &self.base_url {
            let parsed = url::Url::parse(url).map_err(|e| {
                anyhow::anyhow!("FLOWPILOT_LLM_BASE_URL {url:?} is not a URL ({e}); use e.g. http://localhost:11434/v1")
            })?;
            if !matches!(parsed.scheme(), "http" | "https") {
                anyhow::bail!(
                    "FLOWPILOT_LLM_BASE_URL must start with http:// or https://, got {url:?}"
                );
            }
        }
        match provider {
            ProviderKind::Anthropic if self.api_key.is_none() => anyhow::bail!(
                "FLOWPILOT_LLM_PROVIDER=anthropic needs an API key: set FLOWPILOT_LLM_API_KEY or ANTHROPIC_API_KEY"
            ),
            ProviderKind::Openai if self.api_key.is_none() && self.base_url.is_none() => {
                anyhow::bail!(
                    "FLOWPILOT_LLM_PROVIDER=openai needs an API key (FLOWPILOT_LLM_API_KEY or OPENAI_API_KEY), \
                 or FLOWPILOT_LLM_BASE_URL for a local server such as Ollama"
                )
            }
            _ => {}
        }
        if self.model.is_none() {
            self.model = match provider {
                ProviderKind::Anthropic => Some("claude-sonnet-4-5".to_owned()),
                ProviderKind::Openai if self.base_url.is_none() => Some("gpt-4o-mini".to_owned()),
                ProviderKind::Openai => anyhow::bail!(
                    "FLOWPILOT_LLM_MODEL is required with a custom FLOWPILOT_LLM_BASE_URL (e.g. llama3.1 for Ollama)"
                ),
                ProviderKind::Guide => None,
            };
        }
        if let Some(t) = self.temperature
            && !(0.0..=2.0).contains(&t)
        {
            anyhow::bail!("FLOWPILOT_LLM_TEMPERATURE must be between 0 and 2, got {t}");
        }
        if self.max_tokens == 0 {
            anyhow::bail!("FLOWPILOT_LLM_MAX_TOKENS must be at least 1");
        }
        Ok(self)
    }

    /// The context window in use: the setting, or a default for the model.
    pub fn context_window_tokens(&self) -> u32 {
        if let Some(tokens) = self.context_tokens {
            return tokens;
        }
        let model = self.model.as_deref().unwrap_or("").to_ascii_lowercase();
        if model.starts_with("claude") {
            200_000
        } else if [
            "gpt-4o",
            "gpt-4.1",
            "gpt-4-turbo",
            "gpt-5",
            "o1",
            "o3",
            "o4",
        ]
        .iter()
        .any(|p| model.starts_with(p))
        {
            128_000
        } else {
            8_192
        }
    }

    /// The provider in use: the offline guide when none is configured.
    pub fn effective_provider(&self) -> ProviderKind {
        self.provider.unwrap_or(ProviderKind::Guide)
    }
}

impl Config {
    /// The database URL in use: the configured one, or SQLite in the data
    /// directory.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| store::sqlite_url_for_data_dir(&self.data_dir))
    }

    /// The embedding model folder to load: the configured one (`None` for
    /// `off`), else the fetched one when it is there.
    pub fn embedding_model_dir(&self) -> Option<PathBuf> {
        match &self.embedding_model {
            Some(dir) if dir.as_os_str() == "off" => None,
            Some(dir) => Some(dir.clone()),
            None => {
                let dir = default_model_dir(&self.data_dir);
                dir.join("model.safetensors").is_file().then_some(dir)
            }
        }
    }
}

impl LlmSettings {
    /// The provider layer's configuration, or `None` when no model is
    /// configured (the offline guide answers instead).
    pub fn to_llm_config(&self) -> Option<llm::LlmConfig> {
        let kind = match self.provider? {
            ProviderKind::Anthropic => llm::ProviderKind::Anthropic,
            ProviderKind::Openai => llm::ProviderKind::OpenAi,
            ProviderKind::Guide => return None,
        };
        let secs = std::time::Duration::from_secs;
        let mut cfg = llm::LlmConfig::defaults_for(kind);
        cfg.base_url = self.base_url.clone();
        cfg.api_key = self.api_key.clone();
        if let Some(model) = &self.model {
            cfg.model = model.clone();
        }
        cfg.max_tokens = self.max_tokens;
        cfg.temperature = self.temperature;
        cfg.connect_timeout = secs(self.connect_timeout_secs);
        cfg.first_token_timeout = secs(self.first_token_timeout_secs);
        cfg.idle_timeout = secs(self.idle_timeout_secs);
        cfg.timeout = secs(self.timeout_secs);
        cfg.max_retries = self.max_retries;
        Some(cfg)
    }
}
