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
