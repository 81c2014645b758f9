//! Model and engineer text never becomes live HTML in the browser.

use llm::fake::Entry;
use serde_json::json;

use super::{Browser, open_workspace};
use crate::chat::ChatApp;
use crate::helpers::Backend;

/// Each payload, if it ran, would record itself in `window.__xss`.
const MODEL_XSS: &str = r#"Here is the log you asked for:
<img src="x" onerror="(window.__xss = window.__xss || []).push('model img')">
<script>(window.__xss = window.__xss || []).push('model script')</script>
[a link](javascript:(window.__xss=window.__xss||[]).push('model link'))
<a href="javascript:(window.__xss=window.__xss||[]).push('model href')" id="evil">open</a>
<iframe src="javascript:parent.__xss=['model iframe']"></iframe>
<svg><animate onbegin="(window.__xss = window.__xss || []).push('model svg')" attributeName="x" dur="1s"/></svg>
[SUGGEST_FIX]
{"title": "<img src=x onerror=\"(window.__xss=window.__xss||[]).push('fix title')\">Restart", "description": "<img src=x onerror=\"(window.__xss=window.__xss||[]).push('fix description')\">", "confidence": 50}
[/SUGGEST_FIX]
End of the log."#;

const USER_XSS: &str = r#"<img src=x onerror="(window.__xss=window.__xss||[]).push('user img')"> the printer is <b>offline</b>"#;

crate::on_both!(html_in_model_output_and_in_a_message_does_not_run);

async fn html_in_model_output_and_in_a_message_does_not_run(backend: Backend) {
    let chat = ChatApp::spawn(backend, vec![Entry::reply(MODEL_XSS).chunks(7, 5)]).await;
    let session = chat.new_session("A printer problem").await;
    let Some(browser) = Browser::start().await else {
        return;
    };
    open_workspace(&browser, &chat.app, &session).await;
    browser
        .type_into("[data-testid=composer]", &format!("{USER_XSS}\n"))
        .await;
    browser
        .wait_for_text("[data-testid=turn] .assistant", "End of the log")
        .await;
    browser.find("[data-testid=fix-title]").await;
    // Give any image error handler time to fire, had one survived.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    let ran = browser.js("return window.__xss ?? null;", vec![]).await;
    assert_eq!(ran, serde_json::Value::Null, "a payload ran: {ran}");
    let live = browser
        .js(
            "return {
               handlers: [...document.querySelectorAll('*')].filter((el) =>
                 [...el.attributes].some((a) => a.name.startsWith('on'))).length,
               scripts: document.querySelectorAll('main script, main iframe').length,
               js_links: [...document.querySelectorAll('main a')].filter((a) =>
                 (a.getAttribute('href') || '').trim().toLowerCase().startsWith('javascript:')).length,
             };",
            vec![],
        )
        .await;
    assert_eq!(
        live,
        json!({"handlers": 0, "scripts": 0, "js_links": 0}),
        "no live HTML from text"
    );

    // The engineer's message shows as the text they typed.
    let user = browser
        .wait_for_text("[data-testid=turn] .user-message", "the printer is")
        .await;
    assert!(user.contains("<img src=x onerror="), "{user}");
    assert!(user.contains("<b>offline</b>"), "{user}");
    // The fix title is text too.
    let title = browser
        .wait_for_text("[data-testid=fix-title]", "Restart")
        .await;
    assert!(title.contains("<img"), "{title}");

    // Clicking what is left of the links runs nothing either.
    for link in browser.find_all("[data-testid=turn] .assistant a").await {
        let _ = link.click().await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let ran = browser.js("return window.__xss ?? null;", vec![]).await;
    assert_eq!(ran, serde_json::Value::Null, "a link ran: {ran}");
    browser.close().await;
}
