//! Reference implementations of the primitive ops on plain slices. Written for clarity
//! first: this is the oracle every backend is tested against.

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

/// Attention of one query token over the first `len` cache rows.
/// q [nq, hd]; caches [nkv, ctx, hd].
#[allow(clippy::too_many_arguments)]
pub fn attention(
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
    // One scratch pair per call, reused by every head.
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
    }
}
