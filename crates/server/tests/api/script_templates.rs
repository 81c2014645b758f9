//! Script templates through the HTTP API, on both backends.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::TestApp;

crate::on_both_backends!(
    an_engineer_creates_lists_gets_updates_and_deletes_templates,
    a_template_renders_with_its_parameters_and_names_the_missing_ones,
    a_taken_slug_is_a_conflict_and_a_derived_one_steps_aside,
    invalid_slugs_languages_and_bodies_are_refused_naming_the_rule,
    another_accounts_templates_answer_like_missing_ones,
    templates_need_a_signed_in_user,
    every_template_route_is_in_the_openapi_document,
);

const TEMPLATES: &str = "/api/v1/script-templates";

fn restart_spooler() -> Value {
    json!({
        "name": "Restart the print spooler",
        "language": "powershell",
        "body": "Restart-Service -Name {{ service }} -ComputerName {{host}}\n# {{service}} again",
        "description": "When jobs are stuck in the queue.",
    })
}

/// Creates a template as `bearer`; returns its JSON object.
async fn create(app: &TestApp, bearer: &str, body: Value) -> Value {
    let (status, answer) = app
        .call(Method::POST, TEMPLATES, Some(body), Some(bearer))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    answer["script_template"].clone()
}

fn id_of(template: &Value) -> String {
    template["id"].as_str().expect("an id").to_owned()
}

