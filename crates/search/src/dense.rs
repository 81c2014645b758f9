//! Dense retrieval in process: an account's flow vectors in one contiguous
//! array, and the weighted fusion of lexical and dense scores. The vectors
//! are unit length, so their dot product is their cosine similarity.
//!
//! A search reads every vector of the account, so it reads them small
//! first: each vector also has an 8-bit copy (one scale per vector), a
//! quarter of the bytes to stream through memory. The best candidates of
//! that pass are scored again on the full vectors, and those scores are
//! the ones returned.

use std::cmp::Ordering;
use std::collections::HashMap;

use engine::ids::FlowId;
use pulp::{Arch, Simd, WithSimd};

/// One account's vectors.
#[derive(Debug, Default)]
pub(crate) struct VectorSet {
    dims: usize,
    ids: Vec<FlowId>,
    pos: HashMap<FlowId, usize>,
    data: Vec<f32>,
    /// Each vector in 8 bits: `codes[i] × scales[row]` ≈ `data[i]`.
    codes: Vec<i8>,
    scales: Vec<f32>,
    /// Each vector's signs, one bit a dimension, [`words`](Self::words)
    /// 64-bit words a vector.
    signs: Vec<u64>,
    words: usize,
}

/// How many candidates of the 8-bit pass are scored again per result.
const RESCORE: usize = 4;
/// How many candidates per result the sign-bit pass keeps for the 8-bit
/// pass, and at least how many.
const SIGN_KEEP: usize = 50;
const SIGN_KEEP_MIN: usize = 1000;
/// The sign-bit pass runs only on sets this many times larger than what it
/// keeps: on smaller ones the 8-bit pass over everything is fast enough.
const SIGN_FROM: usize = 8;

/// The sign bits of `vector` into `out` (bit `i % 64` of word `i / 64` is
/// set where component `i` is positive; bits past the end stay clear).
fn signs(vector: &[f32], out: &mut [u64]) {
    out.fill(0);
    for (i, x) in vector.iter().enumerate() {
        if *x > 0.0 {
            out[i / 64] |= 1 << (i % 64);
        }
    }
}

/// Copies the last `width` elements of `v` over element group `i` and
/// drops them: how a removal keeps the arrays contiguous.
fn move_last_into<T: Copy>(v: &mut Vec<T>, i: usize, width: usize) {
    let last = v.len() / width - 1;
    if i != last {
        let (head, tail) = v.split_at_mut(last * width);
        head[i * width..(i + 1) * width].copy_from_slice(&tail[..width]);
    }
    v.truncate(last * width);
}

/// A vector in 8 bits and the scale that brings it back.
fn quantize(vector: &[f32], out: &mut [i8]) -> f32 {
    let max = vector.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
    for (o, x) in out.iter_mut().zip(vector) {
        // |x / scale| ≤ 127, so the cast cannot saturate.
        *o = (x / scale).round() as i8;
    }
    scale
}

/// The dot product of two 8-bit vectors, in 32 lanes of 32-bit sums so
/// that the compiler vectorises it (into 16-bit multiply-adds with AVX2
/// and AVX-512).
#[inline(always)]
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    const LANES: usize = 32;
    let mut lanes = [0i32; LANES];
    let n = a.len().min(b.len()) / LANES * LANES;
    for (x, y) in a[..n].chunks_exact(LANES).zip(b[..n].chunks_exact(LANES)) {
        for l in 0..LANES {
            lanes[l] += i32::from(x[l]) * i32::from(y[l]);
        }
    }
    let tail: i32 = a[n..]
        .iter()
        .zip(&b[n..])
        .map(|(x, y)| i32::from(*x) * i32::from(*y))
        .sum();
    lanes.iter().sum::<i32>() + tail
}

/// The 8-bit pass over every vector, compiled for the widest vector
/// instructions the CPU has (`pulp` picks them at run time): the scan
/// streams the whole set, and baseline x86-64 code runs it at half the
/// speed (about 15 ms against 7 for 100k vectors).
struct Approximate<'a> {
    codes: &'a [i8],
    scales: &'a [f32],
    query: &'a [i8],
    dims: usize,
}

