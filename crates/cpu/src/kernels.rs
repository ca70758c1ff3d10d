//! Reference implementations of the primitive ops on plain slices. Written for clarity
//! first: this is the oracle every backend is tested against.

use crate::weights::WeightRows;
use rayon::prelude::*;
use zaya_ir::{BinaryOp, ReduceOp, UnaryOp};

pub fn unary(op: UnaryOp, x: &[f32], out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = match op {
            UnaryOp::Neg => -v,
            UnaryOp::Exp => v.exp(),
            UnaryOp::Sqrt => v.sqrt(),
            UnaryOp::Rsqrt => 1.0 / v.sqrt(),
            UnaryOp::Recip => 1.0 / v,
            UnaryOp::Square => v * v,
            UnaryOp::Silu => v / (1.0 + (-v).exp()),
            UnaryOp::Gelu => 0.5 * v * (1.0 + libm::erff(v * std::f32::consts::FRAC_1_SQRT_2)),
        };
    }
}

pub fn binary(op: BinaryOp, a: f32, b: f32) -> f32 {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Max => a.max(b),
        BinaryOp::Min => a.min(b),
        BinaryOp::Eq => f32::from(u8::from(a == b)),
    }
}

/// Strides of `dims` broadcast to `out` (0 where the input is stretched).
pub fn broadcast_strides(dims: &[usize], out: &[usize]) -> Vec<usize> {
    let mut strides = vec![0; out.len()];
    let mut stride = 1;
    for i in (0..dims.len()).rev() {
        let o = out.len() - dims.len() + i;
        strides[o] = if dims[i] == 1 { 0 } else { stride };
        stride *= dims[i];
    }
    strides
}

/// Calls `f(out_index, [input offsets])` for every element of a broadcast over `out` dims.
pub fn for_each_broadcast<const N: usize>(
    out: &[usize],
    strides: [&[usize]; N],
    mut f: impl FnMut(usize, [usize; N]),
) {
    let total: usize = out.iter().product();
    let mut idx = vec![0usize; out.len()];
    let mut offs = [0usize; N];
    for flat in 0..total {
        f(flat, offs);
        // Increment the multi-index, updating offsets incrementally.
        for d in (0..out.len()).rev() {
            idx[d] += 1;
            for k in 0..N {
                offs[k] += strides[k][d];
            }
            if idx[d] < out[d] {
                break;
            }
            for k in 0..N {
                offs[k] -= strides[k][d] * idx[d];
            }
            idx[d] = 0;
        }
    }
}

/// Splits `dims` around `axis` into (outer, axis length, inner).
pub fn around_axis(dims: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = dims[..axis].iter().product();
    let inner = dims[axis + 1..].iter().product();
    (outer, dims[axis], inner)
}

pub fn reduce(op: ReduceOp, x: &[f32], dims: &[usize], axis: usize, out: &mut [f32]) {
    let (outer, n, inner) = around_axis(dims, axis);
    for o in 0..outer {
        for i in 0..inner {
            let at = |k: usize| x[(o * n + k) * inner + i];
            out[o * inner + i] = match op {
                ReduceOp::Sum => (0..n).map(|k| at(k) as f64).sum::<f64>() as f32,
                ReduceOp::Mean => ((0..n).map(|k| at(k) as f64).sum::<f64>() / n as f64) as f32,
                ReduceOp::Max => (0..n).map(at).fold(f32::NEG_INFINITY, f32::max),
            };
        }
    }
}

pub fn softmax_rows(x: &[f32], n: usize, out: &mut [f32]) {
    for (row, o) in x.chunks(n).zip(out.chunks_mut(n)) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0f64;
        for (ov, &v) in o.iter_mut().zip(row) {
            *ov = (v - max).exp();
            sum += *ov as f64;
        }
        let inv = (1.0 / sum) as f32;
        o.iter_mut().for_each(|v| *v *= inv);
    }
}

pub fn rms_norm_rows(x: &[f32], gamma: &[f32], eps: f32, out: &mut [f32]) {
    let n = gamma.len();
    for (row, o) in x.chunks(n).zip(out.chunks_mut(n)) {
        let mean_sq = (row.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / n as f64) as f32;
        let inv = 1.0 / (mean_sq + eps).sqrt();
        for ((ov, &v), &g) in o.iter_mut().zip(row).zip(gamma) {
            *ov = v * inv * g;
        }
    }
}

