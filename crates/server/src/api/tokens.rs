//! API tokens for scripts: create (the secret is shown once), list, revoke.

use axum::extract::State;
use axum::http::StatusCode;
use engine::accounts;
use engine::ids::TokenId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::dto::{ErrorBody, Page, TokenDto};
use crate::auth::Auth;
use crate::error::Result;
use crate::extract::{Json, Path};
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct CreateTokenBody {
    name: String,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    id: Uuid,
    name: String,
    /// The secret: send it as `Authorization: Bearer <token>`. It is shown
    /// only now; FlowPilot keeps only its hash.
    token: String,
}

/// Creates an API token for the caller.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = CreateTokenBody,
    responses((status = 201, body = CreatedToken), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Auth(who): Auth,
    Json(body): Json<CreateTokenBody>,
) -> Result<(StatusCode, Json<CreatedToken>)> {
    let created = accounts::create_token(state.store(), &who, &body.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            id: created.token.id.as_uuid(),
            name: created.token.name,
            token: created.secret,
        }),
    ))
}

/// The caller's tokens, newest first; never their secrets.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens",
    responses((status = 200, body = Page<TokenDto>), (status = 401, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, Auth(who): Auth) -> Result<Json<Page<TokenDto>>> {
    Ok(Json(Page::all(
        accounts::list_tokens(state.store(), &who).await?,
    )))
}

/// Revokes one of the caller's tokens; it stops working at once.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<Uuid>,
) -> Result<StatusCode> {
    accounts::revoke_token(state.store(), &who, TokenId::from(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
