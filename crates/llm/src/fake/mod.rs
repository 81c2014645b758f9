//! A fake model provider: an HTTP server on loopback that answers the
//! Anthropic Messages API and OpenAI Chat Completions from a [`Script`],
//! in their real wire formats, with injected faults, and records what it
//! was sent.
//!
//! For tests (`FakeLlm::start`) and for demos without a model
//! (`flowpilot dev fake-llm`, which calls [`run_fake_llm`]). It must not
//! depend on the client side of this crate: it is the other end of the wire.

mod pacing;
mod script;
mod server;
mod wire;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::{Instant, timeout_at};

pub use script::{Entry, Fault, Script, UsageSpec};
pub use server::RecordedRequest;
pub use wire::Api;

use server::Shared;

/// A running fake provider; shuts down when dropped.
pub struct FakeLlm {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
}

impl FakeLlm {
    /// Starts a server on `127.0.0.1:0` answering from `script`.
    pub async fn start(script: Script) -> anyhow::Result<Self> {
        script.check()?;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("could not bind the fake LLM server")?;
        let addr = listener.local_addr()?;
        let (shutdown, rx) = watch::channel(false);
        let shared = Arc::new(Shared::new(script, rx.clone()));
        let app = server::router(shared.clone());
        tokio::spawn(async move {
            let mut rx = rx;
            let stop = async move {
                let _ = rx.wait_for(|down| *down).await;
            };
            if let Err(e) = axum::serve(
                nodelay(listener),
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(stop)
            .await
            {
                tracing::warn!(error = %e, "fake LLM server failed");
            }
        });
        Ok(Self {
            addr,
            shared,
            shutdown,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`: a base URL for either provider (Anthropic's
    /// client appends `/v1/messages`; `/chat/completions` is served too).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/v1`: the usual OpenAI-compatible base URL.
    pub fn openai_base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Every request received so far, oldest first, secrets redacted.
    /// Appends entries to the script: for replies that must name ids the
    /// system under test only makes while it runs.
    pub fn push(&self, entries: Vec<Entry>) {
        self.shared.push(entries);
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
    }

    pub fn request_count(&self) -> usize {
        self.shared.requests().len()
    }

    /// Text chunks written to clients so far, over all streams.
    pub fn chunks_sent(&self) -> usize {
        self.shared.chunks_sent.load(Ordering::SeqCst)
    }

    /// When each text chunk was written to a client, over all streams, in
    /// order (for latency measurements).
    pub fn chunk_times(&self) -> Vec<std::time::Instant> {
        self.shared.chunk_times()
    }

    /// Replies that ran to their end.
    pub fn completed(&self) -> usize {
        self.shared.completed.load(Ordering::SeqCst)
    }

    /// Streams the client closed before their end.
    pub fn disconnects(&self) -> usize {
        self.shared.disconnects.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` streams were closed by their client;
    /// `false` if that did not happen `within`.
    pub async fn wait_for_disconnects(&self, n: usize, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            let changed = self.shared.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.disconnects() >= n {
                return true;
            }
            if timeout_at(deadline, changed).await.is_err() {
                return false;
            }
        }
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// The `flowpilot dev fake-llm --listen ADDR --script FILE` entry point:
/// serves `script` (`.json`, `.yaml` or `.yml`) on `listen` until
/// `shutdown` completes, then ends open streams and returns.
pub async fn run_fake_llm(
    listen: SocketAddr,
    script: PathBuf,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let script = Script::from_file(&script)?;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("could not listen on {listen}"))?;
    serve(listener, script, shutdown).await
}

/// Serves `script` on an already bound listener until `shutdown`
/// completes (the seam for tests and for callers that bind themselves).
pub async fn serve(
    listener: TcpListener,
    script: Script,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    script.check()?;
    let addr = listener.local_addr()?;
    tracing::info!(
        %addr,
        entries = script.entries.len(),
        "fake LLM listening: FLOWPILOT_LLM_BASE_URL=http://{addr} (anthropic) or http://{addr}/v1 (openai)"
    );
    let (tx, rx) = watch::channel(false);
    let shared = Arc::new(Shared::new(script, rx));
    let stop = async move {
        shutdown.await;
        // Open streams stall on purpose sometimes: tell them to end, or the
        // graceful shutdown would wait them out.
        let _ = tx.send(true);
    };
    axum::serve(
        nodelay(listener),
        server::router(shared).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stop)
    .await?;
    Ok(())
}

/// Chunks go out as they are written, as a real provider's do (without
/// TCP_NODELAY, small SSE writes wait on the client's delayed ACK).
fn nodelay(
    listener: tokio::net::TcpListener,
) -> axum::serve::TapIo<tokio::net::TcpListener, fn(&mut tokio::net::TcpStream)> {
    fn set(tcp: &mut tokio::net::TcpStream) {
        let _ = tcp.set_nodelay(true);
    }
    axum::serve::ListenerExt::tap_io(listener, set as fn(&mut tokio::net::TcpStream))
}
