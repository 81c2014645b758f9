//! `Browser`: a chromedriver process, a fresh Chromium profile and a
//! WebDriver session, with the waits, clicks and checks the tests use.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::process::{Child, Command};

use crate::helpers::{PASSWORD, TestApp};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long a wait for something on the page may take.
const WAIT: Duration = Duration::from_secs(15);

const AXE_VERSION: &str = "4.11.1";
/// sha256 of `axe-core-4.11.1.tgz` as the npm registry serves it.
const AXE_TGZ_SHA256: &str = "5b86f813d96904f2d925fed5715877c75fc1cc140f89565fb42145e7801b2305";

pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: tempfile::TempDir,
}

impl Drop for Browser {
    /// Chromium outlives a killed chromedriver: end every process of this
    /// test's profile, also when the test failed before `close`.
    fn drop(&mut self) {
        let _ = self.driver.start_kill();
        let _ = std::process::Command::new("pkill")
            .arg("-f")
            .arg(format!("user-data-dir={}", self.profile.path().display()))
            .status();
    }
}

impl Browser {
    /// A headless Chromium at 1280×800, or `None` (with a notice) when
    /// Chromium is not installed and this is not CI.
    pub async fn start() -> Option<Self> {
        Self::start_with(&[]).await
    }

    /// As `start`, with more Chromium flags.
    pub async fn start_with(extra_args: &[&str]) -> Option<Self> {
        if !Path::new(CHROMEDRIVER).exists() || !Path::new(CHROMIUM).exists() {
            assert!(
                std::env::var_os("CI").is_none(),
                "browser tests need Chromium and ChromeDriver: apt-get install chromium chromium-driver"
            );
            eprintln!(
                "skipped: browser tests need `apt-get install chromium chromium-driver` (they always run in CI)"
            );
            return None;
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        wait_for_driver(&url).await;

        let profile = tempfile::tempdir().expect("profile dir");
        let mut args: Vec<String> = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1280,800",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        args.extend(extra_args.iter().map(|s| (*s).to_owned()));
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"binary": CHROMIUM, "args": args}),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&url)
            .await
            .expect("a WebDriver session with Chromium");
        Some(Self {
            client,
            driver,
            profile,
        })
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("page loads");
    }

    /// The first element matching `css`, once it exists.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css} within {WAIT:?}: {e}"))
    }

    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::Css(css))
            .await
            .expect("find_all")
    }

    /// Clicks `css`, retrying while a re-render replaces the element.
    pub async fn click(&self, css: &str) {
        let started = Instant::now();
        loop {
            let result = self.find(css).await.click().await;
            match result {
                Ok(()) => return,
                Err(_) if started.elapsed() < WAIT => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("could not click {css}: {e}"),
            }
        }
    }

    /// Types `text` into `css` (WebDriver key events: `\n` is Enter).
    pub async fn type_into(&self, css: &str, text: &str) {
        self.keys(css, text, false).await;
    }

    /// Replaces the value of the field `css` with `text`.
    pub async fn fill(&self, css: &str, text: &str) {
        self.keys(css, text, true).await;
    }

    /// Types into `css`, looking it up again when a re-render replaced it
    /// (or had not laid it out yet) before the first key went in.
    async fn keys(&self, css: &str, text: &str, clear: bool) {
        let started = Instant::now();
        loop {
            let el = self.find(css).await;
            let cleared = if clear { el.clear().await } else { Ok(()) };
            let result = match cleared {
                Ok(()) => el.send_keys(text).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => return,
                Err(e) if retryable(&e) && started.elapsed() < WAIT => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("typing into {css}: {e}"),
            }
        }
    }

    /// Runs `script` (a function body; `arguments` are `args`).
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Waits until `script` returns a truthy value; returns it.
    pub async fn until(&self, what: &str, script: &str, args: Vec<Value>) -> Value {
        let started = Instant::now();
        loop {
            let value = self.js(script, args.clone()).await;
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                _ => true,
            };
            if truthy {
                return value;
            }
            assert!(started.elapsed() < WAIT, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The text of the first `css` element once it contains `needle`.
    pub async fn wait_for_text(&self, css: &str, needle: &str) -> String {
        self.first_containing(css, needle, None).await
    }

    /// The attribute `attr` of the first `css` element once one contains
    /// `needle` (the id of the row that shows a given text, say).
    pub async fn attribute_of(&self, css: &str, needle: &str, attr: &str) -> String {
        self.first_containing(css, needle, Some(attr)).await
    }

    async fn first_containing(&self, css: &str, needle: &str, attr: Option<&str>) -> String {
        let found = self
            .until(
                &format!("{css} to contain {needle:?}"),
                "const [css, needle, attr] = arguments;
                 for (const el of document.querySelectorAll(css)) {
                   if (el.textContent.includes(needle)) return attr ? el.getAttribute(attr) : el.textContent;
                 }
                 return null;",
                vec![json!(css), json!(needle), json!(attr)],
            )
            .await;
        found.as_str().unwrap_or_default().to_owned()
    }

    /// How many elements match `css`.
    pub async fn count(&self, css: &str) -> usize {
        self.find_all(css).await.len()
    }

    /// Runs axe-core on the page: no serious or critical violations.
    pub async fn assert_accessible(&self, screen: &str) {
        let source = axe_source();
        self.js(&format!("{source}\n;return true;"), vec![]).await;
        let violations = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {resultTypes: ['violations']})
                   .then((r) => done(r.violations
                     .filter((v) => v.impact === 'serious' || v.impact === 'critical')
                     .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                                   nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5)}))))
                   .catch((e) => done([{id: 'axe-error', help: String(e)}]));",
                vec![],
            )
            .await
            .expect("axe runs");
        let list = violations.as_array().cloned().unwrap_or_default();
        assert!(
            list.is_empty(),
            "{screen}: serious or critical accessibility violations:\n{}",
            serde_json::to_string_pretty(&list).unwrap_or_default()
        );
    }

    /// Saves a PNG of the page as `name.png`: into `docs/screenshots/`
    /// when `FLOWPILOT_UPDATE_SCREENSHOTS=1`, else into a temporary folder.
    pub async fn screenshot(&self, name: &str) {
        // Passing notices would cover part of the page.
        self.js(
            "document.querySelectorAll('.toast:not(.error)').forEach((t) => t.remove());",
            vec![],
        )
        .await;
        let png = self.client.screenshot().await.expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        let dir = if std::env::var("FLOWPILOT_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots")
        } else {
            std::env::temp_dir().join("flowpilot-screenshots")
        };
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot written");
    }

    /// Opens a second tab on `url` and returns to this one; returns both
    /// window handles (this one first).
    pub async fn open_tab(
        &self,
        url: &str,
    ) -> (fantoccini::wd::WindowHandle, fantoccini::wd::WindowHandle) {
        let first = self.client.window().await.expect("window");
        let created = self.client.new_window(true).await.expect("new tab");
        self.client
            .switch_to_window(created.handle.clone())
            .await
            .expect("switch");
        self.goto(url).await;
        (first, created.handle)
    }

    pub async fn switch(&self, handle: &fantoccini::wd::WindowHandle) {
        self.client
            .switch_to_window(handle.clone())
            .await
            .expect("switch tab");
    }

    /// Ends the test's browser, failing if the page reported an error
    /// (a script error or a failed request shows as an error toast).
    pub async fn close(self) {
        let errors = self
            .js(
                "return [...document.querySelectorAll('.toast.error')].map((t) => t.textContent);",
                vec![],
            )
            .await;
        assert_eq!(errors, json!([]), "the page reported errors");
        // Ends the WebDriver session (Chromium quits); drop ends the rest.
        let _ = self.client.clone().close().await;
    }
}

