//! The arithmetic of the forward pass: a dense layer over weights packed
//! once at load, and the exp and erf that softmax and GELU need, written so
//! that the compiler vectorises them.
//!
//! A query is a dozen or two tokens, so each dense layer multiplies a thin
//! matrix by a wide one. General matrix libraries repack the weights on
//! every call and tune for square shapes; here the weights are packed once
//! at load into groups of [`GROUP`] outputs stored input by input, and a
//! tile of a few token rows by one group keeps its sums in registers for
//! the whole dot product.
//!
//! The code is safe Rust: `pulp` picks the widest vector instructions the
//! CPU has at run time (AVX-512, AVX2 with FMA, or none) and compiles the
//! loops once for each, and the compiler vectorises them. With AVX-512 the
//! weights are kept in half precision and widened in registers as they
//! are used (through pulp's safe intrinsics): a query's pass reads every
//! weight of the model once, and reading half the bytes makes a short
//! query a third faster. On the reference texts its vectors are within
//! 1e-6 cosine of sentence-transformers' (worst 0.9999992; the test's
//! bound is 1e-4).

use pulp::{Arch, Simd, WithSimd};

/// Outputs per packed group: four AVX-512 registers of f32.
pub(crate) const GROUP: usize = 64;
/// Token rows whose inputs stay in cache while every group passes over
/// them.
const BLOCK: usize = 64;
/// Inputs per run: 128 × 64 weights is 32 KiB, within a core's
/// first-level data cache.
const DEPTH: usize = 128;

/// A dense layer, `y = x · Wᵀ + b`, with `W` packed into groups.
pub(crate) struct Dense {
    inputs: usize,
    outputs: usize,
    /// Group `g` holds outputs `64g..64g+64`: for each input `k`, the 64
    /// weights of those outputs (zero past the last output), so a tile
    /// reads it front to back.
    packed: Packed,
    /// Padded with zeros to whole groups.
    bias: Vec<[f32; GROUP]>,
}

/// The packed weights in the precision the CPU's kernel reads.
enum Packed {
    Single(Vec<f32>),
    /// IEEE half-precision bits, with the proof (pulp's AVX-512 token)
    /// that this CPU runs the kernel that reads them.
    #[cfg(target_arch = "x86_64")]
    Half(Vec<u16>, pulp::x86::V4),
}

impl Packed {
    /// The weights as they are, or in half precision if `half` and the CPU
    /// has AVX-512.
    fn new(weights: Vec<f32>, half: bool) -> Self {
        #[cfg(target_arch = "x86_64")]
        if half && let Some(v4) = pulp::x86::V4::try_new() {
            let bits = weights
                .iter()
                .map(|&w| half::f16::from_f32(w).to_bits())
                .collect();
            return Self::Half(bits, v4);
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = half;
        Self::Single(weights)
    }
}

impl Dense {
    /// `weight` is `outputs × inputs`, row-major (PyTorch's layout).
    pub(crate) fn new(weight: &[f32], bias: Vec<f32>, inputs: usize) -> anyhow::Result<Self> {
        Self::packed(weight, bias, inputs, true)
    }

    /// With `half`, the weights are kept in half precision where the CPU
    /// has AVX-512; otherwise, and elsewhere, in single.
    fn packed(weight: &[f32], bias: Vec<f32>, inputs: usize, half: bool) -> anyhow::Result<Self> {
        let outputs = bias.len();
        anyhow::ensure!(
            inputs > 0 && outputs > 0 && weight.len() == outputs * inputs,
            "a {outputs}×{inputs} layer cannot have {} weights",
            weight.len()
        );
        let groups = outputs.div_ceil(GROUP);
        let mut packed = vec![0.0; groups * inputs * GROUP];
        for (g, group) in packed.chunks_exact_mut(inputs * GROUP).enumerate() {
            for (k, lane) in group.chunks_exact_mut(GROUP).enumerate() {
                for (j, w) in lane.iter_mut().enumerate() {
                    let output = g * GROUP + j;
                    if output < outputs {
                        *w = weight[output * inputs + k];
                    }
                }
            }
        }
        let mut padded = vec![[0.0; GROUP]; groups];
        for (o, b) in bias.into_iter().enumerate() {
            padded[o / GROUP][o % GROUP] = b;
        }
        Ok(Self {
            inputs,
            outputs,
            packed: Packed::new(packed, half),
            bias: padded,
        })
    }

