//! Flow embeddings: the model (when one is configured) and the background
//! worker that keeps every flow's vector current.
//!
//! Writes never wait for the model: a flow created, edited or imported is
//! searchable by full text at once, and the worker, woken by the write,
//! embeds it a moment later (a few milliseconds for one flow; big imports
//! are worked through in batches, with progress in the log and in
//! `GET /api/v1/settings/retrieval`). Flows written through another
//! instance are found by the worker's periodic look at the database, and
//! every flow without a vector from the model in use is pending, so
//! changing the model re-embeds the knowledge base.

use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::kb::embedding::{Embedder, VectorStore};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// What the command-line tools say when they find no embedding model.
pub const NO_MODEL_CLI: &str = "no embedding model: full-text search only (run `flowpilot models fetch`, or set FLOWPILOT_EMBEDDING_MODEL)";

/// Flows fetched, embedded and stored per round trip; the embedder sorts
/// them by length into model batches, so a bigger round pads less.
const BATCH: u32 = 256;
/// How often the worker looks for flows written through other instances.
const POLL: Duration = Duration::from_secs(5);
/// How often a long run logs its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// The embedding model in use and the worker's wake-up call.
#[derive(Clone)]
pub struct Embeddings {
    pub embedder: Arc<dyn Embedder>,
    pub dense_weight: f32,
    wake: Arc<Notify>,
}

impl Embeddings {
    pub fn new(embedder: Arc<dyn Embedder>, dense_weight: f32) -> Self {
        Self {
            embedder,
            dense_weight,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Tells the worker that flows changed.
    pub fn flows_changed(&self) {
        self.wake.notify_one();
    }

    /// Runs the worker until `stop` is cancelled.
    pub fn spawn_worker(&self, vectors: Arc<dyn VectorStore>, stop: CancellationToken) {
        let embedder = self.embedder.clone();
        let wake = self.wake.clone();
        tokio::spawn(async move {
            let mut run = Run::default();
            loop {
                let more = match embed_batch(embedder.clone(), vectors.as_ref(), None).await {
                    Ok(0) => false,
                    Ok(n) => {
                        run.add(n, vectors.as_ref(), embedder.identity()).await;
                        true
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "embedding flows failed; retrying shortly");
                        false
                    }
                };
                if more {
                    if stop.is_cancelled() {
                        return;
                    }
                    continue;
                }
                run.finish();
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(POLL) => {}
                }
            }
        });
    }
}

/// Where `embed_pending` has got.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub embedded: usize,
    /// Flows that were pending when it started.
    pub total: u64,
    pub flows_per_second: f64,
}

/// Embeds every pending flow (of `account`, or of all), calling `report`
/// after each batch; returns how many were embedded. What `kb import` and
/// `kb eval` run in the foreground.
pub async fn embed_pending(
    embedder: Arc<dyn Embedder>,
    vectors: &dyn VectorStore,
    account: Option<engine::ids::AccountId>,
    mut report: impl FnMut(Progress),
) -> anyhow::Result<usize> {
    let total = vectors
        .embedding_progress(embedder.identity(), account)
        .await
        .map_err(|e| anyhow::anyhow!("counting flows to embed: {e}"))?
        .pending();
    let started = Instant::now();
    let mut embedded = 0;
    loop {
        let n = embed_batch(embedder.clone(), vectors, account).await?;
        if n == 0 {
            return Ok(embedded);
        }
        embedded += n;
        report(Progress {
            embedded,
            total,
            flows_per_second: rate(embedded, started.elapsed()),
        });
    }
}

/// Embeds and stores one batch of pending flows; returns how many were
/// stored (0: nothing was pending).
async fn embed_batch(
    embedder: Arc<dyn Embedder>,
    vectors: &dyn VectorStore,
    account: Option<engine::ids::AccountId>,
) -> anyhow::Result<usize> {
    let model = embedder.identity().to_owned();
    let pending = vectors
        .flows_to_embed(&model, account, BATCH)
        .await
        .map_err(|e| anyhow::anyhow!("reading flows to embed: {e}"))?;
    if pending.is_empty() {
        return Ok(0);
    }
    let computed = tokio::task::spawn_blocking(move || {
        let texts: Vec<&str> = pending.iter().map(|f| f.text.as_str()).collect();
        let out = embedder.embed(&texts);
        out.map(|vs| pending.into_iter().zip(vs).collect::<Vec<_>>())
    })
    .await
    .map_err(|e| anyhow::anyhow!("the embedding task stopped: {e}"))??;
    // Flows changed while they were embedded are skipped: their change
    // woke the worker, which embeds them again.
    vectors
        .put_flow_vectors(&model, &computed)
        .await
        .map_err(|e| anyhow::anyhow!("storing flow vectors: {e}"))
}

/// One stretch of work, for the progress log.
#[derive(Default)]
struct Run {
    started: Option<Instant>,
    last_log: Option<Instant>,
    embedded: usize,
}

impl Run {
    async fn add(&mut self, n: usize, vectors: &dyn VectorStore, model: &str) {
        let now = Instant::now();
        let started = *self.started.get_or_insert(now);
        self.embedded += n;
        let due = self
            .last_log
            .is_none_or(|t| now.duration_since(t) >= PROGRESS_EVERY);
        if due && now.duration_since(started) >= PROGRESS_EVERY {
            self.last_log = Some(now);
            let progress = vectors.embedding_progress(model, None).await.ok();
            tracing::info!(
                embedded = self.embedded,
                pending = progress.map(|p| p.pending()),
                flows_per_second = format_args!("{:.0}", rate(self.embedded, now - started)),
                "embedding flows"
            );
        }
    }

    fn finish(&mut self) {
        if let (Some(started), true) = (self.started, self.last_log.is_some()) {
            tracing::info!(
                embedded = self.embedded,
                flows_per_second = format_args!("{:.0}", rate(self.embedded, started.elapsed())),
                "embedded the knowledge base"
            );
        }
        *self = Run::default();
    }
}

fn rate(n: usize, over: Duration) -> f64 {
    n as f64 / over.as_secs_f64().max(1e-9)
}
