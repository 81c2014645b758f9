//! `ChatApp`: a server wired to a fake provider on loopback (speaking the
//! real Anthropic wire protocol), signed in as an admin, with helpers for
//! sessions and turns.

use llm::fake::{Entry, FakeLlm, Script};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};

/// Declares each `async fn name(backend: Backend)` as a test on SQLite and
/// one on PostgreSQL.
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                super::$name($crate::helpers::Backend::Sqlite).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                super::$name($crate::helpers::Backend::Postgres).await;
            })*
        }
    };
}

pub struct ChatApp {
    pub app: TestApp,
    pub fake: FakeLlm,
    pub token: String,
}

impl ChatApp {
    /// A server whose provider answers from `entries`, in order.
    pub async fn spawn(backend: Backend, entries: Vec<Entry>) -> Self {
        Self::spawn_with(backend, entries, &[]).await
    }

    /// As `spawn`, with more `serve` flags.
    pub async fn spawn_with(backend: Backend, entries: Vec<Entry>, extra: &[&str]) -> Self {
        let fake = FakeLlm::start(Script::new(entries))
            .await
            .expect("fake provider starts");
        let base = fake.base_url();
        let flags = [
            "--llm-provider",
            "anthropic",
            "--llm-base-url",
            base.as_str(),
            "--llm-api-key",
            "test-key",
            "--llm-max-retries",
            "1",
        ];
        let flags: Vec<&str> = flags.iter().chain(extra).copied().collect();
        let app = TestApp::spawn_with(backend, &flags).await;
        let token = app.admin_token().await;
        Self { app, fake, token }
    }

    /// Another instance on the same database and fake provider (as behind
    /// a load balancer); this app's token works on it.
    pub async fn another_instance(&self, extra: &[&str]) -> TestApp {
        let base = self.fake.base_url();
        let mut flags = vec![
            "--llm-provider",
            "anthropic",
            "--llm-base-url",
            base.as_str(),
            "--llm-api-key",
            "test-key",
            "--llm-max-retries",
            "1",
        ];
        flags.extend_from_slice(extra);
        self.app.spawn_another(&flags).await
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.app.call(method, path, body, Some(&self.token)).await
    }

    /// Opens a session; returns its id.
    pub async fn new_session(&self, text: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/sessions",
                Some(json!({ "text": text })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["session"]["id"].as_str().expect("id").to_owned()
    }

    /// Sends a message (JSON answer).
    pub async fn send(&self, session: &str, body: Value) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            &format!("/api/v1/sessions/{session}/messages"),
            Some(body),
        )
        .await
    }

    /// Sends a text message and expects a completed turn.
    pub async fn say(&self, session: &str, text: &str) -> Value {
        let (status, body) = self.send(session, json!({ "text": text })).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["turn"]["status"], "completed", "{body}");
        body
    }

    /// Sends a message with `Accept: text/event-stream`; returns the
    /// response status, headers and its events as (id, event, data).
    pub async fn send_streaming(
        &self,
        session: &str,
        body: Value,
    ) -> (
        StatusCode,
        reqwest::header::HeaderMap,
        Vec<(String, String, Value)>,
    ) {
        let response = self
            .app
            .client
            .post(
                self.app
                    .url(&format!("/api/v1/sessions/{session}/messages")),
            )
            .bearer_auth(&self.token)
            .header("accept", "text/event-stream")
            .json(&body)
            .send()
            .await
            .expect("request sent");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("stream read");
        (status, headers, parse_sse(&text))
    }

    pub async fn session(&self, id: &str) -> Value {
        let (status, body) = self
            .call(Method::GET, &format!("/api/v1/sessions/{id}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// The body of the n-th request the fake provider received.
    pub fn request(&self, n: usize) -> Value {
        self.fake.requests()[n].body.clone()
    }
}

/// Splits an SSE body into (id, event, data) triples; comments are skipped.
pub fn parse_sse(text: &str) -> Vec<(String, String, Value)> {
    text.split("\n\n")
        .filter_map(|block| {
            let (mut id, mut event, mut data) = (String::new(), String::new(), String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.strip_prefix(' ').unwrap_or(v));
                }
            }
            (!event.is_empty()).then(|| {
                let data = serde_json::from_str(&data).unwrap_or(Value::String(data));
                (id, event, data)
            })
        })
        .collect()
}