    pub(crate) fn outputs(&self) -> usize {
        self.outputs
    }

    /// `y` (`rows × outputs`) = `x` (`rows × inputs`) · Wᵀ + b.
    pub(crate) fn forward(&self, x: &[f32], y: &mut [f32]) {
        let rows = self.rows(x, y);
        let tile = match self.packed {
            Packed::Single(_) => Arch::new().dispatch(TileRows),
            #[cfg(target_arch = "x86_64")]
            Packed::Half(..) => HALF_TILE,
        };
        // Laid out once for every share of the layer.
        let lanes = transpose(x, self.inputs, tile);
        let mut sums = vec![[0.0; GROUP]; self.bias.len() * rows];
        let shares = rayon::current_num_threads();
        self.groups(&lanes, tile, rows, 0, &mut sums, shares);
        self.scatter(&sums, rows, y);
    }

    fn rows(&self, x: &[f32], y: &[f32]) -> usize {
        let rows = x.len() / self.inputs;
        assert_eq!(x.len(), rows * self.inputs, "input rows");
        assert_eq!(y.len(), rows * self.outputs, "output rows");
        rows
    }

    /// Groups `first..` (as many as `sums` holds, `rows` sums each) into
    /// `sums`, in up to `shares` parts for as many threads while a part is
    /// still worth handing over: the outputs of a query's layers split into
    /// independent groups, so one query uses every core.
    fn groups(
        &self,
        lanes: &[f32],
        tile: usize,
        rows: usize,
        first: usize,
        sums: &mut [[f32; GROUP]],
        shares: usize,
    ) {
        let count = sums.len() / rows.max(1);
        if shares >= 2 && count >= 2 && count * rows * self.inputs * GROUP >= MIN_SPLIT {
            let half = count / 2;
            let (front, back) = sums.split_at_mut(half * rows);
            let (a, b) = (shares / 2, shares - shares / 2);
            rayon::join(
                || self.groups(lanes, tile, rows, first, front, a),
                || self.groups(lanes, tile, rows, first + half, back, b),
            );
        } else {
            match &self.packed {
                Packed::Single(weights) => Arch::new().dispatch(Forward {
                    layer: self,
                    weights,
                    lanes,
                    tile,
                    rows,
                    first,
                    sums,
                }),
                #[cfg(target_arch = "x86_64")]
                &Packed::Half(ref weights, v4) => v4.vectorize(
                    #[inline(always)]
                    || {
                        self.tiles::<HALF_TILE, u16>(
                            weights,
                            lanes,
                            rows,
                            first,
                            sums,
                            |x, w, acc| dot_half(v4, x, w, acc),
                        )
                    },
                ),
            }
        }
    }

    /// From group-major sums (group `g`, row `r` at `g · rows + r`) to
    /// row-major outputs.
    fn scatter(&self, sums: &[[f32; GROUP]], rows: usize, y: &mut [f32]) {
        let n = self.outputs;
        for (g, group) in sums.chunks_exact(rows.max(1)).enumerate() {
            let (col, width) = (g * GROUP, GROUP.min(n - g * GROUP));
            for (row, s) in y.chunks_exact_mut(n).zip(group) {
                row[col..col + width].copy_from_slice(&s[..width]);
            }
        }
    }

