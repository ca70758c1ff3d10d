// MLX affine weights: codes little-endian in u32 words (first element lowest), one scale
// and bias per group of W_GROUP; value = scale * q + bias (multiply, then add, like the CPU).
const W_BITS: u32 = {{BITS}}u;
const W_GROUP: u32 = {{GROUP}}u;
const W_CHUNK: u32 = 32u / W_BITS;
const W_MASK: u32 = (1u << W_BITS) - 1u;

fn w_scale(i: u32) -> f32 {
    return {{SCALE_AT_I}};
}

fn w_bias(i: u32) -> f32 {
    return {{BIAS_AT_I}};
}

fn w_elem(r: u32, col: u32) -> f32 {
    let word = w_packed[r * (w_cols() / W_CHUNK) + col / W_CHUNK];
    let q = f32((word >> ((col % W_CHUNK) * W_BITS)) & W_MASK);
    let gi = r * (w_cols() / W_GROUP) + col / W_GROUP;
    return w_scale(gi) * q + w_bias(gi);
}

// matvec only (cut from dequant kernels, which have no x):
fn w_chunk_dot(r: u32, c: u32) -> f32 {
    let word = w_packed[r * (w_cols() / W_CHUNK) + c];
    let first = c * W_CHUNK;
    let gi = r * (w_cols() / W_GROUP) + first / W_GROUP;
    let s = w_scale(gi);
    let b = w_bias(gi);
    var acc = 0.0;
    for (var k = 0u; k < W_CHUNK; k = k + 1u) {
        let q = f32((word >> (k * W_BITS)) & W_MASK);
        acc = acc + (s * q + b) * xv(first + k);
    }
    return acc;
}

// matmul only (the prefill kernel's word decode; cut from every other kernel):
// The W_CHUNK elements of word c of row r (one word load, one scale and bias).
fn w_unit(r: u32, c: u32) -> array<f32, W_CHUNK> {
    let word = w_packed[r * (w_cols() / W_CHUNK) + c];
    let gi = r * (w_cols() / W_GROUP) + (c * W_CHUNK) / W_GROUP;
    let s = w_scale(gi);
    let b = w_bias(gi);
    var v: array<f32, W_CHUNK>;
    for (var k = 0u; k < W_CHUNK; k = k + 1u) {
        v[k] = s * f32((word >> (k * W_BITS)) & W_MASK) + b;
    }
    return v;
}
