//! Sessions outside the turn: their life cycle, the engineer's notes,
//! optimistic concurrency, one turn in flight, stable task-lane ids over
//! three turns, and who may see what.

use llm::fake::Entry;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::chat::ChatApp;
use crate::helpers::{Backend, TestApp};

crate::on_both!(
    sessions_are_listed_newest_first_filtered_and_searched,
    renaming_and_status_changes_bump_the_version_and_a_stale_one_is_refused,
    resolved_and_closed_sessions_refuse_messages_and_paused_ones_resume,
    a_deleted_session_is_gone_with_everything_in_it,
    engineers_add_edit_and_delete_their_own_notes,
    a_second_send_while_a_turn_runs_gets_409,
    task_lane_ids_stay_stable_across_three_turns,
    without_a_model_the_offline_guide_walks_a_runbook_to_a_confirmed_fix,
    another_users_or_accounts_session_is_not_found_on_every_route,
    team_members_share_the_teams_sessions,
    images_of_the_wrong_kind_size_or_number_are_refused_before_anything_is_stored,
);

async fn sessions_are_listed_newest_first_filtered_and_searched(backend: Backend) {
    let chat = ChatApp::spawn(backend, vec![]).await;
    let printer = chat.new_session("Printer on floor 2 shows offline").await;
    let vpn = chat.new_session("VPN drops every ten minutes").await;
    let outlook = chat.new_session("Outlook asks for the password").await;

    let (status, all) = chat.call(Method::GET, "/api/v1/sessions", None).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let ids: Vec<&str> = all["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|s| s["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, [outlook.as_str(), vpn.as_str(), printer.as_str()]);
    assert_eq!(all["next_cursor"], Value::Null);

    let (_, found) = chat.call(Method::GET, "/api/v1/sessions?q=vpn", None).await;
    assert_eq!(found["items"].as_array().map(Vec::len), Some(1), "{found}");
    assert_eq!(found["items"][0]["id"], vpn.as_str());

    let (status, _) = chat
        .call(
            Method::PATCH,
            &format!("/api/v1/sessions/{printer}"),
            Some(json!({"status": "resolved"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, resolved) = chat
        .call(Method::GET, "/api/v1/sessions?status=resolved", None)
        .await;
    assert_eq!(resolved["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(resolved["items"][0]["id"], printer.as_str());
    let (_, active) = chat
        .call(Method::GET, "/api/v1/sessions?status=active", None)
        .await;
    assert_eq!(active["items"].as_array().map(Vec::len), Some(2));

    let (status, page) = chat
        .call(Method::GET, "/api/v1/sessions?limit=2", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let cursor = page["next_cursor"].as_str().expect("a second page");
    let (_, rest) = chat
        .call(
            Method::GET,
            &format!("/api/v1/sessions?limit=2&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(rest["items"][0]["id"], printer.as_str(), "{rest}");

    let (status, body) = chat
        .call(Method::GET, "/api/v1/sessions?status=sleeping", None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = chat
        .call(
            Method::POST,
            "/api/v1/sessions",
            Some(json!({"text": "  "})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

async fn renaming_and_status_changes_bump_the_version_and_a_stale_one_is_refused(backend: Backend) {
    let chat = ChatApp::spawn(backend, vec![]).await;
    let id = chat.new_session("Laptop fan loud").await;
    let path = format!("/api/v1/sessions/{id}");
    let v0 = chat.session(&id).await["session"]["state_version"]
        .as_i64()
        .expect("version");

    let (status, renamed) = chat
        .call(
            Method::PATCH,
            &path,
            Some(json!({"title": "Dell XPS fan at full speed", "state_version": v0})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["session"]["title"], "Dell XPS fan at full speed");
    let v1 = renamed["session"]["state_version"]
        .as_i64()
        .expect("version");
    assert!(v1 > v0);

    // A second tab still holding v0 is refused and changes nothing.
    let (status, stale) = chat
        .call(
            Method::PATCH,
            &path,
            Some(json!({"title": "Other tab's title", "state_version": v0})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{stale}");
    assert!(
        stale["error"]["message"]
            .as_str()
            .expect("message")
            .contains("reload")
    );
    let view = chat.session(&id).await;
    assert_eq!(view["session"]["title"], "Dell XPS fan at full speed");
    assert_eq!(view["session"]["state_version"], v1);

    let (status, paused) = chat
        .call(
            Method::PATCH,
            &path,
            Some(json!({"status": "paused", "state_version": v1})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{paused}");
    assert_eq!(paused["session"]["status"], "paused");
    assert!(paused["session"]["state_version"].as_i64() > Some(v1));

    let (status, body) = chat
        .call(Method::PATCH, &path, Some(json!({"title": ""})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = chat
        .call(Method::PATCH, &path, Some(json!({"status": "done"})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

async fn resolved_and_closed_sessions_refuse_messages_and_paused_ones_resume(backend: Backend) {
    let chat = ChatApp::spawn(backend, vec![Entry::reply("Back on it.")]).await;
    let id = chat.new_session("Share drive slow").await;
    let path = format!("/api/v1/sessions/{id}");

    chat.call(Method::PATCH, &path, Some(json!({"status": "paused"})))
        .await;
    let turn = chat.say(&id, "Picking this up again").await;
    assert_eq!(
        turn["session"]["status"], "active",
        "a message resumes a paused session"
    );

    for status in ["resolved", "closed"] {
        let (s, _) = chat
            .call(Method::PATCH, &path, Some(json!({"status": status})))
            .await;
        assert_eq!(s, StatusCode::OK);
        let (s, body) = chat.send(&id, json!({"text": "one more thing"})).await;
        assert_eq!(s, StatusCode::CONFLICT, "{status}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .expect("message")
                .contains(status),
            "{body}"
        );
    }
    assert_eq!(chat.fake.request_count(), 1, "no model call for a refusal");
}

async fn a_deleted_session_is_gone_with_everything_in_it(backend: Backend) {
    let chat = ChatApp::spawn(
        backend,
        vec![Entry::reply(
            "Noted.\n[PROMOTE]\n{\"source_type\": \"ai_synthesis\", \"text\": \"The NAS is at 98% capacity.\"}\n[/PROMOTE]",
        )],
    )
    .await;
    let id = chat.new_session("Backups failing").await;
    chat.say(&id, "Started Monday").await;
    let (status, _) = chat
        .call(Method::DELETE, &format!("/api/v1/sessions/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for path in ["", "/turns", "/facts", "/fixes", "/report"] {
        let (status, _) = chat
            .call(Method::GET, &format!("/api/v1/sessions/{id}{path}"), None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _) = chat
        .call(Method::DELETE, &format!("/api/v1/sessions/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "deleting twice");
}

async fn engineers_add_edit_and_delete_their_own_notes(backend: Backend) {
    let chat = ChatApp::spawn(backend, vec![]).await;
    let id = chat.new_session("Teams calls drop").await;
    let facts = format!("/api/v1/sessions/{id}/facts");

    let (status, added) = chat
        .call(
            Method::POST,
            &facts,
            Some(json!({"text": "Only on the guest Wi-Fi", "summary": "guest Wi-Fi"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added["fact"]["source_type"], "user_note");
    assert_eq!(added["fact"]["source_ref"], Value::Null);
    let fact = added["fact"]["id"].as_str().expect("id").to_owned();
    let v1 = added["session"]["state_version"].as_i64().expect("version");

    let (status, edited) = chat
        .call(
            Method::PATCH,
            &format!("{facts}/{fact}"),
            Some(json!({"text": "Only on the guest Wi-Fi (5 GHz)", "summary": null, "state_version": v1})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["fact"]["text"], "Only on the guest Wi-Fi (5 GHz)");
    assert_eq!(edited["fact"]["summary"], Value::Null);
    let v2 = edited["session"]["state_version"]
        .as_i64()
        .expect("version");
    assert!(v2 > v1);

    let (status, _) = chat
        .call(
            Method::PATCH,
            &format!("{facts}/{fact}"),
            Some(json!({"text": "stale tab", "state_version": v1})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = chat
        .call(
            Method::DELETE,
            &format!("{facts}/{fact}?state_version={v1}"),
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a stale delete changes nothing"
    );

    let (_, listed) = chat.call(Method::GET, &facts, None).await;
    assert_eq!(
        listed["items"][0]["text"],
        "Only on the guest Wi-Fi (5 GHz)"
    );

    let (status, body) = chat
        .call(Method::POST, &facts, Some(json!({"text": ""})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let (status, _) = chat
        .call(
            Method::DELETE,
            &format!("{facts}/{fact}?state_version={v2}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, listed) = chat.call(Method::GET, &facts, None).await;
    assert_eq!(listed["items"], json!([]));
    let view = chat.session(&id).await;
    assert!(view["session"]["state_version"].as_i64() > Some(v2));
}

async fn a_second_send_while_a_turn_runs_gets_409(backend: Backend) {
    // Ten 50 ms chunks: the first turn is still streaming when the second
    // message arrives.
    let slow = Entry::reply("Looking into the spooler service now.").chunks(4, 50);
    let chat = ChatApp::spawn(backend, vec![slow, Entry::reply("Second answer.")]).await;
    let id = chat.new_session("Print queue stuck").await;

    let first = {
        let client = chat.app.client.clone();
        let url = chat.app.url(&format!("/api/v1/sessions/{id}/messages"));
        let token = chat.token.clone();
        tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .header("accept", "text/event-stream")
                .json(&json!({"text": "first"}))
                .send()
                .await
                .expect("sent")
                .text()
                .await
                .expect("stream")
        })
    };
    // The turn is in flight once the provider has been asked.
    while chat.fake.request_count() == 0 {
        tokio::task::yield_now().await;
    }
    let (status, body) = chat.send(&id, json!({"text": "second"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "turn_in_progress", "{body}");

    let streamed = first.await.expect("first turn");
    assert!(streamed.contains("turn.completed"), "{streamed}");
    let next = chat.say(&id, "now the second").await;
    assert_eq!(next["turn"]["display"], "Second answer.");
    let (_, turns) = chat
        .call(Method::GET, &format!("/api/v1/sessions/{id}/turns"), None)
        .await;
    assert_eq!(
        turns["items"].as_array().map(Vec::len),
        Some(2),
        "the refused send left no turn"
    );
}

fn lane(body: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (kind, key) in [("questions", "text"), ("actions", "label")] {
        for item in body["task_lane"][kind].as_array().expect("lane") {
            out.push((
                item[key].as_str().expect("text").to_owned(),
                item["id"].as_str().expect("id").to_owned(),
            ));
        }
    }
    out
}

fn id_of<'a>(lane: &'a [(String, String)], text: &str) -> &'a str {
    &lane
        .iter()
        .find(|(t, _)| t == text)
        .unwrap_or_else(|| panic!("{text} in {lane:?}"))
        .1
}

async fn task_lane_ids_stay_stable_across_three_turns(backend: Backend) {
    let q = |texts: &[&str]| {
        let items: Vec<Value> = texts.iter().map(|t| json!({ "text": t })).collect();
        format!("[QUESTIONS]\n{}\n[/QUESTIONS]", Value::Array(items))
    };
    let a = |labels: &[&str]| {
        let items: Vec<Value> = labels.iter().map(|l| json!({ "label": l })).collect();
        format!("[ACTIONS]\n{}\n[/ACTIONS]", Value::Array(items))
    };
    let chat = ChatApp::spawn(
        backend,
        vec![
            Entry::reply(format!(
                "First.\n{}\n{}",
                q(&["Which OS build?", "Wired or Wi-Fi?"]),
                a(&["Run ipconfig /all"])
            )),
            Entry::reply(format!(
                "Second.\n{}\n{}",
                q(&["Wired or Wi-Fi?", "Since when?"]),
                a(&["Run ipconfig /all", "Ping the gateway"])
            )),
            Entry::reply(format!(
                "Third.\n{}\n{}",
                q(&["Since when?", "Wired or Wi-Fi?"]),
                a(&["Ping the gateway"])
            )),
            Entry::reply("Nothing to ask."),
        ],
    )
    .await;
    let id = chat.new_session("No network on one PC").await;
    let t1 = lane(&chat.say(&id, "one").await);
    let t2 = lane(&chat.say(&id, "two").await);
    let t3 = lane(&chat.say(&id, "three").await);

    let wired = id_of(&t1, "Wired or Wi-Fi?");
    assert_eq!(id_of(&t2, "Wired or Wi-Fi?"), wired);
    assert_eq!(id_of(&t3, "Wired or Wi-Fi?"), wired, "same text, same id");
    assert_eq!(
        id_of(&t2, "Run ipconfig /all"),
        id_of(&t1, "Run ipconfig /all")
    );
    assert_eq!(id_of(&t3, "Since when?"), id_of(&t2, "Since when?"));
    assert_eq!(
        id_of(&t3, "Ping the gateway"),
        id_of(&t2, "Ping the gateway")
    );
    assert_ne!(id_of(&t2, "Since when?"), wired, "new text, new id");
    assert_eq!(t3.len(), 3);
    assert_eq!(
        lane(&chat.session(&id).await),
        t3,
        "the session shows the latest lane"
    );

    let t4 = chat.say(&id, "four").await;
    assert_eq!(t4["task_lane"], json!({"questions": [], "actions": []}));
    assert_eq!(
        chat.session(&id).await["task_lane"],
        json!({"questions": [], "actions": []}),
        "a reply with no questions or actions clears the lane"
    );
}

async fn without_a_model_the_offline_guide_walks_a_runbook_to_a_confirmed_fix(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let token = app.admin_token().await;
    let call = |method: Method, path: String, body: Option<Value>| {
        let app = &app;
        let token = token.clone();
        async move { app.call(method, &path, body, Some(&token)).await }
    };
    let flow = json!({"slug": "printer-offline", "title": "Printer shows offline although it is on",
        "symptoms": "printer offline", "tags": ["printing"],
        "body": "Windows decides the status from the port.\n\n## Diagnostic questions\n- Can you ping the printer?\n- Does it affect every PC?\n\n## Checks\n### Check the port address\nThe IP may have changed.\n```powershell\nGet-PrinterPort\n```\n",
        "resolution": "Update the port to the printer's IP address.\n```cmd\nnet stop spooler && net start spooler\n```"});
    let (status, _) = call(Method::POST, "/api/v1/flows".into(), Some(flow)).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, created) = call(
        Method::POST,
        "/api/v1/sessions".into(),
        Some(json!({"text": "Printer offline on floor 2"})),
    )
    .await;
    let id = created["session"]["id"].as_str().expect("id").to_owned();
    let messages = format!("/api/v1/sessions/{id}/messages");

    let (status, t1) = call(
        Method::POST,
        messages.clone(),
        Some(json!({"text": "The printer shows offline but it is switched on"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{t1}");
    let display = t1["turn"]["display"].as_str().expect("display");
    assert!(
        display.contains("Offline guide: no AI model is configured"),
        "{display}"
    );
    assert!(
        display.contains("Printer shows offline although it is on"),
        "{display}"
    );
    assert_eq!(t1["turn"]["model"], "offline-guide");
    assert_eq!(t1["suggested_flows"][0]["flow"]["slug"], "printer-offline");
    let lane = &t1["task_lane"];
    assert_eq!(
        lane["questions"].as_array().map(Vec::len),
        Some(2),
        "{lane}"
    );
    assert_eq!(lane["actions"][0]["command"], "Get-PrinterPort");
    let q1 = lane["questions"][0]["id"].as_str().expect("q").to_owned();
    let q2 = lane["questions"][1]["id"].as_str().expect("q").to_owned();
    let a1 = lane["actions"][0]["id"].as_str().expect("a").to_owned();

    // One answer: a fact; the rest stays in the lane.
    let (_, t2) = call(
        Method::POST,
        messages.clone(),
        Some(json!({"text": "first answer", "task_responses": [
            {"item_id": q1, "status": "answered", "answer": "Yes, it answers ping."}]})),
    )
    .await;
    assert_eq!(t2["facts_added"][0]["source_ref"], q1.as_str(), "{t2}");
    assert_eq!(t2["facts_added"][0]["source_type"], "question");
    assert_eq!(
        t2["task_lane"]["questions"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(
        t2["task_lane"]["questions"][0]["id"],
        q2.as_str(),
        "ids stay stable"
    );
    assert_eq!(t2["suggested_fix"], Value::Null);

    // The rest done: the runbook's resolution becomes the fix.
    let (_, t3) = call(
        Method::POST,
        messages.clone(),
        Some(json!({"text": "done", "task_responses": [
            {"item_id": q2, "status": "answered", "answer": "Only this PC."},
            {"item_id": a1, "status": "done", "answer": "Port points at 10.0.0.9, printer is on .25"}]})),
    )
    .await;
    assert_eq!(t3["facts_added"].as_array().map(Vec::len), Some(2), "{t3}");
    let fix = &t3["suggested_fix"];
    assert!(
        fix["title"]
            .as_str()
            .expect("title")
            .contains("Printer shows offline"),
        "{t3}"
    );
    assert_eq!(
        fix["ai_drafted_script"],
        "net stop spooler && net start spooler"
    );
    assert_eq!(t3["task_lane"], json!({"questions": [], "actions": []}));
    let fix_id = fix["id"].as_str().expect("fix").to_owned();

    // "It worked": an outcome proposal the engineer confirms.
    let (_, t4) = call(
        Method::POST,
        messages,
        Some(json!({"text": "Updated the port, that worked!"})),
    )
    .await;
    assert_eq!(t4["outcome_proposal"]["fix_id"], fix_id.as_str(), "{t4}");
    assert_eq!(t4["outcome_proposal"]["outcome"], "success");
    let (status, confirmed) = call(
        Method::PATCH,
        format!("/api/v1/fixes/{fix_id}/outcome"),
        Some(json!({"outcome": "success"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    assert!(
        t4["turn"]["diagnostics"]
            .as_array()
            .expect("diagnostics")
            .is_empty(),
        "{t4}"
    );
}

/// Every session-scoped route, as (method, path, body); `{s}` is the session,
/// `{f}` a fact of it and `{x}` a fix of it.
const ROUTES: &[(&str, &str, &str)] = &[
    ("GET", "/api/v1/sessions/{s}", ""),
    ("PATCH", "/api/v1/sessions/{s}", r#"{"title": "mine now"}"#),
    ("DELETE", "/api/v1/sessions/{s}", ""),
    ("POST", "/api/v1/sessions/{s}/messages", r#"{"text": "hi"}"#),
    ("GET", "/api/v1/sessions/{s}/turns", ""),
    ("GET", "/api/v1/sessions/{s}/facts", ""),
    ("POST", "/api/v1/sessions/{s}/facts", r#"{"text": "note"}"#),
    (
        "PATCH",
        "/api/v1/sessions/{s}/facts/{f}",
        r#"{"text": "x"}"#,
    ),
    ("DELETE", "/api/v1/sessions/{s}/facts/{f}", ""),
    ("GET", "/api/v1/sessions/{s}/fixes", ""),
    (
        "POST",
        "/api/v1/fixes/{x}/decision",
        r#"{"decision": "accepted"}"#,
    ),
    (
        "PATCH",
        "/api/v1/fixes/{x}/outcome",
        r#"{"outcome": "success"}"#,
    ),
    ("DELETE", "/api/v1/fixes/{x}/outcome-proposal", ""),
    ("GET", "/api/v1/sessions/{s}/report", ""),
];

/// A session with a fact and a fix, made by the admin of `chat`.
async fn session_with_fact_and_fix(chat: &ChatApp) -> (String, String, String) {
    chat.fake.push(vec![Entry::reply(
        r#"Found it.
[PROMOTE]
{"source_type": "ai_synthesis", "text": "The certificate expired yesterday."}
[/PROMOTE]
[SUGGEST_FIX]
{"title": "Renew the certificate", "description": "Via the CA console.", "confidence": 90}
[/SUGGEST_FIX]"#,
    )]);
    let s = chat
        .new_session("Intranet shows a certificate warning")
        .await;
    let turn = chat.say(&s, "Since this morning").await;
    let f = turn["facts_added"][0]["id"].as_str().expect("fact");
    let x = turn["suggested_fix"]["id"].as_str().expect("fix");
    (s, f.to_owned(), x.to_owned())
}

/// Calls every route of `ROUTES` on `(s, f, x)` with `token` and returns
/// the (status, body text) of each.
async fn call_every_route(
    app: &TestApp,
    token: &str,
    (s, f, x): (&str, &str, &str),
) -> Vec<(String, u16, String)> {
    let mut out = Vec::new();
    for (method, path, body) in ROUTES {
        let path = path.replace("{s}", s).replace("{f}", f).replace("{x}", x);
        let mut request = app
            .client
            .request(method.parse().expect("method"), app.url(&path))
            .bearer_auth(token);
        if !body.is_empty() {
            request = request
                .header("content-type", "application/json")
                .body(*body);
        }
        let response = request.send().await.expect("sent");
        let status = response.status().as_u16();
        out.push((
            format!("{method} {path}"),
            status,
            response.text().await.expect("body"),
        ));
    }
    out
}

async fn another_users_or_accounts_session_is_not_found_on_every_route(backend: Backend) {
    let chat = ChatApp::spawn(backend, vec![]).await;
    let (s, f, x) = session_with_fact_and_fix(&chat).await;
    let colleague = chat
        .app
        .user_token(&chat.token, "eve@acme.test", "engineer")
        .await;
    let stranger = chat
        .app
        .other_account_token("Other MSP", "olga@other.test")
        .await;
    let missing = (
        "00000000-0000-7000-8000-000000000001",
        "00000000-0000-7000-8000-000000000002",
        "00000000-0000-7000-8000-000000000003",
    );
    let absent = call_every_route(&chat.app, &chat.token, missing).await;
    for who in [&colleague, &stranger] {
        let answers = call_every_route(&chat.app, who, (&s, &f, &x)).await;
        for ((route, status, body), (_, _, absent_body)) in answers.iter().zip(&absent) {
            assert_eq!(*status, 404, "{route}: {body}");
            assert_eq!(body, absent_body, "{route} reads exactly like a missing id");
        }
    }
    let (_, listed) = chat
        .app
        .call(Method::GET, "/api/v1/sessions", None, Some(&stranger))
        .await;
    assert_eq!(listed["items"], json!([]));

    // Nothing changed: the owner still sees it all as it was.
    let view = chat.session(&s).await;
    assert_eq!(
        view["session"]["title"],
        "Intranet shows a certificate warning"
    );
    assert_eq!(view["facts"].as_array().map(Vec::len), Some(1));
    assert_eq!(view["active_fix"]["decision"], Value::Null);
    assert_eq!(chat.fake.request_count(), 1, "no turn was run for them");
}

async fn team_members_share_the_teams_sessions(backend: Backend) {
    let chat = ChatApp::spawn(backend, vec![Entry::reply("Checked.")]).await;
    let (status, team) = chat
        .call(
            Method::POST,
            "/api/v1/teams",
            Some(json!({"name": "Service desk"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{team}");
    let team = team["team"]["id"].as_str().expect("team").to_owned();
    let (_, me) = chat.call(Method::GET, "/api/v1/me", None).await;
    let admin = me["user"]["id"].as_str().expect("me").to_owned();
    let (status, _) = chat
        .call(
            Method::PUT,
            &format!("/api/v1/teams/{team}/members/{admin}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let member = chat
        .app
        .user_token(&chat.token, "eve@acme.test", "engineer")
        .await;
    let outsider = chat
        .app
        .user_token(&chat.token, "mo@acme.test", "engineer")
        .await;
    let (_, eve) = chat
        .app
        .call(Method::GET, "/api/v1/me", None, Some(&member))
        .await;
    let eve = eve["user"]["id"].as_str().expect("eve");
    chat.call(
        Method::PUT,
        &format!("/api/v1/teams/{team}/members/{eve}"),
        None,
    )
    .await;

    let (status, shared) = chat
        .call(
            Method::POST,
            "/api/v1/sessions",
            Some(json!({"text": "Scanner emails never arrive", "team_id": team})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{shared}");
    assert_eq!(shared["session"]["team_id"], team.as_str());
    let id = shared["session"]["id"].as_str().expect("id");

    let (_, listed) = chat
        .app
        .call(Method::GET, "/api/v1/sessions", None, Some(&member))
        .await;
    assert_eq!(listed["items"][0]["id"], id, "{listed}");
    let (status, turn) = chat
        .app
        .call(
            Method::POST,
            &format!("/api/v1/sessions/{id}/messages"),
            Some(json!({"text": "I checked the SMTP relay"})),
            Some(&member),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "a member works the session: {turn}");

    let (status, _) = chat
        .app
        .call(
            Method::GET,
            &format!("/api/v1/sessions/{id}"),
            None,
            Some(&outsider),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not in the team");
    let (status, body) = chat
        .app
        .call(
            Method::POST,
            "/api/v1/sessions",
            Some(json!({"text": "Sneaking in", "team_id": team})),
            Some(&outsider),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

async fn images_of_the_wrong_kind_size_or_number_are_refused_before_anything_is_stored(
    backend: Backend,
) {
    let chat = ChatApp::spawn(backend, vec![]).await;
    let id = chat.new_session("Blue screen after update").await;
    let gif = "R0lGODlhAQABAAAAACw=";
    let image = |media_type: &str, data: &str| json!({"media_type": media_type, "data": data});
    let big = "A".repeat(8 * 1024 * 1024);
    let cases = [
        (vec![image("image/bmp", gif)], "image/bmp"),
        (vec![image("image/gif", "not base64!")], "base64"),
        (vec![image("image/png", &big)], "MiB"),
        (vec![image("image/gif", gif); 9], "at most 8"),
    ];
    for (images, says) in cases {
        let (status, body) = chat
            .send(&id, json!({"text": "see attached", "images": images}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let message = body["error"]["message"].as_str().expect("message");
        assert!(message.contains(says), "{says} in {message}");
    }
    let (_, turns) = chat
        .call(Method::GET, &format!("/api/v1/sessions/{id}/turns"), None)
        .await;
    assert_eq!(turns["items"], json!([]));
    assert_eq!(chat.fake.request_count(), 0);
}