impl WithSimd for Approximate<'_> {
    type Output = Vec<f32>;

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) -> Vec<f32> {
        let mut scores = Vec::with_capacity(self.scales.len());
        for (row, scale) in self.codes.chunks_exact(self.dims).zip(self.scales) {
            scores.push(dot_i8(row, self.query) as f32 * scale);
        }
        scores
    }
}

impl VectorSet {
    pub(crate) fn new(dims: usize) -> Self {
        Self {
            dims,
            words: dims.div_ceil(64),
            ..Self::default()
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// Adds or replaces a flow's vector; one of another length is ignored
    /// (it came from another model).
    pub(crate) fn upsert(&mut self, id: FlowId, vector: &[f32]) {
        if vector.len() != self.dims {
            return;
        }
        let d = self.dims;
        let i = match self.pos.get(&id) {
            Some(&i) => {
                self.data[i * d..(i + 1) * d].copy_from_slice(vector);
                i
            }
            None => {
                let i = self.ids.len();
                self.pos.insert(id, i);
                self.ids.push(id);
                self.data.extend_from_slice(vector);
                self.codes.resize((i + 1) * d, 0);
                self.scales.push(1.0);
                self.signs.resize((i + 1) * self.words, 0);
                i
            }
        };
        self.scales[i] = quantize(vector, &mut self.codes[i * d..(i + 1) * d]);
        signs(
            vector,
            &mut self.signs[i * self.words..(i + 1) * self.words],
        );
    }

    pub(crate) fn remove(&mut self, id: FlowId) {
        let Some(i) = self.pos.remove(&id) else {
            return;
        };
        let last = self.ids.len() - 1;
        if i != last {
            let moved = self.ids[last];
            self.pos.insert(moved, i);
        }
        self.ids.swap_remove(i);
        self.scales.swap_remove(i);
        move_last_into(&mut self.data, i, self.dims);
        move_last_into(&mut self.codes, i, self.dims);
        move_last_into(&mut self.signs, i, self.words);
    }

    /// The similarity of a flow's vector to `query`, if it has one.
    pub(crate) fn score(&self, id: FlowId, query: &[f32]) -> Option<f32> {
        let i = *self.pos.get(&id)?;
        Some(dot(&self.data[i * self.dims..(i + 1) * self.dims], query))
    }

    /// The `k` most similar flows, best first. A large set is first
    /// narrowed by the vectors' signs (the `SIGN_KEEP × k` that agree with
    /// the query's in the most dimensions: a sixth of a byte a vector to
    /// read), then the best `RESCORE × k` of those (or of all) by the
    /// 8-bit vectors, then those by the full ones.
    pub(crate) fn top(&self, query: &[f32], k: usize) -> Vec<(FlowId, f32)> {
        if query.len() != self.dims || k == 0 || self.dims == 0 {
            return Vec::new();
        }
        let mut q = vec![0i8; self.dims];
        quantize(query, &mut q);
        let keep = (k * SIGN_KEEP).max(SIGN_KEEP_MIN);
        let shortlist = if self.ids.len() > keep * SIGN_FROM {
            let mut bits = vec![0u64; self.words];
            signs(query, &mut bits);
            let near = Arch::new().dispatch(Agreement {
                signs: &self.signs,
                query: &bits,
            });
            let scored = fewest(&near, keep).into_iter().map(|i| {
                let row = &self.codes[i * self.dims..(i + 1) * self.dims];
                (i, dot_i8(row, &q) as f32 * self.scales[i])
            });
            best_of(scored, k * RESCORE)
        } else {
            let scores = Arch::new().dispatch(Approximate {
                codes: &self.codes,
                scales: &self.scales,
                query: &q,
                dims: self.dims,
            });
            best_of(scores.into_iter().enumerate(), k * RESCORE)
        };
        let exact = shortlist.into_iter().map(|(i, _)| {
            let row = &self.data[i * self.dims..(i + 1) * self.dims];
            (i, dot(row, query))
        });
        best_of(exact, k)
            .into_iter()
            .map(|(i, s)| (self.ids[i], s))
            .collect()
    }
}

/// The sign-bit pass: in how many dimensions each vector's sign differs
/// from the query's, compiled for the CPU's widest instructions (a
/// population count per word).
struct Agreement<'a> {
    signs: &'a [u64],
    query: &'a [u64],
}

impl WithSimd for Agreement<'_> {
    type Output = Vec<u16>;

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) -> Vec<u16> {
        let words = self.query.len();
        let mut out = Vec::with_capacity(self.signs.len() / words.max(1));
        for row in self.signs.chunks_exact(words) {
            let mut differ = 0;
            for (a, b) in row.iter().zip(self.query) {
                differ += (a ^ b).count_ones();
            }
            out.push(differ as u16);
        }
        out
    }
}