/// NeoX rotate-half RoPE of the first `rot` dims of each row of length `n`. The angle is
/// computed like the reference (`f32` inverse frequencies times an `f32` position).
pub fn rope_rows(x: &[f32], n: usize, rot: usize, theta: f64, pos: f32, out: &mut [f32]) {
    let half = rot / 2;
    let (cos, sin): (Vec<f32>, Vec<f32>) = (0..half)
        .map(|i| {
            let inv_freq = (1.0 / theta.powf((2 * i) as f64 / rot as f64)) as f32;
            let angle = pos * inv_freq;
            (angle.cos(), angle.sin())
        })
        .unzip();
    for (row, o) in x.chunks(n).zip(out.chunks_mut(n)) {
        for i in 0..half {
            let (a, b) = (row[i], row[i + half]);
            o[i] = a * cos[i] - b * sin[i];
            o[i + half] = b * cos[i] + a * sin[i];
        }
        o[rot..].copy_from_slice(&row[rot..]);
    }
}

/// First index of the maximum of each row (NaN never wins).
pub fn argmax_rows(x: &[f32], n: usize, out: &mut [u32]) {
    for (row, o) in x.chunks(n).zip(out.iter_mut()) {
        let mut best = 0;
        for (i, &v) in row.iter().enumerate() {
            if v > row[best] || row[best].is_nan() {
                best = i;
            }
        }
        *o = best as u32;
    }
}

/// One output step of a causal conv: window [C_in, K], weight [C_out, C_in/groups, K].
pub fn conv_step(
    window: &[f32],
    c_in: usize,
    k: usize,
    w: &[f32],
    bias: &[f32],
    groups: usize,
    out: &mut [f32],
) {
    let c_out = bias.len();
    let in_per = c_in / groups;
    let out_per = c_out / groups;
    for (o, ov) in out.iter_mut().enumerate() {
        let g = o / out_per;
        let mut acc = bias[o] as f64;
        for ci in 0..in_per {
            let channel = g * in_per + ci;
            for t in 0..k {
                acc += (w[(o * in_per + ci) * k + t] as f64) * (window[channel * k + t] as f64);
            }
        }
        *ov = acc as f32;
    }
}

/// Single-query attention of `nq` heads over the first `len` rows of a `[nkv, ctx, hd]`
/// cache (GQA: query head `h` reads kv head `h / (nq / nkv)`), written to `out` `[nq, hd]`.
/// In f32 with 8-lane dot products, the value rows accumulated contiguously (`out += p·v_t`),
/// heads split over the thread pool when the cache is long. [`attention_f64`] is the plain
/// path it is tested against.
#[allow(clippy::too_many_arguments)]
pub fn attention<T: KvElem>(
    q: &[f32],
    k_cache: &[T],
    v_cache: &[T],
    nq: usize,
    nkv: usize,
    ctx: usize,
    hd: usize,
    len: usize,
    scale: f32,
    out: &mut [f32],
) {
    use rayon::prelude::*;
    use std::cell::RefCell;
    thread_local! {
        // Each thread's scores and widened cache row, reused by every head and step (nothing
        // allocated per step).
        static SCRATCH: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
    }
    let group = nq / nkv;
    let head = |h: usize, oh: &mut [f32]| {
        let kv = h / group;
        let qh = &q[h * hd..(h + 1) * hd];
        let keys = &k_cache[kv * ctx * hd..(kv * ctx + len) * hd];
        let values = &v_cache[kv * ctx * hd..(kv * ctx + len) * hd];
        SCRATCH.with_borrow_mut(|(scores, row)| {
            row.resize(hd, 0.0);
            scores.clear();
            scores.extend(
                keys.chunks_exact(hd)
                    .map(|k| dot8(qh, T::widen(k, row)) * scale),
            );
            let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0f32;
            for s in scores.iter_mut() {
                *s = (*s - max).exp();
                sum += *s;
            }
            let inv = 1.0 / sum;
            oh.fill(0.0);
            for (&p, v) in scores.iter().zip(values.chunks_exact(hd)) {
                let p = p * inv;
                oh.iter_mut()
                    .zip(T::widen(v, row))
                    .for_each(|(o, &v)| *o += p * v);
            }
        });
    };
    // Below this much cache a step is cheaper than waking the pool.
    if nq > 1 && len * hd * nq >= 1 << 15 {
        out.par_chunks_mut(hd)
            .enumerate()
            .for_each(|(h, oh)| head(h, oh));
    } else {
        out.chunks_mut(hd)
            .enumerate()
            .for_each(|(h, oh)| head(h, oh));
    }
}

