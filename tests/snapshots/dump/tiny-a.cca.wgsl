// ==== dequant_affine8g32f16_idx
// Shared by every zaya-wgpu kernel (prepended by the generator).
//
// Shapes and offsets live in a per-dispatch uniform block instead of being baked into the
// source, so one pipeline serves every instruction of the same kind: a ZAYA decode graph
// then needs a few dozen pipelines, not one per instruction.

struct Params {
    w: array<vec4<u32>, 8>,
}

@group(0) @binding(0) var<uniform> params: Params;

// Parameter word `i` (0..32) of this dispatch.
fn p(i: u32) -> u32 {
    return params.w[i / 4u][i % 4u];
}

// Parameter word `i` read as an f32 (stored with `f32::to_bits`).
fn pf(i: u32) -> f32 {
    return bitcast<f32>(p(i));
}

// Linear workgroup index of a 2-D grid: the host splits more than 65535 workgroups over y.
fn wg_linear(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// -inf and NaN without literals (WGSL has none).
fn neg_inf() -> f32 {
    return bitcast<f32>(0xff800000u);
}

fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// RoPE angles are reduced modulo 2*pi in three parts (Cody-Waite, 9-bit leading parts so
// k * part is exact for k < 2^15) before cos/sin, so large positions do not depend on the
// driver's own range reduction (used by rope and region kernels).
fn reduce_angle(a: f32) -> f32 {
    let k = round(a * 0.15915493667125702);
    return ((a - k * 6.28125) - k * 0.001934051513671875) - k * 1.2556658930407139e-06;
}

// Dequantize a weight (or, with an index, one slice of its leading axis) to f32: one thread
// per output element. Same format snippets as the matvec.
// Params: 0 grid elements, 1 cols, 2 first output row of the grid, 3 first weight row of
// the bound window, 4 rows in the window, 5 rows per index step, 6 index bound.

@group(0) @binding(1) var<storage, read> w_packed: array<u32>;
@group(0) @binding(2) var<storage, read> w_scales: array<u32>;
@group(0) @binding(3) var<storage, read> w_biases: array<u32>;
@group(0) @binding(4) var<storage, read> idx: array<u32>;
@group(0) @binding(5) var<storage, read_write> dst: array<u32>;


fn w_cols() -> u32 {
    return p(1u);
}

// MLX affine weights: codes little-endian in u32 words (first element lowest), one scale
// and bias per group of W_GROUP; value = scale * q + bias (multiply, then add, like the CPU).
const W_BITS: u32 = 8u;
const W_GROUP: u32 = 32u;
const W_CHUNK: u32 = 32u / W_BITS;
const W_MASK: u32 = (1u << W_BITS) - 1u;

fn w_scale(i: u32) -> f32 {
    return unpack2x16float(w_scales[(i) >> 1u])[(i) & 1u];
}

fn w_bias(i: u32) -> f32 {
    return unpack2x16float(w_biases[(i) >> 1u])[(i) & 1u];
}

fn w_elem(r: u32, col: u32) -> f32 {
    let word = w_packed[r * (w_cols() / W_CHUNK) + col / W_CHUNK];
    let q = f32((word >> ((col % W_CHUNK) * W_BITS)) & W_MASK);
    let gi = r * (w_cols() / W_GROUP) + col / W_GROUP;
    return w_scale(gi) * q + w_bias(gi);
}



@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let local = wg_linear(wid, nwg) * 256u + lid;
    if (local >= p(0u)) {
        return;
    }
    let e = p(2u) * w_cols() + local;
    let o = e / w_cols();
    let col = e % w_cols();
    let g = min(idx[o / p(5u)], p(6u) - 1u) * p(5u) + o % p(5u);
    if (g < p(3u) || g >= p(3u) + p(4u)) {
        return;
    }
    dst[e] = bitcast<u32>(w_elem(g - p(3u), col));
}
// ==== dequant_f16
// Shared by every zaya-wgpu kernel (prepended by the generator).
//
// Shapes and offsets live in a per-dispatch uniform block instead of being baked into the
// source, so one pipeline serves every instruction of the same kind: a ZAYA decode graph
// then needs a few dozen pipelines, not one per instruction.

struct Params {
    w: array<vec4<u32>, 8>,
}

@group(0) @binding(0) var<uniform> params: Params;

// Parameter word `i` (0..32) of this dispatch.
fn p(i: u32) -> u32 {
    return params.w[i / 4u][i % 4u];
}

// Parameter word `i` read as an f32 (stored with `f32::to_bits`).
fn pf(i: u32) -> f32 {
    return bitcast<f32>(p(i));
}

// Linear workgroup index of a 2-D grid: the host splits more than 65535 workgroups over y.
fn wg_linear(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// -inf and NaN without literals (WGSL has none).
fn neg_inf() -> f32 {
    return bitcast<f32>(0xff800000u);
}

fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// RoPE angles are reduced modulo 2*pi in three parts (Cody-Waite, 9-bit leading parts so
// k * part is exact for k < 2^15) before cos/sin, so large positions do not depend on the
// driver's own range reduction (used by rope and region kernels).
fn reduce_angle(a: f32) -> f32 {
    let k = round(a * 0.15915493667125702);
    return ((a - k * 6.28125) - k * 0.001934051513671875) - k * 1.2556658930407139e-06;
}

// Dequantize a weight (or, with an index, one slice of its leading axis) to f32: one thread
// per output element. Same format snippets as the matvec.
// Params: 0 grid elements, 1 cols, 2 first output row of the grid, 3 first weight row of
// the bound window, 4 rows in the window, 5 rows per index step, 6 index bound.

@group(0) @binding(1) var<storage, read> w_packed: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;


fn w_cols() -> u32 {
    return p(1u);
}

// Unquantized weights (f16, bf16 or f32 as stored, or an f32 activation): one element per
// chunk; 16-bit floats are read from u32 words (unpack2x16float / upper half of an f32),
// so no SHADER_F16 is needed.
const W_CHUNK: u32 = 1u;

fn w_elem(r: u32, col: u32) -> f32 {
    let i = r * w_cols() + col;
    return unpack2x16float(w_packed[(i) >> 1u])[(i) & 1u];
}



@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let local = wg_linear(wid, nwg) * 256u + lid;
    if (local >= p(0u)) {
        return;
    }
    let e = p(2u) * w_cols() + local;
    let o = e / w_cols();
    let col = e % w_cols();
    let g = o;
    if (g < p(3u) || g >= p(3u) + p(4u)) {
        return;
    }
    dst[e] = bitcast<u32>(w_elem(g - p(3u), col));
}
// ==== add
// Shared by every zaya-wgpu kernel (prepended by the generator).
//
// Shapes and offsets live in a per-dispatch uniform block instead of being baked into the
// source, so one pipeline serves every instruction of the same kind: a ZAYA decode graph
// then needs a few dozen pipelines, not one per instruction.

struct Params {
    w: array<vec4<u32>, 8>,
}

@group(0) @binding(0) var<uniform> params: Params;

// Parameter word `i` (0..32) of this dispatch.
fn p(i: u32) -> u32 {
    return params.w[i / 4u][i % 4u];
}

// Parameter word `i` read as an f32 (stored with `f32::to_bits`).
fn pf(i: u32) -> f32 {
    return bitcast<f32>(p(i));
}

// Linear workgroup index of a 2-D grid: the host splits more than 65535 workgroups over y.
fn wg_linear(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// -inf and NaN without literals (WGSL has none).
fn neg_inf() -> f32 {
    return bitcast<f32>(0xff800000u);
}

fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// RoPE angles are reduced modulo 2*pi in three parts (Cody-Waite, 9-bit leading parts so
// k * part is exact for k < 2^15) before cos/sin, so large positions do not depend on the
// driver's own range reduction (used by rope and region kernels).
fn reduce_angle(a: f32) -> f32 {
    let k = round(a * 0.15915493667125702);
    return ((a - k * 6.28125) - k * 0.001934051513671875) - k * 1.2556658930407139e-06;
}

// Unary, binary, select, cast and symbol: one thread per output element, numpy broadcast.
// Params: 0 element count; 2..6 output dims (rank padded to 4 with leading 1s);
// 6+4k..10+4k strides of input k (0 where stretched); 18+k base offset of input k.
// The generator substitutes the input loads, the expression and the store.

@group(0) @binding(1) var<storage, read> in0: array<u32>;
@group(0) @binding(2) var<storage, read> in1: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst: array<u32>;


fn coords(i: u32) -> vec4<u32> {
    let d3 = i % p(5u);
    let r3 = i / p(5u);
    let d2 = r3 % p(4u);
    let r2 = r3 / p(4u);
    let d1 = r2 % p(3u);
    let d0 = r2 / p(3u);
    return vec4<u32>(d0, d1, d2, d3);
}

fn offset_of(c: vec4<u32>, k: u32) -> u32 {
    let s = vec4<u32>(p(6u + 4u * k), p(7u + 4u * k), p(8u + 4u * k), p(9u + 4u * k));
    return dot(c, s) + p(18u + k);
}



@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = wg_linear(wid, nwg) * 256u + lid;
    if (i >= p(0u)) {
        return;
    }
    let at = coords(i);
    let a = bitcast<f32>(in0[offset_of(at, 0u)]);
    let b = bitcast<f32>(in1[offset_of(at, 1u)]);
    dst[i] = bitcast<u32>(a + b);
}
// ==== mul
// Shared by every zaya-wgpu kernel (prepended by the generator).
//
// Shapes and offsets live in a per-dispatch uniform block instead of being baked into the
// source, so one pipeline serves every instruction of the same kind: a ZAYA decode graph
// then needs a few dozen pipelines, not one per instruction.

struct Params {
    w: array<vec4<u32>, 8>,
}

@group(0) @binding(0) var<uniform> params: Params;

// Parameter word `i` (0..32) of this dispatch.
fn p(i: u32) -> u32 {
    return params.w[i / 4u][i % 4u];
}

// Parameter word `i` read as an f32 (stored with `f32::to_bits`).
fn pf(i: u32) -> f32 {
    return bitcast<f32>(p(i));
}

// Linear workgroup index of a 2-D grid: the host splits more than 65535 workgroups over y.
fn wg_linear(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// -inf and NaN without literals (WGSL has none).
fn neg_inf() -> f32 {
    return bitcast<f32>(0xff800000u);
}

fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// RoPE angles are reduced modulo 2*pi in three parts (Cody-Waite, 9-bit leading parts so
// k * part is exact for k < 2^15) before cos/sin, so large positions do not depend on the
// driver's own range reduction (used by rope and region kernels).
fn reduce_angle(a: f32) -> f32 {
    let k = round(a * 0.15915493667125702);
    return ((a - k * 6.28125) - k * 0.001934051513671875) - k * 1.2556658930407139e-06;
}

// Unary, binary, select, cast and symbol: one thread per output element, numpy broadcast.
// Params: 0 element count; 2..6 output dims (rank padded to 4 with leading 1s);
// 6+4k..10+4k strides of input k (0 where stretched); 18+k base offset of input k.
// The generator substitutes the input loads, the expression and the store.

@group(0) @binding(1) var<storage, read> in0: array<u32>;
@group(0) @binding(2) var<storage, read> in1: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst: array<u32>;


fn coords(i: u32) -> vec4<u32> {
    let d3 = i % p(5u);
    let r3 = i / p(5u);
    let d2 = r3 % p(4u);
    let r2 = r3 / p(4u);
    let d1 = r2 % p(3u);
    let d0 = r2 / p(3u);
    return vec4<u32>(d0, d1, d2, d3);
}

fn offset_of(c: vec4<u32>, k: u32) -> u32 {
    let s = vec4<u32>(p(6u + 4u * k), p(7u + 4u * k), p(8u + 4u * k), p(9u + 4u * k));
    return dot(c, s) + p(18u + k);
}



@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = wg_linear(wid, nwg) * 256u + lid;
    if (i >= p(0u)) {
        return;
    }
    let at = coords(i);
    let a = bitcast<f32>(in0[offset_of(at, 0u)]);
    let b = bitcast<f32>(in1[offset_of(at, 1u)]);
    dst[i] = bitcast<u32>(a * b);
}
// ==== rmsnorm
// Shared by every zaya-wgpu kernel (prepended by the generator).
//
// Shapes and offsets live in a per-dispatch uniform block instead of being baked into the
// source, so one pipeline serves every instruction of the same kind: a ZAYA decode graph
// then needs a few dozen pipelines, not one per instruction.

struct Params {
    w: array<vec4<u32>, 8>,
}

@group(0) @binding(0) var<uniform> params: Params;

// Parameter word `i` (0..32) of this dispatch.
fn p(i: u32) -> u32 {
    return params.w[i / 4u][i % 4u];
}

// Parameter word `i` read as an f32 (stored with `f32::to_bits`).
fn pf(i: u32) -> f32 {
    return bitcast<f32>(p(i));
}

// Linear workgroup index of a 2-D grid: the host splits more than 65535 workgroups over y.
fn wg_linear(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// -inf and NaN without literals (WGSL has none).
fn neg_inf() -> f32 {
    return bitcast<f32>(0xff800000u);
}

fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// RoPE angles are reduced modulo 2*pi in three parts (Cody-Waite, 9-bit leading parts so
// k * part is exact for k < 2^15) before cos/sin, so large positions do not depend on the
// driver's own range reduction (used by rope and region kernels).
fn reduce_angle(a: f32) -> f32 {
    let k = round(a * 0.15915493667125702);
    return ((a - k * 6.28125) - k * 0.001934051513671875) - k * 1.2556658930407139e-06;
}

// Workgroup-wide reductions over WG threads (a power of two). Call them from uniform
// control flow only: they contain barriers.

const WG: u32 = 64u;

var<workgroup> red_f: array<f32, WG>;
var<workgroup> red_u: array<u32, WG>;

fn wg_sum(v: f32, lid: u32) -> f32 {
    red_f[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            red_f[lid] = red_f[lid] + red_f[lid + s];
        }
        workgroupBarrier();
    }
    let r = red_f[0];
    workgroupBarrier();
    return r;
}

fn wg_max(v: f32, lid: u32) -> f32 {
    red_f[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            red_f[lid] = max(red_f[lid], red_f[lid + s]);
        }
        workgroupBarrier();
    }
    let r = red_f[0];
    workgroupBarrier();
    return r;
}

