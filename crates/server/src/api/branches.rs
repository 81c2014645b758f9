//! Branches of an investigation: switch, rule out, revive, resolve. The
//! tree itself comes with `GET /sessions/{id}`.

use axum::extract::State;
use engine::ids::{BranchId, SessionId};
use engine::sessions;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::dto::ErrorBody;
use super::session_dto::{BranchDto, BranchEnvelope, ForkPointDto, SessionEnvelope, tree_dto};
use crate::auth::Auth;
use crate::error::Result;
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(switch))
        .routes(routes!(update))
}

#[derive(serde::Serialize, ToSchema)]
pub struct TreeDto {
    /// Root first; each branch names its parent and fork point.
    branches: Vec<BranchDto>,
    fork_points: Vec<ForkPointDto>,
}

/// The session's branch tree (the same as in `GET /sessions/{id}`).
#[utoipa::path(get, path = "/api/v1/sessions/{id}/branches", tag = "branches", params(("id" = Uuid, Path)),
    responses((status = 200, body = TreeDto), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<Uuid>,
) -> Result<Json<TreeDto>> {
    let tree = sessions::branch_tree(state.store(), &who, SessionId::from(id)).await?;
    let (branches, fork_points) = tree_dto(tree);
    Ok(Json(TreeDto {
        branches,
        fork_points,
    }))
}

#[derive(Deserialize, IntoParams)]
pub struct VersionQuery {
    /// The version you last saw; a stale one gets 409 and changes nothing.
    state_version: Option<i64>,
}

/// Makes the branch the active one: the next message goes to it, and the
/// task lane shown is its own (the departing branch keeps its lane). A
/// ruled-out branch must be revived first; not while a reply is being
/// written.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/branches/{branch_id}/switch", tag = "branches",
    params(("id" = Uuid, Path), ("branch_id" = Uuid, Path), VersionQuery),
    responses((status = 200, body = SessionEnvelope), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn switch(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path((id, branch_id)): Path<(Uuid, Uuid)>,
    Query(q): Query<VersionQuery>,
) -> Result<Json<SessionEnvelope>> {
    let session = sessions::switch_branch(
        state.store(),
        &who,
        SessionId::from(id),
        BranchId::from(branch_id),
        q.state_version,
    )
    .await?;
    Ok(Json(session.into()))
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateBranchBody {
    /// `ruled_out`, `revived` or `resolved`.
    status: String,
    /// Required to revive: the new evidence (it goes into the branch's
    /// prompt). With `ruled_out`: why (shown in the report and to the
    /// sibling branches).
    evidence: Option<String>,
    state_version: Option<i64>,
}

/// Rules a branch out (the conversation, if on it, returns to where it
/// forked), revives it with new evidence (the conversation moves to it), or
/// marks it resolved.
#[utoipa::path(patch, path = "/api/v1/branches/{id}", tag = "branches", params(("id" = Uuid, Path)),
    request_body = UpdateBranchBody,
    responses((status = 200, body = BranchEnvelope), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<Uuid>,
    Json(body): Json<UpdateBranchBody>,
) -> Result<Json<BranchEnvelope>> {
    let (branch, session) = sessions::update_branch(
        state.store(),
        &who,
        BranchId::from(id),
        &body.status,
        body.evidence,
        body.state_version,
    )
    .await?;
    Ok(Json(BranchEnvelope {
        branch: branch.into(),
        session: session.into(),
    }))
}
