//! Turns that survive dropped connections, retries, Stop, long sessions and
//! concurrent senders, through HTTP against the fake provider, on both
//! backends.

use std::time::{Duration, Instant};

use llm::fake::Entry;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::chat::{ChatApp, deltas, system_text, user_texts};
use crate::helpers::Backend;

crate::on_both!(
    a_client_that_drops_the_stream_re_attaches_with_last_event_id_and_misses_nothing,
    a_turn_completes_and_is_stored_with_no_client_connected,
    fifty_concurrent_sends_to_one_session_accept_exactly_one,
    stop_ends_the_turn_at_once_keeps_its_text_and_applies_no_marker,
    a_retried_send_with_the_same_idempotency_key_gets_the_first_answer,
    a_retry_while_the_turn_runs_waits_for_it_or_attaches_to_its_stream,
    a_retried_session_create_with_the_same_key_makes_one_session,
    a_session_longer_than_the_context_window_folds_its_oldest_turns,
    a_very_long_sessions_summary_keeps_its_newest_lines_within_its_cap,
    event_streams_tell_proxies_not_to_buffer_and_send_heartbeats,
    every_change_outside_a_turn_is_a_session_changed_event,
    stop_with_no_turn_running_is_a_conflict,
);

const LONG_REPLY: &str = "First, check whether the print spooler service is running on the PC. \
Then look at the printer's own status page: if it says ready but Windows shows it offline, \
the port monitor is usually at fault. SNMP status checks often fail across VLANs.";

fn slow(reply: &str) -> Entry {
    Entry::reply(reply).chunks(6, 15)
}

async fn a_client_that_drops_the_stream_re_attaches_with_last_event_id_and_misses_nothing(
    backend: Backend,
) {
    let chat = ChatApp::spawn(backend, vec![slow(LONG_REPLY)]).await;
    let session = chat.new_session("Printer offline on one PC").await;
    let mut stream = chat
        .stream_send(&session, json!({"text": "It says ready"}), None)
        .await;
    let mut before = vec![stream.next().await.expect("turn.started")];
    assert_eq!(before[0].1, "turn.started");
    while deltas(&before).len() < 20 {
        before.push(stream.next().await.expect("a delta"));
    }
    let last_seen = before.last().expect("an event").0.clone();
    drop(stream);

    let mut resumed = chat.events_on(&chat.app, &session, Some(&last_seen)).await;
    let after = resumed.until("turn.completed").await;
    let completed = &after.last().expect("completed").2;
    assert_eq!(completed["turn"]["status"], "completed");
    assert_eq!(
        format!("{}{}", deltas(&before), deltas(&after)),
        completed["turn"]["display"].as_str().expect("display"),
        "the deltas before and after the drop add up to the stored display"
    );
    let ids: Vec<i64> = before
        .iter()
        .chain(&after)
        .map(|(id, _, _)| id.parse().expect("numeric id"))
        .collect();
    assert!(
        ids.windows(2).all(|w| w[1] == w[0] + 1),
        "nothing lost or repeated: {ids:?}"
    );
}

async fn a_turn_completes_and_is_stored_with_no_client_connected(backend: Backend) {
    let chat = ChatApp::spawn(backend, vec![slow(LONG_REPLY)]).await;
    let session = chat.new_session("Printer offline").await;
    let mut stream = chat
        .stream_send(&session, json!({"text": "go"}), None)
        .await;
    let (started_id, name, _) = stream.next().await.expect("turn.started");
    assert_eq!(name, "turn.started");
    drop(stream);

    // Nobody watches; later, a client asks for everything since the start.
    let mut later = chat.events_on(&chat.app, &session, Some(&started_id)).await;
    let events = later.until("turn.completed").await;
    assert_eq!(
        chat.fake.disconnects(),
        0,
        "the provider stream ran to its end"
    );
    let (_, turns) = chat
        .call(
            Method::GET,
            &format!("/api/v1/sessions/{session}/turns"),
            None,
        )
        .await;
    assert_eq!(turns["items"][0]["status"], "completed");
    assert_eq!(turns["items"][0]["display"], LONG_REPLY);
    assert_eq!(deltas(&events), LONG_REPLY);
}

