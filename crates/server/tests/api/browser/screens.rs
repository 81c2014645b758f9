//! First-run setup, sign-in and the sessions list in a real browser.

use super::{Browser, login};
use crate::chat::ChatApp;
use crate::helpers::{Backend, TestApp};

#[tokio::test]
async fn first_run_setup_then_sign_out_and_in() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[]).await;
    let Some(browser) = Browser::start().await else {
        return;
    };
    // A new installation sends the visitor to sign-in, which links setup.
    browser.goto(&app.url("/")).await;
    browser.find("[data-testid=login]").await;
    browser.assert_accessible("sign-in").await;
    browser.click("[data-testid=to-setup]").await;
    browser.find("[data-testid=setup]").await;
    browser.assert_accessible("setup").await;
    browser
        .type_into("[data-testid=setup-account]", "Acme IT")
        .await;
    browser
        .type_into("[data-testid=setup-name]", "Ada Admin")
        .await;
    browser
        .type_into("[data-testid=setup-email]", "ada@acme.test")
        .await;
    browser
        .type_into("[data-testid=setup-password]", crate::helpers::PASSWORD)
        .await;
    browser.click("[data-testid=setup-submit]").await;
    browser
        .wait_for_text("[data-testid=nav-user]", "ada@acme.test")
        .await;
    browser.find("[data-testid=session-list]").await;

    // Setup works once: a second attempt says so.
    browser.goto(&app.url("/#/setup")).await;
    browser
        .type_into("[data-testid=setup-account]", "Other")
        .await;
    browser.type_into("[data-testid=setup-name]", "Eve").await;
    browser
        .type_into("[data-testid=setup-email]", "eve@other.test")
        .await;
    browser
        .type_into("[data-testid=setup-password]", crate::helpers::PASSWORD)
        .await;
    browser.click("[data-testid=setup-submit]").await;
    let error = browser
        .until(
            "the setup error",
            "return document.querySelector('[data-testid=setup-error]')?.textContent;",
            vec![],
        )
        .await;
    assert!(!error.as_str().unwrap_or_default().is_empty());

    // Sign out, then a wrong password is refused with a message.
    browser.goto(&app.url("/#/sessions")).await;
    browser.click("[data-testid=sign-out]").await;
    browser.find("[data-testid=login]").await;
    browser
        .fill("[data-testid=login-email]", "ada@acme.test")
        .await;
    browser
        .fill("[data-testid=login-password]", "not the password")
        .await;
    browser.click("[data-testid=login-submit]").await;
    let error = browser
        .until(
            "the sign-in error",
            "return document.querySelector('[data-testid=login-error]')?.textContent;",
            vec![],
        )
        .await;
    assert!(!error.as_str().unwrap_or_default().is_empty());
    login(&browser, &app).await;
    browser.close().await;
}

/// True when the list shows exactly the session `arguments[0]`.
const ONLY_ROW: &str = "const rows = document.querySelectorAll('[data-testid=session-row]');
     return rows.length === 1 && rows[0].dataset.sessionId === arguments[0];";

#[tokio::test]
async fn the_sessions_list_searches_filters_and_resumes() {
    let chat = ChatApp::spawn(Backend::Sqlite, vec![]).await;
    let printer = chat.new_session("Printer on floor 2 is offline").await;
    let vpn = chat.new_session("VPN drops every ten minutes").await;
    let (status, _) = chat
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/sessions/{vpn}"),
            Some(serde_json::json!({"status": "resolved"})),
        )
        .await;
    assert!(status.is_success());
    let Some(browser) = Browser::start().await else {
        return;
    };
    login(&browser, &chat.app).await;
    browser
        .until(
            "two sessions",
            "return document.querySelectorAll('[data-testid=session-row]').length === 2;",
            vec![],
        )
        .await;
    browser.assert_accessible("sessions list").await;

    browser
        .type_into("[data-testid=session-search]", "printer")
        .await;
    browser
        .until(
            "the search to leave only the printer session",
            ONLY_ROW,
            vec![serde_json::json!(printer)],
        )
        .await;

    // Clear the search, filter by status.
    browser
        .js(
            "const q = document.querySelector('[data-testid=session-search]');
             q.value = ''; q.dispatchEvent(new Event('input', {bubbles: true}));",
            vec![],
        )
        .await;
    browser
        .find("[data-testid=session-status-filter]")
        .await
        .select_by_value("resolved")
        .await
        .expect("status filter");
    browser
        .until(
            "the filter to leave only the resolved session",
            ONLY_ROW,
            vec![serde_json::json!(vpn)],
        )
        .await;

    // Opening a row resumes the session where it was.
    browser
        .click(&format!("[data-session-id=\"{vpn}\"] a"))
        .await;
    browser
        .wait_for_text("[data-testid=session-status]", "resolved")
        .await;
    browser.close().await;
}

