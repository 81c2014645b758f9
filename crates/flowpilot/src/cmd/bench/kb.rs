//! `flowpilot bench kb`: import throughput and search latency on synthetic
//! knowledge bases of 10k and 100k flows.
//!
//! The flows are generated deterministically from the words of the demo
//! runbooks (so the vocabulary and lengths are those of real flows) plus
//! error codes, KB numbers and product names; queries mix the labelled
//! evaluation queries with ones drawn from the generated flows. Imports go
//! through the same engine path as `POST /flows/import`, in batches of the
//! largest import allowed; searches through the `Retriever` the turns use
//! (including its check that the index is current).

use std::time::Instant;

use anyhow::Context as _;
use engine::Principal;
use engine::kb::{self, FlowInput};
use engine::retrieval::Retriever as _;

use super::percentile;

#[derive(Debug, clap::Args)]
pub struct KbArgs {
    /// Knowledge-base sizes, one run each.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
    flows: Vec<usize>,
    /// Searches per size.
    #[arg(long, default_value_t = 300)]
    searches: usize,
    /// The database; default: a SQLite file in a temporary directory. A
    /// PostgreSQL database gets a new account per run (use a scratch one).
    #[arg(long)]
    database_url: Option<String>,
}

/// A small deterministic generator (xorshift), so runs compare.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

const DEMO: include_dir::Dir<'_> =
    include_dir::include_dir!("$CARGO_MANIFEST_DIR/../../examples/flows");
const EVAL: &str = include_str!("../../../../../examples/eval/retrieval.jsonl");
const PRODUCTS: &[&str] = &[
    "Outlook",
    "Teams",
    "OneDrive",
    "SharePoint",
    "Exchange",
    "Intune",
    "Defender",
    "BitLocker",
    "FortiClient",
    "AnyConnect",
    "WireGuard",
    "Veeam",
    "Datto",
    "HP LaserJet",
    "Ricoh",
    "Sophos",
];

pub(super) fn vocabulary() -> Vec<String> {
    let mut words: Vec<String> = DEMO
        .files()
        .filter_map(|f| f.contents_utf8())
        .flat_map(|t| t.split_whitespace())
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        // Real words, not pasted URLs or paths, so generated titles,
        // symptoms and tags stay within the limits a flow is held to.
        .filter(|w| (3..=20).contains(&w.len()))
        .collect();
    words.sort();
    words.dedup();
    words
}

fn sentence(rng: &mut Rng, words: &[String], n: usize) -> String {
    (0..n)
        .map(|_| rng.pick(words).as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn synthetic(i: usize, rng: &mut Rng, words: &[String]) -> FlowInput {
    let code = match rng.next() % 3 {
        0 => format!("0x8007{:04x}", rng.next() % 0xffff),
        1 => format!("KB50{:05}", rng.next() % 100_000),
        _ => format!("AADSTS{}", 50_000 + rng.next() % 20_000),
    };
    let product = *rng.pick(PRODUCTS);
    let title = format!("{product} {} ({code})", sentence(rng, words, 5));
    let mut body = format!("{}.\n\n## Diagnostic questions\n", sentence(rng, words, 25));
    for _ in 0..4 {
        body.push_str(&format!("- {}?\n", sentence(rng, words, 9)));
    }
    body.push_str("\n## Checks\n");
    for _ in 0..3 {
        body.push_str(&format!(
            "### {}\n{}.\n```powershell\nGet-{} -Name {}\n```\n\n",
            sentence(rng, words, 4),
            sentence(rng, words, 12),
            rng.pick(words),
            rng.pick(words)
        ));
    }
    FlowInput {
        slug: Some(format!("synthetic-{i}")),
        title,
        symptoms: vec![sentence(rng, words, 8), format!("{product} error {code}")],
        body,
        resolution: sentence(rng, words, 30),
        tags: vec![
            product.to_lowercase().replace(' ', "-"),
            rng.pick(words).clone(),
        ],
    }
}

pub(super) fn queries(rng: &mut Rng, words: &[String], n: usize) -> Vec<String> {
    let labelled: Vec<String> = EVAL
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["query"].as_str().map(str::to_owned))
        .collect();
    (0..n)
        .map(|i| {
            if i % 2 == 0 && !labelled.is_empty() {
                rng.pick(&labelled).clone()
            } else {
                format!("{} {}", rng.pick(PRODUCTS), sentence(rng, words, 4))
            }
        })
        .collect()
}

/// Imports `size` synthetic flows into the account of `who`, in batches of
/// the largest import allowed.
pub(super) async fn import_synthetic(
    store: &dyn engine::Store,
    who: &Principal,
    size: usize,
    rng: &mut Rng,
    words: &[String],
) -> anyhow::Result<()> {
    let flows: Vec<FlowInput> = (0..size).map(|i| synthetic(i, rng, words)).collect();
    for batch in flows.chunks(kb::MAX_IMPORT) {
        let report = kb::import_flows(store, who, batch.to_vec())
            .await
            .map_err(|e| anyhow::anyhow!("importing: {e}"))?;
        anyhow::ensure!(
            report.rejected.is_empty(),
            "rejected: {:?}",
            report.rejected.first()
        );
    }
    Ok(())
}

pub async fn run(args: KbArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let url = super::database_url(args.database_url.as_deref(), dir.path());
    let store = store::open(&url, store::OpenOptions::default()).await?;
    let words = vocabulary();
    println!(
        "backend: {}   vocabulary: {} words   searches per size: {}",
        store::backend_name(&url).unwrap_or("?"),
        words.len(),
        args.searches
    );
    println!(
        "flows   | import flows/s | first search (index build) s | search p50 ms | p95 ms | p99 ms"
    );
    for &size in &args.flows {
        let token = super::bench_token(store.as_ref()).await?;
        let who = engine::accounts::authenticate(
            store.as_ref(),
            engine::accounts::Credential::ApiToken(&token),
        )
        .await
        .map_err(|e| anyhow::anyhow!("signing the bench user in: {e}"))?;
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ size as u64);
        let started = Instant::now();
        import_synthetic(store.as_ref(), &who, size, &mut rng, &words).await?;
        let import_rate = size as f64 / started.elapsed().as_secs_f64();
        let index = search::FlowIndex::new(store.clone().as_flow_store())?;
        let qs = queries(&mut rng, &words, args.searches);
        let started = Instant::now();
        search_once(&index, &who, &qs[0]).await?;
        let build = started.elapsed().as_secs_f64();
        let mut ms = Vec::with_capacity(qs.len());
        for q in &qs {
            let started = Instant::now();
            search_once(&index, &who, q).await?;
            ms.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(f64::total_cmp);
        println!(
            "{size:>7} | {import_rate:>14.0} | {build:>28.2} | {:>13.2} | {:>6.2} | {:>6.2}",
            percentile(&ms, 50.0),
            percentile(&ms, 95.0),
            percentile(&ms, 99.0)
        );
    }
    Ok(())
}

async fn search_once(index: &search::FlowIndex, who: &Principal, q: &str) -> anyhow::Result<()> {
    let found = index.search(who, q, 8).await?;
    std::hint::black_box(found);
    Ok(())
}