/// An element type a KV cache is stored in: f32 as is, f16 widened a row at a time (F16C
/// where the CPU has it, through `half`), so attention always sums in f32.
pub trait KvElem: Copy + Send + Sync + 'static {
    /// `row` as f32: itself, or widened into `buf` (of the row's length).
    fn widen<'a>(row: &'a [Self], buf: &'a mut [f32]) -> &'a [f32];
    /// Stores `src` into `dst`, rounding to the element type.
    fn store(src: &[f32], dst: &mut [Self]);
}

impl KvElem for f32 {
    fn widen<'a>(row: &'a [f32], _: &'a mut [f32]) -> &'a [f32] {
        row
    }
    fn store(src: &[f32], dst: &mut [f32]) {
        dst.copy_from_slice(src);
    }
}

impl KvElem for half::f16 {
    fn widen<'a>(row: &'a [half::f16], buf: &'a mut [f32]) -> &'a [f32] {
        use half::slice::HalfFloatSliceExt;
        row.convert_to_f32_slice(buf);
        buf
    }
    fn store(src: &[f32], dst: &mut [half::f16]) {
        use half::slice::HalfFloatSliceExt;
        dst.convert_from_f32_slice(src);
    }
}

/// [`attention`] in f64 sums, head by head: the plain path the fast one is tested against.
#[allow(clippy::too_many_arguments)]
pub fn attention_f64(
    q: &[f32],
    k_cache: &[f32],
    v_cache: &[f32],
    nq: usize,
    nkv: usize,
    ctx: usize,
    hd: usize,
    len: usize,
    scale: f32,
    out: &mut [f32],
) {
    let group = nq / nkv;
    let mut scores = vec![0f32; len];
    let mut probs = vec![0f32; len];
    for h in 0..nq {
        let kv = h / group;
        let qh = &q[h * hd..(h + 1) * hd];
        for (t, s) in scores.iter_mut().enumerate() {
            let kt = &k_cache[(kv * ctx + t) * hd..(kv * ctx + t + 1) * hd];
            *s = dot(qh, kt) * scale;
        }
        softmax_rows(&scores, len, &mut probs);
        let oh = &mut out[h * hd..(h + 1) * hd];
        for d in 0..hd {
            let mut acc = 0f64;
            for (t, &p) in probs.iter().enumerate() {
                acc += (p as f64) * (v_cache[(kv * ctx + t) * hd + d] as f64);
            }
            oh[d] = acc as f32;
        }
    }
}

/// A causal conv over the time axis of a window [C_in, W] (time 0 = oldest): weight
/// [C_out, C_in/groups, K] -> [C_out, W - K + 1]; column t reads window columns t..t+K.
/// The same arithmetic (f64 sums in the same order) as [`conv_step`] per column.
pub fn conv(
    window: &[f32],
    c_in: usize,
    width: usize,
    w: &[f32],
    bias: &[f32],
    groups: usize,
    out: &mut [f32],
) {
    let c_out = bias.len();
    let in_per = c_in / groups;
    let out_per = c_out / groups;
    let k = w.len() / (c_out * in_per).max(1);
    let steps = width + 1 - k;
    for o in 0..c_out {
        let g = o / out_per;
        for s in 0..steps {
            let mut acc = bias[o] as f64;
            for ci in 0..in_per {
                let channel = g * in_per + ci;
                for j in 0..k {
                    acc += (w[(o * in_per + ci) * k + j] as f64)
                        * (window[channel * width + s + j] as f64);
                }
            }
            out[o * steps + s] = acc as f32;
        }
    }
}

