//! How the knowledge base is searched, and how far embedding has got: what
//! the admin view shows beside the provider.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::dto::ErrorBody;
use crate::auth::Auth;
use crate::error::Result;
use crate::extract::Json;
use crate::state::AppState;

/// Said once at start and in `GET /api/v1/settings/retrieval` when no
/// embedding model is configured.
pub const NO_MODEL_NOTICE: &str = "No embedding model is configured: knowledge-base search is full-text only, \
     so queries in end users' words find fewer runbooks. Run `flowpilot models fetch` (it puts the model in the \
     data directory, where FlowPilot finds it) or set FLOWPILOT_EMBEDDING_MODEL to a sentence-transformers \
     folder, then restart FlowPilot.";

#[derive(Serialize, ToSchema)]
pub struct RetrievalSettings {
    /// `hybrid` (full text and embeddings) or `lexical` (full text only).
    mode: &'static str,
    /// The embedding model's name and weights digest, when there is one.
    model: Option<String>,
    /// Weight of the embedding side in hybrid search (0–1).
    dense_weight: Option<f32>,
    /// This account's flows.
    flows: u64,
    /// Flows with a current vector from the model.
    embedded: u64,
    /// Flows waiting to be embedded (new, edited, or made by another model).
    pending: u64,
    /// Shown when search is full-text only, with how to change that.
    notice: Option<&'static str>,
}

/// The search mode and this account's embedding progress.
#[utoipa::path(get, path = "/api/v1/settings/retrieval", tag = "settings",
    responses((status = 200, body = RetrievalSettings), (status = 401, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Auth(who): Auth,
) -> Result<Json<RetrievalSettings>> {
    let vectors = state.store.clone().as_vector_store();
    let Some(e) = &state.embeddings else {
        // No model: nothing waits for one (the empty name matches no vector).
        let flows = vectors
            .embedding_progress("", Some(who.account_id))
            .await
            .map_err(engine::Error::from)?
            .flows;
        return Ok(Json(RetrievalSettings {
            mode: "lexical",
            model: None,
            dense_weight: None,
            flows,
            embedded: 0,
            pending: 0,
            notice: Some(NO_MODEL_NOTICE),
        }));
    };
    let progress = vectors
        .embedding_progress(e.embedder.identity(), Some(who.account_id))
        .await
        .map_err(engine::Error::from)?;
    Ok(Json(RetrievalSettings {
        mode: "hybrid",
        model: Some(e.embedder.identity().to_owned()),
        dense_weight: Some(e.dense_weight),
        flows: progress.flows,
        embedded: progress.embedded,
        pending: progress.pending(),
        notice: None,
    }))
}
