//! The session workspace in a real browser: a full incident, two tabs kept
//! in sync, and a provider failure retried without losing the message.

use llm::fake::{Entry, Fault};
use serde_json::{Value, json};

use super::{Browser, login, open_workspace};
use crate::chat::ChatApp;
use crate::helpers::Backend;

const TURN1: &str = r#"Prompts for **every user at once** point at the tenant, not at the PCs. Before touching any client, look at what changed in Entra ID: conditional access policies, MFA registration and the legacy authentication settings are the usual suspects. Collect one failing sign-in so we can read its error code.
[QUESTIONS]
[{"text": "Did anything change in the tenant yesterday?", "context": "Conditional access, MFA"}]
[/QUESTIONS]
[ACTIONS]
[{"label": "Check the sign-in logs", "command": "Get-MgAuditLogSignIn -Top 20", "description": "Look for failures"}]
[/ACTIONS]
That is the quickest way to tell a tenant policy from a broken profile."#;

/// Whether the element `arguments[0]` is shown.
const VISIBLE: &str = "const el = document.querySelector(arguments[0]);
     return Boolean(el && el.getClientRects().length && getComputedStyle(el).visibility !== 'hidden');";

fn lane_item(view: &Value, kind: &str) -> String {
    view["task_lane"][kind][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("a {kind} item in {view}"))
        .to_owned()
}

crate::on_both!(
    a_full_incident_in_the_browser,
    two_tabs_stay_in_sync,
    a_provider_failure_keeps_the_message_and_retries,
    a_library_fix_asks_for_its_parameters_and_screenshots_go_with_the_message,
    after_a_restart_the_page_catches_up_on_what_it_missed,
);

