//! What every handler can reach: the store, the settings, the sign-in rate
//! limits and the metrics registry. Cloned per request (all `Arc`s).

use std::sync::Arc;

use engine::Store;
use engine::llm::LlmProvider;
use engine::retrieval::NoRetriever;
use engine::turn::{Chat, ChatLimits};
use metrics_exporter_prometheus::PrometheusHandle;

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
        Self {
            store: store.clone(),
            config: Arc::new(config),
            login_limiter,
            metrics: crate::telemetry::metrics_handle(),
            chat: Chat::new(
                store.clone(),
                provider.clone(),
                Arc::new(NoRetriever),
                ChatLimits::default(),
            ),
            provider,
        }
    }

    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }
}
