//! What every handler can reach: the store, the settings, the sign-in rate
//! limits and the metrics registry. Cloned per request (all `Arc`s).

use std::sync::Arc;

use engine::Store;
use engine::llm::LlmProvider;
use engine::retrieval::NoRetriever;
use engine::turn::{Chat, ChatSettings, TurnRenderer, TurnResult};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;

use crate::auth::LoginLimiter;
use crate::config::Config;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub config: Arc<Config>,
    pub login_limiter: Arc<LoginLimiter>,
    pub metrics: PrometheusHandle,
    /// The model provider; `None` when none is configured.
    pub provider: Option<Arc<dyn LlmProvider>>,
    /// Sessions' turns.
    pub chat: Chat,
    /// Cancelled when the server begins to shut down: event streams end
    /// (clients reconnect elsewhere) while running turns finish.
    pub shutdown: CancellationToken,
}

/// `turn.completed` carries exactly what a send answers with.
struct DtoRenderer;

impl TurnRenderer for DtoRenderer {
    fn completed(&self, result: &TurnResult) -> serde_json::Value {
        serde_json::to_value(crate::api::session_dto::TurnResultDto::from(result.clone()))
            .unwrap_or_default()
    }
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        config: Config,
        provider: Option<Arc<dyn LlmProvider>>,
    ) -> Self {
        let login_limiter = Arc::new(LoginLimiter::new(
            config.login_per_email_per_minute,
            config.login_per_address_per_minute,
        ));
        let settings = ChatSettings {
            lease: std::time::Duration::from_secs(config.turn_lease_secs),
            context_window_tokens: config.llm.context_window_tokens(),
            reply_tokens: config.llm.max_tokens,
            ..ChatSettings::default()
        };
        Self {
            store: store.clone(),
            config: Arc::new(config),
            login_limiter,
            metrics: crate::telemetry::metrics_handle(),
            chat: Chat::new(
                store.clone(),
                provider.clone(),
                Arc::new(NoRetriever),
                settings,
                Arc::new(DtoRenderer),
            ),
            provider,
            shutdown: CancellationToken::new(),
        }
    }

    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }
}
