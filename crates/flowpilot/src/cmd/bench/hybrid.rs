//! `flowpilot bench hybrid`: embedding throughput, query embedding time and
//! hybrid search latency on the synthetic knowledge bases of `bench kb`.
//!
//! Embedding 100k flows takes minutes on two cores, so a run can keep its
//! database: with `--database-url` the account `bench hybrid N` made by an
//! earlier run is reused, and only flows still without a vector are
//! embedded.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context as _, bail};
use engine::Principal;
use engine::accounts::{self, UserInput};

use super::kb::{Rng, import_synthetic, queries, vocabulary};
use super::percentile;

#[derive(Debug, clap::Args)]
pub struct HybridArgs {
    /// The embedding model folder (`flowpilot models fetch`).
    #[arg(long, env = "FLOWPILOT_EMBEDDING_MODEL")]
    model: Option<PathBuf>,
    #[arg(long, env = "FLOWPILOT_DATA_DIR", default_value = "./flowpilot-data")]
    data_dir: PathBuf,
    /// Knowledge-base sizes, one run each.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
    flows: Vec<usize>,
    /// Searches per size.
    #[arg(long, default_value_t = 300)]
    searches: usize,
    /// The dense weight.
    #[arg(long, default_value_t = search::DEFAULT_DENSE_WEIGHT)]
    weight: f32,
    /// The database, kept between runs; default: a SQLite file in a
    /// temporary directory (everything is embedded again).
    #[arg(long)]
    database_url: Option<String>,
}

