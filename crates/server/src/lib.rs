//! FlowPilot's HTTP service: the JSON API (cookie sign-in for browsers,
//! bearer tokens for scripts), the tenancy guard, OpenAPI, metrics.
//!
//! Startup is a library function, `serve(listener, state, shutdown)`: `main`
//! calls it with the OS signals, tests with a oneshot.

pub mod api;
pub mod auth;
pub mod config;
pub mod error;
pub mod extract;
pub mod state;
pub mod telemetry;

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context as _;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;

pub use config::Config;
pub use state::AppState;

/// The whole application: API routes, OpenAPI document, middleware.
pub fn app(state: AppState) -> Router {
    let (api, doc) = api::routes();
    let (set_request_id, propagate_request_id) = telemetry::request_id_layers();
    api.merge(api::openapi_route(doc))
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
pub async fn build_state(config: Config) -> anyhow::Result<AppState> {
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
    let provider = match config.llm.to_llm_config() {
        Some(cfg) => Some(llm::build_provider(cfg)?),
        None => None,
    };
    Ok(AppState::new(store, config, provider))
}

/// Serves until `shutdown` resolves, then stops accepting connections and
/// lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = app(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP")
}
