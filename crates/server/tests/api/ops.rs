//! Health, OpenAPI, metrics and request ids.

use reqwest::StatusCode;

use crate::helpers::TestApp;

crate::on_both_backends!(
    healthz_answers_when_the_database_does,
    the_openapi_document_lists_every_route,
    metrics_count_requests_by_route,
    every_response_carries_a_request_id,
);

async fn healthz_answers_when_the_database_does(app: TestApp) {
    let (status, body) = app.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, serde_json::json!({"status": "ok"}));
}

async fn the_openapi_document_lists_every_route(app: TestApp) {
    let (status, doc) = app.get("/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().expect("version").starts_with("3."));
    let paths = doc["paths"].as_object().expect("paths");
    for path in [
        "/healthz",
        "/api/v1/setup",
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/me",
        "/api/v1/tokens",
        "/api/v1/tokens/{id}",
        "/api/v1/users",
        "/api/v1/teams",
        "/api/v1/teams/{id}/members/{user_id}",
        "/api/v1/sessions",
        "/api/v1/sessions/{id}",
        "/api/v1/sessions/{id}/messages",
        "/api/v1/sessions/{id}/stop",
        "/api/v1/sessions/{id}/events",
        "/api/v1/sessions/{id}/turns",
        "/api/v1/sessions/{id}/facts",
        "/api/v1/sessions/{id}/facts/{fact_id}",
        "/api/v1/sessions/{id}/fixes",
        "/api/v1/sessions/{id}/report",
        "/api/v1/sessions/{id}/branches",
        "/api/v1/sessions/{id}/branches/{branch_id}/switch",
        "/api/v1/branches/{id}",
        "/api/v1/fixes/{id}/decision",
        "/api/v1/fixes/{id}/outcome",
        "/api/v1/fixes/{id}/outcome-proposal",
        "/api/v1/script-templates",
        "/api/v1/script-templates/{id}",
        "/api/v1/script-templates/{id}/render",
        "/api/v1/settings/provider",
        "/api/v1/flows",
        "/api/v1/flows/{id}",
        "/api/v1/flows/import",
        "/api/v1/flows/search",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from {:?}",
            paths.keys()
        );
    }
    assert!(doc["paths"]["/api/v1/tokens"]["post"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

async fn metrics_count_requests_by_route(app: TestApp) {
    app.get("/healthz").await;
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("text");
    assert!(text.contains("flowpilot_http_requests_total"), "{text}");
    assert!(text.contains("route=\"/healthz\""), "{text}");
}

async fn every_response_carries_a_request_id(app: TestApp) {
    let response = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("sent");
    let id = response
        .headers()
        .get("x-request-id")
        .expect("a request id");
    assert!(!id.is_empty());
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .expect("sent");
    assert_eq!(
        response.headers()["x-request-id"],
        "trace-me-123",
        "a caller's id is kept"
    );
}

mod provider_settings {
    use reqwest::{Method, StatusCode};

    use crate::helpers::TestApp;

    crate::on_both_backends!(
        flags = ["--llm-provider", "openai", "--llm-base-url", "http://127.0.0.1:9/v1", "--llm-model", "llama3.1", "--llm-api-key", "sk-secret-value"];
        admins_see_the_provider_settings_without_the_key
    );

    async fn admins_see_the_provider_settings_without_the_key(app: TestApp) {
        let admin = app.admin_token().await;
        let (status, body) = app
            .call(Method::GET, "/api/v1/settings/provider", None, Some(&admin))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["provider"], "openai");
        assert_eq!(body["model"], "llama3.1");
        assert_eq!(body["base_url"], "http://127.0.0.1:9/v1");
        assert_eq!(body["api_key_set"], true);
        assert!(body["notice"].is_null());
        assert!(!body.to_string().contains("sk-secret-value"));
        let engineer = app.user_token(&admin, "eve@acme.test", "engineer").await;
        let (status, _) = app
            .call(
                Method::GET,
                "/api/v1/settings/provider",
                None,
                Some(&engineer),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
}

mod offline_guide_notice {
    use reqwest::{Method, StatusCode};

    use crate::helpers::TestApp;

    crate::on_both_backends!(without_a_provider_the_settings_say_how_to_set_one);

    async fn without_a_provider_the_settings_say_how_to_set_one(app: TestApp) {
        let admin = app.admin_token().await;
        let (status, body) = app
            .call(Method::GET, "/api/v1/settings/provider", None, Some(&admin))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["provider"], "guide");
        assert!(
            body["notice"]
                .as_str()
                .expect("a notice")
                .contains("FLOWPILOT_LLM_PROVIDER")
        );
    }
}
