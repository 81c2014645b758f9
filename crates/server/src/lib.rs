//! FlowPilot's HTTP service: the JSON API (cookie sign-in for browsers,
//! bearer tokens for scripts), the tenancy guard, OpenAPI, metrics, and
//! the web UI embedded in the binary.
//!
//! Startup is a library function, `serve(listener, state, shutdown)`: `main`
//! calls it with the OS signals, tests with a oneshot.

pub mod api;
pub mod auth;
pub mod config;
pub mod embedding;
pub mod error;
pub mod extract;
pub mod state;
pub mod telemetry;
pub mod ui;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;

pub use config::Config;
pub use state::AppState;

/// The whole application: API routes, OpenAPI document, the web UI,
/// middleware.
pub fn app(state: AppState) -> Router {
    let (api, doc) = api::routes();
    let (set_request_id, propagate_request_id) = telemetry::request_id_layers();
    api.merge(api::openapi_route(doc))
        .merge(ui::routes())
        .fallback(api::fallback)
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(axum::middleware::from_fn(telemetry::track_metrics))
        .layer(CatchPanicLayer::new())
        .layer(propagate_request_id)
        .layer(telemetry::trace_layer())
        .layer(set_request_id)
        .with_state(state)
}

/// Opens the database (running migrations), builds the model provider
/// from the settings, and builds the state.
pub async fn build_state(mut config: Config) -> anyhow::Result<AppState> {
    // What follows from the provider (default model, key fallback), so that
    // every setting derived from them (the context window) agrees.
    config.llm = config.llm.resolve()?;
    let url = config.database_url();
    let options = store::OpenOptions {
        migrate: true,
        max_connections: config.db_max_connections,
    };
    let store = store::open(&url, options).await.with_context(|| {
        format!(
            "opening the {} database",
            store::backend_name(&url).unwrap_or("configured")
        )
    })?;
    if store::backend_name(&url) == Some("sqlite") {
        // One instance owns a SQLite file: a turn still marked running was
        // cut off when the previous process stopped. (Several instances
        // share PostgreSQL, where a turn may be running elsewhere: there,
        // leases decide.)
        let ended = store
            .expire_leases(i64::MAX, engine::sessions::LostTurn::Restarted)
            .await
            .map_err(|e| anyhow::anyhow!("ending turns left running: {e}"))?;
        if !ended.is_empty() {
            tracing::warn!(
                turns = ended.len(),
                "ended turns that were running when FlowPilot last stopped"
            );
        }
    }
    // No model configured: the offline guide answers from the runbooks.
    let provider: Option<Arc<dyn engine::llm::LlmProvider>> = match config.llm.to_llm_config() {
        Some(cfg) => Some(llm::build_provider(cfg)?),
        None => {
            tracing::warn!(
                "no AI model is configured: the offline guide answers from the knowledge base; set FLOWPILOT_LLM_PROVIDER to use a model"
            );
            Some(Arc::new(llm::guide::Guide))
        }
    };
    let embedder = load_embedder(&config)?;
    let state = AppState::new(store, config, provider, embedder)?;
    if let Some(e) = &state.embeddings {
        e.spawn_worker(
            state.store.clone().as_vector_store(),
            state.shutdown.clone(),
        );
    }
    Ok(state)
}

/// The embedding model, if one is configured or fetched. A configured
/// folder that does not load stops the server; with none, search is
/// full-text only, and the log says so once.
fn load_embedder(
    config: &Config,
) -> anyhow::Result<Option<Arc<dyn engine::kb::embedding::Embedder>>> {
    let Some(dir) = config.embedding_model_dir() else {
        tracing::warn!("{}", api::retrieval::NO_MODEL_NOTICE);
        return Ok(None);
    };
    let started = std::time::Instant::now();
    let model = embed::SentenceEmbedder::load(&dir).with_context(|| {
        format!(
            "loading the embedding model from {} (FLOWPILOT_EMBEDDING_MODEL); fetch it with `flowpilot models fetch`, or set FLOWPILOT_EMBEDDING_MODEL=off for full-text search only",
            dir.display()
        )
    })?;
    tracing::info!(
        model = engine::kb::embedding::Embedder::identity(&model),
        path = %dir.display(),
        load_ms = started.elapsed().as_millis() as u64,
        "hybrid search: full text and embeddings"
    );
    Ok(Some(Arc::new(model)))
}

/// Serves until `shutdown` resolves, then stops accepting connections,
/// lets requests in flight finish, and waits (up to a minute) for running
/// turns to be stored.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let chat = state.chat.clone();
    let grace = std::time::Duration::from_secs(state.config.shutdown_grace_secs);
    let stopping = state.shutdown.clone();
    let app = app(state).into_make_service_with_connect_info::<SocketAddr>();
    let signal = {
        let stopping = stopping.clone();
        let chat = chat.clone();
        async move {
            shutdown.await;
            tracing::info!("shutting down: no new turns; running ones finish");
            // Event streams end now (clients resume elsewhere with
            // Last-Event-ID); a turn's own stream ends with the turn.
            stopping.cancel();
            chat.close();
        }
    };
    // Small writes (stream events, short answers) go out at once instead
    // of waiting on the peer's delayed ACK.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(signal)
        .await
        .context("serving HTTP")?;
    // Turns outlive their requests: let those in flight finish and be
    // stored before the process goes.
    if tokio::time::timeout(grace, chat.drain()).await.is_err() {
        tracing::warn!(
            "turns were still running {} s after shutdown began; another instance fails them once their lease runs out",
            grace.as_secs()
        );
    }
    Ok(())
}
