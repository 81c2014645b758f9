//! `flowpilot kb import` (a folder of Markdown flows into an account) and
//! `flowpilot kb eval` (retrieval quality on a labelled query set).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use engine::Principal;
use engine::kb::{self, FlowInput, Imported, markdown};
use engine::retrieval::Retriever as _;
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
    },
    /// Measure retrieval on a labelled set: imports the flows into a
    /// scratch database, runs every query and prints recall@1, recall@3 and
    /// MRR per set, and the queries whose flow is not in the top 3.
    Eval {
        /// JSON lines: {"set": "...", "query": "...", "relevant": ["slug", ...]}.
        file: PathBuf,
        /// The flows the queries are about.
        #[arg(long, default_value = "examples/flows")]
        flows: PathBuf,
    },
}

pub async fn run(cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Import {
            path,
            account,
            data_dir,
            database_url,
        } => import(&path, &account, data_dir, database_url).await,
        Command::Eval { file, flows } => eval(&file, &flows).await,
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
) -> anyhow::Result<()> {
    let (flows, bad) = read_flow_files(path)?;
    if flows.is_empty() && bad.is_empty() {
        bail!("no .md files at {}", path.display());
    }
    let store = open_store(data_dir, database_url).await?;
    let who = account_named(store.as_ref(), account).await?;
    let rejected = import_files(store.as_ref(), &who, flows, bad).await?;
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
    query: String,
    relevant: Vec<String>,
}

#[derive(Default)]
struct Scores {
    n: usize,
    at1: usize,
    at3: usize,
    rr: f64,
    missed: Vec<(String, Vec<String>, Vec<String>)>,
}

async fn eval(file: &Path, flows_dir: &Path) -> anyhow::Result<()> {
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
    let (flows, bad) = read_flow_files(flows_dir)?;
    if let Some((file, why)) = bad.first() {
        bail!("{}: {why}", file.display());
    }
    let inputs = flows.into_iter().map(|(_, f)| f).collect();
    let report = kb::import_flows(store.as_ref(), &who, inputs)
        .await
        .map_err(|e| anyhow::anyhow!("importing the flows: {e}"))?;
    let index = search::FlowIndex::new(store.clone().as_flow_store())?;
    let mut sets: BTreeMap<String, Scores> = BTreeMap::new();
    for q in &queries {
        let found = index.search(&who, &q.query, 10).await?;
        let slugs: Vec<String> = found.into_iter().map(|f| f.slug).collect();
        let rank = slugs.iter().position(|s| q.relevant.contains(s));
        let s = sets.entry(q.set.clone()).or_default();
        s.n += 1;
        if rank == Some(0) {
            s.at1 += 1;
        }
        if rank.is_some_and(|r| r < 3) {
            s.at3 += 1;
        } else {
            s.missed.push((
                q.query.clone(),
                q.relevant.clone(),
                slugs.into_iter().take(3).collect(),
            ));
        }
        s.rr += rank.map_or(0.0, |r| 1.0 / (r as f64 + 1.0));
    }
    println!(
        "{} flows, {} queries ({})",
        report.created,
        queries.len(),
        file.display()
    );
    println!("set        | queries | recall@1 | recall@3 | MRR");
    for (name, s) in &sets {
        let n = s.n.max(1) as f64;
        println!(
            "{name:<10} | {:>7} | {:>8.3} | {:>8.3} | {:.3}",
            s.n,
            s.at1 as f64 / n,
            s.at3 as f64 / n,
            s.rr / n
        );
    }
    for (name, s) in &sets {
        if s.missed.is_empty() {
            continue;
        }
        println!("\nnot in the top 3 ({name}):");
        for (query, want, got) in &s.missed {
            println!(
                "  {query:?}: want {}, got {}",
                want.join(" | "),
                got.join(", ")
            );
        }
    }
    Ok(())
}