// Whether candidate (v, i) beats (best, bi) in a first-maximum argmax that matches the CPU
// reference: bi = 0xffffffff means "none yet"; a NaN loses to any number, and among NaNs
// only the later index wins (the reference replaces a NaN best by whatever comes next).
fn argmax_better(v: f32, i: u32, best: f32, bi: u32) -> bool {
    if (bi == 0xffffffffu) {
        return i != 0xffffffffu;
    }
    if (is_nan(v)) {
        return is_nan(best) && i > bi && i != 0xffffffffu;
    }
    return is_nan(best) || v > best || (v == best && i < bi);
}

// First index of the maximum over the workgroup's (value, index) candidates.
fn wg_argmax(v: f32, i: u32, lid: u32) -> u32 {
    red_f[lid] = v;
    red_u[lid] = i;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s && argmax_better(red_f[lid + s], red_u[lid + s], red_f[lid], red_u[lid])) {
            red_f[lid] = red_f[lid + s];
            red_u[lid] = red_u[lid + s];
        }
        workgroupBarrier();
    }
    let r = red_u[0];
    workgroupBarrier();
    return r;
}

// Row kernels along the last axis: one workgroup of WG threads per row, threads stride
// over the row and combine through workgroup memory.
// Params: 0 rows, 1 row length n, 2 op constant (eps for rms_norm).

@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read> gamma: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst: array<u32>;

// The row bodies (row_*.wgsl, shared with region kernels) read and write through these.
fn src_at(i: u32) -> f32 {
    return bitcast<f32>(src[i]);
}

fn dst_set(i: u32, w: u32) {
    dst[i] = w;
}
fn gamma_at(i: u32) -> f32 {
    return bitcast<f32>(gamma[i]);
}


@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let row = wg_linear(wid, nwg);
    if (row >= p(0u)) {
        return;
    }
    let n = p(1u);
    let base = row * n;
    var ss = 0.0;
    for (var i = lid; i < n; i = i + WG) {
        let v = src_at(base + i);
        ss = ss + v * v;
    }
    let mean_sq = wg_sum(ss, lid) / f32(n);
    let inv = 1.0 / sqrt(mean_sq + pf(2u));
    for (var i = lid; i < n; i = i + WG) {
        dst_set(base + i, bitcast<u32>(src_at(base + i) * inv * gamma_at(i)));
    }

}
// ==== matvec_affine4g32f16
// Shared by every zaya-wgpu kernel (prepended by the generator).
//
// Shapes and offsets live in a per-dispatch uniform block instead of being baked into the
// source, so one pipeline serves every instruction of the same kind: a ZAYA decode graph
// then needs a few dozen pipelines, not one per instruction.

struct Params {
    w: array<vec4<u32>, 8>,
}

@group(0) @binding(0) var<uniform> params: Params;

// Parameter word `i` (0..32) of this dispatch.
fn p(i: u32) -> u32 {
    return params.w[i / 4u][i % 4u];
}

// Parameter word `i` read as an f32 (stored with `f32::to_bits`).
fn pf(i: u32) -> f32 {
    return bitcast<f32>(p(i));
}

// Linear workgroup index of a 2-D grid: the host splits more than 65535 workgroups over y.
fn wg_linear(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// -inf and NaN without literals (WGSL has none).
fn neg_inf() -> f32 {
    return bitcast<f32>(0xff800000u);
}

fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// RoPE angles are reduced modulo 2*pi in three parts (Cody-Waite, 9-bit leading parts so
// k * part is exact for k < 2^15) before cos/sin, so large positions do not depend on the
// driver's own range reduction (used by rope and region kernels).
fn reduce_angle(a: f32) -> f32 {
    let k = round(a * 0.15915493667125702);
    return ((a - k * 6.28125) - k * 0.001934051513671875) - k * 1.2556658930407139e-06;
}

// Workgroup-wide reductions over WG threads (a power of two). Call them from uniform
// control flow only: they contain barriers.

const WG: u32 = 64u;

var<workgroup> red_f: array<f32, WG>;
var<workgroup> red_u: array<u32, WG>;

fn wg_sum(v: f32, lid: u32) -> f32 {
    red_f[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            red_f[lid] = red_f[lid] + red_f[lid + s];
        }
        workgroupBarrier();
    }
    let r = red_f[0];
    workgroupBarrier();
    return r;
}

fn wg_max(v: f32, lid: u32) -> f32 {
    red_f[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            red_f[lid] = max(red_f[lid], red_f[lid + s]);
        }
        workgroupBarrier();
    }
    let r = red_f[0];
    workgroupBarrier();
    return r;
}

// Whether candidate (v, i) beats (best, bi) in a first-maximum argmax that matches the CPU
// reference: bi = 0xffffffff means "none yet"; a NaN loses to any number, and among NaNs
// only the later index wins (the reference replaces a NaN best by whatever comes next).
fn argmax_better(v: f32, i: u32, best: f32, bi: u32) -> bool {
    if (bi == 0xffffffffu) {
        return i != 0xffffffffu;
    }
    if (is_nan(v)) {
        return is_nan(best) && i > bi && i != 0xffffffffu;
    }
    return is_nan(best) || v > best || (v == best && i < bi);
}

// First index of the maximum over the workgroup's (value, index) candidates.
fn wg_argmax(v: f32, i: u32, lid: u32) -> u32 {
    red_f[lid] = v;
    red_u[lid] = i;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s && argmax_better(red_f[lid + s], red_u[lid + s], red_f[lid], red_u[lid])) {
            red_f[lid] = red_f[lid + s];
            red_u[lid] = red_u[lid + s];
        }
        workgroupBarrier();
    }
    let r = red_u[0];
    workgroupBarrier();
    return r;
}

// y[o] = sum_i w[row(o), i] * x[i]: one workgroup per output row, threads stride over the
// row's chunks (one packed u32 word or one float each) and combine through workgroup memory.
// The weight access (`w_chunk_dot`, `W_CHUNK`) comes from a format snippet, so the same
// template serves f32 activations, f16/bf16/f32 floats, affine 4/8-bit and MXFP4 weights,
// read packed (the fused dequant + matvec, kernel kind QMatVec).
//
// Params: 0 grid rows, 1 cols, 2 first output row of the grid, 3 first weight row of the
// bound window, 4 rows in the window, 5 rows per index step, 6 index bound.
// Weight row of output o: the row base (0, or index * rows per index) + o; a dispatch only computes rows inside its window
// (large weights are bound as several row windows, one dispatch each).

@group(0) @binding(1) var<storage, read> w_packed: array<u32>;
@group(0) @binding(2) var<storage, read> w_scales: array<u32>;
@group(0) @binding(3) var<storage, read> w_biases: array<u32>;
@group(0) @binding(4) var<storage, read> x: array<u32>;
@group(0) @binding(5) var<storage, read_write> y: array<u32>;


fn w_cols() -> u32 {
    return p(1u);
}

fn xv(i: u32) -> f32 {
    return bitcast<f32>(x[i]);
}

// MLX affine weights: codes little-endian in u32 words (first element lowest), one scale
// and bias per group of W_GROUP; value = scale * q + bias (multiply, then add, like the CPU).
const W_BITS: u32 = 4u;
const W_GROUP: u32 = 32u;
const W_CHUNK: u32 = 32u / W_BITS;
const W_MASK: u32 = (1u << W_BITS) - 1u;

fn w_scale(i: u32) -> f32 {
    return unpack2x16float(w_scales[(i) >> 1u])[(i) & 1u];
}

fn w_bias(i: u32) -> f32 {
    return unpack2x16float(w_biases[(i) >> 1u])[(i) & 1u];
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


@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let local = wg_linear(wid, nwg);
    let o = p(2u) + local;
    let g = o;
    let inside = local < p(0u) && g >= p(3u) && g < p(3u) + p(4u);
    let r = g - p(3u);
    let chunks = select(0u, w_cols() / W_CHUNK, inside);
    var acc = 0.0;
    for (var c = lid; c < chunks; c = c + WG) {
        acc = acc + w_chunk_dot(r, c);
    }
    let total = wg_sum(acc, lid);
    if (inside && lid == 0u) {
        y[o] = bitcast<u32>(total);
    }
}
// ==== region_cca
// Shared by every zaya-wgpu kernel (prepended by the generator).
//
// Shapes and offsets live in a per-dispatch uniform block instead of being baked into the
// source, so one pipeline serves every instruction of the same kind: a ZAYA decode graph
// then needs a few dozen pipelines, not one per instruction.

struct Params {
    w: array<vec4<u32>, 8>,
}

@group(0) @binding(0) var<uniform> params: Params;

// Parameter word `i` (0..32) of this dispatch.
fn p(i: u32) -> u32 {
    return params.w[i / 4u][i % 4u];
}

// Parameter word `i` read as an f32 (stored with `f32::to_bits`).
fn pf(i: u32) -> f32 {
    return bitcast<f32>(p(i));
}

// Linear workgroup index of a 2-D grid: the host splits more than 65535 workgroups over y.
fn wg_linear(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// -inf and NaN without literals (WGSL has none).
fn neg_inf() -> f32 {
    return bitcast<f32>(0xff800000u);
}

fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// RoPE angles are reduced modulo 2*pi in three parts (Cody-Waite, 9-bit leading parts so
// k * part is exact for k < 2^15) before cos/sin, so large positions do not depend on the
// driver's own range reduction (used by rope and region kernels).
fn reduce_angle(a: f32) -> f32 {
    let k = round(a * 0.15915493667125702);
    return ((a - k * 6.28125) - k * 0.001934051513671875) - k * 1.2556658930407139e-06;
}

// Workgroup-wide reductions over WG threads (a power of two). Call them from uniform
// control flow only: they contain barriers.

const WG: u32 = 256u;

var<workgroup> red_f: array<f32, WG>;
var<workgroup> red_u: array<u32, WG>;

fn wg_sum(v: f32, lid: u32) -> f32 {
    red_f[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            red_f[lid] = red_f[lid] + red_f[lid + s];
        }
        workgroupBarrier();
    }
    let r = red_f[0];
    workgroupBarrier();
    return r;
}

fn wg_max(v: f32, lid: u32) -> f32 {
    red_f[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            red_f[lid] = max(red_f[lid], red_f[lid + s]);
        }
        workgroupBarrier();
    }
    let r = red_f[0];
    workgroupBarrier();
    return r;
}

// Whether candidate (v, i) beats (best, bi) in a first-maximum argmax that matches the CPU
// reference: bi = 0xffffffff means "none yet"; a NaN loses to any number, and among NaNs
// only the later index wins (the reference replaces a NaN best by whatever comes next).
fn argmax_better(v: f32, i: u32, best: f32, bi: u32) -> bool {
    if (bi == 0xffffffffu) {
        return i != 0xffffffffu;
    }
    if (is_nan(v)) {
        return is_nan(best) && i > bi && i != 0xffffffffu;
    }
    return is_nan(best) || v > best || (v == best && i < bi);
}

// First index of the maximum over the workgroup's (value, index) candidates.
fn wg_argmax(v: f32, i: u32, lid: u32) -> u32 {
    red_f[lid] = v;
    red_u[lid] = i;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s && argmax_better(red_f[lid + s], red_u[lid + s], red_f[lid], red_u[lid])) {
            red_f[lid] = red_f[lid + s];
            red_u[lid] = red_u[lid + s];
        }
        workgroupBarrier();
    }
    let r = red_u[0];
    workgroupBarrier();
    return r;
}

// erf is not a WGSL builtin. Abramowitz & Stegun 7.1.26: |error| <= 1.5e-7 for all x,
// which keeps exact-erf GELU within ~1e-7 * |x| of the CPU's libm erff.
fn erf_approx(x: f32) -> f32 {
    let a = abs(x);
    let t = 1.0 / (1.0 + 0.3275911 * a);
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741
        + t * (-1.453152027 + t * 1.061405429))));
    let y = 1.0 - poly * exp(-a * a);
    return select(y, -y, x < 0.0);
}

@group(0) @binding(1) var<storage, read_write> b0: array<u32>;
@group(0) @binding(2) var<storage, read> b1: array<u32>;
@group(0) @binding(3) var<storage, read_write> b2: array<u32>;
@group(0) @binding(4) var<storage, read> b3: array<u32>;
@group(0) @binding(5) var<storage, read> b4: array<u32>;
@group(0) @binding(6) var<storage, read_write> b5: array<u32>;
@group(0) @binding(7) var<storage, read> b6: array<u32>;
@group(0) @binding(8) var<storage, read> b7: array<u32>;
@group(0) @binding(9) var<storage, read_write> b8: array<u32>;

fn w0k0_cols() -> u32 {
    return 2u;
}
// Unquantized weights (f16, bf16 or f32 as stored, or an f32 activation): one element per
// chunk; 16-bit floats are read from u32 words (unpack2x16float / upper half of an f32),
// so no SHADER_F16 is needed.
const W0K0_CHUNK: u32 = 1u;

fn w0k0_elem(r: u32, col: u32) -> f32 {
    let i = r * w0k0_cols() + col;
    return unpack2x16float(b6[(i) >> 1u])[(i) & 1u];
}


fn w0_elem(g: u32, col: u32) -> f32 {
    return w0k0_elem(g - 0u, col);
}
fn w1k0_cols() -> u32 {
    return 192u;
}
// Unquantized weights (f16, bf16 or f32 as stored, or an f32 activation): one element per
// chunk; 16-bit floats are read from u32 words (unpack2x16float / upper half of an f32),
// so no SHADER_F16 is needed.
const W1K0_CHUNK: u32 = 1u;

fn w1k0_elem(r: u32, col: u32) -> f32 {
    let i = r * w1k0_cols() + col;
    return unpack2x16float(b7[(i) >> 1u])[(i) & 1u];
}