pub async fn run(args: HybridArgs) -> anyhow::Result<()> {
    let Some(embedder) = crate::cmd::models::load(args.model.as_deref(), &args.data_dir)? else {
        bail!("no embedding model: run `flowpilot models fetch` or pass --model DIR");
    };
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let url = super::database_url(args.database_url.as_deref(), dir.path());
    let store = store::open(&url, store::OpenOptions::default()).await?;
    let words = vocabulary();
    println!(
        "backend: {}   model: {}   dense weight: {}   searches per size: {}",
        store::backend_name(&url).unwrap_or("?"),
        embedder.identity(),
        args.weight,
        args.searches
    );
    let mut rows = Vec::new();
    for &size in &args.flows {
        let who = bench_account(store.as_ref(), size, &words).await?;
        let embedded =
            crate::cmd::kb::embed_with_progress(embedder.clone(), store.as_ref(), who.account_id)
                .await?;
        let mut rng = Rng(0x51ed_2701_a3c4_9b1f ^ size as u64);
        let qs = queries(&mut rng, &words, args.searches);

        let mut embed_ms = Vec::with_capacity(qs.len());
        for q in &qs {
            let started = Instant::now();
            std::hint::black_box(embedder.embed(&[q.as_str()])?);
            embed_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        embed_ms.sort_by(f64::total_cmp);

        let index = search::FlowIndex::hybrid(
            store.clone().as_flow_store(),
            search::DenseSearch {
                embedder: embedder.clone(),
                vectors: store.clone().as_vector_store(),
                weight: args.weight,
            },
        )?;
        let started = Instant::now();
        index
            .search_with(who.account_id, &qs[0], 8, search::Mode::Hybrid(args.weight))
            .await?;
        let first = started.elapsed().as_secs_f64();
        let mut ms = Vec::with_capacity(qs.len());
        for q in &qs {
            let started = Instant::now();
            let found = index
                .search_with(who.account_id, q, 8, search::Mode::Hybrid(args.weight))
                .await?;
            std::hint::black_box(found);
            ms.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(f64::total_cmp);
        // Each side alone, as the hybrid search runs it: where the time goes.
        let lexical = time_searches(
            &index,
            who.account_id,
            &qs,
            search::CANDIDATES,
            search::Mode::Lexical,
        )
        .await?;
        let dense = time_searches(&index, who.account_id, &qs, 8, search::Mode::Dense).await?;
        let recall = dense_recall(
            &index,
            store.as_ref(),
            embedder.as_ref(),
            who.account_id,
            &qs,
        )
        .await?;
        rows.push(format!(
            "{size:>7} | {embedded:>8} | {first:>16.2} | {:>10.2} | {:>10.2} | {:>13.2} | {:>11.2} | {recall:>10.3} | {:>10.2} | {:>6.2} | {:>6.2}",
            percentile(&embed_ms, 50.0),
            percentile(&embed_ms, 95.0),
            percentile(&lexical, 50.0),
            percentile(&dense, 50.0),
            percentile(&ms, 50.0),
            percentile(&ms, 95.0),
            percentile(&ms, 99.0)
        ));
    }
    println!(
        "  flows | embedded | first search s | embed p50 | embed p95 | lexical p50 ¹ | dense p50 ² | dense r@8 ³ | hybrid p50 | p95 ms | p99 ms"
    );
    for row in rows {
        println!("{row}");
    }
    println!(
        "¹ full-text search alone for the {} candidates a hybrid search takes from it\n\
         ² query embedding and the scan of the account's vectors, for 8 results\n\
         ³ share of the exact 8 nearest (a full scan in f32 here) that dense search returns",
        search::CANDIDATES
    );
    Ok(())
}

/// How much of the exact top 8 by cosine similarity (every stored vector
/// of the account compared in full) dense search finds, over the first 100
/// queries: what its shortcuts (sign bits, 8 bits) cost.
async fn dense_recall(
    index: &search::FlowIndex,
    store: &dyn engine::Store,
    embedder: &dyn engine::kb::embedding::Embedder,
    account: engine::ids::AccountId,
    queries: &[String],
) -> anyhow::Result<f64> {
    let all = store
        .vector_changes(account, embedder.identity(), 0)
        .await
        .map_err(|e| anyhow::anyhow!("reading the stored vectors: {e}"))?
        .vectors;
    let (mut found, mut wanted) = (0usize, 0usize);
    for q in queries.iter().take(100) {
        let vector = embedder
            .embed(&[q.as_str()])?
            .pop()
            .context("no query vector")?;
        let mut exact: Vec<(f32, engine::ids::FlowId)> = all
            .iter()
            .map(|v| (v.vector.iter().zip(&vector).map(|(a, b)| a * b).sum(), v.id))
            .collect();
        exact.sort_by(|a, b| b.0.total_cmp(&a.0));
        exact.truncate(8);
        let got = index
            .search_with(account, q, 8, search::Mode::Dense)
            .await?;
        wanted += exact.len();
        found += exact
            .iter()
            .filter(|(_, id)| got.iter().any(|f| f.id == *id))
            .count();
    }
    Ok(found as f64 / wanted.max(1) as f64)
}

/// Each query's search time in this mode, sorted, in milliseconds.
async fn time_searches(
    index: &search::FlowIndex,
    account: engine::ids::AccountId,
    queries: &[String],
    limit: usize,
    mode: search::Mode,
) -> anyhow::Result<Vec<f64>> {
    let mut ms = Vec::with_capacity(queries.len());
    for q in queries {
        let started = Instant::now();
        std::hint::black_box(index.search_with(account, q, limit, mode).await?);
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    Ok(ms)
}

/// The account `bench hybrid SIZE` with SIZE synthetic flows: the one an
/// earlier run left in this database, or a new one.
async fn bench_account(
    store: &dyn engine::Store,
    size: usize,
    words: &[String],
) -> anyhow::Result<Principal> {
    let name = format!("bench hybrid {size}");
    let found = store
        .account_admins_named(&name)
        .await
        .map_err(|e| anyhow::anyhow!("finding the bench account: {e}"))?;
    if let Some(who) = found.into_iter().next() {
        println!("{name}: reusing the flows of an earlier run");
        return Ok(who);
    }
    let email = format!("bench-hybrid-{size}@bench.invalid");
    let (account, user) = accounts::create_account(
        store,
        &name,
        UserInput {
            email: &email,
            name: "Bench",
            password: "bench-hybrid-password",
            role: engine::Role::Admin,
        },
    )
    .await?;
    let who = Principal {
        account_id: account.id,
        user_id: user.id,
        role: engine::Role::Admin,
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ size as u64);
    import_synthetic(store, &who, size, &mut rng, words).await?;
    Ok(who)
}
