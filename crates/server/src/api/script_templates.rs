//! The account's script library: templates with `{{name}}` parameters.
//! Any signed-in user of the account manages it; another account's
//! templates answer 404 like missing ones.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use engine::ValidationError;
use engine::ids::ScriptTemplateId;
use engine::scripts::{self, RenderError, ScriptTemplate, ScriptTemplateInput};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::dto::{ErrorBody, Page};
use crate::auth::Auth;
use crate::error::{ApiError, Result};
use crate::extract::{Json, Path};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
        .routes(routes!(render))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScriptTemplateDto {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    /// `powershell`, `bash`, `python`, …
    pub language: String,
    pub body: String,
    pub description: String,
    /// The `{{name}}`s found in the body, in order of first appearance.
    pub parameters: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<ScriptTemplate> for ScriptTemplateDto {
    fn from(t: ScriptTemplate) -> Self {
        Self {
            id: t.id.as_uuid(),
            slug: t.slug,
            name: t.name,
            language: t.language,
            body: t.body,
            description: t.description,
            parameters: t.parameters,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// `{"script_template": {...}}`
#[derive(Debug, Serialize, ToSchema)]
pub struct ScriptTemplateEnvelope {
    pub script_template: ScriptTemplateDto,
}

impl From<ScriptTemplate> for ScriptTemplateEnvelope {
    fn from(t: ScriptTemplate) -> Self {
        Self {
            script_template: t.into(),
        }
    }
}

/// A template to create, or the new contents of one (`PUT` replaces all
/// fields; a missing `description` becomes empty).
#[derive(Debug, Deserialize, ToSchema)]
pub struct ScriptTemplateBody {
    /// Lowercase letters, digits and single hyphens, 1–64 characters, unique
    /// in the account. On create, derived from the name when absent (with a
    /// number added if taken); on update, kept when absent.
    #[serde(default)]
    slug: Option<String>,
    /// 1–200 characters.
    name: String,
    /// 1–32 lowercase letters, digits, `-` or `+`, e.g. `powershell`.
    language: String,
    /// The script, at most 64 KiB; `{{name}}` marks a parameter.
    body: String,
    #[serde(default)]
    description: Option<String>,
}

impl ScriptTemplateBody {
    fn input(&self) -> ScriptTemplateInput<'_> {
        ScriptTemplateInput {
            slug: self.slug.as_deref(),
            name: &self.name,
            language: &self.language,
            body: &self.body,
            description: self.description.as_deref(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RenderScriptBody {
    /// A value for each parameter; values are inserted as given, and
    /// names the template doesn't use are ignored.
    #[serde(default)]
    parameters: HashMap<String, String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RenderedScript {
    pub script: String,
}

/// The 422 of a render with parameters missing: the usual error body, plus
/// the missing names for programs.
#[derive(Debug, Serialize, ToSchema)]
pub struct MissingParametersBody {
    pub error: MissingParametersDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MissingParametersDetail {
    /// `missing_parameters`.
    pub code: String,
    pub message: String,
    /// The parameters without a value, in order of first appearance.
    pub missing_parameters: Vec<String>,
}

/// A failed render, as a response.
pub struct RenderFailure(RenderError);

impl From<RenderError> for RenderFailure {
    fn from(e: RenderError) -> Self {
        Self(e)
    }
}

impl IntoResponse for RenderFailure {
    fn into_response(self) -> Response {
        match self.0 {
            RenderError::Failed(e) => ApiError::from(e).into_response(),
            RenderError::Missing(missing) => {
                let names = missing.0.clone();
                let body = MissingParametersBody {
                    error: MissingParametersDetail {
                        code: "missing_parameters".to_owned(),
                        message: ValidationError::from(missing).to_string(),
                        missing_parameters: names,
                    },
                };
                (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
            }
        }
    }
}

/// The account's script templates, by name.
#[utoipa::path(get, path = "/api/v1/script-templates", tag = "script-templates",
    responses((status = 200, body = Page<ScriptTemplateDto>), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(who): Auth,
) -> Result<Json<Page<ScriptTemplateDto>>> {
    Ok(Json(Page::all(
        scripts::list_templates(state.store(), &who).await?,
    )))
}

/// Adds a template to the account's library.
#[utoipa::path(post, path = "/api/v1/script-templates", tag = "script-templates",
    request_body = ScriptTemplateBody,
    responses((status = 201, body = ScriptTemplateEnvelope), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the slug is taken"),
        (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Auth(who): Auth,
    Json(body): Json<ScriptTemplateBody>,
) -> Result<(StatusCode, Json<ScriptTemplateEnvelope>)> {
    let template = scripts::create_template(state.store(), &who, body.input()).await?;
    Ok((StatusCode::CREATED, Json(template.into())))
}

/// One template of the account.
#[utoipa::path(get, path = "/api/v1/script-templates/{id}", tag = "script-templates",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ScriptTemplateEnvelope), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<Uuid>,
) -> Result<Json<ScriptTemplateEnvelope>> {
    let template = scripts::get_template(state.store(), &who, ScriptTemplateId::from(id)).await?;
    Ok(Json(template.into()))
}

/// Replaces a template's fields (the slug only when one is given).
#[utoipa::path(put, path = "/api/v1/script-templates/{id}", tag = "script-templates",
    params(("id" = Uuid, Path)), request_body = ScriptTemplateBody,
    responses((status = 200, body = ScriptTemplateEnvelope), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the new slug is taken"),
        (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<Uuid>,
    Json(body): Json<ScriptTemplateBody>,
) -> Result<Json<ScriptTemplateEnvelope>> {
    let id = ScriptTemplateId::from(id);
    let template = scripts::update_template(state.store(), &who, id, body.input()).await?;
    Ok(Json(template.into()))
}

/// Deletes a template; fixes that pointed at it keep their text.
#[utoipa::path(delete, path = "/api/v1/script-templates/{id}", tag = "script-templates",
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<Uuid>,
) -> Result<StatusCode> {
    scripts::delete_template(state.store(), &who, ScriptTemplateId::from(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Fills the template's parameters and returns the script.
#[utoipa::path(post, path = "/api/v1/script-templates/{id}/render", tag = "script-templates",
    params(("id" = Uuid, Path)), request_body = RenderScriptBody,
    responses((status = 200, body = RenderedScript), (status = 404, body = ErrorBody),
        (status = 422, body = MissingParametersBody,
            description = "parameters without a value; `missing_parameters` lists them")))]
pub async fn render(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<Uuid>,
    Json(body): Json<RenderScriptBody>,
) -> Result<Json<RenderedScript>, RenderFailure> {
    let id = ScriptTemplateId::from(id);
    let script = scripts::render_template(state.store(), &who, id, &body.parameters).await?;
    Ok(Json(RenderedScript { script }))
}