async fn a_full_incident_in_the_browser(backend: Backend) {
    let chat = ChatApp::spawn(backend, vec![Entry::reply(TURN1).chunks(8, 30)]).await;
    crate::flows::import(
        &chat,
        vec![json!({
            "title": "Outlook asks for the password again and again",
            "symptoms": ["Outlook keeps asking for password", "credential prompt loop"],
            "body": "## Checks\n### Look at the sign-in logs\nConditional access failures show there.",
        })],
    )
    .await;
    let Some(browser) = Browser::start().await else {
        return;
    };
    login(&browser, &chat.app).await;
    browser.assert_accessible("sessions list (empty)").await;

    // A new session: the problem text is the first message, streamed.
    browser
        .type_into(
            "[data-testid=new-session-text]",
            "Outlook keeps asking everyone for their password since this morning",
        )
        .await;
    browser.click("[data-testid=new-session-submit]").await;
    browser.find("[data-testid=workspace]").await;

    // The reply appears progressively: several partial states are seen
    // before the end of the text arrives.
    let mut partials = std::collections::BTreeSet::new();
    let mut stop_shown = false;
    let started = std::time::Instant::now();
    loop {
        let shown = browser
            .js(
                "const el = document.querySelector('[data-testid=streaming-reply]');
                 return el ? el.textContent : null;",
                vec![],
            )
            .await;
        if let Some(text) = shown.as_str() {
            if text.contains("broken profile") {
                break;
            }
            if !text.is_empty() {
                partials.insert(text.len());
            }
            stop_shown |=
                browser.js(VISIBLE, vec![json!("[data-testid=stop]")]).await == json!(true);
        } else if !partials.is_empty() {
            break; // the turn finished between two looks
        }
        assert!(
            started.elapsed().as_secs() < 15,
            "the reply never finished streaming"
        );
        tokio::time::sleep(std::time::Duration::from_millis(40)).await;
    }
    assert!(
        partials.len() >= 3,
        "the reply should appear progressively; saw {partials:?}"
    );
    assert!(stop_shown, "Stop is offered while the reply streams");
    // Markers never show as text; the lane gets the question and the check.
    let reply = browser
        .wait_for_text("[data-testid=turn] .assistant", "broken profile")
        .await;
    assert!(
        !reply.contains("[QUESTIONS]") && !reply.contains("\"text\""),
        "{reply}"
    );
    browser
        .wait_for_text(
            "[data-testid=question]",
            "Did anything change in the tenant",
        )
        .await;
    browser
        .wait_for_text("[data-testid=action-command]", "Get-MgAuditLogSignIn")
        .await;
    assert_eq!(
        browser.js(VISIBLE, vec![json!("[data-testid=stop]")]).await,
        json!(false),
        "no Stop once the reply is in"
    );
    // The matching runbook is suggested beside the answer and opens in place.
    browser
        .wait_for_text(
            "[data-testid=suggested-flow] summary",
            "Outlook asks for the password",
        )
        .await;
    browser.click("[data-testid=suggested-flow] summary").await;
    browser
        .wait_for_text(
            "[data-testid=suggested-flow]",
            "Conditional access failures show there",
        )
        .await;
    let session = browser
        .js("return location.hash.split('/')[2];", vec![])
        .await
        .as_str()
        .expect("session id in the hash")
        .to_owned();

    // Turn 2: answer the question, mark the check done, Enter sends.
    let view = chat.session(&session).await;
    let question = lane_item(&view, "questions");
    chat.fake.push(vec![Entry::reply(format!(
        r#"A new conditional access policy explains it, but so would the GPO that disables modern authentication.
[PROMOTE]
{{"source_type": "question", "source_ref": "{question}", "text": "A conditional access policy was enabled yesterday."}}
[/PROMOTE]
[ACTIONS]
[{{"label": "Check which GPOs apply on a Sales PC", "command": "gpresult /r /scope user", "description": "Look for Office identity settings"}}]
[/ACTIONS]
[FORK]
{{"fork_reason": "Two policies could cause the prompts", "options": [{{"label": "GPO disables ADAL"}}, {{"label": "CA blocks legacy auth", "description": "Tenant side"}}]}}
[/FORK]
[SUGGEST_FIX]
{{"title": "Enable modern authentication", "description": "Remove the GPO that disables **ADAL**.", "confidence": 80, "ai_drafted_script": "reg delete HKCU\\Software\\Microsoft\\Office\\16.0\\Common\\Identity /v EnableADAL /f"}}
[/SUGGEST_FIX]"#
    ))]);
    browser
        .type_into(
            "[data-testid=question-answer]",
            "Yes, a CA policy went live yesterday",
        )
        .await;
    browser
        .type_into(
            "[data-testid=action-result]",
            "Error 53003 on every sign-in",
        )
        .await;
    browser
        .wait_for_text("[data-testid=responses-note]", "2 task-lane answers")
        .await;
    browser
        .type_into("[data-testid=composer]", "Here is what I found.\n")
        .await;
    browser
        .wait_for_text("[data-testid=fix-title]", "Enable modern authentication")
        .await;
    // The message shows as written; its answers are listed under it.
    browser
        .until(
            "the second message as the engineer wrote it",
            "const m = document.querySelectorAll('[data-testid=turn] .user-message');
             return m.length === 2 && m[1].textContent === 'Here is what I found.';",
            vec![],
        )
        .await;
    let sent = chat.request(1).to_string();
    assert!(
        sent.contains("Yes, a CA policy went live yesterday"),
        "{sent}"
    );
    assert!(sent.contains("Error 53003 on every sign-in"), "{sent}");

    // The answered question became a fact, with its provenance.
    let fact = browser
        .wait_for_text(
            "[data-testid=fact]",
            "conditional access policy was enabled",
        )
        .await;
    assert!(fact.contains("from an answer"), "{fact}");
    // The fork made two branches beside the trunk; switch to the second.
    let branches = browser.count("[data-testid=branch]").await;
    assert_eq!(branches, 3, "the trunk and two branches");
    browser
        .wait_for_text("[data-testid=action-command]", "gpresult")
        .await;
    // The documentation's picture, mid-incident: a taller window shows the
    // whole right column (fix, task lane, what we know) at once.
    browser
        .client
        .set_window_size(1280, 1200)
        .await
        .expect("window resized");
    browser
        .js(
            "document.querySelector('.ws-right').scrollTop = 0; document.activeElement?.blur();",
            vec![],
        )
        .await;
    browser.screenshot("workspace").await;
    browser
        .client
        .set_window_size(1280, 800)
        .await
        .expect("window resized");
    let target = browser
        .attribute_of(
            "[data-testid=branch]",
            "CA blocks legacy auth",
            "data-branch-id",
        )
        .await;
    browser
        .click(&format!(
            "[data-branch-id=\"{target}\"] [data-testid=branch-switch]"
        ))
        .await;
    browser
        .until(
            "the CA branch to be active",
            "return document.querySelector(`[data-branch-id=\"${arguments[0]}\"]`)
               ?.getAttribute('aria-current') === 'true';",
            vec![json!(target)],
        )
        .await;
    assert_eq!(
        chat.session(&session).await["session"]["active_branch_id"],
        target.as_str()
    );

    // A note of the engineer's own.
    browser
        .type_into("[data-testid=fact-note]", "Only users in the Sales group")
        .await;
    browser.click("[data-testid=fact-add]").await;
    let added = browser
        .wait_for_text("[data-testid=fact]", "Only users in the Sales group")
        .await;
    assert!(added.contains("your note"), "{added}");

    // Edit it.
    let note_id = browser
        .attribute_of("[data-testid=fact]", "Sales group", "data-fact-id")
        .await;
    let note = format!("[data-fact-id=\"{note_id}\"]");
    browser
        .click(&format!("{note} [data-testid=fact-edit]"))
        .await;
    browser
        .fill(
            &format!("{note} [data-testid=fact-edit-text]"),
            "Only the 42 users in the Sales group",
        )
        .await;
    browser
        .click(&format!("{note} [data-testid=fact-edit-save]"))
        .await;
    browser
        .wait_for_text("[data-testid=fact]", "Only the 42 users in the Sales group")
        .await;

    // Rule out the other hypothesis, then revive it with new evidence.
    let gpo = browser
        .attribute_of(
            "[data-testid=branch]",
            "GPO disables ADAL",
            "data-branch-id",
        )
        .await;
    let gpo = format!("[data-branch-id=\"{gpo}\"]");
    browser
        .click(&format!("{gpo} [data-testid=branch-rule-out]"))
        .await;
    browser.wait_for_text(&gpo, "ruled out").await;
    browser
        .click(&format!("{gpo} [data-testid=branch-revive]"))
        .await;
    browser
        .type_into(
            &format!("{gpo} [data-testid=branch-evidence]"),
            "The GPO is still linked to the Sales OU",
        )
        .await;
    browser
        .click(&format!("{gpo} [data-testid=branch-revive-submit]"))
        .await;
    let revived = browser.wait_for_text(&gpo, "revived").await;
    assert!(
        revived.contains("still linked to the Sales OU"),
        "{revived}"
    );

    // Accept the fix.
    browser.click("[data-testid=fix-accept]").await;
    browser
        .until(
            "the fix to be accepted",
            "return document.querySelector('[data-testid=fix-accept]')?.getAttribute('aria-pressed') === 'true';",
            vec![],
        )
        .await;
    browser
        .wait_for_text("[data-testid=fix-script-body]", "EnableADAL")
        .await;
    let card = browser
        .wait_for_text("[data-testid=fix-card]", "80% confident")
        .await;
    assert!(
        !card.contains("null") && !card.contains("undefined"),
        "no placeholder leaks into the fix card: {card}"
    );

    browser.assert_accessible("workspace mid-incident").await;

    // Turn 3: the assistant thinks it worked; the banner confirms it.
    let fix = chat.session(&session).await["active_fix"]["id"]
        .as_str()
        .expect("active fix")
        .to_owned();
    chat.fake.push(vec![Entry::reply(format!(
        r#"Good news: no prompts since the GPO was removed.
[FIX_OUTCOME]
{{"fix_id": "{fix}", "outcome": "success", "reason": "No prompts after the change"}}
[/FIX_OUTCOME]"#
    ))]);
    browser
        .type_into("[data-testid=composer]", "Applied it, no more prompts.\n")
        .await;
    browser
        .wait_for_text("[data-testid=outcome-proposal]", "worked")
        .await;
    browser.click("[data-testid=proposal-confirm]").await;
    browser
        .until(
            "the outcome to be recorded",
            "return document.querySelector('[data-testid=outcome-success]')?.getAttribute('aria-pressed') === 'true'
                 && !document.querySelector('[data-testid=outcome-proposal]');",
            vec![],
        )
        .await;
    assert_eq!(
        chat.session(&session).await["active_fix"]["outcome"],
        "success"
    );

    // The report has the tree; resolving closes the composer.
    let report = browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(document.querySelector('[data-testid=export-report]').href)
               .then((r) => r.text()).then(done, (e) => done(String(e)));",
            vec![],
        )
        .await
        .expect("report fetched");
    let report = report.as_str().unwrap_or_default();
    assert!(
        report.contains("GPO disables ADAL") && report.contains("CA blocks legacy auth"),
        "{report}"
    );
    assert!(report.contains("Enable modern authentication"), "{report}");
    browser.click("[data-testid=resolve-session]").await;
    browser
        .wait_for_text("[data-testid=session-status]", "resolved")
        .await;
    browser
        .until(
            "the composer to close",
            "return document.querySelector('[data-testid=composer]').disabled;",
            vec![],
        )
        .await;

    // The sessions list shows it.
    browser.goto(&chat.app.url("/#/sessions")).await;
    browser.find("[data-testid=session-row]").await;
    browser.screenshot("sessions").await;
    browser.close().await;
}