    /// Groups `first..` into `sums` in tiles of `R` rows (`lanes` laid out
    /// by [`transpose`] for `R`), over runs of [`DEPTH`] inputs: a run of a
    /// group's weights stays in the first-level cache while every tile of
    /// a block of rows passes over it.
    #[inline(always)]
    fn tiles<const R: usize, W: Copy>(
        &self,
        weights: &[W],
        lanes: &[f32],
        rows: usize,
        first: usize,
        sums: &mut [[f32; GROUP]],
        dot: impl Fn(&[[f32; R]], &[[W; GROUP]], [[f32; GROUP]; R]) -> [[f32; GROUP]; R],
    ) {
        let k = self.inputs;
        if rows == 0 {
            return;
        }
        let count = sums.len() / rows;
        let (lanes, _) = lanes.as_chunks::<R>();
        let tiles = rows.div_ceil(R);
        assert_eq!(lanes.len(), tiles * k, "inputs laid out for another tile");
        let per_block = (BLOCK / R).max(1);
        for block_start in (0..tiles).step_by(per_block) {
            let row0 = block_start * R;
            let block_rows = (per_block * R).min(rows - row0);
            let groups = weights.chunks_exact(k * GROUP).zip(&self.bias);
            for (g, (weights, bias)) in groups.skip(first).take(count).enumerate() {
                let (weights, _) = weights.as_chunks::<GROUP>();
                let block = &mut sums[g * rows + row0..][..block_rows];
                for (run, run_weights) in weights.chunks(DEPTH).enumerate() {
                    let from = run * DEPTH;
                    for (j, tile) in block.chunks_mut(R).enumerate() {
                        let at = (block_start + j) * k + from;
                        let mut acc = [*bias; R];
                        if run > 0 {
                            acc[..tile.len()].copy_from_slice(tile);
                        }
                        let inputs = &lanes[at..at + run_weights.len()];
                        let acc = dot(inputs, run_weights, acc);
                        let real = tile.len();
                        tile.copy_from_slice(&acc[..real]);
                    }
                }
            }
        }
    }
}

/// Each tile's inputs input by input: row `r` of tile `t`, input `i` at
/// `(t·k + i)·tile + r`; rows past the last are zeros. One row a tile is
/// the rows as they are.
fn transpose(x: &[f32], k: usize, tile: usize) -> std::borrow::Cow<'_, [f32]> {
    if tile == 1 {
        return std::borrow::Cow::Borrowed(x);
    }
    let rows = x.len() / k;
    let mut out = vec![0.0; rows.div_ceil(tile) * k * tile];
    for (i, row) in x.chunks_exact(k).enumerate() {
        let (t, r) = (i / tile, i % tile);
        let lanes = &mut out[t * k * tile..(t + 1) * k * tile];
        for (lane, &v) in lanes.chunks_exact_mut(tile).zip(row) {
            lane[r] = v;
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Token rows a tile of the half-precision kernel holds: 6 rows × 64
/// outputs is 24 of AVX-512's 32 registers.
#[cfg(target_arch = "x86_64")]
const HALF_TILE: usize = 6;

/// Below this many multiply-adds a share of a layer runs on the thread
/// that has it: about 20 µs of work, well above what handing it over
/// costs.
const MIN_SPLIT: usize = 1 << 20;

/// Token rows a tile of single-precision weights holds for the instruction
/// set `pulp` dispatches to:
/// with AVX-512, 6 rows × 64 outputs is 24 of the 32 registers; with
/// AVX2, one row × 64 outputs is 8 of the 16.
struct TileRows;

impl WithSimd for TileRows {
    type Output = usize;

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) -> usize {
        if size_of::<S::f32s>() >= 64 { 6 } else { 1 }
    }
}

/// Runs the tile the dispatched instruction set calls for.
struct Forward<'a> {
    layer: &'a Dense,
    weights: &'a [f32],
    lanes: &'a [f32],
    tile: usize,
    rows: usize,
    first: usize,
    sums: &'a mut [[f32; GROUP]],
}

impl WithSimd for Forward<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) {
        let Self {
            layer,
            weights,
            lanes,
            tile,
            rows,
            first,
            sums,
        } = self;
        // `tile` came from `TileRows` on the same instruction set.
        match (tile, size_of::<S::f32s>()) {
            (6, _) => layer.tiles(weights, lanes, rows, first, sums, dot::<6, true>),
            (_, 32..) => layer.tiles(weights, lanes, rows, first, sums, dot::<1, true>),
            // No fused multiply-add to rely on: plain products and sums.
            _ => layer.tiles(weights, lanes, rows, first, sums, dot::<1, false>),
        }
    }
}

