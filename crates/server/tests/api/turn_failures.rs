//! How turns fail, and that nothing is half-written when they do: provider
//! errors before any text, streams that break after some, database errors
//! while storing, timeouts, one turn at a time, no provider at all.

use llm::fake::{Entry, Fault};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Connection as _;

use crate::chat::ChatApp;
use crate::helpers::{Backend, TestApp};

crate::on_both!(
    a_provider_error_before_any_text_stores_a_failed_turn_and_nothing_else,
    a_stream_that_breaks_after_text_keeps_it_as_an_incomplete_turn,
    a_database_error_while_storing_rolls_the_whole_turn_back,
    a_provider_timeout_answers_504,
    a_second_message_while_a_turn_runs_gets_409,
    without_a_provider_and_no_matching_runbook_the_guide_says_so_plainly,
    a_streamed_turn_that_fails_ends_with_turn_failed,
);

fn server_error(status: u16) -> Entry {
    Entry::fault(Fault::Status {
        status,
        retry_after: None,
        retry_after_ms: None,
        message: None,
    })
}

async fn turns(chat: &ChatApp, session: &str) -> Vec<Value> {
    let (status, body) = chat
        .call(
            Method::GET,
            &format!("/api/v1/sessions/{session}/turns"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().expect("turns").clone()
}

async fn a_provider_error_before_any_text_stores_a_failed_turn_and_nothing_else(backend: Backend) {
    // The first attempt and the one retry both fail.
    let chat = ChatApp::spawn(
        backend,
        vec![server_error(529).times(2), Entry::reply("Back again.")],
    )
    .await;
    let session = chat.new_session("Overloaded").await;
    let before = chat.session(&session).await;
    let (status, body) = chat.send(&session, json!({"text": "hello"})).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "provider_overloaded");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("again")
    );
    assert_eq!(chat.fake.request_count(), 2, "retried once");
    let turns = turns(&chat, &session).await;
    assert_eq!(turns.len(), 1);
    assert_eq!(turns[0]["id"], body["turn_id"]);
    assert_eq!(turns[0]["status"], "failed");
    assert_eq!(turns[0]["display"], "");
    assert_eq!(turns[0]["error"]["code"], "provider_overloaded");
    let after = chat.session(&session).await;
    assert_eq!(
        after["session"]["step_count"],
        before["session"]["step_count"]
    );
    assert_eq!(after["task_lane"], before["task_lane"]);
    assert_eq!(after["facts"], json!([]));
    // The session is free again.
    let next = chat.say(&session, "hello again").await;
    assert_eq!(next["turn"]["display"], "Back again.");
}

async fn a_stream_that_breaks_after_text_keeps_it_as_an_incomplete_turn(backend: Backend) {
    let head = "Here is what I know so far.\n[PROMOTE]\n{\"source_type\": \"ai_synthesis\", \"text\": \"DNS is fine.\"}\n[/PROMOTE]\n[SUGGEST_FIX]\n{\"title\": \"Flush\", \"description\": \"ipconfig /flushdns\", \"confidence\": 50}\n[/SUGGEST_FIX]\n";
    let reply = format!(
        "{head}{}",
        "And then some more prose that never arrives. ".repeat(20)
    );
    let chunk = 16;
    let cut_after = head.len() / chunk + 2;
    let chat = ChatApp::spawn(
        backend,
        vec![Entry::reply(reply).chunks(chunk, 0).with_fault(Fault::Cut {
            cut_after_chunks: cut_after,
        })],
    )
    .await;
    let session = chat.new_session("Broken stream").await;
    let (status, body) = chat.send(&session, json!({"text": "go"})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"]["code"], "provider_stream_broken");
    let turns = turns(&chat, &session).await;
    assert_eq!(turns.len(), 1);
    assert_eq!(turns[0]["id"], body["turn_id"]);
    assert_eq!(turns[0]["status"], "incomplete");
    let display = turns[0]["display"].as_str().expect("display");
    assert!(
        display.starts_with("Here is what I know so far."),
        "{display}"
    );
    assert!(!display.contains('['), "{display}");
    let view = chat.session(&session).await;
    assert_eq!(
        view["facts"],
        json!([]),
        "markers of a broken turn are not applied"
    );
    assert_eq!(view["active_fix"], Value::Null);
    assert_eq!(view["session"]["step_count"], 0);
}

/// Makes every insert into `facts` fail, from outside the server.
async fn break_fact_inserts(db_url: &str, backend: Backend) {
    match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(db_url)
                .await
                .expect("sqlite");
            sqlx::query(
                "CREATE TRIGGER fail_facts BEFORE INSERT ON facts BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
            )
            .execute(&mut conn)
            .await
            .expect("trigger");
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(db_url).await.expect("postgres");
            sqlx::query(
                "CREATE FUNCTION fail_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$",
            )
            .execute(&mut conn)
            .await
            .expect("function");
            sqlx::query(
                "CREATE TRIGGER fail_facts BEFORE INSERT ON facts FOR EACH ROW EXECUTE FUNCTION fail_insert()",
            )
            .execute(&mut conn)
            .await
            .expect("trigger");
        }
    }
}

