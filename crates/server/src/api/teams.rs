//! Teams of the caller's account and their members; admins manage them.

use axum::extract::State;
use axum::http::StatusCode;
use engine::accounts;
use engine::ids::{TeamId, UserId};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::dto::{ErrorBody, Page, TeamDto, TeamEnvelope, UserDto};
use crate::auth::Auth;
use crate::error::Result;
use crate::extract::{Json, Path};
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct CreateTeamBody {
    name: String,
}

/// Creates a team (admins only); names are unique within the account.
#[utoipa::path(post, path = "/api/v1/teams", tag = "teams", request_body = CreateTeamBody,
    responses((status = 201, body = TeamEnvelope), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Auth(who): Auth,
    Json(body): Json<CreateTeamBody>,
) -> Result<(StatusCode, Json<TeamEnvelope>)> {
    let team = accounts::create_team(state.store(), &who, &body.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(TeamEnvelope { team: team.into() }),
    ))
}

/// The account's teams, by name.
#[utoipa::path(get, path = "/api/v1/teams", tag = "teams", responses((status = 200, body = Page<TeamDto>)))]
pub async fn list(State(state): State<AppState>, Auth(who): Auth) -> Result<Json<Page<TeamDto>>> {
    Ok(Json(Page::all(
        accounts::list_teams(state.store(), &who).await?,
    )))
}

/// The team's members, by name.
#[utoipa::path(get, path = "/api/v1/teams/{id}/members", tag = "teams", params(("id" = Uuid, Path)),
    responses((status = 200, body = Page<UserDto>), (status = 404, body = ErrorBody)))]
pub async fn members(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<Uuid>,
) -> Result<Json<Page<UserDto>>> {
    Ok(Json(Page::all(
        accounts::list_team_members(state.store(), &who, TeamId::from(id)).await?,
    )))
}

/// Adds a user of the account to the team (admins only).
#[utoipa::path(put, path = "/api/v1/teams/{id}/members/{user_id}", tag = "teams",
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn add_member(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path((team, user)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode> {
    accounts::add_team_member(state.store(), &who, TeamId::from(team), UserId::from(user)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a user from the team (admins only).
#[utoipa::path(delete, path = "/api/v1/teams/{id}/members/{user_id}", tag = "teams",
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_member(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path((team, user)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode> {
    accounts::remove_team_member(state.store(), &who, TeamId::from(team), UserId::from(user))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
