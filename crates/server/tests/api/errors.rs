//! Bad input gets a clear JSON error with the right status, and changes
//! nothing.

use reqwest::{StatusCode, header};
use serde_json::Value;

use crate::helpers::TestApp;

crate::on_both_backends!(
    malformed_json_is_400_and_a_missing_field_is_422,
    an_oversized_body_is_413,
    a_body_without_json_content_type_is_415,
    unknown_routes_and_malformed_ids_are_json_404s,
);

async fn send_raw(
    app: &TestApp,
    path: &str,
    content_type: &str,
    body: String,
) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url(path))
        .header(header::CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .expect("sent");
    let status = response.status();
    (status, response.json().await.expect("a JSON error body"))
}

async fn malformed_json_is_400_and_a_missing_field_is_422(app: TestApp) {
    let (status, body) = send_raw(
        &app,
        "/api/v1/setup",
        "application/json",
        "{\"account_name\": ".into(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "malformed_json");

    let (status, body) = send_raw(
        &app,
        "/api/v1/setup",
        "application/json",
        r#"{"account_name": "A"}"#.into(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("missing field"),
        "{body}"
    );

    let (status, _) = send_raw(
        &app,
        "/api/v1/setup",
        "application/json",
        r#"{"account_name": 5, "name": "A", "email": "a@b.test", "password": "longenough"}"#.into(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    app.setup("Acme", "ada@acme.test").await;
}

async fn an_oversized_body_is_413(app: TestApp) {
    let huge = format!(
        "{{\"email\": \"{}\", \"password\": \"x\"}}",
        "a".repeat(17 * 1024 * 1024)
    );
    let (status, body) = send_raw(&app, "/api/v1/auth/login", "application/json", huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["code"], "too_large");
}

async fn a_body_without_json_content_type_is_415(app: TestApp) {
    let (status, body) = send_raw(&app, "/api/v1/auth/login", "text/plain", "{}".into()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("application/json")
    );
}

async fn unknown_routes_and_malformed_ids_are_json_404s(app: TestApp) {
    let admin = app.admin_token().await;
    let (status, body) = app.get("/api/v1/no-such-thing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, body) = app
        .call(
            reqwest::Method::GET,
            "/api/v1/users/not-a-uuid",
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
}