async fn a_database_error_while_storing_rolls_the_whole_turn_back(backend: Backend) {
    let chat = ChatApp::spawn(
        backend,
        vec![
            Entry::reply("First.\n[QUESTIONS]\n[{\"text\": \"Is it all users?\"}]\n[/QUESTIONS]"),
            Entry::reply(
                "Second.\n[PROMOTE]\n{\"source_type\": \"ai_synthesis\", \"text\": \"It is all users.\"}\n[/PROMOTE]\n[SUGGEST_FIX]\n{\"title\": \"Fix\", \"description\": \"Do it\", \"confidence\": 50}\n[/SUGGEST_FIX]\n[QUESTIONS]\n[{\"text\": \"A new question?\"}]\n[/QUESTIONS]",
            ),
        ],
    )
    .await;
    let session = chat.new_session("Storage failure").await;
    let first = chat.say(&session, "one").await;
    break_fact_inserts(&chat.app.db_url, backend).await;
    let (status, body) = chat.send(&session, json!({"text": "two"})).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(body["error"]["code"], "storage_failed");
    assert!(
        !body.to_string().contains("injected"),
        "internals are not shown: {body}"
    );
    let view = chat.session(&session).await;
    assert_eq!(
        view["task_lane"], first["task_lane"],
        "the lane is as before"
    );
    assert_eq!(view["facts"], json!([]));
    assert_eq!(view["active_fix"], Value::Null);
    assert_eq!(view["session"]["step_count"], 1);
    let (_, fixes) = chat
        .call(
            Method::GET,
            &format!("/api/v1/sessions/{session}/fixes"),
            None,
        )
        .await;
    assert_eq!(fixes["items"], json!([]));
    let turns = turns(&chat, &session).await;
    assert_eq!(turns.len(), 2);
    assert_eq!(turns[1]["id"], body["turn_id"]);
    assert_eq!(turns[1]["status"], "failed");
    assert_eq!(turns[1]["display"], "Second.", "the answer is not lost");
}

async fn a_provider_timeout_answers_504(backend: Backend) {
    let chat = ChatApp::spawn_with(
        backend,
        vec![
            Entry::reply("late")
                .with_fault(Fault::StallFirst {
                    stall_before_first_chunk_ms: 5_000,
                })
                .times(2),
        ],
        &["--llm-first-token-timeout-secs", "1"],
    )
    .await;
    let session = chat.new_session("Slow model").await;
    let (status, body) = chat.send(&session, json!({"text": "hello"})).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert_eq!(body["error"]["code"], "provider_timeout");
    assert_eq!(turns(&chat, &session).await[0]["status"], "failed");
}

