//! Setup, sign-in, sign-out and `/me`.

use reqwest::{Method, StatusCode, header};
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp};

crate::on_both_backends!(
    setup_creates_the_first_admin_then_refuses_a_second_setup,
    setup_rejects_a_bad_email_and_a_short_password_with_422,
    login_sets_an_http_only_lax_cookie_and_me_answers,
    wrong_password_and_unknown_email_get_the_same_401,
    logout_revokes_the_session_on_the_server,
    me_without_credentials_is_401,
);

mod rate_limits {
    crate::on_both_backends!(flags = ["--login-per-email-per-minute", "3"]; sign_in_attempts_are_rate_limited_per_email);

    use super::sign_in_attempts_are_rate_limited_per_email;
}

async fn setup_creates_the_first_admin_then_refuses_a_second_setup(app: TestApp) {
    let body = app.setup("Acme IT", "Ada@Acme.test").await;
    assert_eq!(body["user"]["email"], "ada@acme.test");
    assert_eq!(body["user"]["role"], "admin");
    assert_eq!(body["account"]["name"], "Acme IT");
    assert_eq!(body["user"]["account_id"], body["account"]["id"]);

    let (status, body) = app
        .post(
            "/api/v1/setup",
            json!({"account_name": "Evil", "name": "M", "email": "m@evil.test", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "already_set_up");
    let (status, _) = app.login("m@evil.test", PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the refused setup created nothing"
    );
}

async fn setup_rejects_a_bad_email_and_a_short_password_with_422(app: TestApp) {
    for (email, password, field) in [
        ("not-an-email", PASSWORD, "email"),
        ("a@b.test", "short", "password"),
    ] {
        let (status, body) = app
            .post(
                "/api/v1/setup",
                json!({"account_name": "Acme", "name": "Ada", "email": email, "password": password}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let message = body["error"]["message"].as_str().expect("message");
        assert!(message.starts_with(field), "{message}");
    }
    // Nothing was created, so setup still works.
    app.setup("Acme", "ada@acme.test").await;
}

async fn login_sets_an_http_only_lax_cookie_and_me_answers(app: TestApp) {
    app.setup("Acme IT", "ada@acme.test").await;
    let response = app.login_response(" ADA@acme.test ", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("a cookie")
        .to_owned();
    assert!(cookie.starts_with("flowpilot_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");

    let (status, me) = app.get("/api/v1/me").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user"]["email"], "ada@acme.test");
    assert_eq!(me["user"]["role"], "admin");
    assert!(me["user"]["id"].is_string() && me["user"]["account_id"].is_string());
}

async fn wrong_password_and_unknown_email_get_the_same_401(app: TestApp) {
    app.setup("Acme IT", "ada@acme.test").await;
    let (s1, b1) = app.login("ada@acme.test", "wrong password!").await;
    let (s2, b2) = app.login("nobody@acme.test", PASSWORD).await;
    assert_eq!(s1, StatusCode::UNAUTHORIZED);
    assert_eq!(s2, StatusCode::UNAUTHORIZED);
    assert_eq!(b1, b2, "the answer must not tell which part was wrong");
}

async fn logout_revokes_the_session_on_the_server(app: TestApp) {
    app.setup("Acme IT", "ada@acme.test").await;
    let response = app.login_response("ada@acme.test", PASSWORD).await;
    let cookie = response.headers()[header::SET_COOKIE]
        .to_str()
        .expect("ascii")
        .to_owned();
    let pair = cookie.split(';').next().expect("name=value").to_owned();

    let (status, _) = app
        .call(Method::POST, "/api/v1/auth/logout", None, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get("/api/v1/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A copy of the old cookie, replayed, no longer works either.
    let replay = reqwest::Client::new()
        .get(app.url("/api/v1/me"))
        .header(header::COOKIE, pair)
        .send()
        .await
        .expect("sent");
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
}

async fn me_without_credentials_is_401(app: TestApp) {
    let (status, body) = app.get("/api/v1/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthenticated");
    let (status, _) = app
        .call(
            Method::GET,
            "/api/v1/me",
            None,
            Some("fpt_not-a-real-token"),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn sign_in_attempts_are_rate_limited_per_email(app: TestApp) {
    app.setup("Acme IT", "ada@acme.test").await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(app.login("ada@acme.test", "wrong password!").await.0);
    }
    // This app allows 3 attempts per email per minute.
    let expected = [StatusCode::UNAUTHORIZED; 3];
    assert_eq!(statuses[..3], expected, "{statuses:?}");
    assert_eq!(statuses[3], StatusCode::TOO_MANY_REQUESTS);
    // Even the right password is refused while the limit holds.
    let response = app.login_response("ada@acme.test", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key(header::RETRY_AFTER));
}
