//! `flowpilot serve` as real processes around a running turn: SIGTERM lets
//! the turn finish and be stored; a killed instance's turn is failed by
//! another instance once its lease runs out, and the session is free again.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use llm::fake::{Entry, FakeLlm, Script};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";
const REPLY: &str = "The spooler restarts cleanly; now check the port monitor, then the \
SNMP status setting of the printer's port, which fails across VLANs.";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A `flowpilot serve` process; killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    async fn start(database_url: &str, fake: &FakeLlm, extra: &[&str]) -> Self {
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowpilot"));
        for (key, _) in std::env::vars() {
            if key.starts_with("FLOWPILOT_") || key.ends_with("_API_KEY") {
                cmd.env_remove(key);
            }
        }
        let child = cmd
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--database-url", database_url])
            .args(["--llm-provider", "anthropic", "--llm-api-key", "test-key"])
            .args(["--llm-base-url", &fake.base_url()])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("flowpilot starts");
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::get(format!("{}/healthz", server.base))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "no /healthz within 30 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server
    }

    fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// First-run setup on `server`; returns an API token of the admin.
async fn admin_token(server: &Server) -> String {
    let http = reqwest::Client::new();
    let setup = http
        .post(server.url("/api/v1/setup"))
        .json(&json!({"account_name": "Acme", "name": "Ada", "email": "ada@acme.test", "password": PASSWORD}))
        .send()
        .await
        .expect("setup");
    assert_eq!(setup.status(), 201);
    let login = http
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"email": "ada@acme.test", "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("name=value")
        .to_owned();
    let token: Value = http
        .post(server.url("/api/v1/tokens"))
        .header("cookie", cookie)
        .json(&json!({"name": "tests"}))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("JSON");
    token["token"].as_str().expect("secret").to_owned()
}

async fn post(server: &Server, token: &str, path: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(server.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Reads SSE events (name, data) until one named `name`.
async fn read_until(response: &mut reqwest::Response, name: &str) -> Vec<(String, Value)> {
    let mut buf = String::new();
    let mut events = Vec::new();
    loop {
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let event = block.lines().find_map(|l| l.strip_prefix("event: "));
            let data = block.lines().find_map(|l| l.strip_prefix("data: "));
            if let (Some(event), Some(data)) = (event, data) {
                events.push((
                    event.to_owned(),
                    serde_json::from_str(data).expect("JSON data"),
                ));
                if event == name {
                    return events;
                }
            }
        }
        let chunk = tokio::time::timeout(Duration::from_secs(20), response.chunk())
            .await
            .expect("an event within 20 s")
            .expect("reads")
            .unwrap_or_else(|| panic!("the stream ended before {name}: {events:?}"));
        buf.push_str(&String::from_utf8_lossy(&chunk));
    }
}

async fn stream_send(server: &Server, token: &str, session: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url(&format!("/api/v1/sessions/{session}/messages")))
        .bearer_auth(token)
        .header("accept", "text/event-stream")
        .json(&json!({"text": "Restarted the spooler"}))
        .send()
        .await
        .expect("sent")
}

async fn sigterm_lets_the_running_turn_finish_and_be_stored(database_url: &str) {
    // About 2 s of reply.
    let fake = FakeLlm::start(Script::new(vec![Entry::reply(REPLY).chunks(8, 100)]))
        .await
        .expect("fake provider");
    let server = Server::start(database_url, &fake, &[]).await;
    let token = admin_token(&server).await;
    let (_, created) = post(
        &server,
        &token,
        "/api/v1/sessions",
        json!({"text": "Printer offline"}),
    )
    .await;
    let session = created["session"]["id"].as_str().expect("id").to_owned();
    let mut stream = stream_send(&server, &token, &session).await;
    read_until(&mut stream, "display.delta").await;

    server.signal("-TERM");
    let rest = read_until(&mut stream, "turn.completed").await;
    let completed = &rest.last().expect("completed").1;
    assert_eq!(completed["turn"]["status"], "completed");
    assert_eq!(completed["turn"]["display"], REPLY);
    let mut server = server;
    let status = server.child.wait().expect("exits");
    assert!(status.success(), "a graceful exit, got {status}");
    drop(server);

    // A new process on the same database finds the turn stored, not cut off.
    let again = Server::start(database_url, &fake, &[]).await;
    let turns: Value = reqwest::Client::new()
        .get(again.url(&format!("/api/v1/sessions/{session}/turns")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert_eq!(turns["items"][0]["status"], "completed", "{turns}");
    assert_eq!(turns["items"][0]["display"], REPLY);
}

#[tokio::test]
async fn sigterm_during_a_turn_on_sqlite_lets_it_finish_before_exiting() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("fp.db").display());
    sigterm_lets_the_running_turn_finish_and_be_stored(&url).await;
}

#[tokio::test]
async fn sigterm_during_a_turn_on_postgresql_lets_it_finish_before_exiting() {
    let url = store::test_support::fresh_postgres_url()
        .await
        .expect("a fresh PostgreSQL database");
    sigterm_lets_the_running_turn_finish_and_be_stored(&url).await;
}