async fn an_engineer_creates_lists_gets_updates_and_deletes_templates(app: TestApp) {
    let admin = app.admin_token().await;
    let engineer = app.user_token(&admin, "eve@acme.test", "engineer").await;

    let spooler = create(&app, &engineer, restart_spooler()).await;
    assert_eq!(spooler["slug"], "restart-the-print-spooler");
    assert_eq!(spooler["language"], "powershell");
    assert_eq!(spooler["parameters"], json!(["service", "host"]));
    assert_eq!(spooler["description"], "When jobs are stuck in the queue.");
    assert!(spooler["updated_at"].is_string(), "{spooler}");
    let flush = create(
        &app,
        &admin,
        json!({"slug": "flush-dns", "name": "a DNS flush", "language": "cmd", "body": "ipconfig /flushdns"}),
    )
    .await;
    assert_eq!(flush["description"], "");
    assert_eq!(flush["parameters"], json!([]));

    let (status, list) = app
        .call(Method::GET, TEMPLATES, None, Some(&engineer))
        .await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<_> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| t["name"].clone())
        .collect();
    assert_eq!(names, ["a DNS flush", "Restart the print spooler"]);
    assert_eq!(list["next_cursor"], Value::Null);

    let path = format!("{TEMPLATES}/{}", id_of(&spooler));
    let (status, got) = app.call(Method::GET, &path, None, Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["script_template"], spooler);

    let replaced = json!({"name": "Restart a service", "language": "PowerShell", "body": "Restart-Service {{name}}"});
    let (status, updated) = app
        .call(Method::PUT, &path, Some(replaced), Some(&engineer))
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    let updated = &updated["script_template"];
    assert_eq!(updated["slug"], spooler["slug"], "kept without a new slug");
    assert_eq!(updated["name"], "Restart a service");
    assert_eq!(updated["language"], "powershell");
    assert_eq!(updated["parameters"], json!(["name"]));
    assert_eq!(updated["description"], "");

    let reslug = json!({"slug": "restart-service", "name": "Restart a service", "language": "powershell", "body": "x"});
    let (status, updated) = app
        .call(Method::PUT, &path, Some(reslug), Some(&engineer))
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["script_template"]["slug"], "restart-service");

    let (status, _) = app.call(Method::DELETE, &path, None, Some(&engineer)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.call(Method::GET, &path, None, Some(&engineer)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.call(Method::DELETE, &path, None, Some(&engineer)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "deleted once");
}

async fn a_template_renders_with_its_parameters_and_names_the_missing_ones(app: TestApp) {
    let admin = app.admin_token().await;
    let template = create(&app, &admin, restart_spooler()).await;
    let path = format!("{TEMPLATES}/{}/render", id_of(&template));

    let values =
        json!({"parameters": {"service": "Spooler", "host": "PC-01 \"x\"", "extra": "ignored"}});
    let (status, rendered) = app
        .call(Method::POST, &path, Some(values), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{rendered}");
    assert_eq!(
        rendered,
        json!({"script": "Restart-Service -Name Spooler -ComputerName PC-01 \"x\"\n# Spooler again"})
    );

    for body in [json!({"parameters": {"extra": "x"}}), json!({})] {
        let (status, answer) = app
            .call(Method::POST, &path, Some(body), Some(&admin))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        let message = answer["error"]["message"].as_str().expect("message");
        assert!(
            message.contains("service") && message.contains("host"),
            "{message}"
        );
        assert_eq!(
            answer["error"]["missing_parameters"],
            json!(["service", "host"])
        );
    }
    let (status, answer) = app
        .call(
            Method::POST,
            &path,
            Some(json!({"parameters": {"service": "Spooler"}})),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer["error"]["missing_parameters"], json!(["host"]));
}

async fn a_taken_slug_is_a_conflict_and_a_derived_one_steps_aside(app: TestApp) {
    let admin = app.admin_token().await;
    let first = create(&app, &admin, restart_spooler()).await;
    let second = create(&app, &admin, restart_spooler()).await;
    assert_eq!(second["slug"], "restart-the-print-spooler-2");

    let mut taken = restart_spooler();
    taken["slug"] = json!("restart-the-print-spooler");
    let (status, answer) = app
        .call(Method::POST, TEMPLATES, Some(taken.clone()), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["error"]["code"], "slug_taken");
    let message = answer["error"]["message"].as_str().expect("message");
    assert!(
        message.contains("slug") && message.contains("restart-the-print-spooler"),
        "{message}"
    );

    let path = format!("{TEMPLATES}/{}", id_of(&second));
    let (status, _) = app
        .call(Method::PUT, &path, Some(taken), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "renaming onto a taken slug");
    let (_, list) = app.call(Method::GET, TEMPLATES, None, Some(&admin)).await;
    assert_eq!(list["items"].as_array().expect("items").len(), 2);
    assert_eq!(list["items"][0]["id"], first["id"], "ties sort by creation");

    let other = app
        .other_account_token("Other MSP", "olga@other.test")
        .await;
    let theirs = create(&app, &other, restart_spooler()).await;
    assert_eq!(
        theirs["slug"], "restart-the-print-spooler",
        "slugs are unique per account"
    );
}

async fn invalid_slugs_languages_and_bodies_are_refused_naming_the_rule(app: TestApp) {
    let admin = app.admin_token().await;
    let cases = [
        ("slug", json!("Restart Spooler"), "lowercase letters"),
        ("slug", json!("a--b"), "single hyphens"),
        ("slug", json!(""), "1 to 64"),
        ("language", json!("power shell"), "lowercase letters"),
        ("language", json!(""), "1 to 32"),
        ("body", json!("  \n"), "must not be empty"),
        ("body", json!("x".repeat(64 * 1024 + 1)), "64 KiB"),
        ("name", json!(" "), "must not be empty"),
    ];
    for (field, value, rule) in cases {
        let mut body = restart_spooler();
        body[field] = value;
        let (status, answer) = app
            .call(Method::POST, TEMPLATES, Some(body), Some(&admin))
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {answer}"
        );
        assert_eq!(answer["error"]["code"], "invalid");
        let message = answer["error"]["message"].as_str().expect("message");
        assert!(
            message.starts_with(field) && message.contains(rule),
            "{field}: {message}"
        );
    }
    let (status, _) = app
        .call(
            Method::POST,
            TEMPLATES,
            Some(json!({"name": "no body", "language": "bash"})),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a missing field");
    let (_, list) = app.call(Method::GET, TEMPLATES, None, Some(&admin)).await;
    assert_eq!(list["items"], json!([]), "nothing was created");
}

async fn another_accounts_templates_answer_like_missing_ones(app: TestApp) {
    let admin = app.admin_token().await;
    let other = app
        .other_account_token("Other MSP", "olga@other.test")
        .await;
    let ours = id_of(&create(&app, &admin, restart_spooler()).await);
    let missing = "0195f1c4-0000-7000-8000-000000000000";
    let render = json!({"parameters": {"service": "s", "host": "h"}});
    let routes = [
        (Method::GET, "", None),
        (Method::PUT, "", Some(restart_spooler())),
        (Method::POST, "/render", Some(render)),
        (Method::DELETE, "", None),
    ];
    for (method, suffix, body) in routes {
        let theirs_path = format!("{TEMPLATES}/{ours}{suffix}");
        let (theirs, theirs_body) = app
            .call(method.clone(), &theirs_path, body.clone(), Some(&other))
            .await;
        let missing_path = format!("{TEMPLATES}/{missing}{suffix}");
        let (absent, absent_body) = app
            .call(method.clone(), &missing_path, body, Some(&other))
            .await;
        assert_eq!(theirs, StatusCode::NOT_FOUND, "{method} {theirs_path}");
        assert_eq!(absent, StatusCode::NOT_FOUND, "{method} {missing_path}");
        assert_eq!(theirs_body, absent_body, "indistinguishable from missing");
    }
    let (_, list) = app.call(Method::GET, TEMPLATES, None, Some(&other)).await;
    assert_eq!(list["items"], json!([]));
    let (status, still) = app
        .call(
            Method::GET,
            &format!("{TEMPLATES}/{ours}"),
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "untouched by the other account");
    assert_eq!(
        still["script_template"]["name"],
        "Restart the print spooler"
    );
}

async fn templates_need_a_signed_in_user(app: TestApp) {
    let admin = app.admin_token().await;
    let id = id_of(&create(&app, &admin, restart_spooler()).await);
    let anonymous = TestApp::new_client();
    let one = format!("{TEMPLATES}/{id}");
    let render = format!("{one}/render");
    let routes = [
        (Method::GET, TEMPLATES, None),
        (Method::POST, TEMPLATES, Some(restart_spooler())),
        (Method::GET, one.as_str(), None),
        (Method::PUT, one.as_str(), Some(restart_spooler())),
        (Method::DELETE, one.as_str(), None),
        (
            Method::POST,
            render.as_str(),
            Some(json!({"parameters": {}})),
        ),
    ];
    for (method, path, body) in routes {
        let (status, answer) = app
            .call_with(&anonymous, method.clone(), path, body, None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(answer["error"]["code"], "unauthenticated");
    }
}

async fn every_template_route_is_in_the_openapi_document(app: TestApp) {
    let (status, doc) = app.get("/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let paths = &doc["paths"];
    for (path, methods) in [
        ("/api/v1/script-templates", &["get", "post"][..]),
        ("/api/v1/script-templates/{id}", &["get", "put", "delete"]),
        ("/api/v1/script-templates/{id}/render", &["post"]),
    ] {
        for method in methods {
            assert!(paths[path][method].is_object(), "{method} {path}");
        }
    }
}
