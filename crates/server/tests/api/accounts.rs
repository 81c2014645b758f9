//! Users, roles, teams, and the wall between accounts.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp};

crate::on_both_backends!(
    an_admin_creates_users_and_an_engineer_may_not,
    an_email_is_unique_across_accounts,
    another_accounts_ids_answer_like_missing_ids,
    admins_manage_teams_and_their_members,
);

async fn an_admin_creates_users_and_an_engineer_may_not(app: TestApp) {
    let admin = app.admin_token().await;
    let engineer = app.user_token(&admin, "eve@acme.test", "engineer").await;
    let (status, me) = app
        .call(Method::GET, "/api/v1/me", None, Some(&engineer))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user"]["role"], "engineer");

    let body =
        json!({"email": "mal@acme.test", "name": "Mal", "password": PASSWORD, "role": "admin"});
    let (status, answer) = app
        .call(
            Method::POST,
            "/api/v1/users",
            Some(body.clone()),
            Some(&engineer),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_eq!(answer["error"]["code"], "forbidden");
    let (status, _) = app.login("mal@acme.test", PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "nothing was created");

    let bad_role =
        json!({"email": "x@acme.test", "name": "X", "password": PASSWORD, "role": "root"});
    let (status, _) = app
        .call(Method::POST, "/api/v1/users", Some(bad_role), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (status, list) = app
        .call(Method::GET, "/api/v1/users", None, Some(&engineer))
        .await;
    assert_eq!(status, StatusCode::OK);
    let emails: Vec<_> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|u| u["email"].clone())
        .collect();
    assert_eq!(emails, [json!("ada@acme.test"), json!("eve@acme.test")]);
}

async fn an_email_is_unique_across_accounts(app: TestApp) {
    let admin = app.admin_token().await;
    let other = app
        .other_account_token("Other MSP", "olga@other.test")
        .await;
    for (bearer, email) in [(&admin, "OLGA@other.test"), (&other, "ada@acme.test")] {
        let body = json!({"email": email, "name": "Dup", "password": PASSWORD, "role": "engineer"});
        let (status, answer) = app
            .call(Method::POST, "/api/v1/users", Some(body), Some(bearer))
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    }
}

async fn another_accounts_ids_answer_like_missing_ids(app: TestApp) {
    let admin = app.admin_token().await;
    let other = app
        .other_account_token("Other MSP", "olga@other.test")
        .await;
    let (_, me) = app
        .call(Method::GET, "/api/v1/me", None, Some(&admin))
        .await;
    let ada_id = me["user"]["id"].as_str().expect("id").to_owned();
    let (_, team) = app
        .call(
            Method::POST,
            "/api/v1/teams",
            Some(json!({"name": "Service desk"})),
            Some(&admin),
        )
        .await;
    let team_id = team["team"]["id"].as_str().expect("team id").to_owned();
    let missing = "0195f1c4-0000-7000-8000-000000000000";

    let paths = [
        (Method::GET, format!("/api/v1/users/{ada_id}")),
        (Method::GET, format!("/api/v1/teams/{team_id}/members")),
        (
            Method::PUT,
            format!("/api/v1/teams/{team_id}/members/{ada_id}"),
        ),
        (
            Method::DELETE,
            format!("/api/v1/teams/{team_id}/members/{ada_id}"),
        ),
    ];
    for (method, path) in paths {
        let (theirs, body_theirs) = app.call(method.clone(), &path, None, Some(&other)).await;
        let missing_path = path.replace(&ada_id, missing).replace(&team_id, missing);
        let (absent, body_absent) = app
            .call(method.clone(), &missing_path, None, Some(&other))
            .await;
        assert_eq!(
            theirs,
            StatusCode::NOT_FOUND,
            "{method} {path}: {body_theirs}"
        );
        assert_eq!(absent, StatusCode::NOT_FOUND, "{method} {missing_path}");
        assert_eq!(body_theirs, body_absent, "indistinguishable from missing");
    }
    let (_, users) = app
        .call(Method::GET, "/api/v1/users", None, Some(&other))
        .await;
    assert_eq!(
        users["items"].as_array().expect("items").len(),
        1,
        "only their own admin: {users}"
    );
    let (_, teams) = app
        .call(Method::GET, "/api/v1/teams", None, Some(&other))
        .await;
    assert_eq!(teams["items"], json!([]));
}

async fn admins_manage_teams_and_their_members(app: TestApp) {
    let admin = app.admin_token().await;
    let engineer = app.user_token(&admin, "eve@acme.test", "engineer").await;
    let (_, eve) = app
        .call(Method::GET, "/api/v1/me", None, Some(&engineer))
        .await;
    let eve_id = eve["user"]["id"].as_str().expect("id").to_owned();

    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/teams",
            Some(json!({"name": "Nope"})),
            Some(&engineer),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, team) = app
        .call(
            Method::POST,
            "/api/v1/teams",
            Some(json!({"name": "Service desk"})),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{team}");
    let team_id = team["team"]["id"].as_str().expect("id").to_owned();
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/teams",
            Some(json!({"name": "Service desk"})),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let member_path = format!("/api/v1/teams/{team_id}/members/{eve_id}");
    let (status, _) = app
        .call(Method::PUT, &member_path, None, Some(&engineer))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for _ in 0..2 {
        let (status, _) = app
            .call(Method::PUT, &member_path, None, Some(&admin))
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "adding twice is fine");
    }
    let members_path = format!("/api/v1/teams/{team_id}/members");
    let (_, members) = app
        .call(Method::GET, &members_path, None, Some(&engineer))
        .await;
    assert_eq!(members["items"].as_array().expect("items").len(), 1);
    assert_eq!(members["items"][0]["email"], "eve@acme.test");
    let (status, _) = app
        .call(Method::DELETE, &member_path, None, Some(&admin))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .call(Method::DELETE, &member_path, None, Some(&admin))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