#[tokio::test]
async fn a_killed_instances_turn_is_failed_by_another_after_the_lease_and_the_session_freed() {
    let url = store::test_support::fresh_postgres_url()
        .await
        .expect("a fresh PostgreSQL database");
    // A reply of about 10 s: the instance is killed long before its end.
    let fake = FakeLlm::start(Script::new(vec![
        Entry::reply(REPLY).chunks(2, 150),
        Entry::reply("Fresh answer.").repeating(),
    ]))
    .await
    .expect("fake provider");
    let lease = ["--turn-lease-secs", "2"];
    let doomed = Server::start(&url, &fake, &lease).await;
    let survivor = Server::start(&url, &fake, &lease).await;
    let token = admin_token(&doomed).await;
    let (_, created) = post(
        &doomed,
        &token,
        "/api/v1/sessions",
        json!({"text": "Printer offline"}),
    )
    .await;
    let session = created["session"]["id"].as_str().expect("id").to_owned();
    let mut stream = stream_send(&doomed, &token, &session).await;
    let started = read_until(&mut stream, "turn.started").await;
    let turn_id = started[0].1["turn_id"]
        .as_str()
        .expect("turn id")
        .to_owned();

    // Killed once the provider has the request: mid-reply.
    let deadline = Instant::now() + Duration::from_secs(10);
    while fake.chunks_sent() == 0 {
        assert!(Instant::now() < deadline, "the reply never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    doomed.signal("-KILL");
    let killed_at = Instant::now();
    let messages = format!("/api/v1/sessions/{session}/messages");
    let (status, body) = post(&survivor, &token, &messages, json!({"text": "hello?"})).await;
    assert_eq!(status, 409, "the lease still holds the session: {body}");

    // The survivor gives up on the turn once the lease has run out.
    let mut events = reqwest::Client::new()
        .get(survivor.url(&format!("/api/v1/sessions/{session}/events")))
        .bearer_auth(&token)
        .header("last-event-id", "0")
        .send()
        .await
        .expect("sent");
    let seen = read_until(&mut events, "turn.failed").await;
    let failed = &seen.last().expect("failed").1;
    assert_eq!(failed["turn_id"], turn_id.as_str());
    assert_eq!(failed["error"]["code"], "instance_lost");
    assert!(
        killed_at.elapsed() < Duration::from_secs(10),
        "freed {:?} after the kill",
        killed_at.elapsed()
    );

    let (status, body) = post(&survivor, &token, &messages, json!({"text": "hello?"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["turn"]["display"], "Fresh answer.", "{body}");
    let turns: Value = reqwest::Client::new()
        .get(survivor.url(&format!("/api/v1/sessions/{session}/turns")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert_eq!(turns["items"][0]["status"], "failed");
    assert_eq!(turns["items"][0]["error"]["code"], "instance_lost");
}

#[tokio::test]
async fn serve_demo_on_a_fresh_data_dir_lets_an_engineer_work_an_incident_with_the_offline_guide() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowpilot"));
    for (key, _) in std::env::vars() {
        if key.starts_with("FLOWPILOT_") || key.ends_with("_API_KEY") {
            cmd.env_remove(key);
        }
    }
    let mut child = cmd
        .args(["serve", "--demo", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let stdout = child.stdout.take().expect("stdout");
    // Read stdout to its end (a closed pipe would fail the server's next
    // write), handing on the password line.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Some((_, p)) = line.split_once("with the password ") {
                let _ = tx.send(p.trim().to_owned());
            }
        }
    });
    let password = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(60)))
        .await
        .expect("reader")
        .expect("the demo prints a password");
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(server.url("/healthz")).await.is_err() {
        assert!(Instant::now() < deadline, "no /healthz within 30 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let http = reqwest::Client::new();
    let login = http
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"email": "demo@flowpilot.example", "password": password}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 200);
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("cookie")
        .to_owned();
    let token: Value = http
        .post(server.url("/api/v1/tokens"))
        .header("cookie", cookie)
        .json(&json!({"name": "t"}))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("JSON");
    let token = token["token"].as_str().expect("secret").to_owned();
    let (_, created) = post(
        &server,
        &token,
        "/api/v1/sessions",
        json!({"text": "Printer offline"}),
    )
    .await;
    let session = created["session"]["id"].as_str().expect("id").to_owned();
    let (status, turn) = post(
        &server,
        &token,
        &format!("/api/v1/sessions/{session}/messages"),
        json!({"text": "the printer shows offline in windows although it is switched on"}),
    )
    .await;
    assert_eq!(status, 200, "{turn}");
    assert_eq!(turn["turn"]["model"], "offline-guide");
    assert_eq!(
        turn["suggested_flows"][0]["flow"]["slug"], "printer-offline-but-on",
        "{turn}"
    );
    assert!(
        turn["task_lane"]["questions"]
            .as_array()
            .is_some_and(|q| !q.is_empty())
    );
    assert!(turn["task_lane"]["actions"][0]["command"].is_string());
}