#[tokio::test]
async fn the_knowledge_base_writes_edits_searches_and_imports_flows() {
    let chat = ChatApp::spawn(Backend::Sqlite, vec![]).await;
    let Some(browser) = Browser::start().await else {
        return;
    };
    login(&browser, &chat.app).await;
    browser.click("[data-testid=nav-kb]").await;
    browser.find("[data-testid=flow-list-empty]").await;
    browser.assert_accessible("knowledge base (empty)").await;

    // A new flow.
    browser.click("[data-testid=flow-new]").await;
    browser
        .fill("[data-testid=flow-form-title]", "Printer shows offline")
        .await;
    browser
        .fill(
            "[data-testid=flow-form-symptoms]",
            "Printer offline but ready\nJobs stuck in the queue",
        )
        .await;
    browser
        .fill("[data-testid=flow-form-tags]", "printing, spooler")
        .await;
    browser
        .fill(
            "[data-testid=flow-form-body]",
            "## Checks\n### Restart the spooler\n```powershell\nRestart-Service Spooler\n```",
        )
        .await;
    browser
        .fill(
            "[data-testid=flow-form-resolution]",
            "Fix the port address.",
        )
        .await;
    browser.click("[data-testid=flow-form-save]").await;
    browser
        .wait_for_text("[data-testid=flow-title]", "Printer shows offline")
        .await;
    browser
        .wait_for_text("[data-testid=flow-body]", "Restart-Service Spooler")
        .await;
    browser.assert_accessible("a flow").await;

    // Edit it.
    browser.click("[data-testid=flow-edit]").await;
    browser
        .fill(
            "[data-testid=flow-form-title]",
            "Printer shows offline (SNMP)",
        )
        .await;
    browser.click("[data-testid=flow-form-save]").await;
    browser
        .wait_for_text("[data-testid=flow-title]", "(SNMP)")
        .await;

    // Import two Markdown files, one of them broken.
    let dir = tempfile::tempdir().expect("dir");
    let good = dir.path().join("vpn-drops.md");
    std::fs::write(
        &good,
        "---\ntitle: VPN drops every ten minutes\nsymptoms: VPN disconnects\n---\n## Checks\n### Lease\n```\nipconfig /all\n```\n",
    )
    .expect("file");
    let bad = dir.path().join("broken.md");
    std::fs::write(&bad, "no front matter").expect("file");
    browser.click("[data-testid=tab-flows]").await;
    let files = browser.find("[data-testid=flow-import-files]").await;
    files
        .send_keys(&format!("{}\n{}", good.display(), bad.display()))
        .await
        .expect("files chosen");
    browser.click("[data-testid=flow-import-submit]").await;
    browser
        .wait_for_text(
            "[data-testid=flow-import-summary]",
            "1 created, 0 updated, 1 rejected",
        )
        .await;
    browser
        .wait_for_text("[data-testid=flow-import-report]", "broken.md")
        .await;
    browser
        .until(
            "both flows listed",
            "return document.querySelectorAll('[data-testid=flow-row]').length === 2;",
            vec![],
        )
        .await;
    browser.screenshot("knowledge-base").await;
    browser.assert_accessible("knowledge base").await;

    // Search finds by symptom.
    browser
        .type_into("[data-testid=flow-search]", "vpn disconnects")
        .await;
    browser
        .until(
            "the search to show the VPN flow first",
            "const rows = document.querySelectorAll('[data-testid=flow-row]');
             return rows.length >= 1 && rows[0].textContent.includes('VPN drops');",
            vec![],
        )
        .await;

    // A script template, its parameters found in the body.
    browser.click("[data-testid=tab-templates]").await;
    browser.find("[data-testid=template-list-empty]").await;
    browser.click("[data-testid=template-new]").await;
    browser
        .fill("[data-testid=template-name]", "Restart the spooler")
        .await;
    browser
        .fill(
            "[data-testid=template-body]",
            "Invoke-Command -ComputerName {{computer}} { Restart-Service Spooler }",
        )
        .await;
    browser.click("[data-testid=template-save]").await;
    browser
        .wait_for_text("[data-testid=template-row]", "parameters: computer")
        .await;
    browser.assert_accessible("script templates").await;
    browser.close().await;
}