/// Rows decoded together by [`matmul`]: each x row is loaded once per block.
const ROW_BLOCK: usize = 4;
/// From this many tokens on, [`matmul`] decodes each weight row to f32 once for all of them;
/// below, it runs the packed matvec per token. With the vectorized dequantization both cost
/// about one decode per token for one token; from 3 decoding once is cheaper (3 and 8 measured
/// alike on the peer bundle at P = 128, within the machine's noise).
const DECODE_ONCE_TOKENS: usize = 3;
/// Rows per parallel task of [`matmul`].
const TASK_ROWS: usize = 16;

/// `out[t, r] = sum_i w[row0 + r, i] * x[t, i]` for the `tokens = x.len() / cols` rows of
/// x: each weight row is decoded once for all tokens (what makes prefill faster than
/// decode), row blocks in parallel. Sums are 8-lane f32 like the packed dot products.
pub fn matmul(
    w: &dyn WeightRows,
    row0: usize,
    rows: usize,
    x: &[f32],
    cols: usize,
    out: &mut [f32],
) {
    let tokens = x.len() / cols.max(1);
    if tokens == 0 || rows == 0 {
        return;
    }
    if tokens < DECODE_ONCE_TOKENS {
        // Few tokens (an expert that few tokens chose): the packed dot kernels, once per
        // token, beat decoding every row to f32 first.
        for (xt, ot) in x.chunks_exact(cols).zip(out.chunks_exact_mut(rows)) {
            w.matvec(row0, xt, ot);
        }
        return;
    }
    let (dot4, dot4x2) = dot8x4_kernels();
    // Results row-major per weight row ([rows, T]), transposed into [T, rows] after.
    let mut tmp = vec![0f32; rows * tokens];
    tmp.par_chunks_mut(TASK_ROWS * tokens)
        .enumerate()
        .for_each_init(
            || vec![0f32; ROW_BLOCK * cols],
            |wrows, (task, chunk)| {
                let first = row0 + task * TASK_ROWS;
                for (b, block) in chunk.chunks_mut(ROW_BLOCK * tokens).enumerate() {
                    let n = block.len() / tokens;
                    let base = first + b * ROW_BLOCK;
                    for r in 0..n {
                        w.dequant_row(base + r, &mut wrows[r * cols..(r + 1) * cols]);
                    }
                    let mut t = 0;
                    // Two tokens at a time: each loaded weight lane serves both.
                    while n == ROW_BLOCK && t + 1 < tokens {
                        let d = dot4x2(wrows, cols, &x[t * cols..(t + 2) * cols]);
                        for r in 0..ROW_BLOCK {
                            block[r * tokens + t] = d[0][r];
                            block[r * tokens + t + 1] = d[1][r];
                        }
                        t += 2;
                    }
                    for t in t..tokens {
                        let xt = &x[t * cols..(t + 1) * cols];
                        if n == ROW_BLOCK {
                            let d = dot4(wrows, cols, xt);
                            for r in 0..ROW_BLOCK {
                                block[r * tokens + t] = d[r];
                            }
                        } else {
                            for r in 0..n {
                                block[r * tokens + t] = dot8(&wrows[r * cols..(r + 1) * cols], xt);
                            }
                        }
                    }
                }
            },
        );
    for t in 0..tokens {
        for r in 0..rows {
            out[t * rows + r] = tmp[r * tokens + t];
        }
    }
}

/// The per-token form of [`matmul`]: token t multiplies the `rows` rows of `w` starting at
/// `token_rows[t]` (its expert). Tokens are grouped by slice, so each expert used in the
/// chunk is decoded once for all the tokens that chose it.
pub fn matmul_per_token(
    w: &dyn WeightRows,
    token_rows: &[usize],
    rows: usize,
    x: &[f32],
    cols: usize,
    out: &mut [f32],
) {
    let mut starts: Vec<usize> = token_rows.to_vec();
    starts.sort_unstable();
    starts.dedup();
    for &start in &starts {
        let members: Vec<usize> = (0..token_rows.len())
            .filter(|&t| token_rows[t] == start)
            .collect();
        let mut xg = Vec::with_capacity(members.len() * cols);
        for &t in &members {
            xg.extend_from_slice(&x[t * cols..(t + 1) * cols]);
        }
        let mut og = vec![0f32; members.len() * rows];
        matmul(w, start, rows, &xg, cols, &mut og);
        for (k, &t) in members.iter().enumerate() {
            out[t * rows..(t + 1) * rows].copy_from_slice(&og[k * rows..(k + 1) * rows]);
        }
    }
}