async fn two_tabs_stay_in_sync(backend: Backend) {
    let chat = ChatApp::spawn(
        backend,
        vec![Entry::reply("Checking the spooler first.").chunks(4, 20)],
    )
    .await;
    let session = chat.new_session("The printer upstairs is offline").await;
    let Some(browser) = Browser::start().await else {
        return;
    };
    open_workspace(&browser, &chat.app, &session).await;
    let url = chat.app.url(&format!("/#/sessions/{session}"));
    let (a, b) = browser.open_tab(&url).await;
    browser
        .wait_for_text("[data-testid=live-status]", "Live")
        .await;

    // A turn sent in tab A appears in tab B without a reload.
    browser.switch(&a).await;
    browser
        .type_into("[data-testid=composer]", "It shows offline on every PC\n")
        .await;
    browser
        .wait_for_text("[data-testid=turn] .assistant", "spooler first")
        .await;
    browser.switch(&b).await;
    browser
        .wait_for_text("[data-testid=turn] .assistant", "spooler first")
        .await;

    // A note added in tab B appears in tab A.
    browser
        .type_into("[data-testid=fact-note]", "Spooler restarted at 9:40")
        .await;
    browser.click("[data-testid=fact-add]").await;
    browser.switch(&a).await;
    browser
        .wait_for_text("[data-testid=fact]", "Spooler restarted at 9:40")
        .await;

    // A change made elsewhere (here: through the API) shows in both.
    let (status, _) = chat
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/sessions/{session}"),
            Some(json!({"status": "paused"})),
        )
        .await;
    assert!(status.is_success(), "{status}");
    browser
        .wait_for_text("[data-testid=session-status]", "paused")
        .await;
    browser.switch(&b).await;
    browser
        .wait_for_text("[data-testid=session-status]", "paused")
        .await;
    browser.close().await;
}

