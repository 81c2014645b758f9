//! Two server instances on one PostgreSQL database, as behind a load
//! balancer: events, the one-turn rule, Stop and re-attach work across them.

use std::time::{Duration, Instant};

use llm::fake::Entry;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::chat::{ChatApp, SseReader, deltas};
use crate::helpers::Backend;

const REPLY: &str = "Both instances share the event log, so a browser connected to either \
sees every delta of a turn that the other one runs, in order and exactly once.";

async fn two_instances(entries: Vec<Entry>) -> (ChatApp, crate::helpers::TestApp) {
    let a = ChatApp::spawn(Backend::Postgres, entries).await;
    let b = a.another_instance(&[]).await;
    (a, b)
}

#[tokio::test]
async fn a_turn_sent_through_one_instance_streams_live_on_the_other() {
    let (a, b) = two_instances(vec![Entry::reply(REPLY).chunks(8, 10)]).await;
    let session = a.new_session("Printer offline").await;
    let mut on_b = a.events_on(&b, &session, None).await;
    let mut on_a = a.stream_send(&session, json!({"text": "go"}), None).await;
    let sent = on_a.until("turn.completed").await;
    let seen = on_b.until("turn.completed").await;
    assert_eq!(seen, sent, "the same events with the same ids");
    assert_eq!(deltas(&seen), REPLY);
}

#[tokio::test]
async fn only_one_turn_runs_per_session_across_instances() {
    let (a, b) = two_instances(vec![Entry::reply(REPLY).chunks(8, 20)]).await;
    let session = a.new_session("Printer offline").await;
    let mut on_a = a
        .stream_send(&session, json!({"text": "first"}), None)
        .await;
    on_a.next().await.expect("turn.started");
    let (status, body) = b
        .call(
            Method::POST,
            &format!("/api/v1/sessions/{session}/messages"),
            Some(json!({"text": "second"})),
            Some(&a.token),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "turn_in_progress");
    on_a.until("turn.completed").await;
    assert_eq!(a.fake.request_count(), 1);
}

#[tokio::test]
async fn stop_through_the_other_instance_ends_the_turn_at_once() {
    let (a, b) = two_instances(vec![Entry::reply(REPLY.repeat(4)).chunks(5, 30)]).await;
    let session = a.new_session("Printer offline").await;
    let mut on_a = a.stream_send(&session, json!({"text": "go"}), None).await;
    let mut seen = Vec::new();
    while deltas(&seen).len() < 20 {
        seen.push(on_a.next().await.expect("an event"));
    }
    let asked = Instant::now();
    let (status, body) = b
        .call(
            Method::POST,
            &format!("/api/v1/sessions/{session}/stop"),
            None,
            Some(&a.token),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    seen.extend(on_a.until("turn.completed").await);
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
    let completed = &seen.last().expect("completed").2;
    assert_eq!(completed["turn"]["status"], "stopped");
    assert_eq!(
        deltas(&seen),
        completed["turn"]["display"].as_str().expect("display")
    );
    assert!(a.fake.wait_for_disconnects(1, Duration::from_secs(2)).await);
}

#[tokio::test]
async fn a_stream_dropped_on_one_instance_resumes_on_the_other() {
    let (a, b) = two_instances(vec![Entry::reply(REPLY).chunks(6, 15)]).await;
    let session = a.new_session("Printer offline").await;
    let mut on_a = a.stream_send(&session, json!({"text": "go"}), None).await;
    let mut before = Vec::new();
    while deltas(&before).len() < 25 {
        before.push(on_a.next().await.expect("an event"));
    }
    let last = before.last().expect("event").0.clone();
    drop(on_a);
    let mut on_b: SseReader = a.events_on(&b, &session, Some(&last)).await;
    let after = on_b.until("turn.completed").await;
    let display = after.last().expect("completed").2["turn"]["display"]
        .as_str()
        .expect("display")
        .to_owned();
    assert_eq!(format!("{}{}", deltas(&before), deltas(&after)), display);
    assert_eq!(display, REPLY);
}

#[tokio::test]
async fn idempotency_keys_hold_across_instances() {
    let (a, b) = two_instances(vec![Entry::reply("Done.").repeating()]).await;
    let session = a.new_session("Printer offline").await;
    let mut answers = Vec::new();
    for app in [&a.app, &b] {
        let response = app
            .client
            .post(app.url(&format!("/api/v1/sessions/{session}/messages")))
            .bearer_auth(&a.token)
            .header("idempotency-key", "same")
            .json(&json!({"text": "go"}))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::OK);
        answers.push(response.json::<serde_json::Value>().await.expect("JSON"));
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(a.fake.request_count(), 1);
}

#[tokio::test]
async fn a_flow_written_through_one_instance_is_found_by_the_next_search_on_the_other() {
    let (a, b) = two_instances(vec![]).await;
    let search = |app: &crate::helpers::TestApp, q: &str| {
        let url = app.url(&format!("/api/v1/flows/search?q={q}"));
        let client = app.client.clone();
        let token = a.token.clone();
        async move {
            let body: serde_json::Value = client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("sent")
                .json()
                .await
                .expect("JSON");
            body["items"].as_array().map(Vec::len).unwrap_or(0)
        }
    };
    assert_eq!(search(&b, "spooler").await, 0, "b has built its index");
    let (status, _) = a
        .call(
            Method::POST,
            "/api/v1/flows",
            Some(
                json!({"title": "Print spooler keeps crashing", "body": "Clear the spool folder."}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        search(&b, "spooler").await,
        1,
        "found on the other instance at once"
    );
}