/// An 8-lane f32 dot product (vectorizes; the packed dot products sum the same way).
pub fn dot8(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    sum8(acc) + tail
}

type Dot4 = fn(&[f32], usize, &[f32]) -> [f32; 4];
type Dot4x2 = fn(&[f32], usize, &[f32]) -> [[f32; 4]; 2];

/// The fastest [`dot8x4`] / [`dot8x4x2`] this CPU runs: fused multiply-adds on 8 lanes where
/// the CPU has AVX2 and FMA (detected at run time, so the binary stays portable), else
/// plain f32.
fn dot8x4_kernels() -> (Dot4, Dot4x2) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        return (
            |w, cols, x| {
                // SAFETY: the CPU has AVX2 and FMA (checked just above, before this is chosen).
                unsafe { dot8x4_avx2_fma(w, cols, x) }
            },
            |w, cols, x| {
                // SAFETY: as above.
                unsafe { dot8x4x2_avx2_fma(w, cols, x) }
            },
        );
    }
    (dot8x4::<false>, dot8x4x2::<false>)
}

/// [`dot8x4`] in AVX2 + FMA intrinsics: the same lanes, fused adds and final sum, so the
/// result is bit for bit [`dot8x4::<true>`]'s. (Left to the auto-vectorizer, the lane arrays
/// stayed scalar with the accumulators on the stack: perf put prefill's matmul at ~1.3
/// multiply-adds per cycle.)
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot8x4_avx2_fma(w: &[f32], cols: usize, x: &[f32]) -> [f32; 4] {
    use std::arch::x86_64::*;
    assert!(w.len() >= 4 * cols && x.len() >= cols);
    let full = cols / 8 * 8;
    let (wp, xp) = (w.as_ptr(), x.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i < full {
        // SAFETY: i + 8 <= full <= cols, and w holds 4 rows of cols (asserted above).
        unsafe {
            let xv = _mm256_loadu_ps(xp.add(i));
            for (r, a) in acc.iter_mut().enumerate() {
                *a = _mm256_fmadd_ps(_mm256_loadu_ps(wp.add(r * cols + i)), xv, *a);
            }
        }
        i += 8;
    }
    let mut out = [0f32; 4];
    for (r, a) in acc.iter().enumerate() {
        let tail: f32 = (full..cols).map(|i| w[r * cols + i] * x[i]).sum();
        out[r] = sum8(lanes(*a)) + tail;
    }
    out
}

/// [`dot8x4x2`] in AVX2 + FMA intrinsics (bit for bit [`dot8x4x2::<true>`]'s): each
/// loaded weight vector serves both tokens, eight accumulators stay in registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot8x4x2_avx2_fma(w: &[f32], cols: usize, x: &[f32]) -> [[f32; 4]; 2] {
    use std::arch::x86_64::*;
    assert!(w.len() >= 4 * cols && x.len() >= 2 * cols);
    let full = cols / 8 * 8;
    let (wp, xp) = (w.as_ptr(), x.as_ptr());
    let mut acc = [[_mm256_setzero_ps(); 4]; 2];
    let mut i = 0;
    while i < full {
        // SAFETY: i + 8 <= full <= cols; w holds 4 rows and x 2 tokens of cols (asserted).
        unsafe {
            let (x0, x1) = (
                _mm256_loadu_ps(xp.add(i)),
                _mm256_loadu_ps(xp.add(cols + i)),
            );
            let [a0, a1] = &mut acc;
            for (r, (a0, a1)) in a0.iter_mut().zip(a1.iter_mut()).enumerate() {
                let wv = _mm256_loadu_ps(wp.add(r * cols + i));
                *a0 = _mm256_fmadd_ps(wv, x0, *a0);
                *a1 = _mm256_fmadd_ps(wv, x1, *a1);
            }
        }
        i += 8;
    }
    let (x0, x1) = x.split_at(cols);
    let mut out = [[0f32; 4]; 2];
    for (t, xt) in [x0, x1].into_iter().enumerate() {
        for r in 0..4 {
            let tail: f32 = (full..cols).map(|i| w[r * cols + i] * xt[i]).sum();
            out[t][r] = sum8(lanes(acc[t][r])) + tail;
        }
    }
    out
}