/// [`dot`] over half-precision weights: each input's 64 weights widened to
/// f32 in four registers (`vcvtph2ps`), then multiplied and added as there.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn dot_half<const R: usize>(
    v4: pulp::x86::V4,
    inputs: &[[f32; R]],
    weights: &[[u16; GROUP]],
    acc: [[f32; GROUP]; R],
) -> [[f32; GROUP]; R] {
    use core::arch::x86_64::{__m256i, __m512};
    use pulp::bytemuck::cast;
    let f = v4.avx512f;
    let mut acc: [[__m512; 4]; R] = acc.map(cast);
    for (xs, ws) in inputs.iter().zip(weights) {
        let w: [__m256i; 4] = cast(*ws);
        let w = w.map(|h| f._mm512_cvtph_ps(h));
        for (sums, &x) in acc.iter_mut().zip(xs) {
            let x = f._mm512_set1_ps(x);
            for (a, &wv) in sums.iter_mut().zip(&w) {
                *a = f._mm512_fmadd_ps(x, wv, *a);
            }
        }
    }
    acc.map(cast)
}

/// `R` rows of inputs (input by input) times one group of weights, added
/// to `acc`.
#[inline(always)]
fn dot<const R: usize, const FMA: bool>(
    inputs: &[[f32; R]],
    weights: &[[f32; GROUP]],
    mut acc: [[f32; GROUP]; R],
) -> [[f32; GROUP]; R] {
    for (xs, ws) in inputs.iter().zip(weights) {
        for (sums, &xv) in acc.iter_mut().zip(xs) {
            for (a, &wv) in sums.iter_mut().zip(ws) {
                *a = if FMA {
                    xv.mul_add(wv, *a)
                } else {
                    *a + xv * wv
                };
            }
        }
    }
    acc
}

/// `eˣ` to within a few units in the last place over the range softmax
/// uses (arguments ≤ 0); branch-free so that loops over it vectorise.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    // eˣ = 2ⁿ · eʳ with n = round(x / ln 2) and |r| ≤ ln 2 / 2.
    let x = x.clamp(-87.0, 88.0);
    let n = (x * std::f32::consts::LOG2_E).round_ties_even();
    // ln 2 split in two so that n · ln 2 is exact enough.
    let r = x - n * 0.693_145_75 - n * 1.428_606_8e-6;
    // Taylor series of eʳ to r⁷ (error below 1e-8 for |r| ≤ 0.35).
    let mut p = 1.0 / 5040.0;
    for c in [
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = p * r + c;
    }
    // 2ⁿ built in the exponent bits (n is in [-126, 127] after the clamp).
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    p * scale
}

