//! Diagnostic branching through HTTP against the fake provider, on both
//! backends: forks on the main line and inside branches (three levels),
//! switching with per-branch task lanes, ruling out and reviving, what the
//! prompts of branch turns hold, repeated and malformed forks, other
//! accounts, and the report's tree.

use llm::fake::Entry;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::chat::{ChatApp, system_text, user_texts};
use crate::helpers::Backend;

crate::on_both!(
    a_three_level_investigation_is_worked_through_and_reported,
    a_one_option_or_malformed_fork_makes_no_branches,
    another_accounts_branches_are_not_found,
    branch_changes_are_live_events_and_wait_for_a_running_turn,
);

fn fork(reason: &str, labels: &[(&str, &str)]) -> String {
    let options: Vec<Value> = labels
        .iter()
        .map(|(label, description)| json!({"label": label, "description": description}))
        .collect();
    format!(
        "[FORK]\n{}\n[/FORK]",
        json!({"fork_reason": reason, "options": options})
    )
}

/// The id of the branch labelled `label` in a session view.
fn branch_id(view: &Value, label: &str) -> String {
    view["branches"]
        .as_array()
        .expect("branches")
        .iter()
        .find(|b| b["label"] == label)
        .unwrap_or_else(|| panic!("a branch {label} in {view}"))["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

fn branch<'a>(view: &'a Value, id: &str) -> &'a Value {
    view["branches"]
        .as_array()
        .expect("branches")
        .iter()
        .find(|b| b["id"] == id)
        .unwrap_or_else(|| panic!("branch {id} in {view}"))
}

async fn switch(chat: &ChatApp, session: &str, branch: &str) -> (StatusCode, Value) {
    chat.call(
        Method::POST,
        &format!("/api/v1/sessions/{session}/branches/{branch}/switch"),
        None,
    )
    .await
}

async fn patch_branch(chat: &ChatApp, branch: &str, body: Value) -> (StatusCode, Value) {
    chat.call(
        Method::PATCH,
        &format!("/api/v1/branches/{branch}"),
        Some(body),
    )
    .await
}

fn lane_questions(view: &Value) -> Vec<String> {
    view["task_lane"]["questions"]
        .as_array()
        .expect("questions")
        .iter()
        .map(|q| q["text"].as_str().expect("text").to_owned())
        .collect()
}