/// The eight lanes of an AVX register, in order.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
fn lanes(v: std::arch::x86_64::__m256) -> [f32; 8] {
    let mut a = [0f32; 8];
    // SAFETY: `a` holds 8 f32s; the unaligned store has no alignment requirement.
    unsafe { std::arch::x86_64::_mm256_storeu_ps(a.as_mut_ptr(), v) };
    a
}

/// Four rows of `w` against two tokens' x (`x` holds both, `2 * cols`).
#[inline(always)]
fn dot8x4x2<const FUSED: bool>(w: &[f32], cols: usize, x: &[f32]) -> [[f32; 4]; 2] {
    let mut acc = [[[0f32; 8]; 4]; 2];
    let full = cols / 8 * 8;
    let (x0, x1) = x.split_at(cols);
    for i in (0..full).step_by(8) {
        let (a, b) = (&x0[i..i + 8], &x1[i..i + 8]);
        for r in 0..4 {
            let ws = &w[r * cols + i..r * cols + i + 8];
            for k in 0..8 {
                if FUSED {
                    acc[0][r][k] = ws[k].mul_add(a[k], acc[0][r][k]);
                    acc[1][r][k] = ws[k].mul_add(b[k], acc[1][r][k]);
                } else {
                    acc[0][r][k] += ws[k] * a[k];
                    acc[1][r][k] += ws[k] * b[k];
                }
            }
        }
    }
    let mut out = [[0f32; 4]; 2];
    for (t, xt) in [x0, x1].into_iter().enumerate() {
        for r in 0..4 {
            let tail: f32 = (full..cols).map(|i| w[r * cols + i] * xt[i]).sum();
            out[t][r] = sum8(acc[t][r]) + tail;
        }
    }
    out
}

/// Four rows of `w` (each `cols` long) against one x: x is loaded once for the four.
/// `FUSED`: `mul_add` (one rounding; only where the CPU has FMA, else it is a libm call).
#[inline(always)]
fn dot8x4<const FUSED: bool>(w: &[f32], cols: usize, x: &[f32]) -> [f32; 4] {
    let mut acc = [[0f32; 8]; 4];
    let full = cols / 8 * 8;
    for i in (0..full).step_by(8) {
        let xs = &x[i..i + 8];
        for r in 0..4 {
            let ws = &w[r * cols + i..r * cols + i + 8];
            for k in 0..8 {
                acc[r][k] = if FUSED {
                    ws[k].mul_add(xs[k], acc[r][k])
                } else {
                    acc[r][k] + ws[k] * xs[k]
                };
            }
        }
    }
    let mut out = [0f32; 4];
    for r in 0..4 {
        let tail: f32 = (full..cols).map(|i| w[r * cols + i] * x[i]).sum();
        out[r] = sum8(acc[r]) + tail;
    }
    out
}

