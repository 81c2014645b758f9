//! The model provider in use, read-only: it comes from configuration, and
//! admins see it (never its key) to know what answers their engineers.

use axum::extract::State;
use engine::Error;
use serde::Serialize;
use utoipa::ToSchema;

use super::dto::ErrorBody;
use crate::auth::Auth;
use crate::config::ProviderKind;
use crate::error::Result;
use crate::extract::Json;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct ProviderSettings {
    /// `anthropic`, `openai` or `guide` (the offline guide: no model).
    provider: &'static str,
    model: Option<String>,
    /// `null` means the provider's public API.
    base_url: Option<String>,
    api_key_set: bool,
    max_tokens: u32,
    temperature: Option<f32>,
    /// The model's context window in tokens (the setting, or the default
    /// for the model): longer sessions fold their oldest turns.
    context_window_tokens: u32,
    /// Shown when no AI model is configured, with how to set one.
    notice: Option<&'static str>,
}

/// The provider settings (admins only).
#[utoipa::path(get, path = "/api/v1/settings/provider", tag = "settings",
    responses((status = 200, body = ProviderSettings), (status = 403, body = ErrorBody)))]
pub async fn get(State(state): State<AppState>, Auth(who): Auth) -> Result<Json<ProviderSettings>> {
    if !who.is_admin() {
        return Err(Error::Forbidden(
            "only an admin of this account can see the provider settings",
        )
        .into());
    }
    let llm = &state.config.llm;
    let provider = llm.effective_provider();
    Ok(Json(ProviderSettings {
        provider: provider.as_str(),
        model: llm.model.clone(),
        base_url: llm.base_url.clone(),
        api_key_set: llm.api_key.is_some(),
        max_tokens: llm.max_tokens,
        temperature: llm.temperature,
        context_window_tokens: llm.context_window_tokens(),
        notice: (provider == ProviderKind::Guide).then_some(
            "No AI model is configured: FlowPilot answers with the offline guide, which walks the \
             matching runbooks of the knowledge base. Set FLOWPILOT_LLM_PROVIDER (anthropic or openai), \
             its API key and, for a local model, FLOWPILOT_LLM_BASE_URL, then restart FlowPilot to use a model.",
        ),
    }))
}