fn w1_elem(g: u32, col: u32) -> f32 {
    return w1k0_elem(g - 0u, col);
}
const ATTENTION_BASE: u32 = 2688u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    {
    for (var e = lid; e < 1u; e = e + WG) {
        b2[e] = b1[1u];
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 128u; e = e + WG) {
        b0[(e / (128u * 1u)) * 192 + (0u + (e / 1u) % 128u) * 1u + e % 1u] = b3[e];
    }
    for (var e = lid; e < 64u; e = e + WG) {
        b0[(e / (64u * 1u)) * 192 + (128u + (e / 1u) % 64u) * 1u + e % 1u] = b4[e];
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 384u; e = e + WG) {
        b0[192u + (e)] = b5[e];
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 384u; e = e + WG) {
        b0[576u + ((e / (2u * 1u)) * 3 + (0u + (e / 1u) % 2u) * 1u + e % 1u)] = b0[192u + (e)];
    }
    for (var e = lid; e < 192u; e = e + WG) {
        b0[576u + ((e / (1u * 1u)) * 3 + (2u + (e / 1u) % 1u) * 1u + e % 1u)] = b0[e];
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 384u; e = e + WG) {
        b0[1152u + (e)] = b0[576u + ((e / (2u * 1u)) * 3 + (1u + (e / 1u) % 2u) * 1u + e % 1u)];
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 384u; e = e + WG) {
        b5[e] = b0[1152u + (e)];
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 384u; e = e + WG) {
        b0[1536u + (e)] = b0[576u + ((e / (2u * 1u)) * 3 + (1u + (e / 1u) % 2u) * 1u + e % 1u)];
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 384u; e = e + WG) {
        b0[1920u + (e)] = b0[576u + ((e / (2u * 1u)) * 3 + (0u + (e / 1u) % 2u) * 1u + e % 1u)];
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 192u; e = e + WG) {
        let grp = e / 1u;
        var acc = w1_elem(0u + (e) / 192u, (e) % 192u);
        for (var ci = 0u; ci < 1u; ci = ci + 1u) {
            let ch = grp * 1u + ci;
            for (var t = 0u; t < 2u; t = t + 1u) {
                acc = acc + w0_elem(0u + ((e * 1u + ci) * 2u + t) / 2u, ((e * 1u + ci) * 2u + t) % 2u) * bitcast<f32>(b0[1536u + (ch * 2u + t)]);
            }
        }
        b0[2304u + (e)] = bitcast<u32>(acc);
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 192u; e = e + WG) {
        let grp = e / 1u;
        var acc = w1_elem(0u + (e) / 192u, (e) % 192u);
        for (var ci = 0u; ci < 1u; ci = ci + 1u) {
            let ch = grp * 1u + ci;
            for (var t = 0u; t < 2u; t = t + 1u) {
                acc = acc + w0_elem(0u + ((e * 1u + ci) * 2u + t) / 2u, ((e * 1u + ci) * 2u + t) % 2u) * bitcast<f32>(b0[1920u + (ch * 2u + t)]);
            }
        }
        b0[2496u + (e)] = bitcast<u32>(acc);
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 192u; e = e + WG) {
        b8[(e / (1u * 1u)) * 2 + (0u + (e / 1u) % 1u) * 1u + e % 1u] = b0[2496u + (e)];
    }
    for (var e = lid; e < 192u; e = e + WG) {
        b8[(e / (1u * 1u)) * 2 + (1u + (e / 1u) % 1u) * 1u + e % 1u] = b0[2304u + (e)];
    }
    }
    storageBarrier();
}
// ==== region_cca
// Shared by every zaya-wgpu kernel (prepended by the generator).
//
// Shapes and offsets live in a per-dispatch uniform block instead of being baked into the
// source, so one pipeline serves every instruction of the same kind: a ZAYA decode graph
// then needs a few dozen pipelines, not one per instruction.

struct Params {
    w: array<vec4<u32>, 8>,
}

@group(0) @binding(0) var<uniform> params: Params;

// Parameter word `i` (0..32) of this dispatch.
fn p(i: u32) -> u32 {
    return params.w[i / 4u][i % 4u];
}

// Parameter word `i` read as an f32 (stored with `f32::to_bits`).
fn pf(i: u32) -> f32 {
    return bitcast<f32>(p(i));
}

// Linear workgroup index of a 2-D grid: the host splits more than 65535 workgroups over y.
fn wg_linear(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// -inf and NaN without literals (WGSL has none).
fn neg_inf() -> f32 {
    return bitcast<f32>(0xff800000u);
}

fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// RoPE angles are reduced modulo 2*pi in three parts (Cody-Waite, 9-bit leading parts so
// k * part is exact for k < 2^15) before cos/sin, so large positions do not depend on the
// driver's own range reduction (used by rope and region kernels).
fn reduce_angle(a: f32) -> f32 {
    let k = round(a * 0.15915493667125702);
    return ((a - k * 6.28125) - k * 0.001934051513671875) - k * 1.2556658930407139e-06;
}

// Workgroup-wide reductions over WG threads (a power of two). Call them from uniform
// control flow only: they contain barriers.

const WG: u32 = 256u;

var<workgroup> red_f: array<f32, WG>;
var<workgroup> red_u: array<u32, WG>;

fn wg_sum(v: f32, lid: u32) -> f32 {
    red_f[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            red_f[lid] = red_f[lid] + red_f[lid + s];
        }
        workgroupBarrier();
    }
    let r = red_f[0];
    workgroupBarrier();
    return r;
}

fn wg_max(v: f32, lid: u32) -> f32 {
    red_f[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            red_f[lid] = max(red_f[lid], red_f[lid + s]);
        }
        workgroupBarrier();
    }
    let r = red_f[0];
    workgroupBarrier();
    return r;
}

// Whether candidate (v, i) beats (best, bi) in a first-maximum argmax that matches the CPU
// reference: bi = 0xffffffff means "none yet"; a NaN loses to any number, and among NaNs
// only the later index wins (the reference replaces a NaN best by whatever comes next).
fn argmax_better(v: f32, i: u32, best: f32, bi: u32) -> bool {
    if (bi == 0xffffffffu) {
        return i != 0xffffffffu;
    }
    if (is_nan(v)) {
        return is_nan(best) && i > bi && i != 0xffffffffu;
    }
    return is_nan(best) || v > best || (v == best && i < bi);
}

// First index of the maximum over the workgroup's (value, index) candidates.
fn wg_argmax(v: f32, i: u32, lid: u32) -> u32 {
    red_f[lid] = v;
    red_u[lid] = i;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s && argmax_better(red_f[lid + s], red_u[lid + s], red_f[lid], red_u[lid])) {
            red_f[lid] = red_f[lid + s];
            red_u[lid] = red_u[lid + s];
        }
        workgroupBarrier();
    }
    let r = red_u[0];
    workgroupBarrier();
    return r;
}

// erf is not a WGSL builtin. Abramowitz & Stegun 7.1.26: |error| <= 1.5e-7 for all x,
// which keeps exact-erf GELU within ~1e-7 * |x| of the CPU's libm erff.
fn erf_approx(x: f32) -> f32 {
    let a = abs(x);
    let t = 1.0 / (1.0 + 0.3275911 * a);
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741
        + t * (-1.453152027 + t * 1.061405429))));
    let y = 1.0 - poly * exp(-a * a);
    return select(y, -y, x < 0.0);
}

@group(0) @binding(1) var<storage, read_write> b0: array<u32>;
@group(0) @binding(2) var<storage, read> b1: array<u32>;
@group(0) @binding(3) var<storage, read> b2: array<u32>;
@group(0) @binding(4) var<storage, read> b3: array<u32>;
@group(0) @binding(5) var<storage, read_write> b4: array<u32>;

fn w0k0_cols() -> u32 {
    return 2u;
}
// Unquantized weights (f16, bf16 or f32 as stored, or an f32 activation): one element per
// chunk; 16-bit floats are read from u32 words (unpack2x16float / upper half of an f32),
// so no SHADER_F16 is needed.
const W0K0_CHUNK: u32 = 1u;

fn w0k0_elem(r: u32, col: u32) -> f32 {
    let i = r * w0k0_cols() + col;
    return unpack2x16float(b1[(i) >> 1u])[(i) & 1u];
}


fn w0_elem(g: u32, col: u32) -> f32 {
    return w0k0_elem(g - 0u, col);
}
fn w1k0_cols() -> u32 {
    return 192u;
}
// Unquantized weights (f16, bf16 or f32 as stored, or an f32 activation): one element per
// chunk; 16-bit floats are read from u32 words (unpack2x16float / upper half of an f32),
// so no SHADER_F16 is needed.
const W1K0_CHUNK: u32 = 1u;

fn w1k0_elem(r: u32, col: u32) -> f32 {
    let i = r * w1k0_cols() + col;
    return unpack2x16float(b2[(i) >> 1u])[(i) & 1u];
}


fn w1_elem(g: u32, col: u32) -> f32 {
    return w1k0_elem(g - 0u, col);
}
fn conv_wt2(i: u32) -> f32 {
    return w0_elem(0u + (i) / 2u, (i) % 2u);
}
fn conv_win2(i: u32) -> f32 {
    return bitcast<f32>(b3[i]);
}
fn conv_bias2(i: u32) -> f32 {
    return w1_elem(0u + (i) / 192u, (i) % 192u);
}
fn conv_out2(i: u32, w: u32) {
    b4[i] = w;
}
// A grouped conv_step spread over the device (region kernels whose phase is this one op):
// a team of CONV_TEAM lanes per output channel, WG / CONV_TEAM outputs per workgroup, the
// team's partial sums added in workgroup memory. Output e of group grp reads window rows
// grp * in_per .. +in_per, `taps` columns each. Data is reached through accessors the
// includer defines: conv_wt (weight), conv_win (window), conv_bias, conv_out (u32 writes).
// Call from uniform control flow (it contains a barrier).
const CONV_TEAM: u32 = 8u;

var<workgroup> conv_red: array<f32, WG>;

fn conv_team2(lid: u32, wg: u32, c_out: u32, in_per: u32, out_per: u32, taps: u32) {
    let team = lid / CONV_TEAM;
    let lane = lid % CONV_TEAM;
    let e = wg * (WG / CONV_TEAM) + team;
    let eo = min(e, c_out - 1u);
    let grp = eo / out_per;
    var acc = 0.0;
    for (var r = lane; r < in_per * taps; r = r + CONV_TEAM) {
        let ci = r / taps;
        let t = r % taps;
        acc = acc + conv_wt2((eo * in_per + ci) * taps + t) * conv_win2((grp * in_per + ci) * taps + t);
    }
    conv_red[lid] = acc;
    workgroupBarrier();
    if (lane == 0u && e < c_out) {
        var s = conv_bias2(eo);
        for (var j = 0u; j < CONV_TEAM; j = j + 1u) {
            s = s + conv_red[lid + j];
        }
        conv_out2(eo, bitcast<u32>(s));
    }
}

const ATTENTION_BASE: u32 = 0u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    {
    conv_team2(lid, wg_linear(wid, nwg), 192u, 32u, 32u, 2u);
    }
    storageBarrier();
}
// ==== region_cca
// Shared by every zaya-wgpu kernel (prepended by the generator).
//
// Shapes and offsets live in a per-dispatch uniform block instead of being baked into the
// source, so one pipeline serves every instruction of the same kind: a ZAYA decode graph
// then needs a few dozen pipelines, not one per instruction.

struct Params {
    w: array<vec4<u32>, 8>,
}

@group(0) @binding(0) var<uniform> params: Params;

// Parameter word `i` (0..32) of this dispatch.
fn p(i: u32) -> u32 {
    return params.w[i / 4u][i % 4u];
}

// Parameter word `i` read as an f32 (stored with `f32::to_bits`).
fn pf(i: u32) -> f32 {
    return bitcast<f32>(p(i));
}

// Linear workgroup index of a 2-D grid: the host splits more than 65535 workgroups over y.
fn wg_linear(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// -inf and NaN without literals (WGSL has none).
fn neg_inf() -> f32 {
    return bitcast<f32>(0xff800000u);
}

fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// RoPE angles are reduced modulo 2*pi in three parts (Cody-Waite, 9-bit leading parts so
// k * part is exact for k < 2^15) before cos/sin, so large positions do not depend on the
// driver's own range reduction (used by rope and region kernels).
fn reduce_angle(a: f32) -> f32 {
    let k = round(a * 0.15915493667125702);
    return ((a - k * 6.28125) - k * 0.001934051513671875) - k * 1.2556658930407139e-06;
}

// Workgroup-wide reductions over WG threads (a power of two). Call them from uniform
// control flow only: they contain barriers.

const WG: u32 = 256u;

var<workgroup> red_f: array<f32, WG>;
var<workgroup> red_u: array<u32, WG>;

fn wg_sum(v: f32, lid: u32) -> f32 {
    red_f[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            red_f[lid] = red_f[lid] + red_f[lid + s];
        }
        workgroupBarrier();
    }
    let r = red_f[0];
    workgroupBarrier();
    return r;
}

fn wg_max(v: f32, lid: u32) -> f32 {
    red_f[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            red_f[lid] = max(red_f[lid], red_f[lid + s]);
        }
        workgroupBarrier();
    }
    let r = red_f[0];
    workgroupBarrier();
    return r;
}

// Whether candidate (v, i) beats (best, bi) in a first-maximum argmax that matches the CPU
// reference: bi = 0xffffffff means "none yet"; a NaN loses to any number, and among NaNs
// only the later index wins (the reference replaces a NaN best by whatever comes next).
fn argmax_better(v: f32, i: u32, best: f32, bi: u32) -> bool {
    if (bi == 0xffffffffu) {
        return i != 0xffffffffu;
    }
    if (is_nan(v)) {
        return is_nan(best) && i > bi && i != 0xffffffffu;
    }
    return is_nan(best) || v > best || (v == best && i < bi);
}

// First index of the maximum over the workgroup's (value, index) candidates.
fn wg_argmax(v: f32, i: u32, lid: u32) -> u32 {
    red_f[lid] = v;
    red_u[lid] = i;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s && argmax_better(red_f[lid + s], red_u[lid + s], red_f[lid], red_u[lid])) {
            red_f[lid] = red_f[lid + s];
            red_u[lid] = red_u[lid + s];
        }
        workgroupBarrier();
    }
    let r = red_u[0];
    workgroupBarrier();
    return r;
}