/// The text of every user message of a provider request, in order.
pub fn user_texts(request: &Value) -> Vec<String> {
    request["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["role"] == "user")
        .map(|m| match &m["content"] {
            Value::String(s) => s.clone(),
            Value::Array(blocks) => blocks
                .iter()
                .filter_map(|b| b["text"].as_str())
                .collect::<Vec<_>>()
                .join(""),
            _ => String::new(),
        })
        .collect()
}

/// The whole system prompt of a provider request (all its blocks).
pub fn system_text(request: &Value) -> String {
    match &request["system"] {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// One server-sent event: (id, event name, data).
pub type SseEvent = (String, String, Value);

/// Reads an SSE response event by event, as a browser's EventSource does.
pub struct SseReader {
    pub response: reqwest::Response,
    buf: String,
    /// Comment lines seen (heartbeats).
    pub comments: usize,
}

/// How long a test waits for the next event before failing.
const EVENT_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

impl SseReader {
    pub fn new(response: reqwest::Response) -> Self {
        Self {
            response,
            buf: String::new(),
            comments: 0,
        }
    }

    /// The next event, or `None` when the stream ended.
    pub async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                if block.lines().all(|l| l.starts_with(':') || l.is_empty()) {
                    self.comments += 1;
                    continue;
                }
                // A frame with only `id:` (where the stream starts) is
                // not an event.
                match parse_sse(&block).into_iter().next() {
                    Some(event) => return Some(event),
                    None => continue,
                }
            }
            let chunk = tokio::time::timeout(EVENT_WAIT, self.response.chunk())
                .await
                .expect("an event within the wait")
                .expect("the stream reads");
            match chunk {
                Some(bytes) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                None => return None,
            }
        }
    }

    /// Events until (and with) the first named `name`.
    pub async fn until(&mut self, name: &str) -> Vec<SseEvent> {
        let mut out = Vec::new();
        while let Some(e) = self.next().await {
            let last = e.1 == name;
            out.push(e);
            if last {
                return out;
            }
        }
        panic!("the stream ended before {name}: {out:?}");
    }
}

/// The display text that `display.delta` events carry, concatenated.
pub fn deltas(events: &[SseEvent]) -> String {
    events
        .iter()
        .filter(|(_, name, _)| name == "display.delta")
        .map(|(_, _, d)| d["text"].as_str().expect("delta text"))
        .collect()
}

impl ChatApp {
    /// Starts a streamed send; `key` is an `Idempotency-Key`.
    pub async fn stream_send(&self, session: &str, body: Value, key: Option<&str>) -> SseReader {
        let mut request = self
            .app
            .client
            .post(
                self.app
                    .url(&format!("/api/v1/sessions/{session}/messages")),
            )
            .bearer_auth(&self.token)
            .header("accept", "text/event-stream")
            .json(&body);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await.expect("request sent");
        assert_eq!(response.status(), StatusCode::OK);
        SseReader::new(response)
    }

    /// Opens `GET …/events` on `app` (this server or another instance),
    /// resuming after `last` when given.
    pub async fn events_on(&self, app: &TestApp, session: &str, last: Option<&str>) -> SseReader {
        let mut request = app
            .client
            .get(app.url(&format!("/api/v1/sessions/{session}/events")))
            .bearer_auth(&self.token);
        if let Some(last) = last {
            request = request.header("last-event-id", last);
        }
        let response = request.send().await.expect("request sent");
        assert_eq!(response.status(), StatusCode::OK);
        SseReader::new(response)
    }
}
