//! First run: create the first account and its admin while no user exists.

use axum::extract::State;
use axum::http::StatusCode;
use engine::Role;
use engine::accounts::{self, UserInput};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::dto::{AccountDto, ErrorBody, UserDto};
use crate::auth::SameOrigin;
use crate::error::Result;
use crate::extract::Json;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct SetupBody {
    account_name: String,
    name: String,
    email: String,
    password: String,
}

#[derive(Serialize, ToSchema)]
pub struct SetupAnswer {
    account: AccountDto,
    user: UserDto,
}

/// Creates the first account and its admin. Works only while no user
/// exists anywhere; afterwards it answers 409.
#[utoipa::path(post, path = "/api/v1/setup", tag = "auth", request_body = SetupBody,
    responses((status = 201, body = SetupAnswer), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn setup(
    State(state): State<AppState>,
    _: SameOrigin,
    Json(body): Json<SetupBody>,
) -> Result<(StatusCode, Json<SetupAnswer>)> {
    let admin = UserInput {
        email: &body.email,
        name: &body.name,
        password: &body.password,
        role: Role::Admin,
    };
    let (account, user) = accounts::setup(state.store(), &body.account_name, admin).await?;
    tracing::info!(account_id = %account.id, user_id = %user.id, "first account set up");
    Ok((
        StatusCode::CREATED,
        Json(SetupAnswer {
            account: account.into(),
            user: user.into(),
        }),
    ))
}
