//! The JSON API: one module per resource, each handler thin (extract, call
//! one engine function, convert to a DTO). Routes are collected together
//! with their OpenAPI descriptions, so the document can't drift from the
//! code.

mod branches;
pub mod dto;
mod flows;
mod health;
mod provider;
pub(crate) mod retrieval;
mod script_templates;
pub(crate) mod session_dto;
mod sessions;
mod setup;
mod signin;
mod streams;
mod teams;
mod tokens;
mod users;

use axum::Router;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::extract::Json;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "FlowPilot API", description = "AI troubleshooting copilot for IT support engineers.\n\n\
Scripts authenticate with `Authorization: Bearer <token>`. Browsers sign in with a cookie; a write \
(any method but GET, HEAD, OPTIONS) authorized by that cookie must show it comes from FlowPilot's own \
pages, by sending `X-FlowPilot-Request: 1`, or an `Origin` (else `Referer`) naming this server, or \
`Sec-Fetch-Site: same-origin`. A cookie write from another site answers 403 `cross_origin_request`. \
Bearer-token requests are not affected."),
    modifiers(&SecuritySchemes),
    security(("bearer" = []), ("cookie" = [])),
)]
struct ApiDoc;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::auth::SESSION_COOKIE,
            ))),
        );
    }
}

/// Every route with its OpenAPI description.
pub fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::metrics))
        .routes(routes!(setup::setup))
        .routes(routes!(signin::login))
        .routes(routes!(signin::logout))
        .routes(routes!(signin::me))
        .routes(routes!(tokens::create, tokens::list))
        .routes(routes!(tokens::revoke))
        .routes(routes!(users::create, users::list))
        .routes(routes!(users::get))
        .routes(routes!(teams::create, teams::list))
        .routes(routes!(teams::members))
        .routes(routes!(teams::add_member, teams::remove_member))
        .routes(routes!(provider::get))
        .routes(routes!(retrieval::get))
        .merge(script_templates::routes())
        .merge(sessions::routes())
        .merge(branches::routes())
        .merge(flows::routes())
        .split_for_parts()
}

/// Unknown routes answer in the same error shape as everything else.
pub async fn fallback() -> ApiError {
    ApiError::not_found()
}

pub fn openapi_route(doc: utoipa::openapi::OpenApi) -> Router<AppState> {
    let doc = std::sync::Arc::new(doc);
    Router::new().route(
        "/api/v1/openapi.json",
        axum::routing::get(move || {
            let doc = doc.clone();
            async move { Json(doc.as_ref().clone()) }
        }),
    )
}