#[tokio::test]
async fn the_admin_screen_manages_tokens_users_and_teams() {
    let chat = ChatApp::spawn(Backend::Sqlite, vec![]).await;
    let Some(browser) = Browser::start().await else {
        return;
    };
    login(&browser, &chat.app).await;
    browser.click("[data-testid=nav-admin]").await;
    browser
        .wait_for_text("[data-testid=provider-name]", "anthropic")
        .await;
    assert_eq!(browser.count("[data-testid=provider-notice]").await, 0);

    browser
        .fill("[data-testid=token-name]", "ticket sync")
        .await;
    browser.click("[data-testid=token-create]").await;
    let token = browser.wait_for_text("[data-testid=token-value]", "").await;
    // The token shown works as a bearer token.
    let (status, me) = chat
        .app
        .call_with(
            &crate::helpers::TestApp::bare_client(),
            reqwest::Method::GET,
            "/api/v1/me",
            None,
            Some(token.trim()),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{me}");
    browser
        .wait_for_text("[data-testid=token-row]", "ticket sync")
        .await;

    browser
        .fill("[data-testid=user-email]", "bo@acme.test")
        .await;
    browser.fill("[data-testid=user-name]", "Bo Engineer").await;
    browser
        .fill("[data-testid=user-password]", crate::helpers::PASSWORD)
        .await;
    browser.click("[data-testid=user-create]").await;
    browser
        .wait_for_text("[data-testid=user-row]", "bo@acme.test")
        .await;

    browser
        .fill("[data-testid=team-name]", "Service desk")
        .await;
    browser.click("[data-testid=team-create]").await;
    browser
        .wait_for_text("[data-testid=team-row]", "Service desk")
        .await;
    let bo = browser
        .attribute_of(
            "[data-testid=team-add-member] option",
            "Bo Engineer",
            "value",
        )
        .await;
    browser
        .find("[data-testid=team-add-member]")
        .await
        .select_by_value(&bo)
        .await
        .expect("member chosen");
    browser
        .until(
            "Bo to be a member",
            "const team = document.querySelector('[data-testid=team-row]');
             return team && [...team.querySelectorAll('ul li')].some((li) => li.textContent.includes('Bo Engineer'));",
            vec![],
        )
        .await;
    browser.assert_accessible("administration").await;
    browser.close().await;
}

#[tokio::test]
async fn without_a_model_the_admin_screen_says_so() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[]).await;
    app.admin_token().await;
    let Some(browser) = Browser::start().await else {
        return;
    };
    login(&browser, &app).await;
    browser.goto(&app.url("/#/admin")).await;
    let notice = browser
        .wait_for_text("[data-testid=provider-notice]", "")
        .await;
    assert!(notice.contains("FLOWPILOT_LLM_PROVIDER"), "{notice}");
    browser
        .wait_for_text("[data-testid=provider-name]", "guide")
        .await;
    browser.close().await;
}

#[tokio::test]
async fn dark_mode_follows_the_system_and_stays_readable() {
    let chat = ChatApp::spawn(Backend::Sqlite, vec![]).await;
    chat.new_session("Printer on floor 2 is offline").await;
    let Some(browser) = Browser::start_with(&["--force-dark-mode"]).await else {
        return;
    };
    login(&browser, &chat.app).await;
    let dark = browser
        .js(
            "return matchMedia('(prefers-color-scheme: dark)').matches
                 && getComputedStyle(document.body).backgroundColor;",
            vec![],
        )
        .await;
    assert_eq!(
        dark,
        serde_json::json!("rgb(18, 22, 28)"),
        "the dark palette"
    );
    browser.assert_accessible("sessions list, dark").await;
    browser.click("[data-testid=session-row] a").await;
    browser.find("[data-testid=workspace]").await;
    browser.assert_accessible("workspace, dark").await;
    browser.close().await;
}