// erf is not a WGSL builtin. Abramowitz & Stegun 7.1.26: |error| <= 1.5e-7 for all x,
// which keeps exact-erf GELU within ~1e-7 * |x| of the CPU's libm erff.
fn erf_approx(x: f32) -> f32 {
    let a = abs(x);
    let t = 1.0 / (1.0 + 0.3275911 * a);
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741
        + t * (-1.453152027 + t * 1.061405429))));
    let y = 1.0 - poly * exp(-a * a);
    return select(y, -y, x < 0.0);
}

@group(0) @binding(1) var<storage, read_write> b0: array<u32>;
@group(0) @binding(2) var<storage, read> b1: array<u32>;
@group(0) @binding(3) var<storage, read> b2: array<u32>;
@group(0) @binding(4) var<storage, read> b3: array<u32>;
@group(0) @binding(5) var<storage, read> b4: array<u32>;
@group(0) @binding(6) var<storage, read> b5: array<u32>;
@group(0) @binding(7) var<storage, read_write> b6: array<u32>;
@group(0) @binding(8) var<storage, read_write> b7: array<u32>;
@group(0) @binding(9) var<storage, read> b8: array<u32>;
@group(0) @binding(10) var<storage, read> b9: array<u32>;
@group(0) @binding(11) var<storage, read_write> b10: array<u32>;
@group(0) @binding(12) var<storage, read_write> b11: array<u32>;

fn w0k0_cols() -> u32 {
    return 2u;
}
// Unquantized weights (f16, bf16 or f32 as stored, or an f32 activation): one element per
// chunk; 16-bit floats are read from u32 words (unpack2x16float / upper half of an f32),
// so no SHADER_F16 is needed.
const W0K0_CHUNK: u32 = 1u;

fn w0k0_elem(r: u32, col: u32) -> f32 {
    let i = r * w0k0_cols() + col;
    return unpack2x16float(b4[(i) >> 1u])[(i) & 1u];
}


fn w0_elem(g: u32, col: u32) -> f32 {
    return w0k0_elem(g - 0u, col);
}
var<private> inv_freq33: array<u32, 8> = array<u32, 8>(0x3f800000u, 0x3e14e963u, 0x3cad3d5du, 0x3b498ad3u, 0x39ea77feu, 0x38886320u, 0x371eab4bu, 0x35b8975du);
var<private> inv_freq34: array<u32, 8> = array<u32, 8>(0x3f800000u, 0x3e14e963u, 0x3cad3d5du, 0x3b498ad3u, 0x39ea77feu, 0x38886320u, 0x371eab4bu, 0x35b8975du);
const ATTENTION_BASE: u32 = 1522u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    {
    for (var e = lid; e < 128u; e = e + WG) {
        b0[e] = b1[(e / (128u * 1u)) * 192 + (0u + (e / 1u) % 128u) * 1u + e % 1u];
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 64u; e = e + WG) {
        b0[128u + (e)] = b1[(e / (64u * 1u)) * 192 + (128u + (e / 1u) % 64u) * 1u + e % 1u];
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 128u; e = e + WG) {
        let a = bitcast<f32>(b2[e]);
        let b = bitcast<f32>(b3[(((e) / 1u) % 32u) * 1u + (((e) / 64u) % 2u) * 32u]);
        b0[192u + (e)] = bitcast<u32>(a + b);
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 128u; e = e + WG) {
        let a = bitcast<f32>(b0[192u + (e)]);
        let b = bitcast<f32>(0x3f000000u);
        b0[320u + (e)] = bitcast<u32>(a * b);
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 64u; e = e + WG) {
        let base = (e / 32u) * 2u * 32u + e % 32u;
        var acc = 0.0;
        for (var k = 0u; k < 2u; k = k + 1u) {
            let x = bitcast<f32>(b0[320u + (base + k * 32u)]);
            acc = acc + x;
        }
        b0[448u + (e)] = bitcast<u32>(acc / f32(2));
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 128u; e = e + WG) {
        let a = bitcast<f32>(b0[e]);
        let b = bitcast<f32>(b0[320u + (e)]);
        b0[512u + (e)] = bitcast<u32>(a + b);
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 64u; e = e + WG) {
        let a = bitcast<f32>(b0[128u + (e)]);
        let b = bitcast<f32>(b0[448u + (e)]);
        b0[640u + (e)] = bitcast<u32>(a + b);
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 128u; e = e + WG) {
        let a = bitcast<f32>(b0[512u + (e)]);
        b0[704u + (e)] = bitcast<u32>(a * a);
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 4u; e = e + WG) {
        let base = (e / 1u) * 32u * 1u + e % 1u;
        var acc = 0.0;
        for (var k = 0u; k < 32u; k = k + 1u) {
            let x = bitcast<f32>(b0[704u + (base + k * 1u)]);
            acc = acc + x;
        }
        b0[832u + (e)] = bitcast<u32>(acc);
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 4u; e = e + WG) {
        let a = bitcast<f32>(b0[832u + (e)]);
        b0[836u + (e)] = bitcast<u32>(sqrt(a));
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 4u; e = e + WG) {
        let a = bitcast<f32>(b0[836u + (e)]);
        let b = bitcast<f32>(0x34000000u);
        b0[840u + (e)] = bitcast<u32>(max(a, b));
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 128u; e = e + WG) {
        let a = bitcast<f32>(b0[512u + (e)]);
        let b = bitcast<f32>(b0[840u + ((((e) / 32u) % 4u) * 1u)]);
        b0[844u + (e)] = bitcast<u32>(a / b);
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 128u; e = e + WG) {
        let a = bitcast<f32>(b0[844u + (e)]);
        let b = bitcast<f32>(0x40b504f3u);
        b0[972u + (e)] = bitcast<u32>(a * b);
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 64u; e = e + WG) {
        let a = bitcast<f32>(b0[640u + (e)]);
        b0[1100u + (e)] = bitcast<u32>(a * a);
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 2u; e = e + WG) {
        let base = (e / 1u) * 32u * 1u + e % 1u;
        var acc = 0.0;
        for (var k = 0u; k < 32u; k = k + 1u) {
            let x = bitcast<f32>(b0[1100u + (base + k * 1u)]);
            acc = acc + x;
        }
        b0[1164u + (e)] = bitcast<u32>(acc);
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 2u; e = e + WG) {
        let a = bitcast<f32>(b0[1164u + (e)]);
        b0[1166u + (e)] = bitcast<u32>(sqrt(a));
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 2u; e = e + WG) {
        let a = bitcast<f32>(b0[1166u + (e)]);
        let b = bitcast<f32>(0x34000000u);
        b0[1168u + (e)] = bitcast<u32>(max(a, b));
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 64u; e = e + WG) {
        let a = bitcast<f32>(b0[640u + (e)]);
        let b = bitcast<f32>(b0[1168u + ((((e) / 32u) % 2u) * 1u)]);
        b0[1170u + (e)] = bitcast<u32>(a / b);
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 64u; e = e + WG) {
        let a = bitcast<f32>(b0[1170u + (e)]);
        let b = bitcast<f32>(0x40b504f3u);
        b0[1234u + (e)] = bitcast<u32>(a * b);
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 64u; e = e + WG) {
        let a = bitcast<f32>(b0[1234u + (e)]);
        let b = w0_elem(0u + ((((e) / 32u) % 2u) * 1u) / 2u, ((((e) / 32u) % 2u) * 1u) % 2u);
        b0[1298u + (e)] = bitcast<u32>(a * b);
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 128u; e = e + WG) {
        let row = e / 32u;
        let i = e % 32u;
        let half = 8u;
        if (i >= 16u) {
            b6[e] = b0[972u + (e)];
        } else {
            let j = i % half;
            let angle = reduce_angle(f32(b5[0u] + e / 128u) * bitcast<f32>(inv_freq33[j]));
            let c = cos(angle);
            let s = sin(angle);
            let lo = bitcast<f32>(b0[972u + (row * 32u + j)]);
            let hi = bitcast<f32>(b0[972u + (row * 32u + j + half)]);
            b6[e] = bitcast<u32>(select(hi * c + lo * s, lo * c - hi * s, i < half));
        }
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 64u; e = e + WG) {
        let row = e / 32u;
        let i = e % 32u;
        let half = 8u;
        if (i >= 16u) {
            b0[1362u + (e)] = b0[1298u + (e)];
        } else {
            let j = i % half;
            let angle = reduce_angle(f32(b5[0u] + e / 64u) * bitcast<f32>(inv_freq34[j]));
            let c = cos(angle);
            let s = sin(angle);
            let lo = bitcast<f32>(b0[1298u + (row * 32u + j)]);
            let hi = bitcast<f32>(b0[1298u + (row * 32u + j + half)]);
            b0[1362u + (e)] = bitcast<u32>(select(hi * c + lo * s, lo * c - hi * s, i < half));
        }
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 32u; e = e + WG) {
        b0[1426u + (e)] = b7[e];
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 32u; e = e + WG) {
        b0[1458u + ((e / (32u * 1u)) * 64 + (0u + (e / 1u) % 32u) * 1u + e % 1u)] = b8[e];
    }
    for (var e = lid; e < 32u; e = e + WG) {
        b0[1458u + ((e / (32u * 1u)) * 64 + (32u + (e / 1u) % 32u) * 1u + e % 1u)] = b0[1426u + (e)];
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 32u; e = e + WG) {
        b7[e] = b9[e];
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 64u; e = e + WG) {
        let ps = b5[0u];
        if (ps < p(0u)) {
            b10[(e / 32u) * p(0u) * 32u + ps * 32u + e % 32u] = b0[1362u + (e)];
        }
    }
    }
    storageBarrier();
    {
    for (var e = lid; e < 64u; e = e + WG) {
        let ps = b5[0u];
        if (ps < p(0u)) {
            b11[(e / 32u) * p(0u) * 32u + ps * 32u + e % 32u] = b0[1458u + (e)];
        }
    }
    }
    storageBarrier();
}
// ==== attention_split
// Shared by every zaya-wgpu kernel (prepended by the generator).
//
// Shapes and offsets live in a per-dispatch uniform block instead of being baked into the
// source, so one pipeline serves every instruction of the same kind: a ZAYA decode graph
// then needs a few dozen pipelines, not one per instruction.

struct Params {
    w: array<vec4<u32>, 8>,
}

@group(0) @binding(0) var<uniform> params: Params;

// Parameter word `i` (0..32) of this dispatch.
fn p(i: u32) -> u32 {
    return params.w[i / 4u][i % 4u];
}

// Parameter word `i` read as an f32 (stored with `f32::to_bits`).
fn pf(i: u32) -> f32 {
    return bitcast<f32>(p(i));
}

// Linear workgroup index of a 2-D grid: the host splits more than 65535 workgroups over y.
fn wg_linear(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// -inf and NaN without literals (WGSL has none).
fn neg_inf() -> f32 {
    return bitcast<f32>(0xff800000u);
}

fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// RoPE angles are reduced modulo 2*pi in three parts (Cody-Waite, 9-bit leading parts so
// k * part is exact for k < 2^15) before cos/sin, so large positions do not depend on the
// driver's own range reduction (used by rope and region kernels).
fn reduce_angle(a: f32) -> f32 {
    let k = round(a * 0.15915493667125702);
    return ((a - k * 6.28125) - k * 0.001934051513671875) - k * 1.2556658930407139e-06;
}

// Workgroup-wide reductions over WG threads (a power of two). Call them from uniform
// control flow only: they contain barriers.

const WG: u32 = 64u;

var<workgroup> red_f: array<f32, WG>;
var<workgroup> red_u: array<u32, WG>;

fn wg_sum(v: f32, lid: u32) -> f32 {
    red_f[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            red_f[lid] = red_f[lid] + red_f[lid + s];
        }
        workgroupBarrier();
    }
    let r = red_f[0];
    workgroupBarrier();
    return r;
}

fn wg_max(v: f32, lid: u32) -> f32 {
    red_f[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            red_f[lid] = max(red_f[lid], red_f[lid + s]);
        }
        workgroupBarrier();
    }
    let r = red_f[0];
    workgroupBarrier();
    return r;
}

// Whether candidate (v, i) beats (best, bi) in a first-maximum argmax that matches the CPU
// reference: bi = 0xffffffff means "none yet"; a NaN loses to any number, and among NaNs
// only the later index wins (the reference replaces a NaN best by whatever comes next).
fn argmax_better(v: f32, i: u32, best: f32, bi: u32) -> bool {
    if (bi == 0xffffffffu) {
        return i != 0xffffffffu;
    }
    if (is_nan(v)) {
        return is_nan(best) && i > bi && i != 0xffffffffu;
    }
    return is_nan(best) || v > best || (v == best && i < bi);
}

// First index of the maximum over the workgroup's (value, index) candidates.
fn wg_argmax(v: f32, i: u32, lid: u32) -> u32 {
    red_f[lid] = v;
    red_u[lid] = i;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s && argmax_better(red_f[lid + s], red_u[lid + s], red_f[lid], red_u[lid])) {
            red_f[lid] = red_f[lid + s];
            red_u[lid] = red_u[lid + s];
        }
        workgroupBarrier();
    }
    let r = red_u[0];
    workgroupBarrier();
    return r;
}

// Split-K decode attention, pass 1 (flash-decoding): one workgroup per (kv head, chunk of
// `chunk` keys) over cache[:, 0..=pos, :], for all G = nq / nkv query heads of the kv head,
// so each K and V row is read once. Per tile of WG keys: each thread scores one key for all
// G heads in one pass over its K row (to workgroup memory); thread g < G folds head g's tile
// into its running max m and sum l (online softmax) and leaves exp(s - m) in place; every
// thread then updates its dims (lid, lid + WG, ..) of the G unnormalised outputs o from the
// V rows. It writes (m, l, o)
// per (query head, chunk) to `part` (hd + 2 floats each); attention_combine.wgsl merges the
// chunks. Chunks past pos write m = -inf, l = 0, o = 0. G <= 8, hd <= 4 * WG.
// Params: 0 nq, 1 nkv, 2 hd, 3 ctx, 4 scale (f32 bits), 5 keys per chunk, 6 chunks per head,
// 7 query tokens T (1 in decode). A prefill chunk's token t (q [T, nq, hd]) reads keys
// 0..=pos + t (the cache before the chunk and the chunk causally), its partials at t's block.