async fn fifty_concurrent_sends_to_one_session_accept_exactly_one(backend: Backend) {
    let reply = "Checking.\n[QUESTIONS]\n[{\"text\": \"Which floor?\"}]\n[/QUESTIONS]";
    // The reply holds back for 3 s: every send arrives while it runs.
    let entry = Entry::reply(reply).with_fault(llm::fake::Fault::StallFirst {
        stall_before_first_chunk_ms: 3_000,
    });
    let chat = ChatApp::spawn(backend, vec![entry]).await;
    let session = chat.new_session("Printer offline").await;
    let sends = (0..50).map(|i| {
        let client = chat.app.client.clone();
        let url = chat
            .app
            .url(&format!("/api/v1/sessions/{session}/messages"));
        let token = chat.token.clone();
        tokio::spawn(async move {
            let response = client
                .post(url)
                .bearer_auth(token)
                .json(&json!({ "text": format!("attempt {i}") }))
                .send()
                .await
                .expect("sent");
            let status = response.status();
            let body: Value = response.json().await.expect("JSON");
            (status, body)
        })
    });
    let answers = futures::future::join_all(sends).await;
    let mut ok = 0;
    for answer in answers {
        let (status, body) = answer.expect("task");
        match status {
            StatusCode::OK => ok += 1,
            StatusCode::CONFLICT => assert_eq!(body["error"]["code"], "turn_in_progress"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(ok, 1, "exactly one send is accepted");
    assert_eq!(chat.fake.request_count(), 1);
    let (_, turns) = chat
        .call(
            Method::GET,
            &format!("/api/v1/sessions/{session}/turns"),
            None,
        )
        .await;
    assert_eq!(turns["items"].as_array().map(Vec::len), Some(1));
    let view = chat.session(&session).await;
    assert_eq!(view["session"]["step_count"], 1);
    assert_eq!(view["task_lane"]["questions"][0]["text"], "Which floor?");
}

async fn stop_ends_the_turn_at_once_keeps_its_text_and_applies_no_marker(backend: Backend) {
    let reply = format!(
        "{LONG_REPLY}\n[PROMOTE]\n{{\"source_type\": \"ai_synthesis\", \"text\": \"SNMP fails across VLANs.\"}}\n[/PROMOTE]\n[SUGGEST_FIX]\n{{\"title\": \"Disable SNMP status\", \"description\": \"On the port.\", \"confidence\": 70}}\n[/SUGGEST_FIX]"
    );
    // About 80 chunks, 30 ms apart: a few seconds of reply.
    let chat = ChatApp::spawn(backend, vec![Entry::reply(reply.clone()).chunks(5, 30)]).await;
    let session = chat.new_session("Printer offline").await;
    let mut stream = chat
        .stream_send(&session, json!({"text": "go"}), None)
        .await;
    let mut seen = Vec::new();
    while deltas(&seen).len() < 30 {
        seen.push(stream.next().await.expect("an event"));
    }
    let asked = Instant::now();
    let (status, body) = chat
        .call(
            Method::POST,
            &format!("/api/v1/sessions/{session}/stop"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["turn_id"], seen[0].2["turn_id"]);
    seen.extend(stream.until("turn.completed").await);
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "the stream ended {:?} after Stop",
        asked.elapsed()
    );
    assert!(stream.next().await.is_none(), "the turn's stream ends");
    let completed = &seen.last().expect("completed").2;
    assert_eq!(completed["turn"]["status"], "stopped");
    let display = completed["turn"]["display"].as_str().expect("display");
    assert!(
        !display.is_empty() && LONG_REPLY.starts_with(display),
        "{display}"
    );
    assert_eq!(deltas(&seen), display);
    assert!(
        chat.fake
            .wait_for_disconnects(1, Duration::from_secs(2))
            .await,
        "the provider request was cancelled"
    );
    let total_chunks = reply.len().div_ceil(5);
    assert!(
        chat.fake.chunks_sent() < total_chunks,
        "no more of the reply was generated"
    );

    let view = chat.session(&session).await;
    assert_eq!(view["facts"], json!([]), "no marker applied");
    assert_eq!(view["active_fix"], Value::Null);
    assert_eq!(view["session"]["step_count"], 0);
    chat.fake.push(vec![Entry::reply("Next answer.")]);
    let next = chat.say(&session, "and now?").await;
    assert_eq!(
        next["turn"]["display"], "Next answer.",
        "the session is free again"
    );
}

async fn a_retried_send_with_the_same_idempotency_key_gets_the_first_answer(backend: Backend) {
    let chat = ChatApp::spawn(
        backend,
        vec![Entry::reply("Restart the spooler.").repeating()],
    )
    .await;
    let session = chat.new_session("Printer offline").await;
    let send = |key: &'static str, text: &'static str| {
        let client = chat.app.client.clone();
        let url = chat
            .app
            .url(&format!("/api/v1/sessions/{session}/messages"));
        let token = chat.token.clone();
        async move {
            let response = client
                .post(url)
                .bearer_auth(token)
                .header("idempotency-key", key)
                .json(&json!({ "text": text }))
                .send()
                .await
                .expect("sent");
            let status = response.status();
            (status, response.json::<Value>().await.expect("JSON"))
        }
    };
    let (status, first) = send("key-1", "What now?").await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (status, again) = send("key-1", "What now?").await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again, first, "the first answer, exactly");
    assert_eq!(chat.fake.request_count(), 1, "no second turn");

    let (status, reused) = send("key-1", "Something else").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{reused}");
    assert!(
        reused["error"]["message"]
            .as_str()
            .expect("message")
            .contains("Idempotency-Key")
    );

    let (status, other) = send("key-2", "What now?").await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(
        other["turn"]["id"], first["turn"]["id"],
        "a new key, a new turn"
    );
    let (_, turns) = chat
        .call(
            Method::GET,
            &format!("/api/v1/sessions/{session}/turns"),
            None,
        )
        .await;
    assert_eq!(turns["items"].as_array().map(Vec::len), Some(2));
}

async fn a_retry_while_the_turn_runs_waits_for_it_or_attaches_to_its_stream(backend: Backend) {
    let chat = ChatApp::spawn(backend, vec![slow(LONG_REPLY)]).await;
    let session = chat.new_session("Printer offline").await;
    let body = json!({"text": "go"});
    let mut first = chat.stream_send(&session, body.clone(), Some("k")).await;
    let started = first.next().await.expect("turn.started");

    // The network dropped; the client retries twice: streaming and not.
    let mut attached = chat.stream_send(&session, body.clone(), Some("k")).await;
    let (status, waited) = chat
        .app
        .client
        .post(
            chat.app
                .url(&format!("/api/v1/sessions/{session}/messages")),
        )
        .bearer_auth(&chat.token)
        .header("idempotency-key", "k")
        .json(&body)
        .send()
        .await
        .map(|r| (r.status(), r))
        .expect("sent");
    assert_eq!(status, StatusCode::OK);
    let waited: Value = waited.json().await.expect("JSON");
    assert_eq!(waited["turn"]["id"], started.2["turn_id"]);
    assert_eq!(waited["turn"]["display"], LONG_REPLY);

    let replayed = attached.until("turn.completed").await;
    assert_eq!(
        replayed[0].1, "turn.started",
        "the whole turn, from its start"
    );
    assert_eq!(replayed[0].0, started.0);
    assert_eq!(deltas(&replayed), LONG_REPLY);
    let original = first.until("turn.completed").await;
    assert_eq!(
        original.last().expect("completed").2,
        replayed.last().expect("completed").2
    );
    assert_eq!(chat.fake.request_count(), 1);
}

async fn a_retried_session_create_with_the_same_key_makes_one_session(backend: Backend) {
    let chat = ChatApp::spawn(backend, vec![]).await;
    let create = |key: &'static str, text: &'static str| {
        let client = chat.app.client.clone();
        let url = chat.app.url("/api/v1/sessions");
        let token = chat.token.clone();
        async move {
            let response = client
                .post(url)
                .bearer_auth(token)
                .header("idempotency-key", key)
                .json(&json!({ "text": text }))
                .send()
                .await
                .expect("sent");
            let status = response.status();
            (status, response.json::<Value>().await.expect("JSON"))
        }
    };
    let racing = futures::future::join_all((0..5).map(|_| create("s-1", "VPN drops"))).await;
    let ids: Vec<&Value> = racing
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, StatusCode::CREATED, "{body}");
            &body["session"]["id"]
        })
        .collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    let (status, body) = create("s-1", "Another problem").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (_, all) = chat.call(Method::GET, "/api/v1/sessions", None).await;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(1));
}