/// The rows of the `keep` smallest counts (ties at the cut in row order),
/// by counting: the counts are small integers.
fn fewest(counts: &[u16], keep: usize) -> Vec<usize> {
    let mut histogram = vec![0usize; usize::from(counts.iter().copied().max().unwrap_or(0)) + 1];
    for &c in counts {
        histogram[usize::from(c)] += 1;
    }
    let (mut cut, mut below) = (0, 0);
    for (c, &n) in histogram.iter().enumerate() {
        cut = c;
        if below + n >= keep {
            break;
        }
        below += n;
    }
    let mut at_cut = keep.saturating_sub(below);
    let mut rows = Vec::with_capacity(keep);
    for (i, &c) in counts.iter().enumerate() {
        let c = usize::from(c);
        if c < cut {
            rows.push(i);
        } else if c == cut && at_cut > 0 {
            rows.push(i);
            at_cut -= 1;
        }
    }
    rows
}

/// The `k` highest-scoring of `scores`, best first.
fn best_of(scores: impl Iterator<Item = (usize, f32)>, k: usize) -> Vec<(usize, f32)> {
    let mut best: Vec<(usize, f32)> = Vec::with_capacity(k + 1);
    let mut floor = f32::NEG_INFINITY;
    for (i, s) in scores {
        if best.len() == k && s <= floor {
            continue;
        }
        let at = best.partition_point(|&(_, b)| b >= s);
        best.insert(at, (i, s));
        if best.len() > k {
            best.pop();
        }
        if best.len() == k {
            floor = best[k - 1].1;
        }
    }
    best
}

/// The dot product, in eight independent lanes so the compiler vectorises
/// it.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (a8, a_rest) = a.split_at(a.len() - a.len() % 8);
    let (b8, b_rest) = b.split_at(a8.len().min(b.len()));
    for (x, y) in a8.chunks_exact(8).zip(b8.chunks_exact(8)) {
        for l in 0..8 {
            lanes[l] += x[l] * y[l];
        }
    }
    let tail: f32 = a_rest.iter().zip(b_rest).map(|(x, y)| x * y).sum();
    lanes.iter().sum::<f32>() + tail
}

/// A candidate of a hybrid search: its lexical score (0 when full-text
/// search did not return it) and its dense similarity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Candidate {
    pub id: FlowId,
    pub lexical: f32,
    pub dense: f32,
}

