//! `flowpilot kb import` (a folder of Markdown flows into an account) and
//! `flowpilot kb eval` (retrieval quality on a labelled query set).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use engine::Principal;
use engine::kb::{self, FlowInput, Imported, markdown};
use serde::Deserialize;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Import Markdown flows (a file, or every `.md` under a folder) into an
    /// account: created, or updated by slug. Prints what happened to each
    /// file; exits non-zero if any was rejected.
    Import {
        /// A `.md` file or a folder of them.
        path: PathBuf,
        /// The account's name.
        #[arg(long)]
        account: String,
        #[arg(long, env = "FLOWPILOT_DATA_DIR", default_value = "./flowpilot-data")]
        data_dir: PathBuf,
        #[arg(long, env = "FLOWPILOT_DATABASE_URL")]
        database_url: Option<String>,
        /// The embedding model folder (default: the fetched one in the data
        /// directory, if there). The imported flows are embedded before the
        /// command ends, with progress; `off` leaves it to the server.
        #[arg(long, env = "FLOWPILOT_EMBEDDING_MODEL")]
        model: Option<PathBuf>,
    },
    /// Measure retrieval on a labelled set: imports the flows into a
    /// scratch database, runs every query with full-text, embedding and
    /// hybrid ranking, and prints recall@1, recall@3 and MRR per set side
    /// by side, and the queries whose flow hybrid search misses in the top 3.
    Eval {
        /// JSON lines: {"set": "...", "half": "tune"|"test" (optional),
        /// "query": "...", "relevant": ["slug", ...]}.
        file: PathBuf,
        /// The flows the queries are about.
        #[arg(long, default_value = "examples/flows")]
        flows: PathBuf,
        /// The embedding model folder (default: the fetched one in the data
        /// directory, if there); without one, full-text search only.
        #[arg(long, env = "FLOWPILOT_EMBEDDING_MODEL")]
        model: Option<PathBuf>,
        #[arg(long, env = "FLOWPILOT_DATA_DIR", default_value = "./flowpilot-data")]
        data_dir: PathBuf,
        /// The dense weight of the hybrid column.
        #[arg(long, env = "FLOWPILOT_DENSE_WEIGHT", default_value_t = search::DEFAULT_DENSE_WEIGHT)]
        weight: f32,
        /// First try weights 0, 0.1, … 1 on the tuning halves (never the
        /// test halves) and print the one they choose.
        #[arg(long)]
        sweep: bool,
    },
}

pub async fn run(cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Import {
            path,
            account,
            data_dir,
            database_url,
            model,
        } => import(&path, &account, data_dir, database_url, model).await,
        Command::Eval {
            file,
            flows,
            model,
            data_dir,
            weight,
            sweep,
        } => {
            eval(EvalArgs {
                file,
                flows,
                model,
                data_dir,
                weight,
                sweep,
            })
            .await
        }
    }
}

/// Every `.md` file at `path` (a file, or a folder searched recursively),
/// in name order.
fn markdown_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    let mut out = Vec::new();
    let mut dirs = vec![path.to_owned()];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir)
            .with_context(|| format!("reading the folder {}", dir.display()))?;
        for entry in entries {
            let path = entry
                .with_context(|| format!("reading the folder {}", dir.display()))?
                .path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Flows read from their files.
pub type FlowFiles = Vec<(PathBuf, FlowInput)>;
/// Files that are not flows, with why.
pub type BadFiles = Vec<(PathBuf, String)>;

/// The flows in the files, and the files that are not flows.
pub fn read_flow_files(path: &Path) -> anyhow::Result<(FlowFiles, BadFiles)> {
    let mut flows = Vec::new();
    let mut bad = Vec::new();
    for file in markdown_files(path)? {
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) => {
                bad.push((file, format!("cannot be read: {e}")));
                continue;
            }
        };
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        match markdown::parse_flow_file(&text, &stem) {
            Ok(flow) => flows.push((file, flow)),
            Err(e) => bad.push((file, e.0)),
        }
    }
    Ok((flows, bad))
}

async fn open_store(
    data_dir: PathBuf,
    database_url: Option<String>,
) -> anyhow::Result<std::sync::Arc<dyn engine::Store>> {
    let url = match database_url {
        Some(url) => url,
        None => store::sqlite_url_for_data_dir(&data_dir),
    };
    store::open(
        &url,
        store::OpenOptions {
            migrate: true,
            max_connections: 2,
        },
    )
    .await
}