async fn a_second_message_while_a_turn_runs_gets_409(backend: Backend) {
    let chat = ChatApp::spawn(
        backend,
        vec![Entry::reply("Slow answer.").with_fault(Fault::StallFirst {
            stall_before_first_chunk_ms: 1_500,
        })],
    )
    .await;
    let session = chat.new_session("Double send").await;
    let first = {
        let client = chat.app.client.clone();
        let url = chat
            .app
            .url(&format!("/api/v1/sessions/{session}/messages"));
        let token = chat.token.clone();
        tokio::spawn(async move {
            let r = client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"text": "first"}))
                .send()
                .await
                .expect("sent");
            (r.status(), r.json::<Value>().await.expect("json"))
        })
    };
    for _ in 0..100 {
        if chat.fake.request_count() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        chat.fake.request_count(),
        1,
        "the first turn reached the provider"
    );
    let (status, body) = chat.send(&session, json!({"text": "second"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("still being written")
    );
    let (status, body) = first.await.expect("first send");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["turn"]["display"], "Slow answer.");
    assert_eq!(
        turns(&chat, &session).await.len(),
        1,
        "the refused message left no turn"
    );
}

async fn without_a_provider_and_no_matching_runbook_the_guide_says_so_plainly(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let token = app.admin_token().await;
    let (_, created) = app
        .call(
            Method::POST,
            "/api/v1/sessions",
            Some(json!({"text": "No model"})),
            Some(&token),
        )
        .await;
    let id = created["session"]["id"].as_str().expect("id");
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/api/v1/sessions/{id}/messages"),
            Some(json!({"text": "hello"})),
            Some(&token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let display = body["turn"]["display"].as_str().expect("display");
    assert!(
        display.contains("FLOWPILOT_LLM_PROVIDER"),
        "how to set a model: {display}"
    );
    assert!(display.contains("no runbook"), "{display}");
    assert_eq!(body["task_lane"], json!({"questions": [], "actions": []}));
    let missing = uuid::Uuid::now_v7();
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/api/v1/sessions/{missing}/messages"),
            Some(json!({"text": "hello"})),
            Some(&token),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a missing session is 404 first"
    );
}

async fn a_streamed_turn_that_fails_ends_with_turn_failed(backend: Backend) {
    let chat = ChatApp::spawn(backend, vec![server_error(401)]).await;
    let session = chat.new_session("Bad key").await;
    let (status, _, events) = chat
        .send_streaming(&session, json!({"text": "hello"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = events.iter().map(|(_, e, _)| e.as_str()).collect();
    assert_eq!(names, ["turn.started", "turn.failed"]);
    let failed = &events[1].2;
    assert_eq!(failed["error"]["code"], "provider_auth");
    assert_eq!(failed["turn_id"], events[0].2["turn_id"]);
    assert!(
        failed["error"]["message"]
            .as_str()
            .expect("message")
            .contains("API key")
    );
}

#[tokio::test]
async fn a_turn_left_running_by_a_stopped_sqlite_instance_is_failed_at_start() {
    let chat = ChatApp::spawn(Backend::Sqlite, vec![Entry::reply("Answer.")]).await;
    let session = chat.new_session("Restart").await;
    // What a process killed mid-turn leaves behind: a running turn whose
    // lease has not run out yet.
    let mut conn = sqlx::SqliteConnection::connect(&chat.app.db_url)
        .await
        .expect("sqlite");
    sqlx::query(
        "INSERT INTO turns (id, account_id, session_id, status, user_message, created_at, lease_until_ms) \
         SELECT randomblob(16), account_id, id, 'running', 'cut off', created_at, 9000000000000000 FROM sessions",
    )
    .execute(&mut conn)
    .await
    .expect("a running turn");
    let (status, _) = chat.send(&session, json!({"text": "blocked"})).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "the left-over turn blocks the session"
    );

    let restarted = chat.app.spawn_another(&[]).await;
    let (status, body) = restarted
        .call(
            Method::GET,
            &format!("/api/v1/sessions/{session}/turns"),
            None,
            Some(&chat.token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"][0]["status"], "failed");
    assert_eq!(body["items"][0]["error"]["code"], "server_restarted");
    let next = chat.say(&session, "again").await;
    assert_eq!(next["turn"]["display"], "Answer.");
}