async fn a_session_longer_than_the_context_window_folds_its_oldest_turns(backend: Backend) {
    const WINDOW: usize = 8_192;
    const REPLY_TOKENS: usize = 512;
    let answer = format!(
        "Noted. {}",
        "The logs show nothing unusual yet. ".repeat(12)
    );
    let chat = ChatApp::spawn_with(
        backend,
        vec![
            Entry::reply(
                "[SUGGEST_FIX]\n{\"title\": \"Reinstall the printer driver\", \"description\": \"Use the vendor package.\", \"confidence\": 55}\n[/SUGGEST_FIX]",
            ),
            Entry::reply(answer).repeating(),
        ],
        &["--llm-context-tokens", "8192", "--llm-max-tokens", "512"],
    )
    .await;
    let session = chat.new_session("Printer offline").await;
    let (status, _) = chat
        .call(
            Method::POST,
            &format!("/api/v1/sessions/{session}/facts"),
            Some(json!({"text": "The printer sits on VLAN 30, the PCs on VLAN 10."})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    chat.say(&session, "Which fix?").await;
    let filler = "Here is more of what the user told me about it. ".repeat(14);
    let mut last = Value::Null;
    // More exchanges than a prompt replays in full (40): the oldest live on
    // in the session's stored summary.
    for i in 0..45 {
        last = chat.say(&session, &format!("Step {i}: {filler}")).await;
    }
    let context = &last["turn"]["context"];
    assert!(context["folded_turns"].as_u64() > Some(0), "{context}");
    assert_eq!(
        context["folded_turns"]
            .as_u64()
            .zip(context["kept_turns"].as_u64())
            .map(|(f, k)| f + k),
        Some(45),
        "every earlier exchange is either replayed or in the summary: {context}"
    );
    assert!(context["prompt_tokens"].as_u64() <= Some((WINDOW - REPLY_TOKENS) as u64));

    let request = chat.request(chat.fake.request_count() - 1);
    let system = system_text(&request);
    let users = user_texts(&request);
    let chars = system.len()
        + request["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| m["content"].to_string().len())
            .sum::<usize>();
    assert!(
        chars / 4 <= WINDOW - REPLY_TOKENS,
        "the prompt ({chars} characters) fits the window"
    );
    assert!(
        system.contains("The printer sits on VLAN 30"),
        "the fact is in the prompt"
    );
    assert!(
        system.contains("Reinstall the printer driver"),
        "the fix is in the prompt"
    );
    assert!(
        users[0].contains("folded into this summary"),
        "{}",
        users[0]
    );
    assert!(users.last().expect("last").starts_with("Step 44"));
    let folded = format!("{} exchanges", context["folded_turns"]);
    assert!(users[0].contains(&folded), "{folded} in {}", users[0]);

    // The event says so too.
    let mut events = chat.events_on(&chat.app, &session, None).await;
    let mut stream = chat
        .stream_send(
            &session,
            json!({"text": format!("Step 30: {filler}")}),
            None,
        )
        .await;
    let streamed = stream.until("turn.completed").await;
    let folded = streamed
        .iter()
        .find(|(_, name, _)| name == "context.folded")
        .expect("a context.folded event");
    assert!(folded.2["folded_turns"].as_u64() > Some(0));
    let turn_id = streamed[0].2["turn_id"].clone();
    // The session's stream may first finish the previous turn's events.
    let mut folded_seen = false;
    loop {
        let (_, name, data) = events.next().await.expect("an event");
        folded_seen |= name == "context.folded" && data["turn_id"] == turn_id;
        if name == "turn.completed" && data["turn"]["id"] == turn_id {
            break;
        }
    }
    assert!(folded_seen, "the session's stream says so too");
}

async fn event_streams_tell_proxies_not_to_buffer_and_send_heartbeats(backend: Backend) {
    let chat = ChatApp::spawn_with(backend, vec![], &["--sse-heartbeat-secs", "1"]).await;
    let session = chat.new_session("Printer offline").await;
    let mut events = chat.events_on(&chat.app, &session, None).await;
    let headers = events.response.headers().clone();
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["x-accel-buffering"], "no");
    assert!(
        headers["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/event-stream")
    );
    // A note arrives after two heartbeats at most.
    let started = Instant::now();
    while events.comments == 0 {
        let chunk = tokio::time::timeout(Duration::from_secs(5), events.response.chunk())
            .await
            .expect("a heartbeat within 5 s")
            .expect("reads")
            .expect("open");
        if String::from_utf8_lossy(&chunk).starts_with(':') {
            events.comments += 1;
        }
    }
    assert!(started.elapsed() < Duration::from_secs(3));
}

async fn every_change_outside_a_turn_is_a_session_changed_event(backend: Backend) {
    let chat = ChatApp::spawn(
        backend,
        vec![Entry::reply(
            "[SUGGEST_FIX]\n{\"title\": \"Restart the spooler\", \"description\": \"services.msc\", \"confidence\": 60}\n[/SUGGEST_FIX]",
        )],
    )
    .await;
    let session = chat.new_session("Printer offline").await;
    let turn = chat.say(&session, "go").await;
    let fix = turn["suggested_fix"]["id"]
        .as_str()
        .expect("fix")
        .to_owned();
    let mut events = chat.events_on(&chat.app, &session, None).await;

    let (_, fact) = chat
        .call(
            Method::POST,
            &format!("/api/v1/sessions/{session}/facts"),
            Some(json!({"text": "Only this PC"})),
        )
        .await;
    let fact_id = fact["fact"]["id"].clone();
    chat.call(
        Method::PATCH,
        &format!("/api/v1/sessions/{session}"),
        Some(json!({"title": "Printer offline on PC-7"})),
    )
    .await;
    chat.call(
        Method::POST,
        &format!("/api/v1/fixes/{fix}/decision"),
        Some(json!({"decision": "accepted"})),
    )
    .await;
    // (The turn's own events may still be arriving: its JSON answer does
    // not wait for them.)
    let mut changes = Vec::new();
    while changes.len() < 3 {
        let (_, name, data) = events.next().await.expect("an event");
        if name == "session.changed" {
            changes.push(data);
        } else {
            assert!(name.starts_with("turn.") || name == "display.delta" || name == "marker");
        }
    }
    assert_eq!(changes[0]["kind"], "fact");
    assert_eq!(changes[0]["id"], fact_id);
    assert_eq!(changes[1]["kind"], "session");
    assert_eq!(changes[1]["id"], session.as_str());
    assert_eq!(changes[2]["kind"], "fix");
    assert_eq!(changes[2]["id"], fix.as_str());
    let versions: Vec<i64> = changes
        .iter()
        .map(|c| c["state_version"].as_i64().expect("version"))
        .collect();
    assert!(versions.windows(2).all(|w| w[1] > w[0]), "{versions:?}");
    let view = chat.session(&session).await;
    assert_eq!(view["session"]["state_version"], versions[2]);
}

async fn stop_with_no_turn_running_is_a_conflict(backend: Backend) {
    let chat = ChatApp::spawn(backend, vec![]).await;
    let session = chat.new_session("Printer offline").await;
    let (status, body) = chat
        .call(
            Method::POST,
            &format!("/api/v1/sessions/{session}/stop"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "no_turn_running");
    let missing = "00000000-0000-7000-8000-000000000009";
    let (status, _) = chat
        .call(
            Method::POST,
            &format!("/api/v1/sessions/{missing}/stop"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn a_very_long_sessions_summary_keeps_its_newest_lines_within_its_cap(backend: Backend) {
    let chat = ChatApp::spawn(backend, vec![Entry::reply("Noted.".repeat(60)).repeating()]).await;
    let session = chat.new_session("Printer offline").await;
    let words = "and then the user said something more about the printer ".repeat(4);
    // 110 exchanges: 70 leave the replayed window, more than the summary
    // keeps (about 55 lines of this length).
    for i in 0..111 {
        chat.say(&session, &format!("Step {i}: {words}")).await;
    }
    let request = chat.request(chat.fake.request_count() - 1);
    let summary = &user_texts(&request)[0];
    assert!(summary.starts_with("(Earlier in this session"), "{summary}");
    assert!(
        summary.contains("Step 69: "),
        "the newest folded exchange is kept: {summary}"
    );
    assert!(!summary.contains("Step 0: "), "the oldest went first");
    let lines = summary
        .lines()
        .filter(|l| l.starts_with("- Engineer: "))
        .count();
    assert!((40..70).contains(&lines), "{lines} lines");
    assert!(
        summary
            .lines()
            .skip(1)
            .all(|l| l.starts_with("- Engineer: ")),
        "whole lines only"
    );
}