/// The account named `name`, acting as its oldest admin.
async fn account_named(store: &dyn engine::Store, name: &str) -> anyhow::Result<Principal> {
    let mut found = store
        .account_admins_named(name)
        .await
        .map_err(|e| anyhow::anyhow!("finding the account: {e}"))?;
    match found.len() {
        0 => bail!(
            "no account is named {name:?} (or it has no admin); see `flowpilot account create`"
        ),
        1 => Ok(found.remove(0)),
        n => bail!("{n} accounts are named {name:?}; rename one so the name says which"),
    }
}

/// Imports `flows` (from their files) into the account of `who`; prints a
/// line per file. Returns how many were rejected.
pub async fn import_files(
    store: &dyn engine::Store,
    who: &Principal,
    flows: FlowFiles,
    unreadable: BadFiles,
) -> anyhow::Result<usize> {
    let mut rejected = unreadable.len();
    for (file, why) in &unreadable {
        println!("rejected  {}: {why}", file.display());
    }
    let (files, inputs): (Vec<PathBuf>, Vec<FlowInput>) = flows.into_iter().unzip();
    let report = kb::import_flows(store, who, inputs)
        .await
        .map_err(|e| anyhow::anyhow!("importing failed: {e}"))?;
    let mut lines: BTreeMap<usize, String> = BTreeMap::new();
    for (i, slug, outcome) in &report.stored {
        let what = match outcome {
            Imported::Created => "created ",
            Imported::Updated => "updated ",
        };
        lines.insert(*i, format!("{what}  {slug}  ({})", files[*i].display()));
    }
    for (i, why) in &report.rejected {
        lines.insert(*i, format!("rejected  {}: {why}", files[*i].display()));
    }
    for line in lines.values() {
        println!("{line}");
    }
    rejected += report.rejected.len();
    println!(
        "{} created, {} updated, {} rejected",
        report.created, report.updated, rejected
    );
    Ok(rejected)
}

async fn import(
    path: &Path,
    account: &str,
    data_dir: PathBuf,
    database_url: Option<String>,
    model: Option<PathBuf>,
) -> anyhow::Result<()> {
    let (flows, bad) = read_flow_files(path)?;
    if flows.is_empty() && bad.is_empty() {
        bail!("no .md files at {}", path.display());
    }
    let embedder = super::models::load(model.as_deref(), &data_dir)?;
    let store = open_store(data_dir, database_url).await?;
    let who = account_named(store.as_ref(), account).await?;
    let rejected = import_files(store.as_ref(), &who, flows, bad).await?;
    match embedder {
        Some(embedder) => {
            embed_with_progress(embedder, store.as_ref(), who.account_id).await?;
        }
        None => println!("{}", server::embedding::NO_MODEL_CLI),
    }
    if rejected > 0 {
        bail!(
            "{rejected} file(s) were not imported; fix them and import again (the others are stored)"
        );
    }
    Ok(())
}

#[derive(Deserialize)]
struct Labelled {
    set: String,
    /// `tune` or `test`: the half of a set weights are chosen on, and the
    /// half they are reported on.
    #[serde(default)]
    half: Option<String>,
    query: String,
    relevant: Vec<String>,
}

impl Labelled {
    fn group(&self) -> String {
        match &self.half {
            Some(half) => format!("{} ({half})", self.set),
            None => self.set.clone(),
        }
    }
}

#[derive(Default, Clone)]
struct Scores {
    n: usize,
    at1: usize,
    at3: usize,
    rr: f64,
    missed: Vec<(String, Vec<String>, Vec<String>)>,
}

impl Scores {
    fn add(&mut self, q: &Labelled, slugs: Vec<String>) {
        let rank = slugs.iter().position(|s| q.relevant.contains(s));
        self.n += 1;
        if rank == Some(0) {
            self.at1 += 1;
        }
        if rank.is_some_and(|r| r < 3) {
            self.at3 += 1;
        } else {
            self.missed.push((
                q.query.clone(),
                q.relevant.clone(),
                slugs.into_iter().take(3).collect(),
            ));
        }
        self.rr += rank.map_or(0.0, |r| 1.0 / (r as f64 + 1.0));
    }

    fn recall1(&self) -> f64 {
        self.at1 as f64 / self.n.max(1) as f64
    }

