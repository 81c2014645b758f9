//! The knowledge base through HTTP, on both backends: flows, imports,
//! search (ranking, typos, identifiers, freshness, tenancy), and the turn's
//! retrieval and suggested flows.

use llm::fake::Entry;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::chat::{ChatApp, system_text};
use crate::helpers::Backend;

crate::on_both!(
    flows_are_created_listed_edited_and_deleted,
    an_import_creates_updates_by_slug_and_reports_each_rejection,
    an_import_reads_markdown_files_beside_json_flows,
    search_ranks_by_words_identifiers_and_survives_typos,
    search_sees_every_write_at_once_and_only_the_callers_account,
    a_turn_is_grounded_in_the_matching_flows_and_suggests_them,
);

fn printer() -> Value {
    json!({
        "title": "Printer shows offline although it is on",
        "symptoms": ["Printer offline but ready", "Use Printer Offline is greyed out"],
        "tags": ["Printing", "SNMP"],
        "body": "## Diagnostic questions\n- Can you ping the printer?\n\n## Checks\n### Check the port\nThe IP may have changed.\n```powershell\nGet-PrinterPort\n```",
        "resolution": "Update the Standard TCP/IP port to the printer's address."
    })
}

async fn flows_are_created_listed_edited_and_deleted(backend: Backend) {
    let chat = ChatApp::spawn(backend, vec![]).await;
    let (status, created) = chat
        .call(Method::POST, "/api/v1/flows", Some(printer()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let flow = &created["flow"];
    assert_eq!(flow["slug"], "printer-shows-offline-although-it-is-on");
    assert_eq!(flow["tags"], json!(["printing", "snmp"]));
    assert_eq!(flow["symptoms"][1], "Use Printer Offline is greyed out");
    let id = flow["id"].as_str().expect("id").to_owned();

    let (status, again) = chat
        .call(Method::POST, "/api/v1/flows", Some(printer()))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    assert_eq!(again["error"]["code"], "slug_taken");
    let (status, bad) = chat
        .call(
            Method::POST,
            "/api/v1/flows",
            Some(json!({"title": "No body", "body": " "})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");

    for i in 0..3 {
        let (status, _) = chat
            .call(
                Method::POST,
                "/api/v1/flows",
                Some(
                    json!({"title": format!("VPN flow {i}"), "body": "steps", "symptoms": "drops"}),
                ),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (_, page) = chat.call(Method::GET, "/api/v1/flows?limit=2", None).await;
    assert_eq!(
        page["items"][0]["slug"],
        "printer-shows-offline-although-it-is-on"
    );
    let cursor = page["next_cursor"].as_str().expect("more");
    let (_, rest) = chat
        .call(
            Method::GET,
            &format!("/api/v1/flows?limit=2&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(2), "{rest}");
    assert_eq!(rest["items"][0]["symptoms"], json!(["drops"]));

    let mut edited = printer();
    edited["title"] = json!("Printer offline (edited)");
    edited["slug"] = json!("printer-offline");
    let (status, updated) = chat
        .call(Method::PUT, &format!("/api/v1/flows/{id}"), Some(edited))
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["flow"]["slug"], "printer-offline");
    assert_eq!(updated["flow"]["title"], "Printer offline (edited)");

    let other = chat
        .app
        .other_account_token("Other MSP", "olga@other.test")
        .await;
    let (status, _) = chat
        .app
        .call(
            Method::GET,
            &format!("/api/v1/flows/{id}"),
            None,
            Some(&other),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another account's flow");

    let (status, _) = chat
        .call(Method::DELETE, &format!("/api/v1/flows/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = chat
        .call(Method::GET, &format!("/api/v1/flows/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn an_import_creates_updates_by_slug_and_reports_each_rejection(backend: Backend) {
    let chat = ChatApp::spawn(backend, vec![]).await;
    let mut first = printer();
    first["slug"] = json!("printer-offline");
    let (status, report) = chat
        .call(
            Method::POST,
            "/api/v1/flows/import",
            Some(json!({"flows": [first.clone(), {"title": "", "body": "x"}, {"title": "DNS", "body": "steps", "slug": "Bad Slug"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["created"], 1);
    assert_eq!(report["updated"], 0);
    let rejected = report["rejected"].as_array().expect("rejected");
    assert_eq!(rejected.len(), 2);
    assert_eq!(rejected[0]["index"], 1);
    assert!(
        rejected[0]["reason"]
            .as_str()
            .expect("why")
            .contains("title")
    );
    assert_eq!(rejected[1]["index"], 2);
    assert!(
        rejected[1]["reason"]
            .as_str()
            .expect("why")
            .contains("slug")
    );

    first["title"] = json!("Printer offline, revised");
    let (_, report) = chat
        .call(
            Method::POST,
            "/api/v1/flows/import",
            Some(json!({"flows": [first.clone(), first]})),
        )
        .await;
    assert_eq!(report["created"], 0);
    assert_eq!(report["updated"], 1, "{report}");
    assert_eq!(report["stored"][0]["result"], "updated");
    assert!(
        report["rejected"][0]["reason"]
            .as_str()
            .expect("why")
            .contains("earlier in this import")
    );
    let (_, list) = chat.call(Method::GET, "/api/v1/flows", None).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(list["items"][0]["title"], "Printer offline, revised");
}

async fn an_import_reads_markdown_files_beside_json_flows(backend: Backend) {
    let chat = ChatApp::spawn(backend, vec![]).await;
    let vpn = "---\ntitle: VPN drops every ten minutes\nsymptoms:\n  - VPN disconnects\ntags: [VPN]\n---\n## Checks\n### Check the lease\n```\nipconfig /all\n```\n\n## Resolution\nRaise the DHCP lease on the VPN pool.\n";
    let (status, report) = chat
        .call(
            Method::POST,
            "/api/v1/flows/import",
            Some(json!({
                "flows": [printer()],
                "files": [
                    {"name": "no-title.md", "text": "---\ntags: [x]\n---\nSteps"},
                    {"name": "vpn-drops.md", "text": vpn},
                    {"name": "no-front-matter.md", "text": "Just steps"},
                ],
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["created"], 2, "{report}");
    let rejected = report["rejected"].as_array().expect("rejected");
    assert_eq!(rejected.len(), 2, "{report}");
    assert_eq!(rejected[0]["index"], 1);
    assert_eq!(rejected[0]["file"], "no-title.md");
    assert!(
        rejected[0]["reason"]
            .as_str()
            .expect("why")
            .contains("title")
    );
    assert_eq!(rejected[1]["index"], 3);
    assert_eq!(rejected[1]["file"], "no-front-matter.md");
    let stored = report["stored"].as_array().expect("stored");
    let vpn_item = stored
        .iter()
        .find(|s| s["file"] == "vpn-drops.md")
        .unwrap_or_else(|| panic!("the VPN file in {report}"));
    assert_eq!(vpn_item["index"], 2);
    assert_eq!(
        vpn_item["slug"], "vpn-drops",
        "the slug comes from the file name"
    );
    assert!(
        stored
            .iter()
            .any(|s| s["index"] == 0 && s["file"].is_null())
    );

    let (_, found) = chat
        .call(Method::GET, "/api/v1/flows/search?q=vpn+disconnects", None)
        .await;
    let flow = &found["items"][0]["flow"];
    assert_eq!(flow["slug"], "vpn-drops", "{found}");
    let (_, full) = chat
        .call(
            Method::GET,
            &format!("/api/v1/flows/{}", flow["id"].as_str().expect("id")),
            None,
        )
        .await;
    assert_eq!(
        full["flow"]["resolution"],
        "Raise the DHCP lease on the VPN pool."
    );
    assert_eq!(full["flow"]["tags"], json!(["vpn"]), "tags are lower-cased");
}

pub(crate) async fn import(chat: &ChatApp, flows: Vec<Value>) {
    let (status, report) = chat
        .call(
            Method::POST,
            "/api/v1/flows/import",
            Some(json!({ "flows": flows })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["rejected"], json!([]), "{report}");
}

fn flow(slug: &str, title: &str, symptoms: &str, body: &str, tags: &[&str]) -> Value {
    json!({"slug": slug, "title": title, "symptoms": symptoms, "body": body, "tags": tags})
}

fn small_kb() -> Vec<Value> {
    vec![
        flow(
            "outlook-password-prompts",
            "Outlook keeps asking for the password",
            "Outlook prompts for credentials again and again",
            "Check modern authentication and the sign-in logs for error AADSTS50076.",
            &["outlook", "m365"],
        ),
        flow(
            "printer-offline",
            "Printer shows offline",
            "Printer offline although it is on",
            "Check the port monitor and SNMP status.",
            &["printing"],
        ),
        flow(
            "windows-update-0x80070005",
            "Windows Update fails with access denied",
            "Updates fail to install",
            "Error 0x80070005 means access denied; reset the update components.",
            &["windows-update"],
        ),
        flow(
            "vpn-wont-connect",
            "VPN client won't connect",
            "VPN connection fails",
            "Check the certificate and the gateway address.",
            &["vpn"],
        ),
    ]
}

async fn top(chat: &ChatApp, q: &str) -> Vec<String> {
    let (status, body) = chat
        .call(
            Method::GET,
            &format!("/api/v1/flows/search?q={}", urlencode(q)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["flow"]["slug"].as_str().expect("slug").to_owned())
        .collect()
}

fn urlencode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn search_ranks_by_words_identifiers_and_survives_typos(backend: Backend) {
    let chat = ChatApp::spawn(backend, vec![]).await;
    import(&chat, small_kb()).await;
    assert_eq!(top(&chat, "printer offline").await[0], "printer-offline");
    assert_eq!(
        top(&chat, "0x80070005").await[0],
        "windows-update-0x80070005",
        "an error code finds its flow"
    );
    assert_eq!(
        top(&chat, "AADSTS50076").await[0],
        "outlook-password-prompts"
    );
    assert_eq!(
        top(&chat, "outlok keeps promting for pasword").await[0],
        "outlook-password-prompts",
        "small typos still match"
    );
    assert_eq!(top(&chat, "vpn").await, ["vpn-wont-connect"]);
    assert_eq!(top(&chat, "the and of").await, Vec::<String>::new());

    let (_, body) = chat
        .call(Method::GET, "/api/v1/flows/search?q=snmp&limit=1", None)
        .await;
    let item = &body["items"][0];
    assert_eq!(item["flow"]["slug"], "printer-offline");
    assert!(item["score"].as_f64() > Some(0.0));
    assert!(
        item["snippet"].as_str().expect("snippet").contains("SNMP"),
        "{item}"
    );
    let (status, _) = chat
        .call(Method::GET, "/api/v1/flows/search?q=", None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn search_sees_every_write_at_once_and_only_the_callers_account(backend: Backend) {
    let chat = ChatApp::spawn(backend, vec![]).await;
    import(&chat, small_kb()).await;
    assert_eq!(top(&chat, "spooler").await, Vec::<String>::new());
    let (_, created) = chat
        .call(
            Method::POST,
            "/api/v1/flows",
            Some(flow(
                "spooler-crash",
                "Print spooler keeps crashing",
                "spooler stops",
                "Clear the spool folder.",
                &[],
            )),
        )
        .await;
    assert_eq!(
        top(&chat, "spooler").await,
        ["spooler-crash"],
        "found at once"
    );
    let id = created["flow"]["id"].as_str().expect("id");
    let (_, _) = chat
        .call(
            Method::PUT,
            &format!("/api/v1/flows/{id}"),
            Some(flow(
                "spooler-crash",
                "Print queue frozen",
                "jobs stuck",
                "Restart it.",
                &[],
            )),
        )
        .await;
    assert_eq!(
        top(&chat, "spooler").await,
        Vec::<String>::new(),
        "edits are seen"
    );
    assert_eq!(top(&chat, "frozen").await, ["spooler-crash"]);
    chat.call(Method::DELETE, &format!("/api/v1/flows/{id}"), None)
        .await;
    assert_eq!(
        top(&chat, "frozen").await,
        Vec::<String>::new(),
        "deletions too"
    );

    let other = chat
        .app
        .other_account_token("Other MSP", "olga@other.test")
        .await;
    let (_, theirs) = chat
        .app
        .call(
            Method::GET,
            "/api/v1/flows/search?q=printer",
            None,
            Some(&other),
        )
        .await;
    assert_eq!(
        theirs["items"],
        json!([]),
        "another account's flows stay theirs"
    );
}

async fn a_turn_is_grounded_in_the_matching_flows_and_suggests_them(backend: Backend) {
    let chat = ChatApp::spawn(backend, vec![Entry::reply("Let's check the port first.")]).await;
    import(&chat, small_kb()).await;
    let session = chat.new_session("Printer offline on floor 2").await;
    let turn = chat
        .say(&session, "The printer shows offline but it is on")
        .await;
    let suggested = turn["suggested_flows"].as_array().expect("suggested");
    assert_eq!(suggested[0]["flow"]["slug"], "printer-offline", "{turn}");
    assert!(suggested[0]["score"].as_f64() > Some(0.0));
    let system = system_text(&chat.request(0));
    assert!(
        system.contains("Check the port monitor and SNMP status."),
        "the flow reaches the prompt"
    );
    assert!(turn["turn"]["timings"]["retrieval_ms"].as_f64().is_some());
}