async fn a_three_level_investigation_is_worked_through_and_reported(backend: Backend) {
    let chat = ChatApp::spawn(backend, vec![]).await;
    let (status, body) = chat
        .call(
            Method::POST,
            "/api/v1/flows",
            Some(json!({
                "title": "DNS forwarder timeouts on the domain controller",
                "symptoms": ["Internal names resolve, external names time out"],
                "tags": ["DNS"],
                "body": "## Checks\n### Test the forwarders\n```powershell\nGet-DnsServerForwarder\n```",
                "resolution": "Replace the dead forwarder."
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let s = chat
        .new_session("VPN users cannot resolve internal names")
        .await;

    // Main line: one plain turn, then a fork with questions to decide it.
    chat.fake.push(vec![
        Entry::reply("Names failing while IPs work points at DNS."),
        Entry::reply(format!(
            "Two places to look.\n{}\n[QUESTIONS]\n[{{\"text\": \"Which DNS servers does the VPN adapter use?\"}}]\n[/QUESTIONS]",
            fork(
                "Names fail over the VPN while IPs work.",
                &[
                    ("Client DNS settings", "The VPN adapter gets the wrong DNS servers."),
                    ("DNS server side", "The internal DNS server fails for VPN clients."),
                ]
            )
        )),
    ]);
    let t1 = chat.say(&s, "Only over the VPN; pinging IPs works").await;
    assert_eq!(t1["session"]["is_branching"], false);
    let t2 = chat.say(&s, "nslookup of intranet.corp fails").await;
    let f = &t2["fork"];
    assert!(f["fork_point_id"].is_string(), "{t2}");
    let labels: Vec<&str> = f["branches"]
        .as_array()
        .expect("branches")
        .iter()
        .map(|b| b["label"].as_str().expect("label"))
        .collect();
    assert_eq!(labels, ["Client DNS settings", "DNS server side"]);
    assert!(f["branches"][0]["branch_id"].is_string());
    assert_eq!(t2["session"]["is_branching"], true);

    let view = chat.session(&s).await;
    let root = view["session"]["active_branch_id"]
        .as_str()
        .expect("a fork on the main line stays on the main line")
        .to_owned();
    assert_eq!(branch(&view, &root)["is_root"], true);
    assert_eq!(f["active_branch_id"], root.as_str());
    let client = branch_id(&view, "Client DNS settings");
    let server = branch_id(&view, "DNS server side");
    assert_eq!(branch(&view, &client)["parent_branch_id"], root.as_str());
    assert_eq!(branch(&view, &client)["status"], "active");
    assert_eq!(
        view["fork_points"][0]["turn_id"], t2["turn"]["id"],
        "the fork point names the turn that forked"
    );
    assert_eq!(
        lane_questions(&view),
        ["Which DNS servers does the VPN adapter use?"]
    );
    let (_, trunk_turns) = chat
        .call(
            Method::GET,
            &format!("/api/v1/sessions/{s}/turns?branch_id={root}"),
            None,
        )
        .await;
    assert_eq!(
        trunk_turns["items"].as_array().expect("turns").len(),
        2,
        "the turns before the fork joined the main line: {trunk_turns}"
    );

    // A later main-line turn repeating the same fork makes no second set.
    chat.fake.push(vec![Entry::reply(format!(
        "Still the same two candidates.\n[QUESTIONS]\n[{{\"text\": \"Did it start after Monday's patches?\"}}]\n[/QUESTIONS]\n{}",
        fork(
            "Same question.",
            &[
                ("client dns settings", "again"),
                ("DNS server side", "again")
            ]
        )
    ))]);
    let t3 = chat.say(&s, "Main line: users say it started Monday").await;
    assert!(t3["fork"]["fork_point_id"].is_null(), "{t3}");
    assert!(
        t3["turn"]["diagnostics"]
            .as_array()
            .expect("diagnostics")
            .iter()
            .any(|d| d["marker"] == "fork"),
        "{t3}"
    );
    let view = chat.session(&s).await;
    assert_eq!(view["branches"].as_array().expect("branches").len(), 3);
    let version = view["session"]["state_version"].as_i64().expect("version");

    // Switch to the client branch: its own (empty) lane; a stale version is refused.
    let (status, body) = chat
        .call(
            Method::POST,
            &format!(
                "/api/v1/sessions/{s}/branches/{client}/switch?state_version={}",
                version - 1
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "stale_state_version");
    let (status, body) = switch(&chat, &s, &client).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["session"]["active_branch_id"], client.as_str());
    assert!(body["session"]["state_version"].as_i64().expect("version") > version);
    assert!(lane_questions(&chat.session(&s).await).is_empty());

    // A turn on the client branch: the main line up to the fork, not after it.
    chat.fake.push(vec![Entry::reply(
        "The adapter uses a public resolver.\n[PROMOTE]\n{\"source_type\": \"ai_synthesis\", \"text\": \"The VPN adapter points at 8.8.8.8\"}\n[/PROMOTE]\n[QUESTIONS]\n[{\"text\": \"Is split DNS configured on the VPN profile?\"}]\n[/QUESTIONS]",
    )]);
    let before = chat.fake.request_count();
    let a1 = chat
        .say(&s, "ipconfig /all shows the adapter's DNS servers")
        .await;
    assert_eq!(a1["turn"]["branch_id"], client.as_str());
    assert_eq!(a1["facts_added"][0]["branch_id"], client.as_str());
    let prompt = chat.request(before);
    let users = user_texts(&prompt);
    assert!(users.iter().any(|u| u.contains("Only over the VPN")));
    assert!(
        users
            .iter()
            .any(|u| u.contains("nslookup of intranet.corp"))
    );
    assert!(
        !users.iter().any(|u| u.contains("started Monday")),
        "main-line turns after the fork are not this branch's history: {users:?}"
    );
    let system = system_text(&prompt);
    assert!(system.contains("## Investigation branches"), "{system}");
    assert!(system.contains("\"Client DNS settings\" (open) ← you are here"));

    // Switch to the server branch; the client branch keeps its lane.
    let (status, _) = switch(&chat, &s, &server).await;
    assert_eq!(status, StatusCode::OK);
    assert!(lane_questions(&chat.session(&s).await).is_empty());

    // A fork inside the server branch moves to its first new branch, and the
    // prompt carried the client branch's summary and what it learned, and
    // the knowledge base.
    chat.fake.push(vec![Entry::reply(format!(
        "The server answers some queries.\n{}",
        fork(
            "The DNS server answers internal zones inconsistently.",
            &[
                ("Forwarder broken", "The forwarder times out."),
                ("Zone missing", "The VPN zone was not replicated."),
            ]
        )
    ))]);
    let before = chat.fake.request_count();
    let b1 = chat
        .say(
            &s,
            "The DNS server event log shows forwarder timeouts for some names",
        )
        .await;
    let system = system_text(&chat.request(before));
    assert!(
        system.contains("### \"Client DNS settings\" (open)"),
        "{system}"
    );
    assert!(system.contains("ipconfig /all shows the adapter"));
    assert!(system.contains("- Learned: The VPN adapter points at 8.8.8.8"));
    assert!(
        system.contains("DNS forwarder timeouts on the domain controller"),
        "retrieval runs on branch turns: {system}"
    );
    let view = chat.session(&s).await;
    let forwarder = branch_id(&view, "Forwarder broken");
    assert_eq!(b1["fork"]["active_branch_id"], forwarder.as_str());
    assert_eq!(view["session"]["active_branch_id"], forwarder.as_str());
    assert_eq!(
        branch(&view, &forwarder)["parent_branch_id"],
        server.as_str()
    );

    // Third level: a fork inside "Forwarder broken".
    chat.fake.push(vec![Entry::reply(format!(
        "Which forwarder?\n{}",
        fork(
            "Two forwarders are configured.",
            &[
                (
                    "Conditional forwarder",
                    "The corp.partner conditional forwarder is dead."
                ),
                ("ISP forwarder", "The ISP resolver drops queries."),
            ]
        )
    ))]);
    chat.say(&s, "Get-DnsServerForwarder lists two").await;
    let view = chat.session(&s).await;
    let conditional = branch_id(&view, "Conditional forwarder");
    assert_eq!(view["session"]["active_branch_id"], conditional.as_str());
    assert_eq!(
        branch(&view, &conditional)["parent_branch_id"],
        forwarder.as_str()
    );

    // Rule out the active branch: back to where it forked.
    let (status, body) = patch_branch(
        &chat,
        &conditional,
        json!({"status": "ruled_out", "evidence": "The partner zone answers from the DC"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["branch"]["status"], "ruled_out");
    assert_eq!(
        body["branch"]["ruled_out_reason"],
        "The partner zone answers from the DC"
    );
    assert_eq!(body["session"]["active_branch_id"], forwarder.as_str());
    let (status, body) = switch(&chat, &s, &conditional).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "branch_ruled_out");
    let (status, body) = patch_branch(&chat, &conditional, json!({"status": "revived"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = patch_branch(&chat, &root, json!({"status": "ruled_out"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "root_branch");

    // Revive with evidence: the conversation moves there and the prompt says why.
    let (status, body) = patch_branch(
        &chat,
        &conditional,
        json!({"status": "revived", "evidence": "A packet capture shows the partner forwarder timing out at 09:00"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["branch"]["status"], "revived");
    assert_eq!(body["session"]["active_branch_id"], conditional.as_str());
    chat.fake
        .push(vec![Entry::reply("Then the partner forwarder is it.")]);
    let before = chat.fake.request_count();
    chat.say(&s, "What next?").await;
    let system = system_text(&chat.request(before));
    assert!(
        system.contains("revived on new evidence: A packet capture shows the partner forwarder"),
        "{system}"
    );
    let (status, body) = patch_branch(&chat, &conditional, json!({"status": "resolved"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The client branch got its lane back; the main line too.
    switch(&chat, &s, &client).await;
    assert_eq!(
        lane_questions(&chat.session(&s).await),
        ["Is split DNS configured on the VPN profile?"]
    );
    switch(&chat, &s, &root).await;
    assert_eq!(
        lane_questions(&chat.session(&s).await),
        ["Did it start after Monday's patches?"]
    );

    // The report shows the tree, with why a hypothesis was ruled out.
    let response = chat
        .app
        .client
        .get(chat.app.url(&format!("/api/v1/sessions/{s}/report")))
        .bearer_auth(&chat.token)
        .send()
        .await
        .expect("report");
    let report = response.text().await.expect("text");
    assert!(report.contains("## Investigation"), "{report}");
    assert!(report.contains("- **Main line**"), "{report}");
    assert!(report.contains("  - Forked: Names fail over the VPN while IPs work."));
    assert!(
        report.contains("**Conditional forwarder** — resolved"),
        "{report}"
    );
    assert!(report.contains("Ruled out because: The partner zone answers from the DC"));
    assert!(report.contains("Revived on: A packet capture"));
    assert!(
        report.contains("**Client DNS settings** — open (1 turn)"),
        "{report}"
    );
}

async fn a_one_option_or_malformed_fork_makes_no_branches(backend: Backend) {
    let chat = ChatApp::spawn(
        backend,
        vec![
            Entry::reply(format!(
                "Only one idea.\n{}",
                fork("Just one.", &[("Printer driver", "The driver is old.")])
            )),
            Entry::reply("Broken.\n[FORK]\n{\"fork_reason\": \"x\", \"options\": [\n[/FORK]"),
        ],
    )
    .await;
    let s = chat.new_session("Printing fails").await;
    for message in ["It fails for everyone", "Still failing"] {
        let turn = chat.say(&s, message).await;
        assert!(turn["fork"].is_null(), "{turn}");
        assert!(
            turn["turn"]["diagnostics"]
                .as_array()
                .expect("diagnostics")
                .iter()
                .any(|d| d["marker"] == "fork"),
            "the reason is kept: {turn}"
        );
        assert!(
            !turn["turn"]["display"]
                .as_str()
                .expect("display")
                .contains("[FORK]")
        );
    }
    let view = chat.session(&s).await;
    assert_eq!(view["session"]["is_branching"], false);
    assert_eq!(view["branches"], json!([]));
}

async fn another_accounts_branches_are_not_found(backend: Backend) {
    let chat = ChatApp::spawn(
        backend,
        vec![Entry::reply(format!(
            "Two ideas.\n{}",
            fork(
                "Either side.",
                &[
                    ("Mailbox full", "Quota."),
                    ("Transport rule", "A rule blocks it.")
                ]
            )
        ))],
    )
    .await;
    let s = chat.new_session("Mail to one partner bounces").await;
    chat.say(&s, "NDR 5.7.1").await;
    let view = chat.session(&s).await;
    let b = branch_id(&view, "Mailbox full");
    let stranger = chat
        .app
        .other_account_token("Other MSP", "olga@other.test")
        .await;
    let missing = "00000000-0000-7000-8000-000000000009";
    let routes = |s: &str, b: &str| {
        vec![
            ("GET", format!("/api/v1/sessions/{s}/branches"), None),
            (
                "POST",
                format!("/api/v1/sessions/{s}/branches/{b}/switch"),
                None,
            ),
            (
                "PATCH",
                format!("/api/v1/branches/{b}"),
                Some(json!({"status": "ruled_out"})),
            ),
        ]
    };
    let absent = routes(missing, missing);
    for ((method, path, body), (_, absent_path, _)) in routes(&s, &b).into_iter().zip(absent) {
        let method: Method = method.parse().expect("method");
        let (status, answer) = chat
            .app
            .call(method.clone(), &path, body.clone(), Some(&stranger))
            .await;
        let (absent_status, absent_answer) = chat
            .app
            .call(method, &absent_path, body, Some(&chat.token))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {answer}");
        assert_eq!(absent_status, StatusCode::NOT_FOUND, "{absent_path}");
        assert_eq!(answer, absent_answer, "{path} reads like a missing id");
    }
    // A branch of one session is not found through another.
    let other = chat.new_session("Another problem").await;
    let (status, _) = switch(&chat, &other, &b).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let view = chat.session(&s).await;
    assert_eq!(branch(&view, &b)["status"], "active");
}

async fn branch_changes_are_live_events_and_wait_for_a_running_turn(backend: Backend) {
    let chat = ChatApp::spawn(
        backend,
        vec![Entry::reply(format!(
            "Two ideas.\n{}",
            fork(
                "Either side.",
                &[
                    ("Wi-Fi driver", "Old driver."),
                    ("Access point", "AP firmware.")
                ]
            )
        ))],
    )
    .await;
    let s = chat.new_session("Laptops drop off Wi-Fi").await;
    chat.say(&s, "Only the new laptops").await;
    let view = chat.session(&s).await;
    let driver = branch_id(&view, "Wi-Fi driver");
    let ap = branch_id(&view, "Access point");
    let mut events = chat.events_on(&chat.app, &s, None).await;
    let (status, _) = switch(&chat, &s, &driver).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = patch_branch(&chat, &ap, json!({"status": "ruled_out"})).await;
    assert_eq!(status, StatusCode::OK);
    let mut changes = Vec::new();
    while changes.len() < 2 {
        let (_, name, data) = events.next().await.expect("an event");
        if name == "session.changed" {
            changes.push(data);
        }
    }
    assert_eq!(changes[0]["kind"], "branch");
    assert_eq!(changes[0]["id"], driver.as_str());
    assert_eq!(changes[1]["kind"], "branch");
    assert_eq!(changes[1]["id"], ap.as_str());
    assert!(changes[1]["state_version"].as_i64() > changes[0]["state_version"].as_i64());

    // While a reply is being written, the conversation stays where it is.
    chat.fake.push(vec![
        Entry::reply("A slow answer about the driver, word by word.").chunks(4, 150),
    ]);
    let before = chat.fake.request_count();
    let client = chat.app.client.clone();
    let url = chat.app.url(&format!("/api/v1/sessions/{s}/messages"));
    let token = chat.token.clone();
    let running = tokio::spawn(async move {
        client
            .post(url)
            .bearer_auth(token)
            .json(&json!({"text": "Driver is from 2021"}))
            .send()
            .await
            .expect("sent")
            .status()
    });
    while chat.fake.request_count() == before {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let root = view["session"]["active_branch_id"].as_str().expect("root");
    let (status, body) = switch(&chat, &s, root).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "turn_in_progress");
    assert_eq!(running.await.expect("joined"), StatusCode::OK);
    let (status, _) = switch(&chat, &s, root).await;
    assert_eq!(status, StatusCode::OK);
    let (_, turns) = chat
        .call(
            Method::GET,
            &format!("/api/v1/sessions/{s}/turns?branch_id={driver}"),
            None,
        )
        .await;
    assert_eq!(turns["items"][0]["user_message"], "Driver is from 2021");
}