    fn recall3(&self) -> f64 {
        self.at3 as f64 / self.n.max(1) as f64
    }

    fn mrr(&self) -> f64 {
        self.rr / self.n.max(1) as f64
    }

    fn cells(&self) -> String {
        format!(
            "{:.3}  {:.3}  {:.3}",
            self.recall1(),
            self.recall3(),
            self.mrr()
        )
    }
}

/// Scores per group of queries.
type Table = BTreeMap<String, Scores>;

/// What `kb eval` is asked for.
pub struct EvalArgs {
    pub file: PathBuf,
    pub flows: PathBuf,
    pub model: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub weight: f32,
    pub sweep: bool,
}

/// Runs every query in `mode`; the table per group.
async fn score(
    index: &search::FlowIndex,
    account: engine::ids::AccountId,
    queries: &[Labelled],
    mode: search::Mode,
) -> anyhow::Result<Table> {
    let mut table = Table::new();
    for q in queries {
        let found = index.search_with(account, &q.query, 10, mode).await?;
        let slugs = found.into_iter().map(|f| f.slug).collect();
        table.entry(q.group()).or_default().add(q, slugs);
    }
    Ok(table)
}

async fn eval(args: EvalArgs) -> anyhow::Result<()> {
    let EvalArgs {
        file,
        flows: flows_dir,
        model,
        data_dir,
        weight,
        sweep,
    } = args;
    let file = file.as_path();
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut queries = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let q: Labelled = serde_json::from_str(line)
            .with_context(|| format!("{} line {}: not a labelled query", file.display(), n + 1))?;
        queries.push(q);
    }
    let dir = tempfile::tempdir().context("creating a scratch directory")?;
    let store = open_store(dir.path().to_owned(), None).await?;
    let (account, user) = engine::accounts::create_account(
        store.as_ref(),
        "Evaluation",
        engine::accounts::UserInput {
            email: "eval@flowpilot.invalid",
            name: "Evaluation",
            password: "evaluation-only-password",
            role: engine::Role::Admin,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("creating the scratch account: {e}"))?;
    let who = Principal {
        account_id: account.id,
        user_id: user.id,
        role: engine::Role::Admin,
    };
    let (flows, bad) = read_flow_files(&flows_dir)?;
    if let Some((file, why)) = bad.first() {
        bail!("{}: {why}", file.display());
    }
    let inputs = flows.into_iter().map(|(_, f)| f).collect();
    let report = kb::import_flows(store.as_ref(), &who, inputs)
        .await
        .map_err(|e| anyhow::anyhow!("importing the flows: {e}"))?;
    let embedder = super::models::load(model.as_deref(), &data_dir)?;
    let index = match &embedder {
        Some(embedder) => {
            embed_with_progress(embedder.clone(), store.as_ref(), who.account_id).await?;
            search::FlowIndex::hybrid(
                store.clone().as_flow_store(),
                search::DenseSearch {
                    embedder: embedder.clone(),
                    vectors: store.clone().as_vector_store(),
                    weight,
                },
            )?
        }
        None => {
            println!("{}", server::embedding::NO_MODEL_CLI);
            search::FlowIndex::new(store.clone().as_flow_store())?
        }
    };
    println!(
        "{} flows, {} queries ({})",
        report.created,
        queries.len(),
        file.display()
    );
    let account = who.account_id;
    let lexical = score(&index, account, &queries, search::Mode::Lexical).await?;
    if embedder.is_none() {
        println!("set          | queries | recall@1  recall@3  MRR");
        for (name, s) in &lexical {
            println!("{name:<12} | {:>7} | {}", s.n, s.cells());
        }
        print_missed("lexical", &lexical);
        return Ok(());
    }
    if sweep {
        print_sweep(&index, account, &queries, &lexical).await?;
    }
    let dense = score(&index, account, &queries, search::Mode::Dense).await?;
    let hybrid = score(&index, account, &queries, search::Mode::Hybrid(weight)).await?;
    println!(
        "model {}, dense weight {weight}",
        index.model().unwrap_or("?")
    );
    println!(
        "{:<12} | queries | {:<19} | {:<19} | {:<19}",
        "set", "lexical r@1 r@3 MRR", "dense r@1 r@3 MRR", "hybrid r@1 r@3 MRR"
    );
    for (name, s) in &lexical {
        let d = dense.get(name).cloned().unwrap_or_default();
        let h = hybrid.get(name).cloned().unwrap_or_default();
        println!(
            "{name:<12} | {:>7} | {} | {} | {}",
            s.n,
            s.cells(),
            d.cells(),
            h.cells()
        );
    }
    print_missed("hybrid", &hybrid);
    Ok(())
}