async fn a_provider_failure_keeps_the_message_and_retries(backend: Backend) {
    let chat = ChatApp::spawn(
        backend,
        vec![
            Entry::fault(Fault::Status {
                status: 401,
                retry_after: None,
                retry_after_ms: None,
                message: Some("invalid x-api-key".into()),
            })
            .times(2),
            Entry::reply("Third try worked: the VPN client needs an update."),
        ],
    )
    .await;
    let session = chat.new_session("VPN drops every ten minutes").await;
    let Some(browser) = Browser::start().await else {
        return;
    };
    open_workspace(&browser, &chat.app, &session).await;
    // Shift+Enter is a new line (WebDriver keys: Shift, Enter, release).
    let message = "It drops at exactly 10 minutes\non Wi-Fi and on cable";
    browser
        .type_into(
            "[data-testid=composer]",
            "It drops at exactly 10 minutes\u{e008}\u{e007}\u{e000}on Wi-Fi and on cable",
        )
        .await;
    browser.click("[data-testid=send]").await;
    let failure = browser
        .wait_for_text("[data-testid=turn-failure]", "could not answer")
        .await;
    assert!(
        failure.len() > "The assistant could not answer.".len(),
        "{failure}"
    );
    let kept = browser
        .js(
            "return document.querySelector('[data-testid=composer]').value;",
            vec![],
        )
        .await;
    assert_eq!(kept, message, "the typed message is kept");

    // The draft survives a reload too.
    browser.client.refresh().await.expect("reload");
    browser.find("[data-testid=workspace]").await;
    let kept = browser
        .until(
            "the draft after a reload",
            "return document.querySelector('[data-testid=composer]')?.value;",
            vec![],
        )
        .await;
    assert_eq!(kept, message);

    // Sent again, it fails again; Retry sends it once more.
    browser.click("[data-testid=send]").await;
    browser
        .wait_for_text("[data-testid=turn-failure]", "could not answer")
        .await;
    browser.click("[data-testid=retry]").await;
    browser
        .wait_for_text("[data-testid=turn] .assistant", "Third try worked")
        .await;
    let cleared = browser
        .js(
            "return document.querySelector('[data-testid=composer]').value;",
            vec![],
        )
        .await;
    assert_eq!(cleared, "", "the box clears once the turn is stored");
    let sent = chat.request(chat.fake.request_count() - 1);
    assert!(
        crate::chat::user_texts(&sent)
            .iter()
            .any(|t| t.contains("10 minutes\non Wi-Fi")),
        "the new line went with the message: {sent}"
    );
    browser.close().await;
}

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x64, 0xf8, 0xcf, 0x50,
    0x0f, 0x00, 0x03, 0x86, 0x01, 0x80, 0x5a, 0x34, 0x7d, 0x6b, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

