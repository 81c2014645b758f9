//! The knowledge base: the account's flows (runbooks), their import and
//! their search.

use axum::extract::State;
use axum::http::StatusCode;
use engine::ids::FlowId;
use engine::kb::{self, Flow, FlowInput, Imported};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::dto::{ErrorBody, Page};
use super::session_dto::SuggestedFlowDto;
use crate::auth::Auth;
use crate::error::Result;
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(search))
        .routes(routes!(import))
        .routes(routes!(get, update, delete))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FlowDto {
    pub id: Uuid,
    pub slug: String,
    pub title: String,
    pub symptoms: Vec<String>,
    /// Markdown: the steps. Render it as sanitised Markdown, never as HTML.
    pub body: String,
    pub resolution: String,
    pub tags: Vec<String>,
    /// Who wrote it last.
    pub author_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<Flow> for FlowDto {
    fn from(f: Flow) -> Self {
        Self {
            id: f.id.as_uuid(),
            slug: f.slug.to_string(),
            title: f.title,
            symptoms: f.symptoms,
            body: f.body,
            resolution: f.resolution,
            tags: f.tags,
            author_id: f.author_id.map(|a| a.as_uuid()),
            created_at: f.created_at,
            updated_at: f.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FlowEnvelope {
    pub flow: FlowDto,
}

impl From<Flow> for FlowEnvelope {
    fn from(f: Flow) -> Self {
        Self { flow: f.into() }
    }
}

/// One string or a list of them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Symptoms {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowBody {
    /// Default: derived from the title. Unique in the account.
    slug: Option<String>,
    title: String,
    /// A string or a list of strings.
    symptoms: Option<Symptoms>,
    /// Markdown steps. Sections `## Diagnostic questions` (bullets) and
    /// `## Checks` (`### Label`, a line, a fenced command each) are what the
    /// offline guide asks and proposes.
    body: String,
    resolution: Option<String>,
    tags: Option<Vec<String>>,
}

impl From<FlowBody> for FlowInput {
    fn from(b: FlowBody) -> Self {
        FlowInput {
            slug: b.slug,
            title: b.title,
            symptoms: match b.symptoms {
                None => Vec::new(),
                Some(Symptoms::One(s)) => vec![s],
                Some(Symptoms::Many(v)) => v,
            },
            body: b.body,
            resolution: b.resolution.unwrap_or_default(),
            tags: b.tags.unwrap_or_default(),
        }
    }
}

#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 500 (default 100).
    limit: Option<u32>,
}

/// The account's flows, by slug.
#[utoipa::path(get, path = "/api/v1/flows", tag = "knowledge-base", params(ListQuery),
    responses((status = 200, body = Page<FlowDto>), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(who): Auth,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page<FlowDto>>> {
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let flows = kb::list_flows(state.store(), &who, q.cursor.as_deref(), limit).await?;
    let next_cursor = (flows.len() == limit as usize)
        .then(|| flows.last().map(|f| f.slug.to_string()))
        .flatten();
    Ok(Json(Page {
        items: flows.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}

/// Adds a flow to the account's knowledge base.
#[utoipa::path(post, path = "/api/v1/flows", tag = "knowledge-base", request_body = FlowBody,
    responses((status = 201, body = FlowEnvelope), (status = 409, body = ErrorBody, description = "the slug is taken"),
        (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Auth(who): Auth,
    Json(body): Json<FlowBody>,
) -> Result<(StatusCode, Json<FlowEnvelope>)> {
    let flow = kb::create_flow(state.store(), &who, body.into()).await?;
    state.flows_changed();
    Ok((StatusCode::CREATED, Json(flow.into())))
}

/// One flow of the account.
#[utoipa::path(get, path = "/api/v1/flows/{id}", tag = "knowledge-base", params(("id" = Uuid, Path)),
    responses((status = 200, body = FlowEnvelope), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<Uuid>,
) -> Result<Json<FlowEnvelope>> {
    Ok(Json(
        kb::get_flow(state.store(), &who, FlowId::from(id))
            .await?
            .into(),
    ))
}

/// Replaces a flow's fields.
#[utoipa::path(put, path = "/api/v1/flows/{id}", tag = "knowledge-base", params(("id" = Uuid, Path)),
    request_body = FlowBody,
    responses((status = 200, body = FlowEnvelope), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<Uuid>,
    Json(body): Json<FlowBody>,
) -> Result<Json<FlowEnvelope>> {
    let flow = kb::update_flow(state.store(), &who, FlowId::from(id), body.into()).await?;
    state.flows_changed();
    Ok(Json(flow.into()))
}

/// Deletes a flow.
#[utoipa::path(delete, path = "/api/v1/flows/{id}", tag = "knowledge-base", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<Uuid>,
) -> Result<StatusCode> {
    kb::delete_flow(state.store(), &who, FlowId::from(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ImportBody {
    /// Flows as JSON.
    #[serde(default)]
    flows: Vec<FlowBody>,
    /// Markdown flow files, read as `flowpilot kb import` reads them (YAML
    /// front matter with `title`, `slug`, `symptoms`, `tags`; a
    /// `## Resolution` section). They come after `flows` in the report's
    /// indexes.
    #[serde(default)]
    files: Vec<ImportFile>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportFile {
    /// The file's name: its stem is the slug when the front matter has none.
    name: String,
    text: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Rejected {
    /// Position in the request's `flows`, then `files`.
    index: usize,
    /// The file's name, for an item of `files`.
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StoredFlow {
    index: usize,
    /// The file's name, for an item of `files`.
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    slug: String,
    /// `created` or `updated`.
    result: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportReport {
    created: usize,
    updated: usize,
    rejected: Vec<Rejected>,
    /// What happened to each flow that was stored.
    stored: Vec<StoredFlow>,
}

impl ImportReport {
    /// The engine's report, with each file item named; `names[i]` is the
    /// file of input `i`, if it came from one.
    fn new(r: kb::ImportReport, names: &[Option<String>]) -> Self {
        let name = |i: usize| names.get(i).cloned().flatten();
        let mut rejected: Vec<Rejected> = r
            .rejected
            .into_iter()
            .map(|(index, reason)| Rejected {
                index,
                file: name(index),
                reason,
            })
            .collect();
        rejected.sort_by_key(|x| x.index);
        Self {
            created: r.created,
            updated: r.updated,
            rejected,
            stored: r
                .stored
                .into_iter()
                .map(|(index, slug, outcome)| StoredFlow {
                    index,
                    file: name(index),
                    slug,
                    result: match outcome {
                        Imported::Created => "created",
                        Imported::Updated => "updated",
                    },
                })
                .collect(),
        }
    }
}

/// Imports flows: each valid one is created, or updates the flow with its
/// slug; the invalid ones are listed with the reason, and the rest are
/// stored anyway, in one transaction.
#[utoipa::path(post, path = "/api/v1/flows/import", tag = "knowledge-base", request_body = ImportBody,
    responses((status = 200, body = ImportReport), (status = 422, body = ErrorBody)))]
pub async fn import(
    State(state): State<AppState>,
    Auth(who): Auth,
    Json(body): Json<ImportBody>,
) -> Result<Json<ImportReport>> {
    let mut inputs: Vec<FlowInput> = body.flows.into_iter().map(FlowInput::from).collect();
    // Where each input stands in the request (`flows`, then `files`), and
    // the file name of each request item that came from one.
    let mut places: Vec<usize> = (0..inputs.len()).collect();
    let mut names: Vec<Option<String>> = vec![None; inputs.len()];
    // A file that is not a flow is reported at its place; the others are
    // imported with the JSON flows.
    let mut unreadable = Vec::new();
    for file in body.files {
        let index = names.len();
        let stem = std::path::Path::new(&file.name)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or(&file.name)
            .to_owned();
        names.push(Some(file.name));
        match kb::markdown::parse_flow_file(&file.text, &stem) {
            Ok(input) => {
                places.push(index);
                inputs.push(input);
            }
            Err(e) => unreadable.push((index, e.to_string())),
        }
    }
    let mut report = kb::import_flows(state.store(), &who, inputs).await?;
    // The engine numbers what it was given: put each item back at its
    // place in the request.
    for item in &mut report.rejected {
        item.0 = places[item.0];
    }
    for item in &mut report.stored {
        item.0 = places[item.0];
    }
    report.rejected.extend(unreadable);
    state.flows_changed();
    Ok(Json(ImportReport::new(report, &names)))
}

#[derive(Deserialize, IntoParams)]
pub struct SearchQuery {
    /// What to look for: symptoms, an error code, a product.
    q: String,
    /// How many, 1 to 50 (default 10).
    limit: Option<usize>,
    /// The ranking: `hybrid` (the default when an embedding model is
    /// configured), `lexical` (full text only) or `dense` (embeddings
    /// only). Without a model every mode is full text.
    mode: Option<SearchMode>,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    Hybrid,
    Lexical,
    Dense,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResults {
    items: Vec<SuggestedFlowDto>,
}

/// The account's flows that best match `q`, best first.
#[utoipa::path(get, path = "/api/v1/flows/search", tag = "knowledge-base", params(SearchQuery),
    responses((status = 200, body = SearchResults), (status = 422, body = ErrorBody)))]
pub async fn search(
    State(state): State<AppState>,
    Auth(who): Auth,
    Query(q): Query<SearchQuery>,
) -> Result<Json<SearchResults>> {
    let text = q.q.trim();
    if text.is_empty() || text.chars().count() > 2_000 {
        return Err(engine::Error::from(engine::ValidationError::new(
            "q",
            "must be 1 to 2000 characters",
        ))
        .into());
    }
    let limit = q.limit.unwrap_or(10).clamp(1, 50);
    let mode = match (q.mode, state.index.default_mode()) {
        (None, default) => default,
        (Some(SearchMode::Lexical), _) => search::Mode::Lexical,
        (Some(SearchMode::Dense), _) => search::Mode::Dense,
        (Some(SearchMode::Hybrid), search::Mode::Hybrid(w)) => search::Mode::Hybrid(w),
        (Some(SearchMode::Hybrid), _) => search::Mode::Hybrid(state.config.dense_weight),
    };
    let found = state
        .index
        .search_with(who.account_id, text, limit, mode)
        .await
        .map_err(engine::Error::Internal)?;
    Ok(Json(SearchResults {
        items: found.into_iter().map(Into::into).collect(),
    }))
}