/// Signs in through the sign-in form as the admin `ChatApp` sets up.
pub async fn login(browser: &Browser, app: &TestApp) {
    browser.goto(&app.url("/#/login")).await;
    browser
        .fill("[data-testid=login-email]", "ada@acme.test")
        .await;
    browser.fill("[data-testid=login-password]", PASSWORD).await;
    browser.click("[data-testid=login-submit]").await;
    browser.find("[data-testid=session-list]").await;
}

/// Whether an error came from the page changing under the command: the
/// element was replaced, or not yet shown, by a re-render.
fn retryable(e: &fantoccini::error::CmdError) -> bool {
    let text = e.to_string();
    text.contains("stale element") || text.contains("not interactable")
}

/// Signs in and opens the workspace of `session`.
pub async fn open_workspace(browser: &Browser, app: &TestApp, session: &str) {
    login(browser, app).await;
    browser
        .goto(&app.url(&format!("/#/sessions/{session}")))
        .await;
    browser.find("[data-testid=workspace]").await;
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

async fn wait_for_driver(url: &str) {
    let started = Instant::now();
    let client = reqwest::Client::new();
    loop {
        if let Ok(r) = client.get(format!("{url}/status")).send().await
            && r.status().is_success()
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver did not answer on {url}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// axe-core's `axe.min.js`, fetched once from the npm registry.
fn axe_source() -> String {
    static SOURCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SOURCE
        .get_or_init(|| {
            let file = axe_dir().join("package/axe.min.js");
            if !file.exists() {
                fetch_axe(&axe_dir());
            }
            std::fs::read_to_string(&file).expect("axe.min.js readable")
        })
        .clone()
}

fn axe_dir() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(format!(".cache/flowpilot-tools/axe-core-{AXE_VERSION}"))
}

fn fetch_axe(dir: &Path) {
    let staging = dir.with_extension("partial");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).expect("axe staging dir");
    let status = std::process::Command::new("npm")
        .args([
            "pack",
            &format!("axe-core@{AXE_VERSION}"),
            "--silent",
            "--pack-destination",
        ])
        .arg(&staging)
        .stdout(Stdio::null())
        .status()
        .expect("npm runs (browser tests fetch axe-core from the npm registry)");
    assert!(status.success(), "npm pack axe-core@{AXE_VERSION} failed");
    let tgz = staging.join(format!("axe-core-{AXE_VERSION}.tgz"));
    let bytes = std::fs::read(&tgz).expect("axe-core tarball");
    let digest = hex::encode(Sha256::digest(&bytes));
    assert_eq!(digest, AXE_TGZ_SHA256, "axe-core tarball hash");
    let status = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(&tgz)
        .arg("-C")
        .arg(&staging)
        .arg("package/axe.min.js")
        .status()
        .expect("tar runs");
    assert!(status.success(), "unpacking axe-core");
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(&staging, dir).expect("axe-core in place");
}