@group(0) @binding(1) var<storage, read> q: array<u32>;
@group(0) @binding(2) var<storage, read> pos: array<u32>;
@group(0) @binding(3) var<storage, read> k_cache: array<u32>;
@group(0) @binding(4) var<storage, read> v_cache: array<u32>;
@group(0) @binding(5) var<storage, read_write> part: array<f32>;


// k_at / v_at: element i of a cache, stored as f32 or as f16 pairs (--kv-dtype f16).
fn k_at(i: u32) -> f32 {
    return bitcast<f32>(k_cache[i]);
}

fn v_at(i: u32) -> f32 {
    return bitcast<f32>(v_cache[i]);
}

const MAX_G: u32 = 8u;

var<workgroup> sc: array<f32, 512>;
var<workgroup> m_sh: array<f32, 8>;
var<workgroup> l_sh: array<f32, 8>;
var<workgroup> f_sh: array<f32, 8>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let nq = p(0u);
    let nkv = p(1u);
    let hd = p(2u);
    let ctx = p(3u);
    let scale = pf(4u);
    let chunk = p(5u);
    let nch = p(6u);
    let gq = nq / nkv;
    let wl = wg_linear(wid, nwg);
    let tok = wl / (nkv * nch);
    let w = wl % (nkv * nch);
    let kv = w / nch;
    let c = w % nch;
    let live = tok < p(7u);
    let len = select(0u, min(pos[0] + 1u + tok, ctx), live);
    let t0 = min(c * chunk, len);
    let t1 = min(t0 + chunk, len);
    let cbase = min(kv, nkv - 1u) * ctx * hd;
    let qbase = min(tok, p(7u) - 1u) * nq * hd + min(kv, nkv - 1u) * gq * hd;
    if (lid < MAX_G) {
        m_sh[lid] = neg_inf();
        l_sh[lid] = 0.0;
    }
    var acc: array<f32, 32>;
    for (var tb = t0; tb < t1; tb = tb + WG) {
        let t = tb + lid;
        // Each thread scores its key for all G heads at once, so the K row is read once
        // (not once per head); the head loop has a constant trip count and unrolls.
        var d: array<f32, MAX_G>;
        if (t < t1) {
            let kb = cbase + t * hd;
            for (var k = 0u; k < hd; k = k + 1u) {
                let kv = k_at(kb + k);
                for (var g = 0u; g < MAX_G; g = g + 1u) {
                    if (g < gq) {
                        d[g] = d[g] + bitcast<f32>(q[qbase + g * hd + k]) * kv;
                    }
                }
            }
        }
        for (var g = 0u; g < gq; g = g + 1u) {
            sc[g * WG + lid] = select(neg_inf(), d[g] * scale, t < t1);
        }
        workgroupBarrier();
        let n = min(WG, t1 - tb);
        if (lid < gq) {
            let row = lid * WG;
            var tm = neg_inf();
            for (var k = 0u; k < n; k = k + 1u) {
                tm = max(tm, sc[row + k]);
            }
            let mo = m_sh[lid];
            let mn = max(mo, tm);
            var sum = 0.0;
            for (var k = 0u; k < n; k = k + 1u) {
                let e = exp(sc[row + k] - mn);
                sc[row + k] = e;
                sum = sum + e;
            }
            let f = exp(mo - mn);
            f_sh[lid] = f;
            l_sh[lid] = l_sh[lid] * f + sum;
            m_sh[lid] = mn;
        }
        workgroupBarrier();
        for (var j = 0u; j < 4u; j = j + 1u) {
            let dim = lid + j * WG;
            if (dim < hd) {
                for (var g = 0u; g < gq; g = g + 1u) {
                    acc[g * 4u + j] = acc[g * 4u + j] * f_sh[g];
                }
                for (var k = 0u; k < n; k = k + 1u) {
                    let v = v_at(cbase + (tb + k) * hd + dim);
                    for (var g = 0u; g < gq; g = g + 1u) {
                        acc[g * 4u + j] = acc[g * 4u + j] + sc[g * WG + k] * v;
                    }
                }
            }
        }
        workgroupBarrier();
    }
    workgroupBarrier();
    if (live) {
        for (var g = 0u; g < gq; g = g + 1u) {
            let base = (((tok * nkv + kv) * gq + g) * nch + c) * (hd + 2u);
            if (lid == 0u) {
                part[base] = m_sh[g];
                part[base + 1u] = l_sh[g];
            }
            for (var j = 0u; j < 4u; j = j + 1u) {
                let dim = lid + j * WG;
                if (dim < hd) {
                    part[base + 2u + dim] = acc[g * 4u + j];
                }
            }
        }
    }
}
// ==== attention_combine
// Shared by every zaya-wgpu kernel (prepended by the generator).
//
// Shapes and offsets live in a per-dispatch uniform block instead of being baked into the
// source, so one pipeline serves every instruction of the same kind: a ZAYA decode graph
// then needs a few dozen pipelines, not one per instruction.

struct Params {
    w: array<vec4<u32>, 8>,
}

@group(0) @binding(0) var<uniform> params: Params;

// Parameter word `i` (0..32) of this dispatch.
fn p(i: u32) -> u32 {
    return params.w[i / 4u][i % 4u];
}

// Parameter word `i` read as an f32 (stored with `f32::to_bits`).
fn pf(i: u32) -> f32 {
    return bitcast<f32>(p(i));
}

// Linear workgroup index of a 2-D grid: the host splits more than 65535 workgroups over y.
fn wg_linear(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// -inf and NaN without literals (WGSL has none).
fn neg_inf() -> f32 {
    return bitcast<f32>(0xff800000u);
}

fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// RoPE angles are reduced modulo 2*pi in three parts (Cody-Waite, 9-bit leading parts so
// k * part is exact for k < 2^15) before cos/sin, so large positions do not depend on the
// driver's own range reduction (used by rope and region kernels).
fn reduce_angle(a: f32) -> f32 {
    let k = round(a * 0.15915493667125702);
    return ((a - k * 6.28125) - k * 0.001934051513671875) - k * 1.2556658930407139e-06;
}

// Split-K decode attention, pass 2: merges the per-chunk (m, l, o) that attention_split.wgsl
// wrote, M = max m_c, L = sum l_c e^(m_c - M), out = sum o_c e^(m_c - M) / L, one thread per
// output element (head h, dim d), over the chunks that hold keys 0..=pos only.
// Params: 0 nq, 1 hd, 2 ctx, 3 keys per chunk, 4 chunks per head, 5 query tokens T (token t
// of a prefill chunk merges its own partials over keys 0..=pos + t).

@group(0) @binding(1) var<storage, read> pos: array<u32>;
@group(0) @binding(2) var<storage, read> part: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<u32>;


@compute @workgroup_size(32)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let nq = p(0u);
    let hd = p(1u);
    let ctx = p(2u);
    let chunk = p(3u);
    let nch = p(4u);
    let e = wg_linear(wid, nwg) * 32u + lid;
    if (e >= p(5u) * nq * hd) {
        return;
    }
    let tok = e / (nq * hd);
    let h = tok * nq + (e / hd) % nq;
    let d = e % hd;
    let len = min(pos[0] + 1u + tok, ctx);
    let live = min((len + chunk - 1u) / chunk, nch);
    let stride = hd + 2u;
    var mx = neg_inf();
    for (var c = 0u; c < live; c = c + 1u) {
        mx = max(mx, part[(h * nch + c) * stride]);
    }
    var l = 0.0;
    var o = 0.0;
    for (var c = 0u; c < live; c = c + 1u) {
        let base = (h * nch + c) * stride;
        let f = exp(part[base] - mx);
        l = l + part[base + 1u] * f;
        o = o + part[base + 2u + d] * f;
    }
    dst[e] = bitcast<u32>(o / l);
}
// ==== matvec_f16
// Shared by every zaya-wgpu kernel (prepended by the generator).
//
// Shapes and offsets live in a per-dispatch uniform block instead of being baked into the
// source, so one pipeline serves every instruction of the same kind: a ZAYA decode graph
// then needs a few dozen pipelines, not one per instruction.

struct Params {
    w: array<vec4<u32>, 8>,
}

@group(0) @binding(0) var<uniform> params: Params;

// Parameter word `i` (0..32) of this dispatch.
fn p(i: u32) -> u32 {
    return params.w[i / 4u][i % 4u];
}

// Parameter word `i` read as an f32 (stored with `f32::to_bits`).
fn pf(i: u32) -> f32 {
    return bitcast<f32>(p(i));
}

// Linear workgroup index of a 2-D grid: the host splits more than 65535 workgroups over y.
fn wg_linear(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// -inf and NaN without literals (WGSL has none).
fn neg_inf() -> f32 {
    return bitcast<f32>(0xff800000u);
}

fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// RoPE angles are reduced modulo 2*pi in three parts (Cody-Waite, 9-bit leading parts so
// k * part is exact for k < 2^15) before cos/sin, so large positions do not depend on the
// driver's own range reduction (used by rope and region kernels).
fn reduce_angle(a: f32) -> f32 {
    let k = round(a * 0.15915493667125702);
    return ((a - k * 6.28125) - k * 0.001934051513671875) - k * 1.2556658930407139e-06;
}

// Workgroup-wide reductions over WG threads (a power of two). Call them from uniform
// control flow only: they contain barriers.

const WG: u32 = 64u;

var<workgroup> red_f: array<f32, WG>;
var<workgroup> red_u: array<u32, WG>;

fn wg_sum(v: f32, lid: u32) -> f32 {
    red_f[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            red_f[lid] = red_f[lid] + red_f[lid + s];
        }
        workgroupBarrier();
    }
    let r = red_f[0];
    workgroupBarrier();
    return r;
}

fn wg_max(v: f32, lid: u32) -> f32 {
    red_f[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            red_f[lid] = max(red_f[lid], red_f[lid + s]);
        }
        workgroupBarrier();
    }
    let r = red_f[0];
    workgroupBarrier();
    return r;
}

// Whether candidate (v, i) beats (best, bi) in a first-maximum argmax that matches the CPU
// reference: bi = 0xffffffff means "none yet"; a NaN loses to any number, and among NaNs
// only the later index wins (the reference replaces a NaN best by whatever comes next).
fn argmax_better(v: f32, i: u32, best: f32, bi: u32) -> bool {
    if (bi == 0xffffffffu) {
        return i != 0xffffffffu;
    }
    if (is_nan(v)) {
        return is_nan(best) && i > bi && i != 0xffffffffu;
    }
    return is_nan(best) || v > best || (v == best && i < bi);
}

// First index of the maximum over the workgroup's (value, index) candidates.
fn wg_argmax(v: f32, i: u32, lid: u32) -> u32 {
    red_f[lid] = v;
    red_u[lid] = i;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s && argmax_better(red_f[lid + s], red_u[lid + s], red_f[lid], red_u[lid])) {
            red_f[lid] = red_f[lid + s];
            red_u[lid] = red_u[lid + s];
        }
        workgroupBarrier();
    }
    let r = red_u[0];
    workgroupBarrier();
    return r;
}

// y[o] = sum_i w[row(o), i] * x[i]: one workgroup per output row, threads stride over the
// row's chunks (one packed u32 word or one float each) and combine through workgroup memory.
// The weight access (`w_chunk_dot`, `W_CHUNK`) comes from a format snippet, so the same
// template serves f32 activations, f16/bf16/f32 floats, affine 4/8-bit and MXFP4 weights,
// read packed (the fused dequant + matvec, kernel kind QMatVec).
//
// Params: 0 grid rows, 1 cols, 2 first output row of the grid, 3 first weight row of the
// bound window, 4 rows in the window, 5 rows per index step, 6 index bound.
// Weight row of output o: the row base (0, or index * rows per index) + o; a dispatch only computes rows inside its window
// (large weights are bound as several row windows, one dispatch each).

@group(0) @binding(1) var<storage, read> w_packed: array<u32>;
@group(0) @binding(2) var<storage, read> x: array<u32>;
@group(0) @binding(3) var<storage, read_write> y: array<u32>;


fn w_cols() -> u32 {
    return p(1u);
}

fn xv(i: u32) -> f32 {
    return bitcast<f32>(x[i]);
}

// Unquantized weights (f16, bf16 or f32 as stored, or an f32 activation): one element per
// chunk; 16-bit floats are read from u32 words (unpack2x16float / upper half of an f32),
// so no SHADER_F16 is needed.
const W_CHUNK: u32 = 1u;

fn w_elem(r: u32, col: u32) -> f32 {
    let i = r * w_cols() + col;
    return unpack2x16float(w_packed[(i) >> 1u])[(i) & 1u];
}

// matvec only (cut from dequant kernels, which have no x):
fn w_chunk_dot(r: u32, c: u32) -> f32 {
    return w_elem(r, c) * xv(c);
}


@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let local = wg_linear(wid, nwg);
    let o = p(2u) + local;
    let g = o;
    let inside = local < p(0u) && g >= p(3u) && g < p(3u) + p(4u);
    let r = g - p(3u);
    let chunks = select(0u, w_cols() / W_CHUNK, inside);
    var acc = 0.0;
    for (var c = lid; c < chunks; c = c + WG) {
        acc = acc + w_chunk_dot(r, c);
    }
    let total = wg_sum(acc, lid);
    if (inside && lid == 0u) {
        y[o] = bitcast<u32>(total);
    }
}
// ==== gelu
// Shared by every zaya-wgpu kernel (prepended by the generator).
//
// Shapes and offsets live in a per-dispatch uniform block instead of being baked into the
// source, so one pipeline serves every instruction of the same kind: a ZAYA decode graph
// then needs a few dozen pipelines, not one per instruction.

struct Params {
    w: array<vec4<u32>, 8>,
}

@group(0) @binding(0) var<uniform> params: Params;

// Parameter word `i` (0..32) of this dispatch.
fn p(i: u32) -> u32 {
    return params.w[i / 4u][i % 4u];
}

// Parameter word `i` read as an f32 (stored with `f32::to_bits`).
fn pf(i: u32) -> f32 {
    return bitcast<f32>(p(i));
}