/// Hybrid scores for weights 0 to 1 on the groups that tune (the `tune`
/// halves), next to the other sets' recall@3, and the weight they choose:
/// the best recall@3 (then MRR) on the tuning half among the weights that
/// keep every set without halves at or above its lexical recall@3.
async fn print_sweep(
    index: &search::FlowIndex,
    account: engine::ids::AccountId,
    queries: &[Labelled],
    lexical: &Table,
) -> anyhow::Result<()> {
    let tuning: Vec<Labelled> = queries
        .iter()
        .filter(|q| q.half.as_deref() != Some("test"))
        .map(|q| Labelled {
            set: q.set.clone(),
            half: q.half.clone(),
            query: q.query.clone(),
            relevant: q.relevant.clone(),
        })
        .collect();
    println!("weight sweep (hybrid; the test halves are not used):");
    println!("weight | group         r@1    r@3    MRR");
    let mut best: Option<(f32, f64, f64)> = None;
    for step in 0..=10u8 {
        let w = f32::from(step) / 10.0;
        let table = score(index, account, &tuning, search::Mode::Hybrid(w)).await?;
        let mut keeps_lexical = true;
        for (name, s) in &table {
            println!("{w:>6.1} | {name:<12} {}", s.cells());
            if !name.contains("(tune)")
                && lexical.get(name).is_some_and(|l| s.recall3() < l.recall3())
            {
                keeps_lexical = false;
            }
        }
        let tune: Vec<&Scores> = table
            .iter()
            .filter(|(n, _)| n.contains("(tune)"))
            .map(|(_, s)| s)
            .collect();
        let n: usize = tune.iter().map(|s| s.n).sum();
        let at3: usize = tune.iter().map(|s| s.at3).sum();
        let rr: f64 = tune.iter().map(|s| s.rr).sum();
        let (r3, mrr) = (at3 as f64 / n.max(1) as f64, rr / n.max(1) as f64);
        if keeps_lexical && best.is_none_or(|(_, b3, bm)| (r3, mrr) > (b3, bm)) {
            best = Some((w, r3, mrr));
        }
    }
    match best {
        Some((w, r3, mrr)) => {
            println!("chosen on the tuning half: weight {w:.1} (recall@3 {r3:.3}, MRR {mrr:.3})\n")
        }
        None => println!("no weight keeps every set at or above full-text search\n"),
    }
    Ok(())
}

fn print_missed(mode: &str, table: &Table) {
    for (name, s) in table {
        if s.missed.is_empty() {
            continue;
        }
        println!("\nnot in the top 3 ({name}, {mode}):");
        for (query, want, got) in &s.missed {
            println!(
                "  {query:?}: want {}, got {}",
                want.join(" | "),
                got.join(", ")
            );
        }
    }
}

/// Embeds the account's pending flows in the foreground, with a progress
/// line per second and the rate at the end.
pub async fn embed_with_progress(
    embedder: std::sync::Arc<dyn engine::kb::embedding::Embedder>,
    store: &dyn engine::Store,
    account: engine::ids::AccountId,
) -> anyhow::Result<usize> {
    let vectors: &dyn engine::kb::embedding::VectorStore = store;
    let started = std::time::Instant::now();
    let mut last = std::time::Instant::now();
    let done = server::embedding::embed_pending(embedder, vectors, Some(account), |p| {
        if last.elapsed() >= std::time::Duration::from_secs(1) || p.embedded as u64 >= p.total {
            last = std::time::Instant::now();
            eprint!(
                "\rembedding flows: {}/{} ({:.0} flows/s)   ",
                p.embedded, p.total, p.flows_per_second
            );
        }
    })
    .await?;
    if done > 0 {
        eprintln!();
        println!(
            "embedded {done} flows in {:.1} s ({:.0} flows/s)",
            started.elapsed().as_secs_f64(),
            done as f64 / started.elapsed().as_secs_f64().max(1e-9)
        );
    }
    Ok(done)
}