fn sum8(a: [f32; 8]) -> f32 {
    ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]))
}

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64) * (y as f64))
        .sum::<f64>() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_walks_stretched_inputs() {
        let out = [2, 3];
        let a = broadcast_strides(&[2, 1], &out);
        let b = broadcast_strides(&[3], &out);
        let mut seen = vec![];
        for_each_broadcast(&out, [&a, &b], |i, [x, y]| seen.push((i, x, y)));
        assert_eq!(
            seen,
            vec![
                (0, 0, 0),
                (1, 0, 1),
                (2, 0, 2),
                (3, 1, 0),
                (4, 1, 1),
                (5, 1, 2)
            ]
        );
    }

    #[test]
    fn rope_rotates_pairs_half_apart() {
        // rot = 2 of 3 dims: (a, b) -> (a cos - b sin, b cos + a sin); the third passes.
        let mut out = [0.0; 3];
        rope_rows(&[1.0, 0.0, 7.0], 3, 2, 10000.0, 1.0, &mut out);
        assert!((out[0] - 1f32.cos()).abs() < 1e-6 && (out[1] - 1f32.sin()).abs() < 1e-6);
        assert_eq!(out[2], 7.0);
    }

    #[test]
    fn grouped_conv_mixes_only_its_group() {
        // 2 groups of 2 channels, K = 1: out[o] = bias + sum over its group's channels.
        let window = [1.0, 2.0, 10.0, 20.0];
        let w = [1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let mut out = [0.0; 4];
        conv_step(&window, 4, 1, &w, &[0.0, 0.5, 0.0, 0.0], 2, &mut out);
        assert_eq!(out, [3.0, 1.5, 20.0, 30.0]);
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_avx2_dot_kernels_equal_the_portable_fused_ones_bit_for_bit() {
        if !(std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma"))
        {
            return;
        }
        for cols in [8, 19, 64, 2048 + 5] {
            let w: Vec<f32> = (0..4 * cols)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 17.0)
                .collect();
            let x: Vec<f32> = (0..2 * cols)
                .map(|i| ((i * 53 % 97) as f32 - 48.0) / 13.0)
                .collect();
            // SAFETY: the CPU has AVX2 and FMA (checked above).
            let (one, two) = unsafe {
                (
                    dot8x4_avx2_fma(&w, cols, &x),
                    dot8x4x2_avx2_fma(&w, cols, &x),
                )
            };
            assert_eq!(
                one.map(f32::to_bits),
                dot8x4::<true>(&w, cols, &x).map(f32::to_bits),
                "cols {cols}"
            );
            let want = dot8x4x2::<true>(&w, cols, &x);
            assert_eq!(
                two.map(|t| t.map(f32::to_bits)),
                want.map(|t| t.map(f32::to_bits)),
                "cols {cols}"
            );
            // And both equal the plain f64 dot closely.
            for r in 0..4 {
                let exact = dot(&w[r * cols..(r + 1) * cols], &x[cols..]);
                assert!(
                    (two[1][r] - exact).abs() <= 1e-3 * exact.abs().max(1.0),
                    "cols {cols} row {r}"
                );
            }
        }
    }

    #[test]
    fn matmul_decodes_rows_once_for_all_tokens_and_equals_row_dots() {
        use crate::weights::DenseWeight;
        // 37 rows (not a multiple of the row block or task), 19 columns (not of 8); 2 tokens
        // take the per-token matvec, 11 (odd) decode each row once.
        let (rows, cols) = (37, 19);
        let data: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 7) % 13) as f32 - 6.0)
            .collect();
        let w = DenseWeight::new(rows, cols, data.clone());
        let x: Vec<f32> = (0..11 * cols)
            .map(|i| ((i * 5) % 11) as f32 * 0.25)
            .collect();
        for tokens in [2, 11] {
            let mut out = vec![0.0; tokens * (rows - 2)];
            matmul(&w, 2, rows - 2, &x[..tokens * cols], cols, &mut out);
            for t in 0..tokens {
                for r in 0..rows - 2 {
                    let want = dot(
                        &data[(r + 2) * cols..(r + 3) * cols],
                        &x[t * cols..(t + 1) * cols],
                    );
                    let got = out[t * (rows - 2) + r];
                    assert!((got - want).abs() < 1e-4, "{tokens} tokens: t {t} r {r}");
                }
            }
        }
        // Per token: tokens 0 and 2 share slice 1, token 1 reads slice 0.
        let slices = [10, 0, 10];
        let mut per = vec![0.0; 3 * 8];
        matmul_per_token(&w, &slices, 8, &x[..3 * cols], cols, &mut per);
        for (t, &r0) in slices.iter().enumerate() {
            for r in 0..8 {
                let want = dot(
                    &data[(r0 + r) * cols..(r0 + r + 1) * cols],
                    &x[t * cols..(t + 1) * cols],
                );
                assert!((per[t * 8 + r] - want).abs() < 1e-4, "t {t} r {r}");
            }
        }
    }

    #[test]
    fn conv_over_a_window_equals_conv_step_per_column() {
        // 4 channels, 2 groups, K = 2, window of 5 columns -> 4 output columns.
        let (c, width, k) = (4, 5, 2);
        let window: Vec<f32> = (0..c * width).map(|i| (i as f32 * 0.37).sin()).collect();
        let w: Vec<f32> = (0..c * 2 * k).map(|i| (i as f32 * 0.11).cos()).collect();
        let bias = [0.1, -0.2, 0.3, 0.0];
        let mut out = vec![0.0; c * (width - k + 1)];
        conv(&window, c, width, &w, &bias, 2, &mut out);
        for s in 0..width - k + 1 {
            let win: Vec<f32> = (0..c)
                .flat_map(|ch| window[ch * width + s..ch * width + s + k].to_vec())
                .collect();
            let mut step = vec![0.0; c];
            conv_step(&win, c, k, &w, &bias, 2, &mut step);
            for o in 0..c {
                assert_eq!(out[o * (width - k + 1) + s], step[o], "column {s}");
            }
        }
    }

    /// The fast path against the f64 one: GQA, a cache longer than the prefix, long enough
    /// to take the threaded branch, and short.
    #[test]
    fn attention_matches_the_f64_path() {
        let (nq, nkv, hd, ctx) = (8, 2, 64, 300);
        let mut v = 0.37f32;
        let mut next = || {
            v = (v * 97.13 + 0.71).fract();
            v * 2.0 - 1.0
        };
        let q: Vec<f32> = (0..nq * hd).map(|_| next()).collect();
        let k: Vec<f32> = (0..nkv * ctx * hd).map(|_| next() * 3.0).collect();
        let vc: Vec<f32> = (0..nkv * ctx * hd).map(|_| next()).collect();
        for len in [1, 5, 257] {
            let (mut fast, mut plain) = (vec![0.0; nq * hd], vec![0.0; nq * hd]);
            attention(&q, &k, &vc, nq, nkv, ctx, hd, len, 0.125, &mut fast);
            attention_f64(&q, &k, &vc, nq, nkv, ctx, hd, len, 0.125, &mut plain);
            for (i, (a, b)) in fast.iter().zip(&plain).enumerate() {
                assert!((a - b).abs() <= 1e-5, "len {len}, [{i}]: {a} vs {b}");
            }
        }
    }

    #[test]
    fn f16_caches_are_attended_as_their_widened_values() {
        // The f16 path must equal the plain path run on the cache rounded to f16 and back:
        // rounding is the only difference f16 storage makes.
        let (nq, nkv, hd, ctx) = (4, 2, 20, 40);
        let f = |i: usize| ((i as f32) * 0.618).fract() * 2.0 - 1.0;
        let q: Vec<f32> = (0..nq * hd).map(f).collect();
        let k: Vec<f32> = (0..nkv * ctx * hd).map(|i| f(i + 7) * 3.0).collect();
        let v: Vec<f32> = (0..nkv * ctx * hd).map(|i| f(i + 13)).collect();
        let (mut k16, mut v16) = (
            vec![half::f16::ZERO; k.len()],
            vec![half::f16::ZERO; v.len()],
        );
        half::f16::store(&k, &mut k16);
        half::f16::store(&v, &mut v16);
        let widen = |x: &[half::f16]| x.iter().map(|h| h.to_f32()).collect::<Vec<f32>>();
        let (kw, vw) = (widen(&k16), widen(&v16));
        assert!(
            kw.iter().zip(&k).any(|(a, b)| a != b),
            "rounding must be visible"
        );
        for len in [1, 3, 33] {
            let (mut fast, mut plain) = (vec![0.0; nq * hd], vec![0.0; nq * hd]);
            attention(&q, &k16, &v16, nq, nkv, ctx, hd, len, 0.2, &mut fast);
            attention_f64(&q, &kw, &vw, nq, nkv, ctx, hd, len, 0.2, &mut plain);
            for (i, (a, b)) in fast.iter().zip(&plain).enumerate() {
                assert!((a - b).abs() <= 1e-5, "len {len}, [{i}]: {a} vs {b}");
            }
        }
    }

    #[test]
    fn attention_attends_only_to_the_prefix() {
        // One head, hd 1, ctx 3, len 2: the third (garbage) row must not matter.
        let mut out = [0.0];
        attention(
            &[0.0],
            &[1.0, 1.0, 1e9],
            &[2.0, 4.0, 1e9],
            1,
            1,
            3,
            1,
            2,
            1.0,
            &mut out,
        );
        assert_eq!(out, [3.0]);
        attention_f64(
            &[0.0],
            &[1.0, 1.0, 1e9],
            &[2.0, 4.0, 1e9],
            1,
            1,
            3,
            1,
            2,
            1.0,
            &mut out,
        );
        assert_eq!(out, [3.0]);
    }
}
