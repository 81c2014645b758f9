//! What every handler can reach: the store, the settings, the sign-in rate
//! limits and the metrics registry. Cloned per request (all `Arc`s).

use std::sync::Arc;

use engine::Store;
use engine::llm::LlmProvider;
use engine::retrieval::Retriever;
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
    /// The knowledge base's search (also what turns retrieve with).
    pub retriever: Arc<dyn Retriever>,
    /// The same index, for searches that choose their ranking.
    pub index: search::FlowIndex,
    /// The embedding model, when one is configured (hybrid search).
    pub embeddings: Option<crate::embedding::Embeddings>,
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
        embedder: Option<Arc<dyn engine::kb::embedding::Embedder>>,
    ) -> anyhow::Result<Self> {
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
        let embeddings =
            embedder.map(|e| crate::embedding::Embeddings::new(e, config.dense_weight));
        let index = match &embeddings {
            Some(e) => search::FlowIndex::hybrid(
                store.clone().as_flow_store(),
                search::DenseSearch {
                    embedder: e.embedder.clone(),
                    vectors: store.clone().as_vector_store(),
                    weight: e.dense_weight,
                },
            )?,
            None => search::FlowIndex::new(store.clone().as_flow_store())?,
        };
        let retriever: Arc<dyn Retriever> = Arc::new(index.clone());
        Ok(Self {
            store: store.clone(),
            config: Arc::new(config),
            login_limiter,
            metrics: crate::telemetry::metrics_handle(),
            chat: Chat::new(
                store.clone(),
                provider.clone(),
                retriever.clone(),
                settings,
                Arc::new(DtoRenderer),
            ),
            retriever,
            index,
            embeddings,
            provider,
            shutdown: CancellationToken::new(),
        })
    }

    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// Flows were written: the embedding worker (if any) catches up.
    pub fn flows_changed(&self) {
        if let Some(e) = &self.embeddings {
            e.flows_changed();
        }
    }
}
