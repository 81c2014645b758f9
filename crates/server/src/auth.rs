//! Who is asking: the `Auth` extractor resolves a bearer token or the
//! sign-in cookie to a `Principal` once per request; handlers that take
//! `Auth` can't run unauthenticated. Also the sign-in cookie and the
//! sign-in rate limits.

use std::net::IpAddr;
use std::num::NonZeroU32;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use engine::Principal;
use engine::accounts::{self, Credential};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;
use crate::state::AppState;

/// The sign-in cookie's name.
pub const SESSION_COOKIE: &str = "flowpilot_session";

/// The authenticated caller.
#[derive(Debug, Clone, Copy)]
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let bearer = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        let jar = CookieJar::from_headers(&parts.headers);
        let credential = match (bearer, jar.get(SESSION_COOKIE)) {
            (Some(token), _) => Credential::ApiToken(token),
            (None, Some(cookie)) => Credential::WebSession(cookie.value()),
            (None, None) => return Err(ApiError::unauthenticated()),
        };
        let principal = accounts::authenticate(state.store(), credential).await?;
        let span = tracing::Span::current();
        span.record("account_id", tracing::field::display(principal.account_id));
        span.record("user_id", tracing::field::display(principal.user_id));
        Ok(Auth(principal))
    }
}

/// The sign-in cookie: HttpOnly (scripts can't read it), SameSite=Lax (not
/// sent on cross-site POSTs), Secure when the server is told it is behind
/// HTTPS.
pub fn session_cookie(secret: String, max_age: time::Duration, secure: bool) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, secret))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .path("/")
        .max_age(max_age)
        .build()
}

/// A cookie that makes the browser forget the sign-in.
pub fn expired_session_cookie(secure: bool) -> Cookie<'static> {
    let mut cookie = session_cookie(String::new(), time::Duration::ZERO, secure);
    cookie.make_removal();
    cookie
}

/// Limits sign-in attempts per email (guessing one account's password)
/// and per client address (spraying many accounts).
pub struct LoginLimiter {
    per_email: DefaultKeyedRateLimiter<String>,
    per_address: DefaultKeyedRateLimiter<IpAddr>,
}

impl LoginLimiter {
    /// Keys kept before stale ones are swept, so memory stays bounded under
    /// a spray of distinct emails.
    const SWEEP_ABOVE: usize = 10_000;

    pub fn new(per_email_per_minute: u32, per_address_per_minute: u32) -> Self {
        let quota =
            |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN));
        Self {
            per_email: RateLimiter::keyed(quota(per_email_per_minute)),
            per_address: RateLimiter::keyed(quota(per_address_per_minute)),
        }
    }

    /// `Err(seconds to wait)` when either limit is exhausted.
    pub fn check(&self, email: &str, address: IpAddr) -> Result<(), u64> {
        if self.per_email.len() > Self::SWEEP_ABOVE {
            self.per_email.retain_recent();
        }
        if self.per_address.len() > Self::SWEEP_ABOVE {
            self.per_address.retain_recent();
        }
        let now = DefaultClock::default().now();
        let wait =
            |not_until: governor::NotUntil<_>| not_until.wait_time_from(now).as_secs().max(1);
        self.per_address.check_key(&address).map_err(wait)?;
        self.per_email
            .check_key(&email.trim().to_lowercase())
            .map_err(wait)
    }
}