/// Ranks candidates by `weight × dense + (1 − weight) × lexical`, each
/// min-max normalised over the candidates; best first, ties to the better
/// lexical score.
pub(crate) fn fuse(candidates: &[Candidate], weight: f32) -> Vec<(FlowId, f32)> {
    let range = |f: fn(&Candidate) -> f32| {
        let (lo, hi) = candidates
            .iter()
            .map(f)
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), x| {
                (lo.min(x), hi.max(x))
            });
        move |x: f32| if hi > lo { (x - lo) / (hi - lo) } else { 1.0 }
    };
    let lexical = range(|c| c.lexical);
    let dense = range(|c| c.dense);
    let mut out: Vec<(FlowId, f32, f32)> = candidates
        .iter()
        .map(|c| {
            let score = weight * dense(c.dense) + (1.0 - weight) * lexical(c.lexical);
            (c.id, score, c.lexical)
        })
        .collect();
    out.sort_by(|a, b| {
        b.1.partial_cmp(&a.1)
            .unwrap_or(Ordering::Equal)
            .then(b.2.partial_cmp(&a.2).unwrap_or(Ordering::Equal))
    });
    out.into_iter().map(|(id, s, _)| (id, s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random numbers in [-0.5, 0.5) (xorshift).
    fn noise(mut seed: u64) -> impl FnMut() -> f32 {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        }
    }

    /// The `k` rows most similar to `q` by a full comparison, best first.
    fn exact_top(rows: &[(FlowId, Vec<f32>)], q: &[f32], k: usize) -> Vec<(FlowId, f32)> {
        let mut exact: Vec<(FlowId, f32)> = rows.iter().map(|(id, v)| (*id, dot(v, q))).collect();
        exact.sort_by(|a, b| b.1.total_cmp(&a.1));
        exact.truncate(k);
        exact
    }

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn dot_matches_the_plain_sum_at_every_length() {
        for len in [0, 1, 7, 8, 9, 384, 385] {
            let a: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..len).map(|i| (i as f32 * 0.11).cos()).collect();
            let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - plain).abs() < 1e-4, "length {len}");
        }
    }

    #[test]
    fn dot_i8_matches_the_plain_sum_at_every_length_and_extreme() {
        for len in [0, 1, 31, 32, 33, 384, 385] {
            let a: Vec<i8> = (0..len).map(|i| ((i * 37) % 255) as u8 as i8).collect();
            let b: Vec<i8> = (0..len).map(|i| ((i * 11 + 5) % 255) as u8 as i8).collect();
            let plain: i32 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| i32::from(*x) * i32::from(*y))
                .sum();
            assert_eq!(dot_i8(&a, &b), plain, "length {len}");
        }
        // The largest sum a 384-dimension vector can reach does not overflow.
        let most = vec![-128i8; 384];
        assert_eq!(dot_i8(&most, &most), 384 * 128 * 128);
    }

    #[test]
    fn top_returns_the_most_similar_best_first_and_follows_upserts_and_removals() {
        let ids: Vec<FlowId> = (0..5).map(|_| FlowId::new()).collect();
        let mut set = VectorSet::new(3);
        set.upsert(ids[0], &unit(&[1.0, 0.0, 0.0]));
        set.upsert(ids[1], &unit(&[0.9, 0.1, 0.0]));
        set.upsert(ids[2], &unit(&[0.0, 1.0, 0.0]));
        set.upsert(ids[3], &unit(&[0.0, 0.0, 1.0]));
        set.upsert(ids[4], &[1.0, 0.0]); // another model's length: ignored
        assert_eq!(set.len(), 4);
        let q = unit(&[1.0, 0.05, 0.0]);
        let top: Vec<FlowId> = set.top(&q, 2).into_iter().map(|(id, _)| id).collect();
        assert_eq!(top, [ids[0], ids[1]]);

        set.upsert(ids[2], &unit(&[1.0, 0.04, 0.0]));
        assert_eq!(set.top(&q, 1)[0].0, ids[2]);
        set.remove(ids[2]);
        set.remove(ids[0]);
        assert_eq!(set.len(), 2);
        let top: Vec<FlowId> = set.top(&q, 5).into_iter().map(|(id, _)| id).collect();
        assert_eq!(top, [ids[1], ids[3]]);
        assert!(set.score(ids[0], &q).is_none());
        let s = set.score(ids[3], &q).unwrap();
        assert!(s.abs() < 1e-6);
    }

    #[test]
    fn the_8_bit_pass_then_rescoring_finds_the_exact_top() {
        // Deterministic pseudo-random unit vectors of the model's size.
        let mut next = noise(0x2545_f491_4f6c_dd1d);
        let dims = 384;
        let mut set = VectorSet::new(dims);
        let mut rows = Vec::new();
        for _ in 0..3000 {
            let v = unit(&(0..dims).map(|_| next()).collect::<Vec<_>>());
            let id = FlowId::new();
            set.upsert(id, &v);
            rows.push((id, v));
        }
        for _ in 0..20 {
            let q = unit(&(0..dims).map(|_| next()).collect::<Vec<_>>());
            assert_eq!(set.top(&q, 10), exact_top(&rows, &q, 10));
        }
    }

    #[test]
    fn fewest_keeps_the_smallest_counts_and_cuts_ties_in_row_order() {
        let counts = [5, 1, 3, 3, 0, 3, 9];
        assert_eq!(fewest(&counts, 3), [1, 2, 4]);
        assert_eq!(fewest(&counts, 4), [1, 2, 3, 4]);
        assert_eq!(fewest(&counts, 7), [0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(fewest(&counts, 20).len(), 7);
        assert!(fewest(&[], 3).is_empty());
    }

    #[test]
    fn the_sign_pass_on_a_large_set_finds_what_the_full_scan_finds() {
        // Runbook-like data: variants of a few hundred topics, each a
        // centre plus noise; queries near a topic. Big enough for the sign
        // pass (more than SIGN_FROM × SIGN_KEEP_MIN vectors for k = 8).
        let mut next = noise(0x9e37_79b9_7f4a_7c15);
        let dims = 384;
        let centres: Vec<Vec<f32>> = (0..300)
            .map(|_| (0..dims).map(|_| next()).collect())
            .collect();
        let mut near =
            |c: &[f32], noise: f32| unit(&c.iter().map(|x| x + noise * next()).collect::<Vec<_>>());
        let mut set = VectorSet::new(dims);
        let mut rows = Vec::new();
        for i in 0..(SIGN_FROM * SIGN_KEEP_MIN + 3000) {
            let v = near(&centres[i % centres.len()], 1.5);
            let id = FlowId::new();
            set.upsert(id, &v);
            rows.push((id, v));
        }
        // Removals keep the sign bits in step with the rest.
        for (id, _) in rows.drain(..500) {
            set.remove(id);
        }
        assert_eq!(set.len(), rows.len());
        assert!(set.len() > SIGN_FROM * (8 * SIGN_KEEP).max(SIGN_KEEP_MIN));
        let (mut found, mut wanted) = (0, 0);
        for t in 0..40 {
            let q = near(&centres[(t * 7) % centres.len()], 1.5);
            let exact = exact_top(&rows, &q, 8);
            let got = set.top(&q, 8);
            wanted += exact.len();
            found += exact.iter().filter(|e| got.contains(e)).count();
        }
        let recall = found as f64 / wanted as f64;
        assert!(
            recall >= 0.99,
            "the staged search found {recall:.3} of the exact top 8"
        );
    }

    #[test]
    fn fusion_weighs_normalised_scores() {
        let [a, b, c] = [FlowId::new(), FlowId::new(), FlowId::new()];
        let candidates = [
            Candidate {
                id: a,
                lexical: 12.0,
                dense: 0.20,
            },
            Candidate {
                id: b,
                lexical: 0.0,
                dense: 0.60,
            },
            Candidate {
                id: c,
                lexical: 6.0,
                dense: 0.40,
            },
        ];
        // All lexical, all dense, and in between.
        assert_eq!(fuse(&candidates, 0.0)[0].0, a);
        assert_eq!(fuse(&candidates, 1.0)[0].0, b);
        // Equal fused scores: the better lexical score first.
        let tied = [
            Candidate {
                id: b,
                lexical: 0.0,
                dense: 1.0,
            },
            Candidate {
                id: a,
                lexical: 1.0,
                dense: 0.0,
            },
        ];
        assert_eq!(
            fuse(&tied, 0.5).iter().map(|x| x.0).collect::<Vec<_>>(),
            [a, b]
        );
        let scores = fuse(&candidates, 0.7);
        assert_eq!(scores[0].0, b);
        assert!((scores[0].1 - 0.7).abs() < 1e-6);
    }
}
