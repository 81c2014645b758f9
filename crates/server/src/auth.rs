//! Who is asking: the `Auth` extractor resolves a bearer token or the
//! sign-in cookie to a `Principal` once per request; handlers that take
//! `Auth` can't run unauthenticated. Also the sign-in cookie, the
//! cross-site request check for cookie writes, and the sign-in rate limits.

use std::net::IpAddr;
use std::num::NonZeroU32;

use axum::extract::FromRequestParts;
use axum::http::header::{AUTHORIZATION, HOST, ORIGIN, REFERER};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
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
            (None, Some(cookie)) => {
                check_same_origin(parts)?;
                Credential::WebSession(cookie.value())
            }
            (None, None) => return Err(ApiError::unauthenticated()),
        };
        let principal = accounts::authenticate(state.store(), credential).await?;
        let span = tracing::Span::current();
        span.record("account_id", tracing::field::display(principal.account_id));
        span.record("user_id", tracing::field::display(principal.user_id));
        Ok(Auth(principal))
    }
}

/// The header FlowPilot's own pages send with every request. A page on
/// another site can't send it: a custom header makes the browser ask
/// first (a CORS preflight), and this server grants no cross-origin access.
pub const REQUEST_HEADER: &str = "x-flowpilot-request";

/// Runs [`check_same_origin`] on requests without a bearer token: put it
/// on browser routes that don't take [`Auth`] (sign-in, sign-out, setup).
#[derive(Debug, Clone, Copy)]
pub struct SameOrigin;

impl<S: Send + Sync> FromRequestParts<S> for SameOrigin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if !parts.headers.contains_key(AUTHORIZATION) {
            check_same_origin(parts)?;
        }
        Ok(SameOrigin)
    }
}

/// Refuses a write that a page on another site could have made the
/// browser send with the sign-in cookie (cross-site request forgery).
/// SameSite=Lax already keeps the cookie off cross-site POSTs in current
/// browsers; this also covers sibling subdomains ("same site", another
/// origin) and browsers without SameSite.
///
/// A write passes when it carries [`REQUEST_HEADER`]; or when the browser
/// says it comes from this origin (`Sec-Fetch-Site: same-origin`, or
/// `none` for the engineer's own action); or, from browsers that don't
/// send `Sec-Fetch-Site`, when `Origin` (else `Referer`) names this host.
/// A request with none of these headers comes from no browser (browsers
/// send `Origin` on every write; curl with a cookie jar sends nothing) and
/// passes: forging it needs the cookie itself.
pub fn check_same_origin(parts: &Parts) -> Result<(), ApiError> {
    if matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS)
        || parts.headers.contains_key(REQUEST_HEADER)
    {
        return Ok(());
    }
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .map(|v| v.to_str().unwrap_or_default())
    };
    let allowed = match header("sec-fetch-site") {
        Some(site) => matches!(site, "same-origin" | "none"),
        None => match header(ORIGIN.as_str()).or_else(|| header(REFERER.as_str())) {
            Some(source) => names_this_host(source, &parts.headers, parts.uri.authority()),
            None => true,
        },
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "cross_origin_request",
            format!(
                "this request was sent from another site, so the sign-in cookie can't authorize it; \
                 FlowPilot's own pages send `{REQUEST_HEADER}: 1`, scripts should use an API token \
                 (`Authorization: Bearer <token>`)"
            ),
        ))
    }
}

/// Whether `source` (an Origin or Referer URL) has this request's host
/// and port. `Origin: null` (sandboxed frames, cross-site redirects) never
/// does.
fn names_this_host(
    source: &str,
    headers: &HeaderMap,
    authority: Option<&axum::http::uri::Authority>,
) -> bool {
    let Ok(source) = url::Url::parse(source) else {
        return false;
    };
    let host = headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| authority.map(|a| a.as_str()));
    // Parsed with the source's scheme, so that a default port compares
    // equal whether it is written out or not.
    let Some(ours) = host.and_then(|h| url::Url::parse(&format!("{}://{h}", source.scheme())).ok())
    else {
        return false;
    };
    source.host_str().is_some()
        && source.host_str() == ours.host_str()
        && source.port_or_known_default() == ours.port_or_known_default()
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

#[cfg(test)]
mod tests {
    use axum::http::Request;

    use super::*;

    fn parts(method: &str, headers: &[(&str, &str)]) -> Parts {
        let mut request = Request::builder()
            .method(method)
            .uri("/api/v1/sessions")
            .header(HOST, "fp.example:8080");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).expect("a request").into_parts().0
    }

    /// Method, request headers, whether the write passes.
    type Case = (&'static str, &'static [(&'static str, &'static str)], bool);

    #[test]
    fn cookie_writes_pass_only_from_this_origin_or_no_browser() {
        let cases: &[Case] = &[
            ("GET", &[("origin", "https://evil.example")], true),
            ("POST", &[(REQUEST_HEADER, "1")], true),
            (
                "POST",
                &[(REQUEST_HEADER, "1"), ("origin", "https://evil.example")],
                true,
            ),
            ("POST", &[("sec-fetch-site", "same-origin")], true),
            ("POST", &[("sec-fetch-site", "none")], true),
            ("POST", &[("sec-fetch-site", "cross-site")], false),
            (
                "POST",
                &[
                    ("sec-fetch-site", "same-site"),
                    ("origin", "http://fp.example:8080"),
                ],
                false,
            ),
            ("DELETE", &[("origin", "http://fp.example:8080")], true),
            ("PATCH", &[("origin", "HTTP://FP.EXAMPLE:8080")], true),
            ("POST", &[("origin", "http://fp.example:8081")], false),
            ("POST", &[("origin", "http://fp.example")], false),
            ("POST", &[("origin", "https://evil.example")], false),
            ("POST", &[("origin", "null")], false),
            (
                "POST",
                &[("referer", "http://fp.example:8080/#/sessions")],
                true,
            ),
            ("POST", &[("referer", "https://evil.example/page")], false),
            (
                "POST",
                &[
                    ("origin", "https://evil.example"),
                    ("referer", "http://fp.example:8080/"),
                ],
                false,
            ),
            ("POST", &[], true),
        ];
        for (method, headers, allowed) in cases {
            let result = check_same_origin(&parts(method, headers));
            assert_eq!(result.is_ok(), *allowed, "{method} {headers:?}");
            if let Err(e) = result {
                assert_eq!(e.status, StatusCode::FORBIDDEN);
                assert_eq!(e.code, "cross_origin_request");
            }
        }
    }

    #[test]
    fn a_default_port_matches_whether_written_or_not() {
        let mut p = parts("POST", &[("origin", "https://fp.example")]);
        p.headers
            .insert(HOST, "fp.example:443".parse().expect("a header"));
        assert!(check_same_origin(&p).is_ok());
        p.headers
            .insert(HOST, "fp.example".parse().expect("a header"));
        assert!(check_same_origin(&p).is_ok());
    }
}
