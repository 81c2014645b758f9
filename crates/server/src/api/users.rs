//! Users of the caller's account: admins create them; everyone can list.

use axum::extract::State;
use axum::http::StatusCode;
use engine::Role;
use engine::accounts::{self, UserInput};
use engine::ids::UserId;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::dto::{ErrorBody, Page, UserDto, UserEnvelope};
use crate::auth::Auth;
use crate::error::Result;
use crate::extract::{Json, Path};
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct CreateUserBody {
    email: String,
    name: String,
    password: String,
    /// `admin` or `engineer`.
    role: String,
}

/// Creates a user in the caller's account (admins only). An email is
/// unique across all accounts.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUserBody,
    responses((status = 201, body = UserEnvelope), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Auth(who): Auth,
    Json(body): Json<CreateUserBody>,
) -> Result<(StatusCode, Json<UserEnvelope>)> {
    let input = UserInput {
        email: &body.email,
        name: &body.name,
        password: &body.password,
        role: Role::parse(&body.role).map_err(engine::Error::from)?,
    };
    let user = accounts::create_user(state.store(), &who, input).await?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// The users of the caller's account, by name.
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, body = Page<UserDto>), (status = 401, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, Auth(who): Auth) -> Result<Json<Page<UserDto>>> {
    Ok(Json(Page::all(
        accounts::list_users(state.store(), &who).await?,
    )))
}

/// One user of the caller's account.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = Uuid, Path)),
    responses((status = 200, body = UserEnvelope), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<Uuid>,
) -> Result<Json<UserEnvelope>> {
    Ok(Json(
        accounts::get_user(state.store(), &who, UserId::from(id))
            .await?
            .into(),
    ))
}