// Linear workgroup index of a 2-D grid: the host splits more than 65535 workgroups over y.
fn wg_linear(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// -inf and NaN without literals (WGSL has none).
fn neg_inf() -> f32 {
    return bitcast<f32>(0xff800000u);
}

fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// RoPE angles are reduced modulo 2*pi in three parts (Cody-Waite, 9-bit leading parts so
// k * part is exact for k < 2^15) before cos/sin, so large positions do not depend on the
// driver's own range reduction (used by rope and region kernels).
fn reduce_angle(a: f32) -> f32 {
    let k = round(a * 0.15915493667125702);
    return ((a - k * 6.28125) - k * 0.001934051513671875) - k * 1.2556658930407139e-06;
}

// Unary, binary, select, cast and symbol: one thread per output element, numpy broadcast.
// Params: 0 element count; 2..6 output dims (rank padded to 4 with leading 1s);
// 6+4k..10+4k strides of input k (0 where stretched); 18+k base offset of input k.
// The generator substitutes the input loads, the expression and the store.

@group(0) @binding(1) var<storage, read> in0: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;


fn coords(i: u32) -> vec4<u32> {
    let d3 = i % p(5u);
    let r3 = i / p(5u);
    let d2 = r3 % p(4u);
    let r2 = r3 / p(4u);
    let d1 = r2 % p(3u);
    let d0 = r2 / p(3u);
    return vec4<u32>(d0, d1, d2, d3);
}

fn offset_of(c: vec4<u32>, k: u32) -> u32 {
    let s = vec4<u32>(p(6u + 4u * k), p(7u + 4u * k), p(8u + 4u * k), p(9u + 4u * k));
    return dot(c, s) + p(18u + k);
}

// erf is not a WGSL builtin. Abramowitz & Stegun 7.1.26: |error| <= 1.5e-7 for all x,
// which keeps exact-erf GELU within ~1e-7 * |x| of the CPU's libm erff.
fn erf_approx(x: f32) -> f32 {
    let a = abs(x);
    let t = 1.0 / (1.0 + 0.3275911 * a);
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741
        + t * (-1.453152027 + t * 1.061405429))));
    let y = 1.0 - poly * exp(-a * a);
    return select(y, -y, x < 0.0);
}


@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = wg_linear(wid, nwg) * 256u + lid;
    if (i >= p(0u)) {
        return;
    }
    let at = coords(i);
    let a = bitcast<f32>(in0[offset_of(at, 0u)]);
    dst[i] = bitcast<u32>(0.5 * a * (1.0 + erf_approx(a * 0.7071067811865476)));
}
// ==== softmax
// Shared by every zaya-wgpu kernel (prepended by the generator).
//
// Shapes and offsets live in a per-dispatch uniform block instead of being baked into the
// source, so one pipeline serves every instruction of the same kind: a ZAYA decode graph
// then needs a few dozen pipelines, not one per instruction.

struct Params {
    w: array<vec4<u32>, 8>,
}

@group(0) @binding(0) var<uniform> params: Params;

// Parameter word `i` (0..32) of this dispatch.
fn p(i: u32) -> u32 {
    return params.w[i / 4u][i % 4u];
}

// Parameter word `i` read as an f32 (stored with `f32::to_bits`).
fn pf(i: u32) -> f32 {
    return bitcast<f32>(p(i));
}

// Linear workgroup index of a 2-D grid: the host splits more than 65535 workgroups over y.
fn wg_linear(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// -inf and NaN without literals (WGSL has none).
fn neg_inf() -> f32 {
    return bitcast<f32>(0xff800000u);
}

fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// RoPE angles are reduced modulo 2*pi in three parts (Cody-Waite, 9-bit leading parts so
// k * part is exact for k < 2^15) before cos/sin, so large positions do not depend on the
// driver's own range reduction (used by rope and region kernels).
fn reduce_angle(a: f32) -> f32 {
    let k = round(a * 0.15915493667125702);
    return ((a - k * 6.28125) - k * 0.001934051513671875) - k * 1.2556658930407139e-06;
}

// Workgroup-wide reductions over WG threads (a power of two). Call them from uniform
// control flow only: they contain barriers.

const WG: u32 = 64u;

var<workgroup> red_f: array<f32, WG>;
var<workgroup> red_u: array<u32, WG>;

fn wg_sum(v: f32, lid: u32) -> f32 {
    red_f[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            red_f[lid] = red_f[lid] + red_f[lid + s];
        }
        workgroupBarrier();
    }
    let r = red_f[0];
    workgroupBarrier();
    return r;
}

fn wg_max(v: f32, lid: u32) -> f32 {
    red_f[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            red_f[lid] = max(red_f[lid], red_f[lid + s]);
        }
        workgroupBarrier();
    }
    let r = red_f[0];
    workgroupBarrier();
    return r;
}

// Whether candidate (v, i) beats (best, bi) in a first-maximum argmax that matches the CPU
// reference: bi = 0xffffffff means "none yet"; a NaN loses to any number, and among NaNs
// only the later index wins (the reference replaces a NaN best by whatever comes next).
fn argmax_better(v: f32, i: u32, best: f32, bi: u32) -> bool {
    if (bi == 0xffffffffu) {
        return i != 0xffffffffu;
    }
    if (is_nan(v)) {
        return is_nan(best) && i > bi && i != 0xffffffffu;
    }
    return is_nan(best) || v > best || (v == best && i < bi);
}

// First index of the maximum over the workgroup's (value, index) candidates.
fn wg_argmax(v: f32, i: u32, lid: u32) -> u32 {
    red_f[lid] = v;
    red_u[lid] = i;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s && argmax_better(red_f[lid + s], red_u[lid + s], red_f[lid], red_u[lid])) {
            red_f[lid] = red_f[lid + s];
            red_u[lid] = red_u[lid + s];
        }
        workgroupBarrier();
    }
    let r = red_u[0];
    workgroupBarrier();
    return r;
}

// Row kernels along the last axis: one workgroup of WG threads per row, threads stride
// over the row and combine through workgroup memory.
// Params: 0 rows, 1 row length n, 2 op constant (eps for rms_norm).

@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;

// The row bodies (row_*.wgsl, shared with region kernels) read and write through these.
fn src_at(i: u32) -> f32 {
    return bitcast<f32>(src[i]);
}

fn dst_set(i: u32, w: u32) {
    dst[i] = w;
}


@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let row = wg_linear(wid, nwg);
    if (row >= p(0u)) {
        return;
    }
    let n = p(1u);
    let base = row * n;
    var m = neg_inf();
    for (var i = lid; i < n; i = i + WG) {
        m = max(m, src_at(base + i));
    }
    m = wg_max(m, lid);
    var s = 0.0;
    for (var i = lid; i < n; i = i + WG) {
        s = s + exp(src_at(base + i) - m);
    }
    let inv = 1.0 / wg_sum(s, lid);
    for (var i = lid; i < n; i = i + WG) {
        dst_set(base + i, bitcast<u32>(exp(src_at(base + i) - m) * inv));
    }

}
// ==== argmax
// Shared by every zaya-wgpu kernel (prepended by the generator).
//
// Shapes and offsets live in a per-dispatch uniform block instead of being baked into the
// source, so one pipeline serves every instruction of the same kind: a ZAYA decode graph
// then needs a few dozen pipelines, not one per instruction.

struct Params {
    w: array<vec4<u32>, 8>,
}

@group(0) @binding(0) var<uniform> params: Params;

// Parameter word `i` (0..32) of this dispatch.
fn p(i: u32) -> u32 {
    return params.w[i / 4u][i % 4u];
}

// Parameter word `i` read as an f32 (stored with `f32::to_bits`).
fn pf(i: u32) -> f32 {
    return bitcast<f32>(p(i));
}

// Linear workgroup index of a 2-D grid: the host splits more than 65535 workgroups over y.
fn wg_linear(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// -inf and NaN without literals (WGSL has none).
fn neg_inf() -> f32 {
    return bitcast<f32>(0xff800000u);
}

fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// RoPE angles are reduced modulo 2*pi in three parts (Cody-Waite, 9-bit leading parts so
// k * part is exact for k < 2^15) before cos/sin, so large positions do not depend on the
// driver's own range reduction (used by rope and region kernels).
fn reduce_angle(a: f32) -> f32 {
    let k = round(a * 0.15915493667125702);
    return ((a - k * 6.28125) - k * 0.001934051513671875) - k * 1.2556658930407139e-06;
}

// Workgroup-wide reductions over WG threads (a power of two). Call them from uniform
// control flow only: they contain barriers.

const WG: u32 = 64u;

var<workgroup> red_f: array<f32, WG>;
var<workgroup> red_u: array<u32, WG>;

fn wg_sum(v: f32, lid: u32) -> f32 {
    red_f[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            red_f[lid] = red_f[lid] + red_f[lid + s];
        }
        workgroupBarrier();
    }
    let r = red_f[0];
    workgroupBarrier();
    return r;
}

fn wg_max(v: f32, lid: u32) -> f32 {
    red_f[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            red_f[lid] = max(red_f[lid], red_f[lid + s]);
        }
        workgroupBarrier();
    }
    let r = red_f[0];
    workgroupBarrier();
    return r;
}

// Whether candidate (v, i) beats (best, bi) in a first-maximum argmax that matches the CPU
// reference: bi = 0xffffffff means "none yet"; a NaN loses to any number, and among NaNs
// only the later index wins (the reference replaces a NaN best by whatever comes next).
fn argmax_better(v: f32, i: u32, best: f32, bi: u32) -> bool {
    if (bi == 0xffffffffu) {
        return i != 0xffffffffu;
    }
    if (is_nan(v)) {
        return is_nan(best) && i > bi && i != 0xffffffffu;
    }
    return is_nan(best) || v > best || (v == best && i < bi);
}

// First index of the maximum over the workgroup's (value, index) candidates.
fn wg_argmax(v: f32, i: u32, lid: u32) -> u32 {
    red_f[lid] = v;
    red_u[lid] = i;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s && argmax_better(red_f[lid + s], red_u[lid + s], red_f[lid], red_u[lid])) {
            red_f[lid] = red_f[lid + s];
            red_u[lid] = red_u[lid + s];
        }
        workgroupBarrier();
    }
    let r = red_u[0];
    workgroupBarrier();
    return r;
}

// Row kernels along the last axis: one workgroup of WG threads per row, threads stride
// over the row and combine through workgroup memory.
// Params: 0 rows, 1 row length n, 2 op constant (eps for rms_norm).

@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;

// The row bodies (row_*.wgsl, shared with region kernels) read and write through these.
fn src_at(i: u32) -> f32 {
    return bitcast<f32>(src[i]);
}

fn dst_set(i: u32, w: u32) {
    dst[i] = w;
}


@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let row = wg_linear(wid, nwg);
    if (row >= p(0u)) {
        return;
    }
    let n = p(1u);
    let base = row * n;
    var best = bitcast<f32>(0x7fc00000u);
    var bi = 0xffffffffu;
    for (var i = lid; i < n; i = i + WG) {
        let v = src_at(base + i);
        if (argmax_better(v, i, best, bi)) {
            best = v;
            bi = i;
        }
    }
    let r = wg_argmax(best, bi, lid);
    if (lid == 0u) {
        dst_set(row, select(r, 0u, r == 0xffffffffu));
    }

}
// ==== to_f32
// Shared by every zaya-wgpu kernel (prepended by the generator).
//
// Shapes and offsets live in a per-dispatch uniform block instead of being baked into the
// source, so one pipeline serves every instruction of the same kind: a ZAYA decode graph
// then needs a few dozen pipelines, not one per instruction.

struct Params {
    w: array<vec4<u32>, 8>,
}

@group(0) @binding(0) var<uniform> params: Params;

// Parameter word `i` (0..32) of this dispatch.
fn p(i: u32) -> u32 {
    return params.w[i / 4u][i % 4u];
}

// Parameter word `i` read as an f32 (stored with `f32::to_bits`).
fn pf(i: u32) -> f32 {
    return bitcast<f32>(p(i));
}

// Linear workgroup index of a 2-D grid: the host splits more than 65535 workgroups over y.
fn wg_linear(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// -inf and NaN without literals (WGSL has none).
fn neg_inf() -> f32 {
    return bitcast<f32>(0xff800000u);
}

fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// RoPE angles are reduced modulo 2*pi in three parts (Cody-Waite, 9-bit leading parts so
// k * part is exact for k < 2^15) before cos/sin, so large positions do not depend on the
// driver's own range reduction (used by rope and region kernels).
fn reduce_angle(a: f32) -> f32 {
    let k = round(a * 0.15915493667125702);
    return ((a - k * 6.28125) - k * 0.001934051513671875) - k * 1.2556658930407139e-06;
}

// Unary, binary, select, cast and symbol: one thread per output element, numpy broadcast.
// Params: 0 element count; 2..6 output dims (rank padded to 4 with leading 1s);
// 6+4k..10+4k strides of input k (0 where stretched); 18+k base offset of input k.
// The generator substitutes the input loads, the expression and the store.

@group(0) @binding(1) var<storage, read> in0: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;


fn coords(i: u32) -> vec4<u32> {
    let d3 = i % p(5u);
    let r3 = i / p(5u);
    let d2 = r3 % p(4u);
    let r2 = r3 / p(4u);
    let d1 = r2 % p(3u);
    let d0 = r2 / p(3u);
    return vec4<u32>(d0, d1, d2, d3);
}

fn offset_of(c: vec4<u32>, k: u32) -> u32 {
    let s = vec4<u32>(p(6u + 4u * k), p(7u + 4u * k), p(8u + 4u * k), p(9u + 4u * k));
    return dot(c, s) + p(18u + k);
}



@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = wg_linear(wid, nwg) * 256u + lid;
    if (i >= p(0u)) {
        return;
    }
    let at = coords(i);
    let a = in0[offset_of(at, 0u)];
    dst[i] = bitcast<u32>(f32(a));
}
// ==== eq
// Shared by every zaya-wgpu kernel (prepended by the generator).
//
// Shapes and offsets live in a per-dispatch uniform block instead of being baked into the
// source, so one pipeline serves every instruction of the same kind: a ZAYA decode graph
// then needs a few dozen pipelines, not one per instruction.

struct Params {
    w: array<vec4<u32>, 8>,
}

