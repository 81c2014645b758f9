//! A BERT encoder for inference on one text at a time: embeddings, then
//! self-attention and feed-forward layers, each followed by a residual sum
//! and layer normalisation, as in Hugging Face's `BertModel` (post-norm,
//! exact GELU). Texts are never padded, so no attention mask is needed.

use anyhow::{Context as _, bail};
use safetensors::{Dtype, SafeTensors};
use serde::Deserialize;

use crate::kernel::{Dense, erf, exp};

/// The fields of a Hugging Face BERT `config.json` the encoder uses.
#[derive(Debug, Deserialize)]
pub(crate) struct Config {
    pub(crate) hidden_size: usize,
    num_attention_heads: usize,
    num_hidden_layers: usize,
    max_position_embeddings: usize,
    #[serde(default = "default_eps")]
    layer_norm_eps: f32,
    #[serde(default = "default_act")]
    hidden_act: String,
    #[serde(default = "default_position")]
    position_embedding_type: String,
}

fn default_eps() -> f32 {
    1e-12
}

fn default_act() -> String {
    "gelu".into()
}

fn default_position() -> String {
    "absolute".into()
}

struct Norm {
    gain: Vec<f32>,
    bias: Vec<f32>,
}

struct Layer {
    /// Query, key and value projections side by side: one pass over the
    /// input for all three.
    qkv: Dense,
    attention_out: Dense,
    attention_norm: Norm,
    up: Dense,
    down: Dense,
    output_norm: Norm,
}

pub(crate) struct Bert {
    hidden: usize,
    heads: usize,
    eps: f32,
    max_positions: usize,
    words: Vec<f32>,
    positions: Vec<f32>,
    token_type: Vec<f32>,
    embedding_norm: Norm,
    layers: Vec<Layer>,
}

/// Reads the named tensors of one safetensors file as f32.
struct Weights<'a> {
    tensors: SafeTensors<'a>,
    /// `""` or `"bert."`: some exports keep the task model's prefix.
    prefix: &'static str,
}