/// The error function, to within about 1e-7: the odd rational
/// approximation on [-4, 4] that Eigen and XLA use for single precision
/// (beyond ±4, erf is ±1 in f32).
#[inline(always)]
pub(crate) fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let p = -2.726_142_3e-10f32;
    let p = p * x2 + 2.770_681_4e-8;
    let p = p * x2 - 2.101_024e-6;
    let p = p * x2 - 5.692_506_4e-5;
    let p = p * x2 - 7.349_906_3e-4;
    let p = p * x2 - 2.954_6e-3;
    let p = p * x2 - 1.609_603_3e-2;
    let q = -1.456_607_2e-5f32;
    let q = q * x2 - 2.133_740_6e-4;
    let q = q * x2 - 1.682_827e-3;
    let q = q * x2 - 7.373_329e-3;
    let q = q * x2 - 1.426_474e-2;
    x * p / q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_the_library_over_the_softmax_range() {
        let mut worst = 0.0f64;
        for i in 0..=200_000 {
            let x = -87.0 + 88.0 * f64::from(i) / 200_000.0;
            let got = f64::from(exp(x as f32));
            let want = (x as f32 as f64).exp();
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 1e-6, "relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-200.0) < 1e-37);
    }

    #[test]
    fn erf_matches_the_library() {
        let mut worst = 0.0f64;
        for i in -100_000..=100_000 {
            let x = 6.0 * f64::from(i) / 100_000.0;
            let got = f64::from(erf(x as f32));
            let want = libm::erf(x as f32 as f64);
            worst = worst.max((got - want).abs());
        }
        assert!(worst < 5e-7, "absolute error {worst}");
    }

    fn reference(x: &[f32], w: &[f32], b: &[f32], k: usize) -> Vec<f32> {
        let n = b.len();
        let rows = x.len() / k;
        let mut y = vec![0.0; rows * n];
        for r in 0..rows {
            for o in 0..n {
                let dot: f64 = (0..k)
                    .map(|i| f64::from(x[r * k + i]) * f64::from(w[o * k + i]))
                    .sum();
                y[r * n + o] = (dot + f64::from(b[o])) as f32;
            }
        }
        y
    }

    #[test]
    fn dense_matches_a_plain_product_for_every_tile_shape() {
        // Row counts that leave single rows and more than one block, and
        // widths that leave a part group, exercise every remainder path.
        let mut seed = 7u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        for (rows, k, n) in [
            (1, 8, 16),
            (3, 37, 48),
            (17, 384, 80),
            (70, 64, 112),
            (130, 300, 128),
            // Enough work to be shared out among threads.
            (17, 384, 1152),
        ] {
            let x: Vec<f32> = (0..rows * k).map(|_| next()).collect();
            let w: Vec<f32> = (0..n * k).map(|_| next()).collect();
            let b: Vec<f32> = (0..n).map(|_| next()).collect();
            let want = reference(&x, &w, &b, k);
            let single = Dense::packed(&w, b.clone(), k, false).expect("packs");
            let mut y = vec![0.0; rows * n];
            single.forward(&x, &mut y);
            let Packed::Single(weights) = &single.packed else {
                panic!("packed in single precision")
            };
            let mut sums = vec![[0.0; GROUP]; n.div_ceil(GROUP) * rows];
            single.tiles(weights, &x, rows, 0, &mut sums, dot::<1, false>);
            let mut portable = vec![0.0; rows * n];
            single.scatter(&sums, rows, &mut portable);
            for (i, ((g, p), e)) in y.iter().zip(&portable).zip(&want).enumerate() {
                assert!((g - e).abs() < 1e-4, "{rows}×{k}·{n} at {i}: {g} vs {e}");
                assert!((p - e).abs() < 1e-4, "portable {rows}×{k}·{n} at {i}");
            }
            // Half precision, where the CPU has it, against the same
            // product of the weights rounded to half.
            let half = Dense::packed(&w, b.clone(), k, true).expect("packs");
            if matches!(half.packed, Packed::Single(_)) {
                continue;
            }
            let rounded: Vec<f32> = w.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect();
            let want = reference(&x, &rounded, &b, k);
            half.forward(&x, &mut y);
            for (i, (g, e)) in y.iter().zip(&want).enumerate() {
                assert!(
                    (g - e).abs() < 1e-4,
                    "half {rows}×{k}·{n} at {i}: {g} vs {e}"
                );
            }
        }
    }
}
