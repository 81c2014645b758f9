//! The web UI: served from the binary with its security headers; and the
//! cross-site request check on cookie-authenticated writes.

use reqwest::{Method, StatusCode, header};
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp};

crate::on_both_backends!(
    the_root_serves_the_page_with_a_policy_that_forbids_inline_script,
    the_page_loads_only_same_origin_scripts_and_styles,
    vendored_libraries_are_served_as_javascript,
    every_ui_file_the_page_names_is_served,
    an_unknown_ui_file_is_404,
    a_current_copy_is_answered_with_304,
    a_cookie_write_from_another_origin_is_refused_and_changes_nothing,
    a_cookie_write_the_browser_marks_cross_site_is_refused,
    a_cookie_write_with_the_ui_header_or_this_origin_passes,
    a_cookie_write_from_no_browser_passes,
    a_bearer_write_is_not_checked_for_origin,
    signing_in_from_another_origin_is_refused,
);

async fn fetch(app: &TestApp, path: &str) -> reqwest::Response {
    app.client.get(app.url(path)).send().await.expect("sent")
}

fn header_of<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("a {name} header"))
        .to_str()
        .expect("ascii")
}

fn assert_security_headers(response: &reqwest::Response) {
    let csp = header_of(response, "content-security-policy");
    let script_src = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("script-src"))
        .expect("a script-src directive");
    assert_eq!(script_src, "script-src 'self'", "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(header_of(response, "x-content-type-options"), "nosniff");
    assert_eq!(header_of(response, "x-frame-options"), "DENY");
    assert_eq!(header_of(response, "referrer-policy"), "same-origin");
}

