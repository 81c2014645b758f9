//! `flowpilot bench …`: measurements of FlowPilot's own work, recorded in
//! docs/performance.md. Each runs the real server (in this process, or as a
//! child process where its memory is measured) against the fake provider
//! on loopback, and talks HTTP to it.

mod fanout;
mod hybrid;
mod kb;
mod streams;
mod turn;

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::Parser;
use engine::Principal;
use engine::accounts::{self, UserInput};
use serde_json::{Value, json};
use tokio::net::TcpListener;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// The server's own time per chat turn.
    Turn(turn::TurnArgs),
    /// Memory per idle event stream, and how many fit in 1 GiB.
    Streams(streams::StreamsArgs),
    /// Delay of a turn's deltas from the provider to streams on the instance
    /// running the turn and on another instance (PostgreSQL).
    Fanout(fanout::FanoutArgs),
    /// Import throughput and search latency on 10k and 100k synthetic flows.
    Kb(kb::KbArgs),
    /// Embedding throughput, query embedding time and hybrid search
    /// latency on 10k and 100k synthetic flows.
    Hybrid(hybrid::HybridArgs),
}

pub async fn run(cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Turn(args) => turn::run(args).await,
        Command::Streams(args) => streams::run(args).await,
        Command::Fanout(args) => fanout::run(args).await,
        Command::Kb(args) => kb::run(args).await,
        Command::Hybrid(args) => hybrid::run(args).await,
    }
}

/// The given database, or a SQLite file in `dir`.
fn database_url(given: Option<&str>, dir: &Path) -> String {
    match given {
        Some(url) => url.to_owned(),
        None => format!("sqlite://{}", dir.join("bench.db").display()),
    }
}

#[derive(Parser)]
struct ServeConfig {
    #[command(flatten)]
    config: server::Config,
}

/// A server running in this process.
struct Instance {
    base: String,
    store: Arc<dyn engine::Store>,
}

/// Starts a server on `url`, answering from the fake provider at
/// `provider` (Anthropic protocol); `extra` are more `serve` flags.
async fn start_instance(url: &str, provider: &str, extra: &[&str]) -> anyhow::Result<Instance> {
    let mut args = vec![
        "serve",
        "--database-url",
        url,
        "--llm-provider",
        "anthropic",
        "--llm-base-url",
        provider,
        "--llm-api-key",
        "bench",
    ];
    args.extend_from_slice(extra);
    let config = ServeConfig::try_parse_from(args)
        .context("building the server settings")?
        .config;
    let state = server::build_state(config).await?;
    let store = state.store.clone();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(server::serve(listener, state, std::future::pending()));
    Ok(Instance {
        base: format!("http://{addr}"),
        store,
    })
}

impl Instance {
    /// A new account with an admin, and a client signed in as them.
    async fn client(&self) -> anyhow::Result<Client> {
        let token = bench_token(self.store.as_ref()).await?;
        Ok(Client::new(&self.base, token))
    }
}

/// Creates an account of its own for this run (so a shared database can be
/// used) and returns an API token of its admin.
async fn bench_token(store: &dyn engine::Store) -> anyhow::Result<String> {
    let suffix = unique_suffix();
    let password = format!("bench-password-{suffix}");
    let email = format!("bench-{suffix}@bench.invalid");
    let (account, user) = accounts::create_account(
        store,
        &format!("bench {suffix}"),
        UserInput {
            email: &email,
            name: "Bench",
            password: &password,
            role: engine::Role::Admin,
        },
    )
    .await?;
    let who = Principal {
        account_id: account.id,
        user_id: user.id,
        role: engine::Role::Admin,
    };
    Ok(accounts::create_token(store, &who, "bench").await?.secret)
}

/// An API client of one server.
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    fn new(base: &str, token: String) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.to_owned(),
            token,
        }
    }

    /// The same user, on another instance.
    fn on(&self, base: &str) -> Self {
        Self {
            base: base.to_owned(),
            ..self.clone()
        }
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = response.status();
        let body: Value = response.json().await.context("reading the answer")?;
        if !status.is_success() {
            bail!("POST {path} answered {status}: {body}");
        }
        Ok(body)
    }

    async fn new_session(&self) -> anyhow::Result<String> {
        let body = self
            .post(
                "/api/v1/sessions",
                json!({"text": "Outlook keeps prompting for a password for every user"}),
            )
            .await?;
        body["session"]["id"]
            .as_str()
            .map(str::to_owned)
            .context("the new session has no id")
    }
}

/// The value at percentile `p` of `sorted` (nearest rank).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{nanos:x}")
}

/// Reads server-sent events from a response, as (id, event, data) with
/// the time each arrived.
struct EventReader {
    response: reqwest::Response,
    buf: String,
}

struct Arrived {
    name: String,
    data: Value,
    at: std::time::Instant,
}

impl EventReader {
    fn new(response: reqwest::Response) -> Self {
        Self {
            response,
            buf: String::new(),
        }
    }

    async fn next(&mut self) -> anyhow::Result<Option<Arrived>> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(name).map(str::trim_start))
                };
                if let (Some(name), Some(data)) = (field("event:"), field("data:")) {
                    return Ok(Some(Arrived {
                        name: name.to_owned(),
                        data: serde_json::from_str(data).context("event data")?,
                        at: std::time::Instant::now(),
                    }));
                }
                continue;
            }
            match self.response.chunk().await.context("reading a stream")? {
                Some(bytes) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                None => return Ok(None),
            }
        }
    }
}