impl Weights<'_> {
    /// The first dimension of a tensor: how many rows it has.
    fn rows(&self, name: &str) -> anyhow::Result<usize> {
        let full = format!("{}{name}", self.prefix);
        let view = self
            .tensors
            .tensor(&full)
            .with_context(|| format!("the weights have no tensor {full}"))?;
        Ok(view.shape().first().copied().unwrap_or(0))
    }

    fn get(&self, name: &str, shape: &[usize]) -> anyhow::Result<Vec<f32>> {
        let full = format!("{}{name}", self.prefix);
        let view = self
            .tensors
            .tensor(&full)
            .with_context(|| format!("the weights have no tensor {full}"))?;
        if view.shape() != shape {
            bail!("{full} has shape {:?}, expected {shape:?}", view.shape());
        }
        if view.dtype() != Dtype::F32 {
            bail!(
                "{full} is {:?}: only f32 weights are supported",
                view.dtype()
            );
        }
        Ok(view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    fn dense(&self, name: &str, outputs: usize, inputs: usize) -> anyhow::Result<Dense> {
        let weight = self.get(&format!("{name}.weight"), &[outputs, inputs])?;
        let bias = self.get(&format!("{name}.bias"), &[outputs])?;
        Dense::new(&weight, bias, inputs).with_context(|| format!("packing {name}"))
    }

    fn norm(&self, name: &str, width: usize) -> anyhow::Result<Norm> {
        Ok(Norm {
            gain: self.get(&format!("{name}.weight"), &[width])?,
            bias: self.get(&format!("{name}.bias"), &[width])?,
        })
    }
}

impl Bert {
    pub(crate) fn load(safetensors: &[u8], config: &Config) -> anyhow::Result<Self> {
        if config.hidden_act != "gelu" {
            bail!(
                "hidden_act {:?} is not supported (only \"gelu\")",
                config.hidden_act
            );
        }
        if config.position_embedding_type != "absolute" {
            bail!(
                "position_embedding_type {:?} is not supported (only \"absolute\")",
                config.position_embedding_type
            );
        }
        let h = config.hidden_size;
        if config.num_attention_heads == 0 || !h.is_multiple_of(config.num_attention_heads) {
            bail!(
                "hidden_size {h} does not split into {} heads",
                config.num_attention_heads
            );
        }
        let tensors = SafeTensors::deserialize(safetensors).context("not a safetensors file")?;
        let prefix = if tensors
            .names()
            .iter()
            .any(|n| n.starts_with("bert.embeddings."))
        {
            "bert."
        } else {
            ""
        };
        let w = Weights { tensors, prefix };
        let vocab = w.rows("embeddings.word_embeddings.weight")?;
        let types = w.rows("embeddings.token_type_embeddings.weight")?;
        let mut token_type = w.get("embeddings.token_type_embeddings.weight", &[types, h])?;
        token_type.truncate(h);
        let layers = (0..config.num_hidden_layers)
            .map(|i| {
                let at = |part: &str| format!("encoder.layer.{i}.{part}");
                let inter = w.rows(&at("intermediate.dense.bias"))?;
                let mut weight = Vec::with_capacity(3 * h * h);
                let mut bias = Vec::with_capacity(3 * h);
                for part in ["query", "key", "value"] {
                    let name = at(&format!("attention.self.{part}"));
                    weight.extend(w.get(&format!("{name}.weight"), &[h, h])?);
                    bias.extend(w.get(&format!("{name}.bias"), &[h])?);
                }
                Ok(Layer {
                    qkv: Dense::new(&weight, bias, h).context("packing the attention")?,
                    attention_out: w.dense(&at("attention.output.dense"), h, h)?,
                    attention_norm: w.norm(&at("attention.output.LayerNorm"), h)?,
                    up: w.dense(&at("intermediate.dense"), inter, h)?,
                    down: w.dense(&at("output.dense"), h, inter)?,
                    output_norm: w.norm(&at("output.LayerNorm"), h)?,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            hidden: h,
            heads: config.num_attention_heads,
            eps: config.layer_norm_eps,
            max_positions: config.max_position_embeddings,
            words: w.get("embeddings.word_embeddings.weight", &[vocab, h])?,
            positions: w.get(
                "embeddings.position_embeddings.weight",
                &[config.max_position_embeddings, h],
            )?,
            token_type,
            embedding_norm: w.norm("embeddings.LayerNorm", h)?,
            layers,
        })
    }

    /// The mean of the last layer's token vectors, scaled to unit length.
    pub(crate) fn embed(&self, ids: &[u32]) -> anyhow::Result<Vec<f32>> {
        let h = self.hidden;
        let t = ids.len();
        if t == 0 {
            bail!("nothing to embed: the tokenizer produced no tokens");
        }
        if t > self.max_positions {
            bail!(
                "{t} tokens is more than the model's {} positions",
                self.max_positions
            );
        }
        let mut x = vec![0.0f32; t * h];
        for (i, (&id, row)) in ids.iter().zip(x.chunks_exact_mut(h)).enumerate() {
            let id = id as usize;
            let word = self
                .words
                .get(id * h..(id + 1) * h)
                .with_context(|| format!("token id {id} is outside the vocabulary"))?;
            let position = &self.positions[i * h..(i + 1) * h];
            for (((v, w), p), y) in row.iter_mut().zip(word).zip(position).zip(&self.token_type) {
                *v = w + p + y;
            }
        }
        self.normalise(&mut x, &self.embedding_norm);

        let mut qkv = vec![0.0; t * 3 * h];
        let mut context = vec![0.0; t * h];
        let mut sublayer = vec![0.0; t * h];
        let mut inner = Vec::new();
        let mut scores = vec![0.0; t];
        for layer in &self.layers {
            layer.qkv.forward(&x, &mut qkv);
            self.attend(&qkv, t, &mut context, &mut scores);
            layer.attention_out.forward(&context, &mut sublayer);
            add(&mut x, &sublayer);
            self.normalise(&mut x, &layer.attention_norm);
            inner.resize(t * layer.up.outputs(), 0.0);
            layer.up.forward(&x, &mut inner);
            for v in inner.iter_mut() {
                *v = 0.5 * *v * (1.0 + erf(*v * std::f32::consts::FRAC_1_SQRT_2));
            }
            layer.down.forward(&inner, &mut sublayer);
            add(&mut x, &sublayer);
            self.normalise(&mut x, &layer.output_norm);
        }

        // The mean points where the sum does: scale the sum to unit length.
        let mut sum = vec![0.0f32; h];
        for row in x.chunks_exact(h) {
            add(&mut sum, row);
        }
        let norm = sum.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        Ok(sum.into_iter().map(|v| v / norm).collect())
    }

    /// Scaled dot-product attention of every token over every token, head
    /// by head, into `context` (`t × hidden`).
    fn attend(&self, qkv: &[f32], t: usize, context: &mut [f32], scores: &mut [f32]) {
        let h = self.hidden;
        let d = h / self.heads;
        let scale = 1.0 / (d as f32).sqrt();
        let row = |i: usize, part: usize, head: usize| {
            let at = i * 3 * h + part * h + head * d;
            &qkv[at..at + d]
        };
        for head in 0..self.heads {
            for i in 0..t {
                let q = row(i, 0, head);
                let mut max = f32::NEG_INFINITY;
                for (j, s) in scores.iter_mut().enumerate() {
                    let k = row(j, 1, head);
                    *s = q.iter().zip(k).map(|(a, b)| a * b).sum::<f32>() * scale;
                    max = max.max(*s);
                }
                let mut total = 0.0;
                for s in scores.iter_mut() {
                    *s = exp(*s - max);
                    total += *s;
                }
                let out = &mut context[i * h + head * d..i * h + (head + 1) * d];
                out.fill(0.0);
                for (j, &p) in scores.iter().enumerate() {
                    for (o, v) in out.iter_mut().zip(row(j, 2, head)) {
                        *o += p * v;
                    }
                }
                for o in out.iter_mut() {
                    *o /= total;
                }
            }
        }
    }

    /// Layer normalisation of each row of `x`.
    fn normalise(&self, x: &mut [f32], norm: &Norm) {
        let h = self.hidden as f32;
        for row in x.chunks_exact_mut(self.hidden) {
            let mean = row.iter().sum::<f32>() / h;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / h;
            let inv = 1.0 / (var + self.eps).sqrt();
            for ((v, g), b) in row.iter_mut().zip(&norm.gain).zip(&norm.bias) {
                *v = (*v - mean) * inv * g + b;
            }
        }
    }
}

fn add(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}