@group(0) @binding(0) var<uniform> params: Params;

// Parameter word `i` (0..32) of this dispatch.
fn p(i: u32) -> u32 {
    return params.w[i / 4u][i % 4u];
}

// Parameter word `i` read as an f32 (stored with `f32::to_bits`).
fn pf(i: u32) -> f32 {
    return bitcast<f32>(p(i));
}

// Linear workgroup index of a 2-D grid: the host splits more than 65535 workgroups over y.
fn wg_linear(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// -inf and NaN without literals (WGSL has none).
fn neg_inf() -> f32 {
    return bitcast<f32>(0xff800000u);
}

fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// RoPE angles are reduced modulo 2*pi in three parts (Cody-Waite, 9-bit leading parts so
// k * part is exact for k < 2^15) before cos/sin, so large positions do not depend on the
// driver's own range reduction (used by rope and region kernels).
fn reduce_angle(a: f32) -> f32 {
    let k = round(a * 0.15915493667125702);
    return ((a - k * 6.28125) - k * 0.001934051513671875) - k * 1.2556658930407139e-06;
}

// Unary, binary, select, cast and symbol: one thread per output element, numpy broadcast.
// Params: 0 element count; 2..6 output dims (rank padded to 4 with leading 1s);
// 6+4k..10+4k strides of input k (0 where stretched); 18+k base offset of input k.
// The generator substitutes the input loads, the expression and the store.

@group(0) @binding(1) var<storage, read> in0: array<u32>;
@group(0) @binding(2) var<storage, read> in1: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst: array<u32>;


fn coords(i: u32) -> vec4<u32> {
    let d3 = i % p(5u);
    let r3 = i / p(5u);
    let d2 = r3 % p(4u);
    let r2 = r3 / p(4u);
    let d1 = r2 % p(3u);
    let d0 = r2 / p(3u);
    return vec4<u32>(d0, d1, d2, d3);
}

fn offset_of(c: vec4<u32>, k: u32) -> u32 {
    let s = vec4<u32>(p(6u + 4u * k), p(7u + 4u * k), p(8u + 4u * k), p(9u + 4u * k));
    return dot(c, s) + p(18u + k);
}



@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = wg_linear(wid, nwg) * 256u + lid;
    if (i >= p(0u)) {
        return;
    }
    let at = coords(i);
    let a = bitcast<f32>(in0[offset_of(at, 0u)]);
    let b = bitcast<f32>(in1[offset_of(at, 1u)]);
    dst[i] = bitcast<u32>(select(0.0, 1.0, a == b));
}
// ==== min
// Shared by every zaya-wgpu kernel (prepended by the generator).
//
// Shapes and offsets live in a per-dispatch uniform block instead of being baked into the
// source, so one pipeline serves every instruction of the same kind: a ZAYA decode graph
// then needs a few dozen pipelines, not one per instruction.

struct Params {
    w: array<vec4<u32>, 8>,
}

@group(0) @binding(0) var<uniform> params: Params;

// Parameter word `i` (0..32) of this dispatch.
fn p(i: u32) -> u32 {
    return params.w[i / 4u][i % 4u];
}

// Parameter word `i` read as an f32 (stored with `f32::to_bits`).
fn pf(i: u32) -> f32 {
    return bitcast<f32>(p(i));
}

// Linear workgroup index of a 2-D grid: the host splits more than 65535 workgroups over y.
fn wg_linear(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// -inf and NaN without literals (WGSL has none).
fn neg_inf() -> f32 {
    return bitcast<f32>(0xff800000u);
}

fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// RoPE angles are reduced modulo 2*pi in three parts (Cody-Waite, 9-bit leading parts so
// k * part is exact for k < 2^15) before cos/sin, so large positions do not depend on the
// driver's own range reduction (used by rope and region kernels).
fn reduce_angle(a: f32) -> f32 {
    let k = round(a * 0.15915493667125702);
    return ((a - k * 6.28125) - k * 0.001934051513671875) - k * 1.2556658930407139e-06;
}

// Unary, binary, select, cast and symbol: one thread per output element, numpy broadcast.
// Params: 0 element count; 2..6 output dims (rank padded to 4 with leading 1s);
// 6+4k..10+4k strides of input k (0 where stretched); 18+k base offset of input k.
// The generator substitutes the input loads, the expression and the store.

@group(0) @binding(1) var<storage, read> in0: array<u32>;
@group(0) @binding(2) var<storage, read> in1: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst: array<u32>;


fn coords(i: u32) -> vec4<u32> {
    let d3 = i % p(5u);
    let r3 = i / p(5u);
    let d2 = r3 % p(4u);
    let r2 = r3 / p(4u);
    let d1 = r2 % p(3u);
    let d0 = r2 / p(3u);
    return vec4<u32>(d0, d1, d2, d3);
}

fn offset_of(c: vec4<u32>, k: u32) -> u32 {
    let s = vec4<u32>(p(6u + 4u * k), p(7u + 4u * k), p(8u + 4u * k), p(9u + 4u * k));
    return dot(c, s) + p(18u + k);
}



@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = wg_linear(wid, nwg) * 256u + lid;
    if (i >= p(0u)) {
        return;
    }
    let at = coords(i);
    let a = bitcast<f32>(in0[offset_of(at, 0u)]);
    let b = bitcast<f32>(in1[offset_of(at, 1u)]);
    dst[i] = bitcast<u32>(min(a, b));
}
// ==== to_u32
// Shared by every zaya-wgpu kernel (prepended by the generator).
//
// Shapes and offsets live in a per-dispatch uniform block instead of being baked into the
// source, so one pipeline serves every instruction of the same kind: a ZAYA decode graph
// then needs a few dozen pipelines, not one per instruction.

struct Params {
    w: array<vec4<u32>, 8>,
}

@group(0) @binding(0) var<uniform> params: Params;

// Parameter word `i` (0..32) of this dispatch.
fn p(i: u32) -> u32 {
    return params.w[i / 4u][i % 4u];
}

// Parameter word `i` read as an f32 (stored with `f32::to_bits`).
fn pf(i: u32) -> f32 {
    return bitcast<f32>(p(i));
}

// Linear workgroup index of a 2-D grid: the host splits more than 65535 workgroups over y.
fn wg_linear(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// -inf and NaN without literals (WGSL has none).
fn neg_inf() -> f32 {
    return bitcast<f32>(0xff800000u);
}

fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// RoPE angles are reduced modulo 2*pi in three parts (Cody-Waite, 9-bit leading parts so
// k * part is exact for k < 2^15) before cos/sin, so large positions do not depend on the
// driver's own range reduction (used by rope and region kernels).
fn reduce_angle(a: f32) -> f32 {
    let k = round(a * 0.15915493667125702);
    return ((a - k * 6.28125) - k * 0.001934051513671875) - k * 1.2556658930407139e-06;
}

// Unary, binary, select, cast and symbol: one thread per output element, numpy broadcast.
// Params: 0 element count; 2..6 output dims (rank padded to 4 with leading 1s);
// 6+4k..10+4k strides of input k (0 where stretched); 18+k base offset of input k.
// The generator substitutes the input loads, the expression and the store.

@group(0) @binding(1) var<storage, read> in0: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;


fn coords(i: u32) -> vec4<u32> {
    let d3 = i % p(5u);
    let r3 = i / p(5u);
    let d2 = r3 % p(4u);
    let r2 = r3 / p(4u);
    let d1 = r2 % p(3u);
    let d0 = r2 / p(3u);
    return vec4<u32>(d0, d1, d2, d3);
}

fn offset_of(c: vec4<u32>, k: u32) -> u32 {
    let s = vec4<u32>(p(6u + 4u * k), p(7u + 4u * k), p(8u + 4u * k), p(9u + 4u * k));
    return dot(c, s) + p(18u + k);
}



@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = wg_linear(wid, nwg) * 256u + lid;
    if (i >= p(0u)) {
        return;
    }
    let at = coords(i);
    let a = bitcast<f32>(in0[offset_of(at, 0u)]);
    dst[i] = u32(max(a, 0.0));
}
// ==== gather
// Shared by every zaya-wgpu kernel (prepended by the generator).
//
// Shapes and offsets live in a per-dispatch uniform block instead of being baked into the
// source, so one pipeline serves every instruction of the same kind: a ZAYA decode graph
// then needs a few dozen pipelines, not one per instruction.

struct Params {
    w: array<vec4<u32>, 8>,
}

@group(0) @binding(0) var<uniform> params: Params;

// Parameter word `i` (0..32) of this dispatch.
fn p(i: u32) -> u32 {
    return params.w[i / 4u][i % 4u];
}

// Parameter word `i` read as an f32 (stored with `f32::to_bits`).
fn pf(i: u32) -> f32 {
    return bitcast<f32>(p(i));
}

// Linear workgroup index of a 2-D grid: the host splits more than 65535 workgroups over y.
fn wg_linear(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// -inf and NaN without literals (WGSL has none).
fn neg_inf() -> f32 {
    return bitcast<f32>(0xff800000u);
}

fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// RoPE angles are reduced modulo 2*pi in three parts (Cody-Waite, 9-bit leading parts so
// k * part is exact for k < 2^15) before cos/sin, so large positions do not depend on the
// driver's own range reduction (used by rope and region kernels).
fn reduce_angle(a: f32) -> f32 {
    let k = round(a * 0.15915493667125702);
    return ((a - k * 6.28125) - k * 0.001934051513671875) - k * 1.2556658930407139e-06;
}

// Data movement as 32-bit words: slice, concat (one dispatch per part), gather, state
// read/write and KV-cache append. Element e = (o, k, i) over (outer, mid, inner):
//   src = src_base + o * src_outer + k * src_mid + i
//   dst = dst_base + o * dst_outer + k * dst_mid + i
// Params: 0 count, 1 mid, 2 inner, 3 src_base, 4 src_outer, 5 src_mid, 6 dst_base,
// 7 dst_outer, 8 dst_mid, 9 index bound, 10 index stride.
// The index snippet may rewrite `src` (gather: index array selects k) or `dst` (cache append:
// a u32 position selects the row); an index out of bounds writes nothing. The store moves
// one word, or (into an f16 cache, where every index counts pairs) packs two floats.

@group(0) @binding(1) var<storage, read> src_buf: array<u32>;
@group(0) @binding(2) var<storage, read> idx: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst_buf: array<u32>;


@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = wg_linear(wid, nwg) * 256u + lid;
    if (e >= p(0u)) {
        return;
    }
    let i = e % p(2u);
    let k = (e / p(2u)) % p(1u);
    let o = e / (p(2u) * p(1u));
    var src = p(3u) + o * p(4u) + k * p(5u) + i;
    var dst = p(6u) + o * p(7u) + k * p(8u) + i;
    let ix = idx[k];
    if (ix >= p(9u)) {
        return;
    }
    src = p(3u) + o * p(4u) + ix * p(5u) + i;
    dst_buf[dst] = src_buf[src];
}
// ==== matvec_affine4g32f16_idx
// Shared by every zaya-wgpu kernel (prepended by the generator).
//
// Shapes and offsets live in a per-dispatch uniform block instead of being baked into the
// source, so one pipeline serves every instruction of the same kind: a ZAYA decode graph
// then needs a few dozen pipelines, not one per instruction.

struct Params {
    w: array<vec4<u32>, 8>,
}

@group(0) @binding(0) var<uniform> params: Params;

// Parameter word `i` (0..32) of this dispatch.
fn p(i: u32) -> u32 {
    return params.w[i / 4u][i % 4u];
}

// Parameter word `i` read as an f32 (stored with `f32::to_bits`).
fn pf(i: u32) -> f32 {
    return bitcast<f32>(p(i));
}

// Linear workgroup index of a 2-D grid: the host splits more than 65535 workgroups over y.
fn wg_linear(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// -inf and NaN without literals (WGSL has none).
fn neg_inf() -> f32 {
    return bitcast<f32>(0xff800000u);
}

fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// RoPE angles are reduced modulo 2*pi in three parts (Cody-Waite, 9-bit leading parts so
// k * part is exact for k < 2^15) before cos/sin, so large positions do not depend on the
// driver's own range reduction (used by rope and region kernels).
fn reduce_angle(a: f32) -> f32 {
    let k = round(a * 0.15915493667125702);
    return ((a - k * 6.28125) - k * 0.001934051513671875) - k * 1.2556658930407139e-06;
}

// Workgroup-wide reductions over WG threads (a power of two). Call them from uniform
// control flow only: they contain barriers.

const WG: u32 = 64u;

var<workgroup> red_f: array<f32, WG>;
var<workgroup> red_u: array<u32, WG>;

fn wg_sum(v: f32, lid: u32) -> f32 {
    red_f[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            red_f[lid] = red_f[lid] + red_f[lid + s];
        }
        workgroupBarrier();
    }
    let r = red_f[0];
    workgroupBarrier();
    return r;
}

fn wg_max(v: f32, lid: u32) -> f32 {
    red_f[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            red_f[lid] = max(red_f[lid], red_f[lid + s]);
        }
        workgroupBarrier();
    }
    let r = red_f[0];
    workgroupBarrier();
    return r;
}

// Whether candidate (v, i) beats (best, bi) in a first-maximum argmax that matches the CPU
// reference: bi = 0xffffffff means "none yet"; a NaN loses to any number, and among NaNs
// only the later index wins (the reference replaces a NaN best by whatever comes next).
fn argmax_better(v: f32, i: u32, best: f32, bi: u32) -> bool {
    if (bi == 0xffffffffu) {
        return i != 0xffffffffu;
    }
    if (is_nan(v)) {
        return is_nan(best) && i > bi && i != 0xffffffffu;
    }
    return is_nan(best) || v > best || (v == best && i < bi);
}

// First index of the maximum over the workgroup's (value, index) candidates.
fn wg_argmax(v: f32, i: u32, lid: u32) -> u32 {
    red_f[lid] = v;
    red_u[lid] = i;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s && argmax_better(red_f[lid + s], red_u[lid + s], red_f[lid], red_u[lid])) {
            red_f[lid] = red_f[lid + s];
            red_u[lid] = red_u[lid + s];
        }
        workgroupBarrier();
    }
    let r = red_u[0];
    workgroupBarrier();
    return r;
}

