//! API tokens: shown once, stored hashed, listed without secrets, revoked.

use reqwest::{Method, StatusCode};

use crate::helpers::TestApp;

crate::on_both_backends!(
    a_token_authenticates_and_is_listed_without_its_secret,
    a_revoked_token_stops_working_at_once,
    a_user_cannot_revoke_someone_elses_token,
);

async fn a_token_authenticates_and_is_listed_without_its_secret(app: TestApp) {
    let token = app.admin_token().await;
    assert!(token.starts_with("fpt_"));
    let (status, me) = app
        .call_with(
            &TestApp::new_client(),
            Method::GET,
            "/api/v1/me",
            None,
            Some(&token),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user"]["email"], "ada@acme.test");

    let (status, list) = app
        .call(Method::GET, "/api/v1/tokens", None, Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK);
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["name"], "tests");
    assert!(
        items[0]["last_used_at"].is_string(),
        "use is recorded: {list}"
    );
    assert!(
        !list.to_string().contains(&token[4..]),
        "no secret in the list"
    );
    assert!(list["next_cursor"].is_null());
}

async fn a_revoked_token_stops_working_at_once(app: TestApp) {
    let admin = app.admin_token().await;
    let second = app.create_token(Some(&admin), "ci").await;
    let (_, list) = app
        .call(Method::GET, "/api/v1/tokens", None, Some(&admin))
        .await;
    let id = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|t| t["name"] == "ci")
        .expect("the ci token")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/tokens/{id}"),
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .call(Method::GET, "/api/v1/me", None, Some(&second))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/tokens/{id}"),
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "revoking twice finds nothing"
    );
}

async fn a_user_cannot_revoke_someone_elses_token(app: TestApp) {
    let admin = app.admin_token().await;
    let engineer = app.user_token(&admin, "eve@acme.test", "engineer").await;
    let other = app
        .other_account_token("Other MSP", "olga@other.test")
        .await;
    let (_, list) = app
        .call(Method::GET, "/api/v1/tokens", None, Some(&admin))
        .await;
    let id = list["items"][0]["id"].as_str().expect("id").to_owned();
    for bearer in [&engineer, &other] {
        let (status, body) = app
            .call(
                Method::DELETE,
                &format!("/api/v1/tokens/{id}"),
                None,
                Some(bearer),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }
    let (status, _) = app
        .call(Method::GET, "/api/v1/me", None, Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "still valid");
}