async fn the_root_serves_the_page_with_a_policy_that_forbids_inline_script(app: TestApp) {
    let response = fetch(&app, "/").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header_of(&response, "content-type").starts_with("text/html"));
    assert_security_headers(&response);
    let html = response.text().await.expect("body");
    assert!(html.starts_with("<!doctype html>"), "{html}");
    assert!(html.contains(r#"<script type="module" src="/ui/app.js"></script>"#));
}

/// Every `<script>` has a `src` on this server (no inline code, no CDN),
/// and so has every stylesheet.
async fn the_page_loads_only_same_origin_scripts_and_styles(app: TestApp) {
    let html = fetch(&app, "/").await.text().await.expect("body");
    let scripts: Vec<&str> = html.split("<script").skip(1).collect();
    assert!(!scripts.is_empty());
    for tag in scripts {
        let (open, rest) = tag.split_once('>').expect("a closed tag");
        assert!(
            open.contains(r#"src="/ui/"#),
            "a script from elsewhere: {open}"
        );
        assert!(rest.starts_with("</script>"), "inline script: {rest}");
    }
    for attr in ["src=\"", "href=\""] {
        for value in html.split(attr).skip(1) {
            let url = value.split('"').next().expect("a value");
            assert!(
                url.starts_with('/') && !url.starts_with("//") || url.starts_with('#'),
                "not same-origin: {url}"
            );
        }
    }
    assert!(!html.contains(" style="), "inline style would be blocked");
    assert!(
        !html.contains(" onclick="),
        "inline handlers would be blocked"
    );
}

async fn vendored_libraries_are_served_as_javascript(app: TestApp) {
    for (path, marker) in [
        ("/ui/vendor/marked.esm.js", "marked v"),
        ("/ui/vendor/purify.es.mjs", "DOMPurify"),
        ("/ui/app.js", "import"),
    ] {
        let response = fetch(&app, path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(
            header_of(&response, "content-type").starts_with("text/javascript"),
            "{path}"
        );
        assert_eq!(header_of(&response, "cache-control"), "no-cache");
        assert_security_headers(&response);
        let body = response.text().await.expect("body");
        assert!(body.contains(marker), "{path}");
    }
    let css = fetch(&app, "/ui/app.css").await;
    assert!(header_of(&css, "content-type").starts_with("text/css"));
}

/// Follows the module graph from the page: every import resolves to a
/// file the server has.
async fn every_ui_file_the_page_names_is_served(app: TestApp) {
    let mut queue = vec!["/ui/app.js".to_owned(), "/ui/app.css".to_owned()];
    let mut seen = std::collections::BTreeSet::new();
    while let Some(path) = queue.pop() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let response = fetch(&app, &path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let body = response.text().await.expect("body");
        if !path.ends_with(".js") || path.contains("/vendor/") {
            continue;
        }
        let dir = &path[..path.rfind('/').expect("a directory") + 1];
        for spec in body.split(" from \"").skip(1) {
            let spec = spec.split('"').next().expect("a specifier");
            assert!(
                spec.starts_with("./") || spec.starts_with("../"),
                "{path}: {spec}"
            );
            queue.push(resolve(dir, spec));
        }
    }
    assert!(seen.contains("/ui/vendor/marked.esm.js"), "{seen:?}");
    assert!(seen.contains("/ui/vendor/purify.es.mjs"), "{seen:?}");
}

fn resolve(dir: &str, spec: &str) -> String {
    let mut parts: Vec<&str> = dir.trim_end_matches('/').split('/').collect();
    for piece in spec.split('/') {
        match piece {
            "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

async fn an_unknown_ui_file_is_404(app: TestApp) {
    for path in [
        "/ui/nope.js",
        "/ui/../Cargo.toml",
        "/ui/vendor/README.md",
        "/ui/index.html",
    ] {
        let response = fetch(&app, path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }
}

async fn a_current_copy_is_answered_with_304(app: TestApp) {
    let first = fetch(&app, "/ui/app.js").await;
    let etag = header_of(&first, "etag").to_owned();
    let again = app
        .client
        .get(app.url("/ui/app.js"))
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .expect("sent");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header_of(&again, "etag"), etag);
}

/// Sets up and signs in with a client that sends no `X-FlowPilot-Request`.
async fn bare_signed_in(app: &TestApp) -> reqwest::Client {
    app.setup("Acme IT", "ada@acme.test").await;
    let bare = TestApp::bare_client();
    let response = bare
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": "ada@acme.test", "password": PASSWORD}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    bare
}

async fn send(
    app: &TestApp,
    client: &reqwest::Client,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, serde_json::Value) {
    let mut request = client
        .request(method, app.url(path))
        .json(&json!({"text": "Printer offline on floor 3", "name": "t"}));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("sent");
    let status = response.status();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or_default())
}

async fn a_cookie_write_from_another_origin_is_refused_and_changes_nothing(app: TestApp) {
    let bare = bare_signed_in(&app).await;
    for (name, value) in [
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("referer", "https://evil.example/attack.html"),
    ] {
        let (status, body) = send(
            &app,
            &bare,
            Method::POST,
            "/api/v1/sessions",
            &[(name, value)],
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}: {value}");
        assert_eq!(body["error"]["code"], "cross_origin_request");
        let message = body["error"]["message"].as_str().expect("message");
        assert!(
            message.contains("X-FlowPilot-Request") || message.contains("x-flowpilot-request"),
            "{message}"
        );
    }
    let (status, _) = send(
        &app,
        &bare,
        Method::POST,
        "/api/v1/auth/logout",
        &[("origin", "https://evil.example")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Reading is not a write: the cookie still works, and nothing was made.
    let (status, list) = app
        .call_with(&bare, Method::GET, "/api/v1/sessions", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"], json!([]));
}

async fn a_cookie_write_the_browser_marks_cross_site_is_refused(app: TestApp) {
    let bare = bare_signed_in(&app).await;
    for site in ["cross-site", "same-site"] {
        let (status, body) = send(
            &app,
            &bare,
            Method::POST,
            "/api/v1/sessions",
            &[("sec-fetch-site", site)],
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{site}");
        assert_eq!(body["error"]["code"], "cross_origin_request");
    }
}

async fn a_cookie_write_with_the_ui_header_or_this_origin_passes(app: TestApp) {
    let bare = bare_signed_in(&app).await;
    let here = format!("http://{}", app.addr);
    let referer = format!("{here}/#/sessions");
    for headers in [
        vec![("x-flowpilot-request", "1")],
        vec![("origin", here.as_str())],
        vec![("referer", referer.as_str())],
        vec![("sec-fetch-site", "same-origin"), ("origin", here.as_str())],
    ] {
        let (status, body) = send(&app, &bare, Method::POST, "/api/v1/sessions", &headers).await;
        assert_eq!(status, StatusCode::CREATED, "{headers:?}: {body}");
    }
    // The test client sends the UI's header on every request.
    let (status, _) = app.login("ada@acme.test", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .post("/api/v1/sessions", json!({"text": "VPN drops"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// curl with a cookie jar sends neither Origin nor Referer: no browser
/// does that on a write, so no page can forge it.
async fn a_cookie_write_from_no_browser_passes(app: TestApp) {
    let bare = bare_signed_in(&app).await;
    let (status, body) = send(&app, &bare, Method::POST, "/api/v1/sessions", &[]).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn a_bearer_write_is_not_checked_for_origin(app: TestApp) {
    let token = app.admin_token().await;
    let plain = reqwest::Client::new();
    let bearer = format!("Bearer {token}");
    let (status, body) = send(
        &app,
        &plain,
        Method::POST,
        "/api/v1/sessions",
        &[
            ("origin", "https://evil.example"),
            ("authorization", bearer.as_str()),
            ("sec-fetch-site", "cross-site"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// Login forgery (signing the victim into the attacker's account) is
/// refused like any other cross-site write.
async fn signing_in_from_another_origin_is_refused(app: TestApp) {
    app.setup("Acme IT", "ada@acme.test").await;
    let response = TestApp::bare_client()
        .post(app.url("/api/v1/auth/login"))
        .header("origin", "https://evil.example")
        .json(&json!({"email": "ada@acme.test", "password": PASSWORD}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.headers().get("set-cookie").is_none());
}