// y[o] = sum_i w[row(o), i] * x[i]: one workgroup per output row, threads stride over the
// row's chunks (one packed u32 word or one float each) and combine through workgroup memory.
// The weight access (`w_chunk_dot`, `W_CHUNK`) comes from a format snippet, so the same
// template serves f32 activations, f16/bf16/f32 floats, affine 4/8-bit and MXFP4 weights,
// read packed (the fused dequant + matvec, kernel kind QMatVec).
//
// Params: 0 grid rows, 1 cols, 2 first output row of the grid, 3 first weight row of the
// bound window, 4 rows in the window, 5 rows per index step, 6 index bound.
// Weight row of output o: the row base (0, or index * rows per index) + o; a dispatch only computes rows inside its window
// (large weights are bound as several row windows, one dispatch each).

@group(0) @binding(1) var<storage, read> w_packed: array<u32>;
@group(0) @binding(2) var<storage, read> w_scales: array<u32>;
@group(0) @binding(3) var<storage, read> w_biases: array<u32>;
@group(0) @binding(4) var<storage, read> idx: array<u32>;
@group(0) @binding(5) var<storage, read> x: array<u32>;
@group(0) @binding(6) var<storage, read_write> y: array<u32>;


fn w_cols() -> u32 {
    return p(1u);
}

fn xv(i: u32) -> f32 {
    return bitcast<f32>(x[i]);
}

// MLX affine weights: codes little-endian in u32 words (first element lowest), one scale
// and bias per group of W_GROUP; value = scale * q + bias (multiply, then add, like the CPU).
const W_BITS: u32 = 4u;
const W_GROUP: u32 = 32u;
const W_CHUNK: u32 = 32u / W_BITS;
const W_MASK: u32 = (1u << W_BITS) - 1u;

fn w_scale(i: u32) -> f32 {
    return unpack2x16float(w_scales[(i) >> 1u])[(i) & 1u];
}

fn w_bias(i: u32) -> f32 {
    return unpack2x16float(w_biases[(i) >> 1u])[(i) & 1u];
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


@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let local = wg_linear(wid, nwg);
    let o = p(2u) + local;
    let g = min(idx[o / p(5u)], p(6u) - 1u) * p(5u) + o % p(5u);
    let inside = local < p(0u) && g >= p(3u) && g < p(3u) + p(4u);
    let r = g - p(3u);
    let chunks = select(0u, w_cols() / W_CHUNK, inside);
    var acc = 0.0;
    for (var c = lid; c < chunks; c = c + WG) {
        acc = acc + w_chunk_dot(r, c);
    }
    let total = wg_sum(acc, lid);
    if (inside && lid == 0u) {
        y[o] = bitcast<u32>(total);
    }
}
// ==== silu
// Shared by every zaya-wgpu kernel (prepended by the generator).
//
// Shapes and offsets live in a per-dispatch uniform block instead of being baked into the
// source, so one pipeline serves every instruction of the same kind: a ZAYA decode graph
// then needs a few dozen pipelines, not one per instruction.

struct Params {
    w: array<vec4<u32>, 8>,
}

@group(0) @binding(0) var<uniform> params: Params;

// Parameter word `i` (0..32) of this dispatch.
fn p(i: u32) -> u32 {
    return params.w[i / 4u][i % 4u];
}

// Parameter word `i` read as an f32 (stored with `f32::to_bits`).
fn pf(i: u32) -> f32 {
    return bitcast<f32>(p(i));
}

// Linear workgroup index of a 2-D grid: the host splits more than 65535 workgroups over y.
fn wg_linear(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// -inf and NaN without literals (WGSL has none).
fn neg_inf() -> f32 {
    return bitcast<f32>(0xff800000u);
}

fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// RoPE angles are reduced modulo 2*pi in three parts (Cody-Waite, 9-bit leading parts so
// k * part is exact for k < 2^15) before cos/sin, so large positions do not depend on the
// driver's own range reduction (used by rope and region kernels).
fn reduce_angle(a: f32) -> f32 {
    let k = round(a * 0.15915493667125702);
    return ((a - k * 6.28125) - k * 0.001934051513671875) - k * 1.2556658930407139e-06;
}

// Unary, binary, select, cast and symbol: one thread per output element, numpy broadcast.
// Params: 0 element count; 2..6 output dims (rank padded to 4 with leading 1s);
// 6+4k..10+4k strides of input k (0 where stretched); 18+k base offset of input k.
// The generator substitutes the input loads, the expression and the store.

@group(0) @binding(1) var<storage, read> in0: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;


fn coords(i: u32) -> vec4<u32> {
    let d3 = i % p(5u);
    let r3 = i / p(5u);
    let d2 = r3 % p(4u);
    let r2 = r3 / p(4u);
    let d1 = r2 % p(3u);
    let d0 = r2 / p(3u);
    return vec4<u32>(d0, d1, d2, d3);
}

fn offset_of(c: vec4<u32>, k: u32) -> u32 {
    let s = vec4<u32>(p(6u + 4u * k), p(7u + 4u * k), p(8u + 4u * k), p(9u + 4u * k));
    return dot(c, s) + p(18u + k);
}



@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = wg_linear(wid, nwg) * 256u + lid;
    if (i >= p(0u)) {
        return;
    }
    let at = coords(i);
    let a = bitcast<f32>(in0[offset_of(at, 0u)]);
    dst[i] = bitcast<u32>(a / (1.0 + exp(-a)));
}
// ==== select
// Shared by every zaya-wgpu kernel (prepended by the generator).
//
// Shapes and offsets live in a per-dispatch uniform block instead of being baked into the
// source, so one pipeline serves every instruction of the same kind: a ZAYA decode graph
// then needs a few dozen pipelines, not one per instruction.

struct Params {
    w: array<vec4<u32>, 8>,
}

@group(0) @binding(0) var<uniform> params: Params;

// Parameter word `i` (0..32) of this dispatch.
fn p(i: u32) -> u32 {
    return params.w[i / 4u][i % 4u];
}

// Parameter word `i` read as an f32 (stored with `f32::to_bits`).
fn pf(i: u32) -> f32 {
    return bitcast<f32>(p(i));
}

// Linear workgroup index of a 2-D grid: the host splits more than 65535 workgroups over y.
fn wg_linear(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// -inf and NaN without literals (WGSL has none).
fn neg_inf() -> f32 {
    return bitcast<f32>(0xff800000u);
}

fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// RoPE angles are reduced modulo 2*pi in three parts (Cody-Waite, 9-bit leading parts so
// k * part is exact for k < 2^15) before cos/sin, so large positions do not depend on the
// driver's own range reduction (used by rope and region kernels).
fn reduce_angle(a: f32) -> f32 {
    let k = round(a * 0.15915493667125702);
    return ((a - k * 6.28125) - k * 0.001934051513671875) - k * 1.2556658930407139e-06;
}

// Unary, binary, select, cast and symbol: one thread per output element, numpy broadcast.
// Params: 0 element count; 2..6 output dims (rank padded to 4 with leading 1s);
// 6+4k..10+4k strides of input k (0 where stretched); 18+k base offset of input k.
// The generator substitutes the input loads, the expression and the store.

@group(0) @binding(1) var<storage, read> in0: array<u32>;
@group(0) @binding(2) var<storage, read> in1: array<u32>;
@group(0) @binding(3) var<storage, read> in2: array<u32>;
@group(0) @binding(4) var<storage, read_write> dst: array<u32>;


fn coords(i: u32) -> vec4<u32> {
    let d3 = i % p(5u);
    let r3 = i / p(5u);
    let d2 = r3 % p(4u);
    let r2 = r3 / p(4u);
    let d1 = r2 % p(3u);
    let d0 = r2 / p(3u);
    return vec4<u32>(d0, d1, d2, d3);
}

fn offset_of(c: vec4<u32>, k: u32) -> u32 {
    let s = vec4<u32>(p(6u + 4u * k), p(7u + 4u * k), p(8u + 4u * k), p(9u + 4u * k));
    return dot(c, s) + p(18u + k);
}



@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = wg_linear(wid, nwg) * 256u + lid;
    if (i >= p(0u)) {
        return;
    }
    let at = coords(i);
    let a = bitcast<f32>(in0[offset_of(at, 0u)]);
    let b = bitcast<f32>(in1[offset_of(at, 1u)]);
    let c = bitcast<f32>(in2[offset_of(at, 2u)]);
    dst[i] = bitcast<u32>(select(c, b, a != 0.0));
}
// ==== matvec_affine8g32f16
// Shared by every zaya-wgpu kernel (prepended by the generator).
//
// Shapes and offsets live in a per-dispatch uniform block instead of being baked into the
// source, so one pipeline serves every instruction of the same kind: a ZAYA decode graph
// then needs a few dozen pipelines, not one per instruction.

struct Params {
    w: array<vec4<u32>, 8>,
}

@group(0) @binding(0) var<uniform> params: Params;

// Parameter word `i` (0..32) of this dispatch.
fn p(i: u32) -> u32 {
    return params.w[i / 4u][i % 4u];
}

// Parameter word `i` read as an f32 (stored with `f32::to_bits`).
fn pf(i: u32) -> f32 {
    return bitcast<f32>(p(i));
}

// Linear workgroup index of a 2-D grid: the host splits more than 65535 workgroups over y.
fn wg_linear(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// -inf and NaN without literals (WGSL has none).
fn neg_inf() -> f32 {
    return bitcast<f32>(0xff800000u);
}

fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// RoPE angles are reduced modulo 2*pi in three parts (Cody-Waite, 9-bit leading parts so
// k * part is exact for k < 2^15) before cos/sin, so large positions do not depend on the
// driver's own range reduction (used by rope and region kernels).
fn reduce_angle(a: f32) -> f32 {
    let k = round(a * 0.15915493667125702);
    return ((a - k * 6.28125) - k * 0.001934051513671875) - k * 1.2556658930407139e-06;
}

// Workgroup-wide reductions over WG threads (a power of two). Call them from uniform
// control flow only: they contain barriers.

const WG: u32 = 64u;

var<workgroup> red_f: array<f32, WG>;
var<workgroup> red_u: array<u32, WG>;

fn wg_sum(v: f32, lid: u32) -> f32 {
    red_f[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            red_f[lid] = red_f[lid] + red_f[lid + s];
        }
        workgroupBarrier();
    }
    let r = red_f[0];
    workgroupBarrier();
    return r;
}

fn wg_max(v: f32, lid: u32) -> f32 {
    red_f[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            red_f[lid] = max(red_f[lid], red_f[lid + s]);
        }
        workgroupBarrier();
    }
    let r = red_f[0];
    workgroupBarrier();
    return r;
}

// Whether candidate (v, i) beats (best, bi) in a first-maximum argmax that matches the CPU
// reference: bi = 0xffffffff means "none yet"; a NaN loses to any number, and among NaNs
// only the later index wins (the reference replaces a NaN best by whatever comes next).
fn argmax_better(v: f32, i: u32, best: f32, bi: u32) -> bool {
    if (bi == 0xffffffffu) {
        return i != 0xffffffffu;
    }
    if (is_nan(v)) {
        return is_nan(best) && i > bi && i != 0xffffffffu;
    }
    return is_nan(best) || v > best || (v == best && i < bi);
}

// First index of the maximum over the workgroup's (value, index) candidates.
fn wg_argmax(v: f32, i: u32, lid: u32) -> u32 {
    red_f[lid] = v;
    red_u[lid] = i;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s && argmax_better(red_f[lid + s], red_u[lid + s], red_f[lid], red_u[lid])) {
            red_f[lid] = red_f[lid + s];
            red_u[lid] = red_u[lid + s];
        }
        workgroupBarrier();
    }
    let r = red_u[0];
    workgroupBarrier();
    return r;
}

// y[o] = sum_i w[row(o), i] * x[i]: one workgroup per output row, threads stride over the
// row's chunks (one packed u32 word or one float each) and combine through workgroup memory.
// The weight access (`w_chunk_dot`, `W_CHUNK`) comes from a format snippet, so the same
// template serves f32 activations, f16/bf16/f32 floats, affine 4/8-bit and MXFP4 weights,
// read packed (the fused dequant + matvec, kernel kind QMatVec).
//
// Params: 0 grid rows, 1 cols, 2 first output row of the grid, 3 first weight row of the
// bound window, 4 rows in the window, 5 rows per index step, 6 index bound.
// Weight row of output o: the row base (0, or index * rows per index) + o; a dispatch only computes rows inside its window
// (large weights are bound as several row windows, one dispatch each).

@group(0) @binding(1) var<storage, read> w_packed: array<u32>;
@group(0) @binding(2) var<storage, read> w_scales: array<u32>;
@group(0) @binding(3) var<storage, read> w_biases: array<u32>;
@group(0) @binding(4) var<storage, read> x: array<u32>;
@group(0) @binding(5) var<storage, read_write> y: array<u32>;


fn w_cols() -> u32 {
    return p(1u);
}

fn xv(i: u32) -> f32 {
    return bitcast<f32>(x[i]);
}

// MLX affine weights: codes little-endian in u32 words (first element lowest), one scale
// and bias per group of W_GROUP; value = scale * q + bias (multiply, then add, like the CPU).
const W_BITS: u32 = 8u;
const W_GROUP: u32 = 32u;
const W_CHUNK: u32 = 32u / W_BITS;
const W_MASK: u32 = (1u << W_BITS) - 1u;

fn w_scale(i: u32) -> f32 {
    return unpack2x16float(w_scales[(i) >> 1u])[(i) & 1u];
}

fn w_bias(i: u32) -> f32 {
    return unpack2x16float(w_biases[(i) >> 1u])[(i) & 1u];
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


@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let local = wg_linear(wid, nwg);
    let o = p(2u) + local;
    let g = o;
    let inside = local < p(0u) && g >= p(3u) && g < p(3u) + p(4u);
    let r = g - p(3u);
    let chunks = select(0u, w_cols() / W_CHUNK, inside);
    var acc = 0.0;
    for (var c = lid; c < chunks; c = c + WG) {
        acc = acc + w_chunk_dot(r, c);
    }
    let total = wg_sum(acc, lid);
    if (inside && lid == 0u) {
        y[o] = bitcast<u32>(total);
    }
}