async fn a_library_fix_asks_for_its_parameters_and_screenshots_go_with_the_message(
    backend: Backend,
) {
    let chat = ChatApp::spawn(
        backend,
        vec![
            Entry::reply(
                r#"The screenshot shows a driver error.
[SUGGEST_FIX]
{"title": "Reinstall the driver", "description": "Driver.", "confidence": 40, "ai_drafted_script": "pnputil /enum-drivers"}
[/SUGGEST_FIX]"#,
            ),
            Entry::reply(
                r#"Then it is the spooler.
[SUGGEST_FIX]
{"title": "Restart the spooler", "description": "Clears stuck jobs.", "confidence": 70, "script_template_slug": "restart-spooler", "ai_drafted_parameters": {"host": "PRN-01"}}
[/SUGGEST_FIX]"#,
            ),
        ],
    )
    .await;
    let (status, _) = chat
        .call(
            reqwest::Method::POST,
            "/api/v1/script-templates",
            Some(json!({"slug": "restart-spooler", "name": "Restart spooler", "language": "powershell",
                "body": "Restart-Service -Name Spooler -ComputerName {{host}} -Confirm:{{confirm}}"})),
        )
        .await;
    assert!(status.is_success());
    let session = chat.new_session("Jobs stuck in the print queue").await;
    let Some(browser) = Browser::start().await else {
        return;
    };
    open_workspace(&browser, &chat.app, &session).await;

    // A screenshot, attached from a file, goes with the message.
    let dir = tempfile::tempdir().expect("dir");
    let png = dir.path().join("error.png");
    std::fs::write(&png, PNG).expect("png");
    browser
        .find("[data-testid=attach-input]")
        .await
        .send_keys(&png.display().to_string())
        .await
        .expect("file chosen");
    browser.find("[data-testid=attachment] img").await;
    browser
        .type_into("[data-testid=composer]", "This error shows on every PC\n")
        .await;
    browser
        .wait_for_text("[data-testid=turn-images]", "1 image attached")
        .await;
    assert_eq!(
        browser.count("[data-testid=attachment]").await,
        0,
        "sent and cleared"
    );
    let sent = chat.request(0).to_string();
    assert!(sent.contains("image/png"), "{sent}");
    assert!(sent.contains("iVBORw0KGgo"), "the PNG's bytes: {sent}");

    // The library fix: the drafted value filled in, the missing one asked for.
    browser
        .type_into("[data-testid=composer]", "The driver is fine\n")
        .await;
    browser
        .wait_for_text("[data-testid=fix-title]", "Restart the spooler")
        .await;
    let host = browser
        .until(
            "the host parameter",
            "return document.querySelector('[data-testid=fix-param-host]')?.value;",
            vec![],
        )
        .await;
    assert_eq!(host, "PRN-01");
    browser
        .wait_for_text("[data-testid=fix-script-missing]", "confirm")
        .await;
    browser
        .type_into("[data-testid=fix-param-confirm]", "$false")
        .await;
    browser
        .wait_for_text(
            "[data-testid=fix-script-body]",
            "Restart-Service -Name Spooler -ComputerName PRN-01 -Confirm:$false",
        )
        .await;
    assert_eq!(browser.count("[data-testid=fix-script-missing]").await, 0);

    // The superseded suggestion, on demand.
    browser.click("[data-testid=earlier-fixes] summary").await;
    browser
        .wait_for_text("[data-testid=earlier-fix]", "Reinstall the driver")
        .await;
    browser.close().await;
}

async fn after_a_restart_the_page_catches_up_on_what_it_missed(backend: Backend) {
    let chat = ChatApp::spawn(backend, vec![]).await;
    let session = chat.new_session("Wi-Fi drops in meeting room 3").await;
    let Some(browser) = Browser::start().await else {
        return;
    };
    open_workspace(&browser, &chat.app, &session).await;
    browser
        .wait_for_text("[data-testid=live-status]", "Live")
        .await;

    // The server goes away; while it is down, another instance on the same
    // database records a note; then the server comes back on its address.
    let ChatApp { app, fake, token } = chat;
    let other = app.spawn_another(&[]).await;
    let stopped = app.stop();
    browser
        .wait_for_text("[data-testid=live-status]", "Reconnecting")
        .await;
    let (status, _) = other
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/sessions/{session}/facts"),
            Some(json!({"text": "Only the 5 GHz band drops"})),
            Some(&token),
        )
        .await;
    assert!(status.is_success(), "{status}");
    let app = stopped.start(&[]).await;

    // The page's event stream reconnects with Last-Event-ID and gets the
    // change it missed: the note shows without a reload.
    browser
        .wait_for_text("[data-testid=fact]", "Only the 5 GHz band drops")
        .await;
    browser
        .wait_for_text("[data-testid=live-status]", "Live")
        .await;
    drop((app, fake));
    browser.close().await;
}
