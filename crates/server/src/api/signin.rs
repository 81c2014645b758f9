//! Sign-in and sign-out for browsers (an HttpOnly cookie backed by a
//! server-side, revocable session), and `GET /me` for any caller.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum_extra::extract::CookieJar;
use engine::accounts;
use serde::Deserialize;
use utoipa::ToSchema;

use super::dto::{ErrorBody, UserEnvelope};
use crate::auth::{self, Auth, SESSION_COOKIE, SameOrigin};
use crate::error::{ApiError, Result};
use crate::extract::Json;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct LoginBody {
    email: String,
    password: String,
}

/// Signs in with email and password and sets the session cookie.
/// Attempts are rate-limited per email and per client address (429).
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, body = UserEnvelope), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    _: SameOrigin,
    jar: CookieJar,
    Json(body): Json<LoginBody>,
) -> Result<(CookieJar, Json<UserEnvelope>)> {
    if let Err(wait) = state.login_limiter.check(&body.email, peer.ip()) {
        tracing::warn!(client = %peer.ip(), "sign-in rate limit hit");
        return Err(ApiError::too_many_requests(
            format!("too many sign-in attempts; wait {wait} seconds and try again"),
            wait,
        ));
    }
    let ttl = time::Duration::hours(i64::from(state.config.session_ttl_hours));
    let session = accounts::login(state.store(), &body.email, &body.password, ttl).await?;
    let cookie = auth::session_cookie(session.secret, ttl, state.config.cookie_secure);
    Ok((jar.add(cookie), Json(session.user.into())))
}

/// Signs out: revokes the server-side session and clears the cookie. From
/// a browser, like every cookie write, it needs `X-FlowPilot-Request: 1`
/// or this server's `Origin` (403 otherwise).
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", responses((status = 204)))]
pub async fn logout(
    State(state): State<AppState>,
    _: SameOrigin,
    jar: CookieJar,
) -> Result<(CookieJar, StatusCode)> {
    if let Some(cookie) = jar.get(SESSION_COOKIE) {
        accounts::logout(state.store(), cookie.value()).await?;
    }
    let jar = jar.add(auth::expired_session_cookie(state.config.cookie_secure));
    Ok((jar, StatusCode::NO_CONTENT))
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses((status = 200, body = UserEnvelope), (status = 401, body = ErrorBody)))]
pub async fn me(State(state): State<AppState>, Auth(who): Auth) -> Result<Json<UserEnvelope>> {
    Ok(Json(accounts::me(state.store(), &who).await?.into()))
}
