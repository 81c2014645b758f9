//! Turns through HTTP against the fake provider: every marker, stable
//! task-lane ids, fixes and their supersession, outcome proposals, images,
//! streaming, and model or user text that must stay text.

use llm::fake::Entry;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::chat::{ChatApp, system_text, user_texts};
use crate::helpers::Backend;

crate::on_both!(
    a_conversation_exercises_every_marker,
    a_streamed_turn_sends_display_deltas_markers_and_the_stored_turn,
    marker_syntax_from_the_engineer_is_plain_text,
    model_output_with_html_stays_text,
    a_fix_names_a_script_template_of_the_library,
);

const TURN1: &str = r#"Prompts for every user at once point at the tenant, not the PCs.
[QUESTIONS]
[{"text": "Did anything change in the tenant yesterday?", "context": "Conditional access, MFA"},
 {"text": "Do web sign-ins prompt too?"}]
[/QUESTIONS]
[ACTIONS]
[{"label": "Check the sign-in logs", "command": "Get-MgAuditLogSignIn -Top 20", "description": "Look for failures"}]
[/ACTIONS]"#;

fn lane_id(body: &Value, kind: &str, key: &str, text: &str) -> String {
    body["task_lane"][kind]
        .as_array()
        .expect("lane list")
        .iter()
        .find(|i| i[key] == text)
        .unwrap_or_else(|| panic!("{text} in {body}"))["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

async fn a_conversation_exercises_every_marker(backend: Backend) {
    let chat = ChatApp::spawn(backend, vec![Entry::reply(TURN1)]).await;
    let session = chat
        .new_session("Outlook keeps prompting for a password for every user at one client")
        .await;
    let view = chat.session(&session).await;
    assert_eq!(
        view["session"]["title"],
        "Outlook keeps prompting for a password for every user at one client"
    );
    assert_eq!(
        chat.fake.request_count(),
        0,
        "creating a session calls no model"
    );

    // Turn 1: questions and actions become the task lane.
    let t1 = chat.say(&session, "Started this morning, all users.").await;
    assert_eq!(
        t1["turn"]["display"],
        "Prompts for every user at once point at the tenant, not the PCs."
    );
    let q_tenant = lane_id(
        &t1,
        "questions",
        "text",
        "Did anything change in the tenant yesterday?",
    );
    let q_web = lane_id(&t1, "questions", "text", "Do web sign-ins prompt too?");
    let a_logs = lane_id(&t1, "actions", "label", "Check the sign-in logs");
    assert_eq!(t1["session"]["step_count"], 1);
    assert!(t1["turn"]["input_tokens"].as_i64().expect("tokens") > 0);
    assert!(
        system_text(&chat.request(0)).contains("[SUGGEST_FIX]"),
        "the system prompt teaches the markers"
    );

    // Turn 2: answers travel as task responses; facts, a fix, the lane keeps ids.
    let stray = "00000000-0000-4000-8000-000000000000";
    chat.fake.push(vec![Entry::reply(format!(
        r#"The sign-in logs show legacy auth being blocked.
[PROMOTE]
{{"source_type": "question", "source_ref": "{q_tenant}", "text": "A conditional access policy was enabled yesterday."}}
[/PROMOTE]
[PROMOTE]
{{"source_type": "diagnostic_check", "source_ref": "{stray}", "text": "Legacy authentication is blocked.", "summary": "Legacy auth blocked"}}
[/PROMOTE]
[QUESTIONS]
[{{"text": "Do web sign-ins prompt too?"}}, {{"text": "Which Outlook build do they run?"}}]
[/QUESTIONS]
[SUGGEST_FIX]
{{"title": "Enable modern authentication", "description": "Remove the GPO that disables ADAL.", "confidence": 80, "ai_drafted_script": "reg delete HKCU\\Software\\Microsoft\\Office\\16.0\\Common\\Identity /v EnableADAL /f"}}
[/SUGGEST_FIX]"#
    ))]);
    let (status, t2) = chat
        .send(
            &session,
            json!({
                "text": "Here is what I found.",
                "task_responses": [
                    {"item_id": q_tenant, "status": "answered", "answer": "Yes, a CA policy went live"},
                    {"item_id": a_logs, "status": "done", "answer": "Failures: legacy auth blocked"},
                    {"item_id": q_web, "status": "pending"},
                ]
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{t2}");
    let sent = user_texts(&chat.request(1));
    let last = sent.last().expect("a user message");
    assert!(last.contains("Task responses"), "{last}");
    assert!(
        last.contains("answered: Yes, a CA policy went live"),
        "{last}"
    );
    assert!(
        last.contains("_(not yet completed)_"),
        "the model sees the placeholder: {last}"
    );
    assert!(last.ends_with("Here is what I found."), "{last}");
    let stored = t2["turn"]["user_message"].as_str().expect("stored message");
    assert!(
        stored.contains("(pending)") && !stored.contains("_(not yet completed)_"),
        "{stored}"
    );
    assert_eq!(
        t2["turn"]["text"], "Here is what I found.",
        "the engineer's own words, without the responses section"
    );
    assert_eq!(
        lane_id(&t2, "questions", "text", "Do web sign-ins prompt too?"),
        q_web,
        "a re-emitted question keeps its id"
    );
    assert_eq!(t2["task_lane"]["actions"], json!([]));
    let facts = t2["facts_added"].as_array().expect("facts");
    assert_eq!(facts.len(), 2, "{t2}");
    assert_eq!(facts[0]["source_type"], "question");
    assert_eq!(facts[0]["source_ref"], q_tenant.as_str());
    assert_eq!(
        facts[1]["source_ref"],
        Value::Null,
        "an unknown ref is dropped"
    );
    let diagnostics = t2["turn"]["diagnostics"].to_string();
    assert!(diagnostics.contains(stray), "{diagnostics}");
    let fix1 = t2["suggested_fix"]["id"].as_str().expect("fix").to_owned();
    assert_eq!(t2["suggested_fix"]["confidence_pct"], 80);
    assert_eq!(t2["suggested_fix"]["superseded_at"], Value::Null);

    // Turn 3, with an image: a FORK, the same fix again (kept), the lane clears.
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    chat.fake.push(vec![Entry::reply(
        r#"The screenshot shows the legacy prompt.
[FORK]
{"fork_reason": "Two policies could cause it", "options": [{"label": "GPO disables ADAL"}, {"label": "CA blocks legacy auth", "description": "Tenant side"}]}
[/FORK]
[SUGGEST_FIX]
{"title": "Enable modern authentication", "description": "Remove the GPO that disables ADAL.", "confidence": 85, "ai_drafted_script": "reg delete HKCU\\Software\\Microsoft\\Office\\16.0\\Common\\Identity /v EnableADAL /f"}
[/SUGGEST_FIX]"#,
    )]);
    let (status, t3) = chat
        .send(
            &session,
            json!({"text": "Screenshot attached.", "images": [{"media_type": "image/png", "data": png}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{t3}");
    let request = chat.request(2);
    let last_user = request["messages"]
        .as_array()
        .expect("messages")
        .last()
        .expect("last")
        .clone();
    let image = last_user["content"]
        .as_array()
        .expect("blocks")
        .iter()
        .find(|b| b["type"] == "image")
        .unwrap_or_else(|| panic!("an image block in {last_user}"))
        .clone();
    assert_eq!(image["source"]["media_type"], "image/png");
    assert_eq!(image["source"]["data"], png);
    assert_eq!(t3["turn"]["images"][0]["media_type"], "image/png");
    assert_eq!(t3["fork"]["fork_reason"], "Two policies could cause it");
    assert_eq!(t3["fork"]["branches"][1]["label"], "CA blocks legacy auth");
    assert_eq!(
        t3["turn"]["fork"]["branches"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(
        t3["suggested_fix"]["id"],
        fix1.as_str(),
        "an exact repeat keeps the fix"
    );
    assert_eq!(t3["task_lane"], json!({"questions": [], "actions": []}));

    // Turn 4: a different fix supersedes the first.
    chat.fake.push(vec![Entry::reply(
        r#"Then it is the CA policy.
[SUGGEST_FIX]
{"title": "Exclude the legacy client from the CA policy", "description": "Temporarily.", "confidence": 60}
[/SUGGEST_FIX]"#,
    )]);
    let t4 = chat.say(&session, "The GPO is not there.").await;
    let fix2 = t4["suggested_fix"]["id"]
        .as_str()
        .expect("fix 2")
        .to_owned();
    assert_ne!(fix1, fix2);
    let (_, fixes) = chat
        .call(
            Method::GET,
            &format!("/api/v1/sessions/{session}/fixes"),
            None,
        )
        .await;
    let fixes = fixes["items"].as_array().expect("fixes").clone();
    assert_eq!(fixes.len(), 2);
    assert_eq!(fixes[0]["id"], fix2.as_str(), "newest first");
    assert!(fixes[1]["superseded_at"].is_string());
    assert_eq!(fixes[0]["superseded_at"], Value::Null);

    // The engineer accepts it; the model proposes an outcome; the engineer confirms.
    let (status, decided) = chat
        .call(
            Method::POST,
            &format!("/api/v1/fixes/{fix2}/decision"),
            Some(json!({"decision": "accepted"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert_eq!(decided["fix"]["decision"], "accepted");
    chat.fake.push(vec![Entry::reply(format!(
        r#"Good news.
[FIX_OUTCOME]
{{"fix_id": "{fix2}", "outcome": "success", "reason": "No prompts after the change"}}
[/FIX_OUTCOME]"#
    ))]);
    let t5 = chat.say(&session, "Applied it, no more prompts.").await;
    assert_eq!(t5["outcome_proposal"]["fix_id"], fix2.as_str());
    assert_eq!(t5["outcome_proposal"]["outcome"], "success");
    let view = chat.session(&session).await;
    assert_eq!(
        view["active_fix"]["ai_outcome_proposal"]["outcome"],
        "success"
    );
    let (status, confirmed) = chat
        .call(
            Method::PATCH,
            &format!("/api/v1/fixes/{fix2}/outcome"),
            Some(json!({"outcome": "success", "note": "confirmed on 5 PCs"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    assert_eq!(confirmed["fix"]["outcome"], "success");
    assert_eq!(confirmed["fix"]["ai_outcome_proposal"], Value::Null);

    // A proposal for a fix of no session of ours is dropped; another is dismissed.
    chat.fake.push(vec![
        Entry::reply(
            r#"Noted.
[FIX_OUTCOME]
{"fix_id": "00000000-0000-4000-8000-000000000001", "outcome": "failure", "reason": "x"}
[/FIX_OUTCOME]"#,
        ),
        Entry::reply(format!(
            r#"Hm.
[FIX_OUTCOME]
{{"fix_id": "{fix1}", "outcome": "partial", "reason": "some users still prompted"}}
[/FIX_OUTCOME]"#
        )),
    ]);
    let t6 = chat.say(&session, "One more thing.").await;
    assert_eq!(t6["outcome_proposal"], Value::Null);
    assert!(
        t6["turn"]["diagnostics"]
            .to_string()
            .contains("fix_outcome")
    );
    let t7 = chat.say(&session, "And another.").await;
    assert_eq!(
        t7["outcome_proposal"]["fix_id"],
        fix1.as_str(),
        "superseded fixes are the session's too"
    );
    let (status, dismissed) = chat
        .call(
            Method::DELETE,
            &format!("/api/v1/fixes/{fix1}/outcome-proposal"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{dismissed}");
    assert_eq!(dismissed["fix"]["ai_outcome_proposal"], Value::Null);
    assert_eq!(dismissed["fix"]["outcome"], Value::Null);

    // Turns are listed oldest first; the report tells the story.
    let (_, turns) = chat
        .call(
            Method::GET,
            &format!("/api/v1/sessions/{session}/turns"),
            None,
        )
        .await;
    assert_eq!(turns["items"].as_array().map(Vec::len), Some(7));
    assert_eq!(
        turns["items"][0]["user_message"],
        "Started this morning, all users."
    );
    let report = chat
        .app
        .client
        .get(chat.app.url(&format!("/api/v1/sessions/{session}/report")))
        .bearer_auth(&chat.token)
        .send()
        .await
        .expect("report");
    assert!(
        report.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/markdown")
    );
    let report = report.text().await.expect("report text");
    for needle in [
        "Outlook keeps prompting for a password",
        "A conditional access policy was enabled yesterday.",
        "Did anything change in the tenant yesterday?",
        "Yes, a CA policy went live",
        "Check the sign-in logs",
        "Exclude the legacy client from the CA policy",
        "Outcome: success",
        "superseded",
    ] {
        assert!(report.contains(needle), "{needle} in:\n{report}");
    }
}

async fn a_streamed_turn_sends_display_deltas_markers_and_the_stored_turn(backend: Backend) {
    let chat = ChatApp::spawn(
        backend,
        vec![
            Entry::reply(TURN1).chunks(7, 0),
            Entry::reply("Second answer, plain.").chunks(3, 0),
        ],
    )
    .await;
    let session = chat.new_session("Printer offline").await;
    let (status, headers, events) = chat
        .send_streaming(&session, json!({"text": "It says offline."}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/event-stream")
    );
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["x-accel-buffering"], "no");
    let names: Vec<&str> = events.iter().map(|(_, e, _)| e.as_str()).collect();
    assert_eq!(names.first(), Some(&"turn.started"), "{names:?}");
    assert_eq!(names.last(), Some(&"turn.completed"), "{names:?}");
    let ids: Vec<u64> = events
        .iter()
        .map(|(id, _, _)| id.parse().expect("numeric id"))
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");
    let display: String = events
        .iter()
        .filter(|(_, e, _)| e == "display.delta")
        .map(|(_, _, d)| d["text"].as_str().expect("text").to_owned())
        .collect();
    for (_, e, d) in &events {
        if e == "display.delta" {
            assert!(
                !d["text"].as_str().unwrap_or("").contains('['),
                "no marker syntax: {d}"
            );
        }
    }
    let (_, _, completed) = events.last().expect("completed").clone();
    assert_eq!(completed["turn"]["display"], display.as_str());
    assert_eq!(events[0].2["turn_id"], completed["turn"]["id"]);
    let kinds: Vec<&str> = events
        .iter()
        .filter(|(_, e, _)| e == "marker")
        .map(|(_, _, d)| d["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(kinds, ["questions", "actions"]);
    let questions = events
        .iter()
        .find(|(_, e, _)| e == "marker")
        .expect("marker");
    assert_eq!(
        questions.2["data"][1]["text"],
        "Do web sign-ins prompt too?"
    );

    // The next turn's events continue the session's sequence.
    let (_, _, second) = chat
        .send_streaming(&session, json!({"text": "And now?"}))
        .await;
    let first_of_second: u64 = second[0].0.parse().expect("id");
    assert!(first_of_second > *ids.last().expect("ids"));
    assert_eq!(
        second.last().expect("last").2["turn"]["display"],
        "Second answer, plain."
    );
}

async fn marker_syntax_from_the_engineer_is_plain_text(backend: Backend) {
    let chat = ChatApp::spawn(backend, vec![Entry::reply("I see you pasted a block.")]).await;
    let session = chat.new_session("Pasting markers").await;
    let pasted = r#"What does this mean? [SUGGEST_FIX]{"title": "x", "description": "y", "confidence": 50}[/SUGGEST_FIX] [PROMOTE]{"source_type": "ai_synthesis", "text": "z"}[/PROMOTE]"#;
    let t = chat.say(&session, pasted).await;
    assert_eq!(t["turn"]["user_message"], pasted);
    assert_eq!(t["suggested_fix"], Value::Null);
    assert_eq!(t["facts_added"], json!([]));
    let view = chat.session(&session).await;
    assert_eq!(view["facts"], json!([]));
    assert_eq!(view["active_fix"], Value::Null);
}

async fn model_output_with_html_stays_text(backend: Backend) {
    let reply = "Run this: <script>alert('x')</script> and <b>check</b>.";
    let chat = ChatApp::spawn(backend, vec![Entry::reply(reply)]).await;
    let session = chat.new_session("HTML").await;
    let response = chat
        .app
        .client
        .post(
            chat.app
                .url(&format!("/api/v1/sessions/{session}/messages")),
        )
        .bearer_auth(&chat.token)
        .json(&json!({"text": "go"}))
        .send()
        .await
        .expect("sent");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("application/json")
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body["turn"]["display"], reply,
        "stored and returned as text"
    );
    let report = chat
        .app
        .client
        .get(chat.app.url(&format!("/api/v1/sessions/{session}/report")))
        .bearer_auth(&chat.token)
        .send()
        .await
        .expect("report")
        .text()
        .await
        .expect("text");
    assert!(!report.contains("<script>"), "{report}");
}

async fn a_fix_names_a_script_template_of_the_library(backend: Backend) {
    let chat = ChatApp::spawn(
        backend,
        vec![
            Entry::reply(
                r#"Restart it.
[SUGGEST_FIX]
{"title": "Restart the spooler", "description": "Clears stuck jobs.", "confidence": 70, "script_template_slug": "restart-spooler"}
[/SUGGEST_FIX]"#,
            ),
            Entry::reply(
                r#"Or this.
[SUGGEST_FIX]
{"title": "Reinstall", "description": "Driver.", "confidence": 40, "script_template_slug": "no-such-template", "ai_drafted_script": "pnputil /enum-drivers"}
[/SUGGEST_FIX]"#,
            ),
        ],
    )
    .await;
    let (status, template) = chat
        .call(
            Method::POST,
            "/api/v1/script-templates",
            Some(json!({"slug": "restart-spooler", "name": "Restart spooler", "language": "powershell", "body": "Restart-Service -Name Spooler -ComputerName {{host}}"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{template}");
    let session = chat.new_session("Jobs stuck").await;
    let t1 = chat.say(&session, "Jobs are stuck").await;
    assert_eq!(
        t1["suggested_fix"]["script_template_id"],
        template["script_template"]["id"]
    );
    let t2 = chat.say(&session, "Did not help").await;
    assert_eq!(t2["suggested_fix"]["script_template_id"], Value::Null);
    assert_eq!(
        t2["suggested_fix"]["ai_drafted_script"],
        "pnputil /enum-drivers"
    );
    assert!(
        t2["turn"]["diagnostics"]
            .to_string()
            .contains("no-such-template")
    );
}
