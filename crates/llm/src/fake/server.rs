//! The fake provider's HTTP side: axum routes for both APIs, the request
//! log, error and plain JSON answers; streamed replies are in `pacing`.
//!
//! Depends on the script and wire modules only; nothing here knows about
//! the client side of this crate, so tests exercise the real HTTP path.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;
use tokio::sync::{Notify, watch};

use super::script::{Cursor, Entry, Fault, Script};
use super::wire::{self, Api};

/// Headers whose values are secrets: recorded as `[redacted]`.
const SECRET_HEADERS: [&str; 5] = [
    "authorization",
    "x-api-key",
    "api-key",
    "cookie",
    "proxy-authorization",
];

/// One request as the fake server received it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub api: Api,
    /// The client's address: the same port twice means a reused connection.
    pub peer: SocketAddr,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Lower-case names; secret values replaced by `[redacted]`.
    pub headers: Vec<(String, String)>,
    /// The JSON body (`Null` if it was not JSON).
    pub body: Value,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The server's shared state: script position, request log, stream counts.
pub struct Shared {
    cursor: Mutex<Cursor>,
    requests: Mutex<Vec<RecordedRequest>>,
    seq: AtomicU64,
    pub(super) chunks_sent: AtomicUsize,
    /// When each text chunk was handed to the connection, over all streams.
    chunk_times: Mutex<Vec<std::time::Instant>>,
    pub(super) completed: AtomicUsize,
    pub(super) disconnects: AtomicUsize,
    pub(super) changed: Notify,
    shutdown: watch::Receiver<bool>,
}

impl Shared {
    pub fn new(script: Script, shutdown: watch::Receiver<bool>) -> Self {
        Self {
            cursor: Mutex::new(Cursor::new(script)),
            requests: Mutex::new(Vec::new()),
            seq: AtomicU64::new(0),
            chunks_sent: AtomicUsize::new(0),
            chunk_times: Mutex::new(Vec::new()),
            completed: AtomicUsize::new(0),
            disconnects: AtomicUsize::new(0),
            changed: Notify::new(),
            shutdown,
        }
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Appends entries to the script, after those already there.
    pub fn push(&self, entries: Vec<super::Entry>) {
        self.cursor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(entries);
    }

    /// Records a text chunk going out now.
    pub(super) fn chunk_sent(&self) {
        self.chunk_times
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(std::time::Instant::now());
        self.bump(&self.chunks_sent);
    }

    pub fn chunk_times(&self) -> Vec<std::time::Instant> {
        self.chunk_times
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(super) fn bump(&self, counter: &AtomicUsize) {
        counter.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    /// Sleeps, unless the server shuts down first (then `false`).
    pub(super) async fn pause(&self, d: Duration) -> bool {
        let mut shutdown = self.shutdown.clone();
        tokio::select! {
            () = tokio::time::sleep(d) => true,
            _ = shutdown.wait_for(|down| *down) => false,
        }
    }
}

/// The routes; serve with `into_make_service_with_connect_info::<SocketAddr>()`.
pub fn router(shared: Arc<Shared>) -> Router {
    let anthropic = post(|s, c, m, u, h, b| handle(Api::Anthropic, s, c, m, u, h, b));
    let openai = post(|s, c, m, u, h, b| handle(Api::OpenAi, s, c, m, u, h, b));
    // With and without /v1, so a base URL either way works; Azure's paths too.
    Router::new()
        .route("/v1/messages", anthropic.clone())
        .route("/messages", anthropic)
        .route("/chat/completions", openai.clone())
        .route("/v1/chat/completions", openai.clone())
        .route("/openai/v1/chat/completions", openai.clone())
        .route("/openai/deployments/{deployment}/chat/completions", openai)
        .with_state(shared)
}

async fn handle(
    api: Api,
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    record(&s, api, peer, &method, &uri, &headers, &json);
    if let Some(why) = wire::invalid_request(api, &headers, &json) {
        return error_response(api, 400, Some(&why), &[]);
    }
    let last_user = wire::last_user_text(&json);
    let taken = s
        .cursor
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take(&last_user);
    let Some(entry) = taken else {
        let why = format!("fake-llm: no script entry left for the message {last_user:?}");
        return error_response(api, 400, Some(&why), &[]);
    };
    let n = s.seq.fetch_add(1, Ordering::SeqCst);
    let id = match api {
        Api::Anthropic => format!("msg_fake_{n}"),
        Api::OpenAi => format!("chatcmpl-fake-{n}"),
    };
    let model = json["model"].as_str().unwrap_or("fake").to_owned();
    match &entry.fault {
        Some(Fault::StallResponse {
            stall_before_response_ms,
        }) => {
            s.pause(Duration::from_millis(*stall_before_response_ms))
                .await;
        }
        Some(Fault::Status {
            status,
            retry_after,
            retry_after_ms,
            message,
        }) => {
            let mut extra = Vec::new();
            if let Some(secs) = retry_after {
                extra.push(("retry-after", secs.to_string()));
            }
            if let Some(ms) = retry_after_ms {
                extra.push(("retry-after-ms", ms.to_string()));
            }
            return error_response(api, *status, message.as_deref(), &extra);
        }
        _ => {}
    }
    if json["stream"] == Value::Bool(true) {
        let include_usage =
            api == Api::Anthropic || json["stream_options"]["include_usage"] == Value::Bool(true);
        super::pacing::stream_response(s, api, &id, &model, &entry, include_usage)
    } else {
        full_response(s, api, &id, &model, &entry).await
    }
}

fn record(
    s: &Shared,
    api: Api,
    peer: SocketAddr,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Value,
) {
    let headers = headers
        .iter()
        .map(|(name, value)| {
            let name = name.as_str().to_owned();
            let value = if SECRET_HEADERS.contains(&name.as_str()) {
                "[redacted]".to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name, value)
        })
        .collect();
    let req = RecordedRequest {
        api,
        peer,
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers,
        body: body.clone(),
    };
    s.requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(req);
    s.changed.notify_waiters();
}

fn error_response(
    api: Api,
    status: u16,
    message: Option<&str>,
    extra: &[(&'static str, String)],
) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (code, axum::Json(wire::error_body(api, status, message))).into_response();
    for (name, value) in extra {
        if let Ok(v) = value.parse() {
            resp.headers_mut().insert(*name, v);
        }
    }
    resp
}

async fn full_response(s: Arc<Shared>, api: Api, id: &str, model: &str, entry: &Entry) -> Response {
    let stall = match entry.fault {
        Some(Fault::StallFirst {
            stall_before_first_chunk_ms: ms,
        })
        | Some(Fault::Stall { stall_ms: ms, .. }) => ms,
        _ => 0,
    };
    if stall > 0 && !s.pause(Duration::from_millis(stall)).await {
        return error_response(api, 503, Some("fake-llm: shutting down"), &[]);
    }
    let body = wire::full_reply(api, id, model, &entry.reply, &entry.usage()).to_string();
    if let Some(Fault::Cut { .. }) = entry.fault {
        // Half the JSON, then an abrupt close.
        let half = Bytes::from(body.as_bytes()[..body.len() / 2].to_vec());
        let items: Vec<Result<Bytes, io::Error>> =
            vec![Ok(half), Err(io::Error::other("fake-llm: cut"))];
        let mut resp = Response::new(Body::from_stream(futures::stream::iter(items)));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
        return resp;
    }
    s.bump(&s.completed);
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
