//! `flowpilot bench streams`: memory per idle event stream.
//!
//! Starts `flowpilot serve` as a child process (so that its memory is its
//! own), opens `--count` idle `GET …/events` streams to it, one session
//! each (the costlier case: every stream has its session's channel to
//! itself), and reads the child's resident memory before and after. One
//! gibibyte divided by the memory per stream says how many idle streams an
//! instance holds in 1 GiB, next to its baseline.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use super::{Client, bench_token};

#[derive(Debug, clap::Args)]
pub struct StreamsArgs {
    /// Idle streams to open (each takes a file descriptor on both sides:
    /// keep it under `ulimit -n`).
    #[arg(long, default_value_t = 5000)]
    count: usize,
    /// The database; default: a SQLite file in a temporary directory.
    #[arg(long)]
    database_url: Option<String>,
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Resident memory of a process, in KiB (Linux `/proc`).
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .context("reading the server's memory from /proc (Linux only)")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/PID/status")
}

pub async fn run(args: StreamsArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let url = super::database_url(args.database_url.as_deref(), dir.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let exe = std::env::current_exe().context("finding this program")?;
    let server = Server(
        Command::new(exe)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--database-url", &url])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting flowpilot serve")?,
    );
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("{base}/healthz")).await.is_err() {
        if Instant::now() > deadline {
            bail!("the server did not answer /healthz within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let store = store::open(
        &url,
        store::OpenOptions {
            migrate: false,
            max_connections: 2,
        },
    )
    .await?;
    let client = Client::new(&base, bench_token(store.as_ref()).await?);
    let mut sessions = Vec::with_capacity(args.count);
    for _ in 0..args.count {
        sessions.push(client.new_session().await?);
    }
    // Let the allocator settle after the setup traffic.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(server.0.id())?;

    let mut open = Vec::with_capacity(args.count);
    for session in &sessions {
        // A client per stream: one connection each, as browsers would.
        let response = reqwest::Client::new()
            .get(format!("{base}/api/v1/sessions/{session}/events"))
            .bearer_auth(&client.token)
            .send()
            .await
            .with_context(|| {
                format!("opening stream {} (is ulimit -n high enough?)", open.len())
            })?;
        if !response.status().is_success() {
            bail!("GET …/events answered {}", response.status());
        }
        open.push(response);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(server.0.id())?;
    let per_stream_kib = (after.saturating_sub(before)) as f64 / args.count as f64;
    let fit = (1024.0 * 1024.0 - before as f64) / per_stream_kib.max(f64::MIN_POSITIVE);
    println!(
        "backend: {}   idle streams: {}",
        store::backend_name(&url).unwrap_or("?"),
        args.count
    );
    println!("server RSS before: {:.1} MiB", before as f64 / 1024.0);
    println!(
        "server RSS with the streams open: {:.1} MiB",
        after as f64 / 1024.0
    );
    println!("per idle stream: {per_stream_kib:.1} KiB");
    println!("idle streams in 1 GiB (baseline included, linear): {fit:.0}");
    drop(open);
    Ok(())
}
