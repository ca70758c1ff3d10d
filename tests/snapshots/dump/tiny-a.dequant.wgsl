// ==== region_lookup
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

fn w0k0_cols() -> u32 {
    return 128u;
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
    return 128u;
}
// MLX affine weights: codes little-endian in u32 words (first element lowest), one scale
// and bias per group of W1K0_GROUP; value = scale * q + bias (multiply, then add, like the CPU).
const W1K0_BITS: u32 = 8u;
const W1K0_GROUP: u32 = 32u;
const W1K0_CHUNK: u32 = 32u / W1K0_BITS;
const W1K0_MASK: u32 = (1u << W1K0_BITS) - 1u;

fn w1k0_scale(i: u32) -> f32 {
    return unpack2x16float(b4[(i) >> 1u])[(i) & 1u];
}

fn w1k0_bias(i: u32) -> f32 {
    return unpack2x16float(b5[(i) >> 1u])[(i) & 1u];
}

fn w1k0_elem(r: u32, col: u32) -> f32 {
    let word = b3[r * (w1k0_cols() / W1K0_CHUNK) + col / W1K0_CHUNK];
    let q = f32((word >> ((col % W1K0_CHUNK) * W1K0_BITS)) & W1K0_MASK);
    let gi = r * (w1k0_cols() / W1K0_GROUP) + col / W1K0_GROUP;
    return w1k0_scale(gi) * q + w1k0_bias(gi);
}


fn w1_elem(g: u32, col: u32) -> f32 {
    return w1k0_elem(g - 0u, col);
}
const ATTENTION_BASE: u32 = 0u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    {
    for (var e = lid; e < 128u; e = e + WG) {
        let a = w1_elem((min(b2[0u], 511u) * 1u) + (e) / 128u, (e) % 128u);
        let b = w0_elem(0u + (e) / 128u, (e) % 128u);
        b6[e] = bitcast<u32>(a + b);
    }
    }
    storageBarrier();
}
// ==== region_mul
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
@group(0) @binding(4) var<storage, read_write> b3: array<u32>;

fn w0k0_cols() -> u32 {
    return 128u;
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
const ATTENTION_BASE: u32 = 0u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    {
    for (var e = lid; e < 128u; e = e + WG) {
        let a = bitcast<f32>(b2[e]);
        let b = w0_elem(0u + (e) / 128u, (e) % 128u);
        b3[e] = bitcast<u32>(a * b);
    }
    }
    storageBarrier();
}
// ==== region_rms_norm
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
@group(0) @binding(4) var<storage, read_write> b3: array<u32>;

fn w0k0_cols() -> u32 {
    return 128u;
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
fn src_at1(i: u32) -> f32 {
    return bitcast<f32>(b2[i]);
}
fn dst_set1(i: u32, w: u32) {
    b3[i] = w;
}
fn gamma_at1(i: u32) -> f32 {
    return w0_elem(0u + (i) / 128u, (i) % 128u);
}
const ATTENTION_BASE: u32 = 0u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    {
    for (var row = 0u; row < 1u; row = row + 1u) {
        let n = 128u;
        let base = row * n;
    var ss = 0.0;
    for (var i = lid; i < n; i = i + WG) {
        let v = src_at1(base + i);
        ss = ss + v * v;
    }
    let mean_sq = wg_sum(ss, lid) / f32(n);
    let inv = 1.0 / sqrt(mean_sq + bitcast<f32>(0x3727c5acu));
    for (var i = lid; i < n; i = i + WG) {
        dst_set1(base + i, bitcast<u32>(src_at1(base + i) * inv * gamma_at1(i)));
    }
    }
    }
    storageBarrier();
}
// ==== fused_matvec_wg64_r8_p1_t8_v4_xs
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
@group(0) @binding(3) var<storage, read> b2: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read> b3: array<u32>;
@group(0) @binding(5) var<storage, read> b4: array<u32>;


const ROWS_PER_WG: u32 = 8u;
const RPP: u32 = 1u;
const TPR: u32 = 8u;
var<workgroup> mv_part: array<f32, 64>;
var<private> norm_inv: f32 = 1.0;
var<workgroup> xs: array<vec4<f32>, 32>;

// Element i of the matvec vector (normed when there is a prologue).
fn xf(i: u32) -> f32 {
    return bitcast<f32>(b1[i]);
}

// Elements 4i..4i+3 of the vector.
fn xv4(i: u32) -> vec4<f32> {
    return xs[i];
}

// Two 16-bit floats of a word (no SHADER_F16 needed).
fn f16_pair(w: u32) -> vec2<f32> {
    return unpack2x16float(w);
}

fn bf16_pair(w: u32) -> vec2<f32> {
    return vec2<f32>(bitcast<f32>(w << 16u), bitcast<f32>(w & 0xffff0000u));
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let wg = wg_linear(wid, nwg);
    for (var i = lid; i < 32u; i = i + WG) {
        xs[i] = vec4<f32>(xf(4u * i), xf(4u * i + 1u), xf(4u * i + 2u), xf(4u * i + 3u));
    }
    workgroupBarrier();

    let lane = lid % TPR;
    let team = lid / TPR;
{
        let cw = wg - 0u;
        for (var step = 0u; step < ROWS_PER_WG / (WG / TPR * RPP); step = step + 1u) {
        let rb = cw * ROWS_PER_WG + (step * (WG / TPR) + team) * RPP;
        let lr0 = min(rb + 0u, 128u - 1u);
        var a0_0 = 0.0;
        for (var u = lane; u < 4u; u = u + TPR) {
            let x0 = xv4(u * 8u + 0u);
            let x1 = xv4(u * 8u + 1u);
            let x2 = xv4(u * 8u + 2u);
            let x3 = xv4(u * 8u + 3u);
            let x4 = xv4(u * 8u + 4u);
            let x5 = xv4(u * 8u + 5u);
            let x6 = xv4(u * 8u + 6u);
            let x7 = xv4(u * 8u + 7u);
            let xe0 = vec4<f32>(x0.xz, x1.xz);
            let xo0 = vec4<f32>(x0.yw, x1.yw);
            let xe1 = vec4<f32>(x2.xz, x3.xz);
            let xo1 = vec4<f32>(x2.yw, x3.yw);
            let xe2 = vec4<f32>(x4.xz, x5.xz);
            let xo2 = vec4<f32>(x4.yw, x5.yw);
            let xe3 = vec4<f32>(x6.xz, x7.xz);
            let xo3 = vec4<f32>(x6.yw, x7.yw);
            let sx = dot(x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7, vec4<f32>(1.0));
            {
                let gi = (0u + lr0) * 4u + u;
                let wv0_0 = b2[gi * 1u + 0u];
                var d = 0.0;
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.x & 0x0F0F0F0Fu)), xe0) + dot(vec4<f32>(unpack4xU8((wv0_0.x >> 4u) & 0x0F0F0F0Fu)), xo0);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.y & 0x0F0F0F0Fu)), xe1) + dot(vec4<f32>(unpack4xU8((wv0_0.y >> 4u) & 0x0F0F0F0Fu)), xo1);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.z & 0x0F0F0F0Fu)), xe2) + dot(vec4<f32>(unpack4xU8((wv0_0.z >> 4u) & 0x0F0F0F0Fu)), xo2);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.w & 0x0F0F0F0Fu)), xe3) + dot(vec4<f32>(unpack4xU8((wv0_0.w >> 4u) & 0x0F0F0F0Fu)), xo3);
                a0_0 = a0_0 + (unpack2x16float(b3[(gi) >> 1u])[(gi) & 1u]) * d + (unpack2x16float(b4[(gi) >> 1u])[(gi) & 1u]) * sx;
            }
        }
        mv_part[0u * WG + lid] = a0_0;
        workgroupBarrier();
        for (var s = TPR / 2u; s > 0u; s = s >> 1u) {
            if (lane < s) {
                mv_part[0u * WG + lid] = mv_part[0u * WG + lid] + mv_part[0u * WG + lid + s];
            }
            workgroupBarrier();
        }
        let t0_0 = mv_part[0u * WG + lid];
        if (lane == 0u) {
            if (rb + 0u < 128u) {
                let r = 0u + rb + 0u;
                let v1 = t0_0;
                b0[r] = bitcast<u32>(v1);
            }
        }

        // The next pass overwrites `mv_part`.
        workgroupBarrier();
        }
    }
}
// ==== fused_matvec_wg64_r8_p1_t8_v4_xs
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
@group(0) @binding(3) var<storage, read> b2: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read> b3: array<u32>;
@group(0) @binding(5) var<storage, read> b4: array<u32>;


const ROWS_PER_WG: u32 = 8u;
const RPP: u32 = 1u;
const TPR: u32 = 8u;
var<workgroup> mv_part: array<f32, 64>;
var<private> norm_inv: f32 = 1.0;
var<workgroup> xs: array<vec4<f32>, 32>;

// Element i of the matvec vector (normed when there is a prologue).
fn xf(i: u32) -> f32 {
    return bitcast<f32>(b1[i]);
}

// Elements 4i..4i+3 of the vector.
fn xv4(i: u32) -> vec4<f32> {
    return xs[i];
}

// Two 16-bit floats of a word (no SHADER_F16 needed).
fn f16_pair(w: u32) -> vec2<f32> {
    return unpack2x16float(w);
}

fn bf16_pair(w: u32) -> vec2<f32> {
    return vec2<f32>(bitcast<f32>(w << 16u), bitcast<f32>(w & 0xffff0000u));
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let wg = wg_linear(wid, nwg);
    for (var i = lid; i < 32u; i = i + WG) {
        xs[i] = vec4<f32>(xf(4u * i), xf(4u * i + 1u), xf(4u * i + 2u), xf(4u * i + 3u));
    }
    workgroupBarrier();

    let lane = lid % TPR;
    let team = lid / TPR;
{
        let cw = wg - 0u;
        for (var step = 0u; step < ROWS_PER_WG / (WG / TPR * RPP); step = step + 1u) {
        let rb = cw * ROWS_PER_WG + (step * (WG / TPR) + team) * RPP;
        let lr0 = min(rb + 0u, 64u - 1u);
        var a0_0 = 0.0;
        for (var u = lane; u < 4u; u = u + TPR) {
            let x0 = xv4(u * 8u + 0u);
            let x1 = xv4(u * 8u + 1u);
            let x2 = xv4(u * 8u + 2u);
            let x3 = xv4(u * 8u + 3u);
            let x4 = xv4(u * 8u + 4u);
            let x5 = xv4(u * 8u + 5u);
            let x6 = xv4(u * 8u + 6u);
            let x7 = xv4(u * 8u + 7u);
            let xe0 = vec4<f32>(x0.xz, x1.xz);
            let xo0 = vec4<f32>(x0.yw, x1.yw);
            let xe1 = vec4<f32>(x2.xz, x3.xz);
            let xo1 = vec4<f32>(x2.yw, x3.yw);
            let xe2 = vec4<f32>(x4.xz, x5.xz);
            let xo2 = vec4<f32>(x4.yw, x5.yw);
            let xe3 = vec4<f32>(x6.xz, x7.xz);
            let xo3 = vec4<f32>(x6.yw, x7.yw);
            let sx = dot(x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7, vec4<f32>(1.0));
            {
                let gi = (0u + lr0) * 4u + u;
                let wv0_0 = b2[gi * 1u + 0u];
                var d = 0.0;
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.x & 0x0F0F0F0Fu)), xe0) + dot(vec4<f32>(unpack4xU8((wv0_0.x >> 4u) & 0x0F0F0F0Fu)), xo0);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.y & 0x0F0F0F0Fu)), xe1) + dot(vec4<f32>(unpack4xU8((wv0_0.y >> 4u) & 0x0F0F0F0Fu)), xo1);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.z & 0x0F0F0F0Fu)), xe2) + dot(vec4<f32>(unpack4xU8((wv0_0.z >> 4u) & 0x0F0F0F0Fu)), xo2);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.w & 0x0F0F0F0Fu)), xe3) + dot(vec4<f32>(unpack4xU8((wv0_0.w >> 4u) & 0x0F0F0F0Fu)), xo3);
                a0_0 = a0_0 + (unpack2x16float(b3[(gi) >> 1u])[(gi) & 1u]) * d + (unpack2x16float(b4[(gi) >> 1u])[(gi) & 1u]) * sx;
            }
        }
        mv_part[0u * WG + lid] = a0_0;
        workgroupBarrier();
        for (var s = TPR / 2u; s > 0u; s = s >> 1u) {
            if (lane < s) {
                mv_part[0u * WG + lid] = mv_part[0u * WG + lid] + mv_part[0u * WG + lid + s];
            }
            workgroupBarrier();
        }
        let t0_0 = mv_part[0u * WG + lid];
        if (lane == 0u) {
            if (rb + 0u < 64u) {
                let r = 0u + rb + 0u;
                let v1 = t0_0;
                b0[r] = bitcast<u32>(v1);
            }
        }

        // The next pass overwrites `mv_part`.
        workgroupBarrier();
        }
    }
}
// ==== fused_matvec_wg64_r8_p1_t8_v4_xs
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
@group(0) @binding(3) var<storage, read> b2: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read> b3: array<u32>;
@group(0) @binding(5) var<storage, read> b4: array<u32>;


const ROWS_PER_WG: u32 = 8u;
const RPP: u32 = 1u;
const TPR: u32 = 8u;
var<workgroup> mv_part: array<f32, 64>;
var<private> norm_inv: f32 = 1.0;
var<workgroup> xs: array<vec4<f32>, 32>;

// Element i of the matvec vector (normed when there is a prologue).
fn xf(i: u32) -> f32 {
    return bitcast<f32>(b1[i]);
}

// Elements 4i..4i+3 of the vector.
fn xv4(i: u32) -> vec4<f32> {
    return xs[i];
}

// Two 16-bit floats of a word (no SHADER_F16 needed).
fn f16_pair(w: u32) -> vec2<f32> {
    return unpack2x16float(w);
}

fn bf16_pair(w: u32) -> vec2<f32> {
    return vec2<f32>(bitcast<f32>(w << 16u), bitcast<f32>(w & 0xffff0000u));
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let wg = wg_linear(wid, nwg);
    for (var i = lid; i < 32u; i = i + WG) {
        xs[i] = vec4<f32>(xf(4u * i), xf(4u * i + 1u), xf(4u * i + 2u), xf(4u * i + 3u));
    }
    workgroupBarrier();

    let lane = lid % TPR;
    let team = lid / TPR;
{
        let cw = wg - 0u;
        for (var step = 0u; step < ROWS_PER_WG / (WG / TPR * RPP); step = step + 1u) {
        let rb = cw * ROWS_PER_WG + (step * (WG / TPR) + team) * RPP;
        let lr0 = min(rb + 0u, 32u - 1u);
        var a0_0 = 0.0;
        for (var u = lane; u < 4u; u = u + TPR) {
            let x0 = xv4(u * 8u + 0u);
            let x1 = xv4(u * 8u + 1u);
            let x2 = xv4(u * 8u + 2u);
            let x3 = xv4(u * 8u + 3u);
            let x4 = xv4(u * 8u + 4u);
            let x5 = xv4(u * 8u + 5u);
            let x6 = xv4(u * 8u + 6u);
            let x7 = xv4(u * 8u + 7u);
            let xe0 = vec4<f32>(x0.xz, x1.xz);
            let xo0 = vec4<f32>(x0.yw, x1.yw);
            let xe1 = vec4<f32>(x2.xz, x3.xz);
            let xo1 = vec4<f32>(x2.yw, x3.yw);
            let xe2 = vec4<f32>(x4.xz, x5.xz);
            let xo2 = vec4<f32>(x4.yw, x5.yw);
            let xe3 = vec4<f32>(x6.xz, x7.xz);
            let xo3 = vec4<f32>(x6.yw, x7.yw);
            let sx = dot(x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7, vec4<f32>(1.0));
            {
                let gi = (0u + lr0) * 4u + u;
                let wv0_0 = b2[gi * 1u + 0u];
                var d = 0.0;
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.x & 0x0F0F0F0Fu)), xe0) + dot(vec4<f32>(unpack4xU8((wv0_0.x >> 4u) & 0x0F0F0F0Fu)), xo0);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.y & 0x0F0F0F0Fu)), xe1) + dot(vec4<f32>(unpack4xU8((wv0_0.y >> 4u) & 0x0F0F0F0Fu)), xo1);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.z & 0x0F0F0F0Fu)), xe2) + dot(vec4<f32>(unpack4xU8((wv0_0.z >> 4u) & 0x0F0F0F0Fu)), xo2);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.w & 0x0F0F0F0Fu)), xe3) + dot(vec4<f32>(unpack4xU8((wv0_0.w >> 4u) & 0x0F0F0F0Fu)), xo3);
                a0_0 = a0_0 + (unpack2x16float(b3[(gi) >> 1u])[(gi) & 1u]) * d + (unpack2x16float(b4[(gi) >> 1u])[(gi) & 1u]) * sx;
            }
        }
        mv_part[0u * WG + lid] = a0_0;
        workgroupBarrier();
        for (var s = TPR / 2u; s > 0u; s = s >> 1u) {
            if (lane < s) {
                mv_part[0u * WG + lid] = mv_part[0u * WG + lid] + mv_part[0u * WG + lid + s];
            }
            workgroupBarrier();
        }
        let t0_0 = mv_part[0u * WG + lid];
        if (lane == 0u) {
            if (rb + 0u < 32u) {
                let r = 0u + rb + 0u;
                let v1 = t0_0;
                b0[r] = bitcast<u32>(v1);
            }
        }

        // The next pass overwrites `mv_part`.
        workgroupBarrier();
        }
    }
}
// ==== copy
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
@group(0) @binding(2) var<storage, read_write> dst_buf: array<u32>;


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

    dst_buf[dst] = src_buf[src];
}
// ==== region_conv_step
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
    return 192u;
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
    return 2u;
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
    return w1_elem(0u + (i) / 2u, (i) % 2u);
}
fn conv_win2(i: u32) -> f32 {
    return bitcast<f32>(b3[i]);
}
fn conv_bias2(i: u32) -> f32 {
    return w0_elem(0u + (i) / 192u, (i) % 192u);
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
    conv_team2(lid, wg_linear(wid, nwg), 192u, 1u, 1u, 2u);
    }
    storageBarrier();
}
// ==== region_conv_step
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
    conv_team2(lid, wg_linear(wid, nwg), 192u, 1u, 1u, 2u);
    }
    storageBarrier();
}
// ==== region_conv_step
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
    return 192u;
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
    return 2u;
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
    return w1_elem(0u + (i) / 2u, (i) % 2u);
}
fn conv_win2(i: u32) -> f32 {
    return bitcast<f32>(b3[i]);
}
fn conv_bias2(i: u32) -> f32 {
    return w0_elem(0u + (i) / 192u, (i) % 192u);
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
// ==== reduce_mean
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

// Reduce along one axis: one thread per output element of (outer, inner).
// Params: 0 outputs (outer * inner), 1 axis length n, 2 inner.

@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;


@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = wg_linear(wid, nwg) * 256u + lid;
    if (e >= p(0u)) {
        return;
    }
    let n = p(1u);
    let inner = p(2u);
    let base = (e / inner) * n * inner + e % inner;
    var acc = 0.0;
    for (var k = 0u; k < n; k = k + 1u) {
        let v = bitcast<f32>(src[base + k * inner]);
        acc = acc + v;
    }
    dst[e] = bitcast<u32>(acc / f32(n));
}
// ==== square
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
    dst[i] = bitcast<u32>(a * a);
}
// ==== reduce_sum
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

// Reduce along one axis: one thread per output element of (outer, inner).
// Params: 0 outputs (outer * inner), 1 axis length n, 2 inner.

@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;


@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = wg_linear(wid, nwg) * 256u + lid;
    if (e >= p(0u)) {
        return;
    }
    let n = p(1u);
    let inner = p(2u);
    let base = (e / inner) * n * inner + e % inner;
    var acc = 0.0;
    for (var k = 0u; k < n; k = k + 1u) {
        let v = bitcast<f32>(src[base + k * inner]);
        acc = acc + v;
    }
    dst[e] = bitcast<u32>(acc);
}
// ==== sqrt
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
    dst[i] = bitcast<u32>(sqrt(a));
}
// ==== max
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
    dst[i] = bitcast<u32>(max(a, b));
}
// ==== div
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
    dst[i] = bitcast<u32>(a / b);
}
// ==== region_reshape
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
const ATTENTION_BASE: u32 = 0u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    {
    for (var e = lid; e < 2u; e = e + WG) {
        b2[e] = bitcast<u32>(w0_elem(0u + (e) / 2u, (e) % 2u));
    }
    }
    storageBarrier();
}
// ==== rope
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

// NeoX (rotate-half) rotary embedding of the first `rot` dims of each row; the rest pass.
// angle = f32(pos) * inv_freq[j] exactly like the CPU (inv_freq is computed on the host
// in f64 and rounded to f32, then uploaded once), then reduced modulo 2*pi in three parts
// (Cody-Waite, 9-bit leading parts so k * part is exact for k < 2^15) before cos/sin, so
// large positions do not depend on the driver's own range reduction.
// Params: 0 elements (rows * n), 1 n, 2 rot, 3 elements per token (a chunk's token t is at
// pos + t; in decode every row is at pos).

@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read> pos: array<u32>;
@group(0) @binding(3) var<storage, read> inv_freq: array<u32>;
@group(0) @binding(4) var<storage, read_write> dst: array<u32>;



@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = wg_linear(wid, nwg) * 256u + lid;
    if (e >= p(0u)) {
        return;
    }
    let n = p(1u);
    let rot = p(2u);
    let half = rot / 2u;
    let row = e / n;
    let i = e % n;
    if (i >= rot) {
        dst[e] = src[e];
        return;
    }
    let j = i % half;
    let angle = reduce_angle(f32(pos[0] + e / p(3u)) * bitcast<f32>(inv_freq[j]));
    let c = cos(angle);
    let s = sin(angle);
    let a = bitcast<f32>(src[row * n + j]);
    let b = bitcast<f32>(src[row * n + j + half]);
    dst[e] = bitcast<u32>(select(b * c + a * s, a * c - b * s, i < half));
}
// ==== cache_append
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
    let ps = idx[0];
    if (ps + o * p(11u) >= p(9u)) {
        return;
    }
    dst = dst + ps * p(10u);
    dst_buf[dst] = src_buf[src];
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
// ==== region_add
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
@group(0) @binding(4) var<storage, read_write> b3: array<u32>;

fn w0k0_cols() -> u32 {
    return 128u;
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
const ATTENTION_BASE: u32 = 0u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    {
    for (var e = lid; e < 128u; e = e + WG) {
        let a = bitcast<f32>(b2[e]);
        let b = w0_elem(0u + (e) / 128u, (e) % 128u);
        b3[e] = bitcast<u32>(a + b);
    }
    }
    storageBarrier();
}
// ==== fused_matvec_wg64_r8_p1_t8_v4_xs
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
@group(0) @binding(3) var<storage, read> b2: array<vec4<u32>>;


const ROWS_PER_WG: u32 = 8u;
const RPP: u32 = 1u;
const TPR: u32 = 8u;
var<workgroup> mv_part: array<f32, 64>;
var<private> norm_inv: f32 = 1.0;
var<workgroup> xs: array<vec4<f32>, 32>;

// Element i of the matvec vector (normed when there is a prologue).
fn xf(i: u32) -> f32 {
    return bitcast<f32>(b1[i]);
}

// Elements 4i..4i+3 of the vector.
fn xv4(i: u32) -> vec4<f32> {
    return xs[i];
}

// Two 16-bit floats of a word (no SHADER_F16 needed).
fn f16_pair(w: u32) -> vec2<f32> {
    return unpack2x16float(w);
}

fn bf16_pair(w: u32) -> vec2<f32> {
    return vec2<f32>(bitcast<f32>(w << 16u), bitcast<f32>(w & 0xffff0000u));
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let wg = wg_linear(wid, nwg);
    for (var i = lid; i < 32u; i = i + WG) {
        xs[i] = vec4<f32>(xf(4u * i), xf(4u * i + 1u), xf(4u * i + 2u), xf(4u * i + 3u));
    }
    workgroupBarrier();

    let lane = lid % TPR;
    let team = lid / TPR;
{
        let cw = wg - 0u;
        for (var step = 0u; step < ROWS_PER_WG / (WG / TPR * RPP); step = step + 1u) {
        let rb = cw * ROWS_PER_WG + (step * (WG / TPR) + team) * RPP;
        let lr0 = min(rb + 0u, 32u - 1u);
        var a0_0 = 0.0;
        for (var u = lane; u < 16u; u = u + TPR) {
            let x0 = xv4(u * 2u + 0u);
            let x1 = xv4(u * 2u + 1u);
            {
                let gi = (0u + lr0) * 16u + u;
                let wv0_0 = b2[gi * 1u + 0u];
                var d = 0.0;
                d = d + dot(f16_pair(wv0_0.x), x0.xy);
                d = d + dot(f16_pair(wv0_0.y), x0.zw);
                d = d + dot(f16_pair(wv0_0.z), x1.xy);
                d = d + dot(f16_pair(wv0_0.w), x1.zw);
                a0_0 = a0_0 + d;
            }
        }
        mv_part[0u * WG + lid] = a0_0;
        workgroupBarrier();
        for (var s = TPR / 2u; s > 0u; s = s >> 1u) {
            if (lane < s) {
                mv_part[0u * WG + lid] = mv_part[0u * WG + lid] + mv_part[0u * WG + lid + s];
            }
            workgroupBarrier();
        }
        let t0_0 = mv_part[0u * WG + lid];
        if (lane == 0u) {
            if (rb + 0u < 32u) {
                let r = 0u + rb + 0u;
                let v1 = t0_0;
                b0[r] = bitcast<u32>(v1);
            }
        }

        // The next pass overwrites `mv_part`.
        workgroupBarrier();
        }
    }
}
// ==== region_add
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
@group(0) @binding(4) var<storage, read_write> b3: array<u32>;

fn w0k0_cols() -> u32 {
    return 32u;
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
const ATTENTION_BASE: u32 = 0u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    {
    for (var e = lid; e < 32u; e = e + WG) {
        let a = bitcast<f32>(b2[e]);
        let b = w0_elem(0u + (e) / 32u, (e) % 32u);
        b3[e] = bitcast<u32>(a + b);
    }
    }
    storageBarrier();
}
// ==== region_rms_norm
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
@group(0) @binding(4) var<storage, read_write> b3: array<u32>;

fn w0k0_cols() -> u32 {
    return 32u;
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
fn src_at1(i: u32) -> f32 {
    return bitcast<f32>(b2[i]);
}
fn dst_set1(i: u32, w: u32) {
    b3[i] = w;
}
fn gamma_at1(i: u32) -> f32 {
    return w0_elem(0u + (i) / 32u, (i) % 32u);
}
const ATTENTION_BASE: u32 = 0u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    {
    for (var row = 0u; row < 1u; row = row + 1u) {
        let n = 32u;
        let base = row * n;
    var ss = 0.0;
    for (var i = lid; i < n; i = i + WG) {
        let v = src_at1(base + i);
        ss = ss + v * v;
    }
    let mean_sq = wg_sum(ss, lid) / f32(n);
    let inv = 1.0 / sqrt(mean_sq + bitcast<f32>(0x3727c5acu));
    for (var i = lid; i < n; i = i + WG) {
        dst_set1(base + i, bitcast<u32>(src_at1(base + i) * inv * gamma_at1(i)));
    }
    }
    }
    storageBarrier();
}
// ==== fused_matvec_wg64_r8_p1_t8_v4_xs
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
@group(0) @binding(3) var<storage, read> b2: array<vec4<u32>>;


const ROWS_PER_WG: u32 = 8u;
const RPP: u32 = 1u;
const TPR: u32 = 8u;
var<workgroup> mv_part: array<f32, 64>;
var<private> norm_inv: f32 = 1.0;
var<workgroup> xs: array<vec4<f32>, 8>;

// Element i of the matvec vector (normed when there is a prologue).
fn xf(i: u32) -> f32 {
    return bitcast<f32>(b1[i]);
}

// Elements 4i..4i+3 of the vector.
fn xv4(i: u32) -> vec4<f32> {
    return xs[i];
}

// Two 16-bit floats of a word (no SHADER_F16 needed).
fn f16_pair(w: u32) -> vec2<f32> {
    return unpack2x16float(w);
}

fn bf16_pair(w: u32) -> vec2<f32> {
    return vec2<f32>(bitcast<f32>(w << 16u), bitcast<f32>(w & 0xffff0000u));
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let wg = wg_linear(wid, nwg);
    for (var i = lid; i < 8u; i = i + WG) {
        xs[i] = vec4<f32>(xf(4u * i), xf(4u * i + 1u), xf(4u * i + 2u), xf(4u * i + 3u));
    }
    workgroupBarrier();

    let lane = lid % TPR;
    let team = lid / TPR;
{
        let cw = wg - 0u;
        for (var step = 0u; step < ROWS_PER_WG / (WG / TPR * RPP); step = step + 1u) {
        let rb = cw * ROWS_PER_WG + (step * (WG / TPR) + team) * RPP;
        let lr0 = min(rb + 0u, 32u - 1u);
        var a0_0 = 0.0;
        for (var u = lane; u < 4u; u = u + TPR) {
            let x0 = xv4(u * 2u + 0u);
            let x1 = xv4(u * 2u + 1u);
            {
                let gi = (0u + lr0) * 4u + u;
                let wv0_0 = b2[gi * 1u + 0u];
                var d = 0.0;
                d = d + dot(f16_pair(wv0_0.x), x0.xy);
                d = d + dot(f16_pair(wv0_0.y), x0.zw);
                d = d + dot(f16_pair(wv0_0.z), x1.xy);
                d = d + dot(f16_pair(wv0_0.w), x1.zw);
                a0_0 = a0_0 + d;
            }
        }
        mv_part[0u * WG + lid] = a0_0;
        workgroupBarrier();
        for (var s = TPR / 2u; s > 0u; s = s >> 1u) {
            if (lane < s) {
                mv_part[0u * WG + lid] = mv_part[0u * WG + lid] + mv_part[0u * WG + lid + s];
            }
            workgroupBarrier();
        }
        let t0_0 = mv_part[0u * WG + lid];
        if (lane == 0u) {
            if (rb + 0u < 32u) {
                let r = 0u + rb + 0u;
                let v1 = t0_0;
                b0[r] = bitcast<u32>(v1);
            }
        }

        // The next pass overwrites `mv_part`.
        workgroupBarrier();
        }
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
// ==== fused_matvec_wg64_r8_p1_t8_v4_xs
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
@group(0) @binding(3) var<storage, read> b2: array<vec4<u32>>;


const ROWS_PER_WG: u32 = 8u;
const RPP: u32 = 1u;
const TPR: u32 = 8u;
var<workgroup> mv_part: array<f32, 64>;
var<private> norm_inv: f32 = 1.0;
var<workgroup> xs: array<vec4<f32>, 8>;

// Element i of the matvec vector (normed when there is a prologue).
fn xf(i: u32) -> f32 {
    return bitcast<f32>(b1[i]);
}

// Elements 4i..4i+3 of the vector.
fn xv4(i: u32) -> vec4<f32> {
    return xs[i];
}

// Two 16-bit floats of a word (no SHADER_F16 needed).
fn f16_pair(w: u32) -> vec2<f32> {
    return unpack2x16float(w);
}

fn bf16_pair(w: u32) -> vec2<f32> {
    return vec2<f32>(bitcast<f32>(w << 16u), bitcast<f32>(w & 0xffff0000u));
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let wg = wg_linear(wid, nwg);
    for (var i = lid; i < 8u; i = i + WG) {
        xs[i] = vec4<f32>(xf(4u * i), xf(4u * i + 1u), xf(4u * i + 2u), xf(4u * i + 3u));
    }
    workgroupBarrier();

    let lane = lid % TPR;
    let team = lid / TPR;
{
        let cw = wg - 0u;
        for (var step = 0u; step < ROWS_PER_WG / (WG / TPR * RPP); step = step + 1u) {
        let rb = cw * ROWS_PER_WG + (step * (WG / TPR) + team) * RPP;
        let lr0 = min(rb + 0u, 5u - 1u);
        var a0_0 = 0.0;
        for (var u = lane; u < 4u; u = u + TPR) {
            let x0 = xv4(u * 2u + 0u);
            let x1 = xv4(u * 2u + 1u);
            {
                let gi = (0u + lr0) * 4u + u;
                let wv0_0 = b2[gi * 1u + 0u];
                var d = 0.0;
                d = d + dot(f16_pair(wv0_0.x), x0.xy);
                d = d + dot(f16_pair(wv0_0.y), x0.zw);
                d = d + dot(f16_pair(wv0_0.z), x1.xy);
                d = d + dot(f16_pair(wv0_0.w), x1.zw);
                a0_0 = a0_0 + d;
            }
        }
        mv_part[0u * WG + lid] = a0_0;
        workgroupBarrier();
        for (var s = TPR / 2u; s > 0u; s = s >> 1u) {
            if (lane < s) {
                mv_part[0u * WG + lid] = mv_part[0u * WG + lid] + mv_part[0u * WG + lid + s];
            }
            workgroupBarrier();
        }
        let t0_0 = mv_part[0u * WG + lid];
        if (lane == 0u) {
            if (rb + 0u < 5u) {
                let r = 0u + rb + 0u;
                let v1 = t0_0;
                b0[r] = bitcast<u32>(v1);
            }
        }

        // The next pass overwrites `mv_part`.
        workgroupBarrier();
        }
    }
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
// ==== region_add
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
@group(0) @binding(4) var<storage, read_write> b3: array<u32>;

fn w0k0_cols() -> u32 {
    return 5u;
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
const ATTENTION_BASE: u32 = 0u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    {
    for (var e = lid; e < 5u; e = e + WG) {
        let a = bitcast<f32>(b2[e]);
        let b = w0_elem(0u + (e) / 5u, (e) % 5u);
        b3[e] = bitcast<u32>(a + b);
    }
    }
    storageBarrier();
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
// ==== fused_matvec_wg64_r8_p1_t8_v4_xs
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

@group(0) @binding(1) var<storage, read> b0: array<u32>;
@group(0) @binding(2) var<storage, read_write> b1: array<u32>;
@group(0) @binding(3) var<storage, read> b2: array<u32>;
@group(0) @binding(4) var<storage, read> b3: array<vec4<u32>>;
@group(0) @binding(5) var<storage, read> b4: array<u32>;
@group(0) @binding(6) var<storage, read> b5: array<u32>;


const ROWS_PER_WG: u32 = 8u;
const RPP: u32 = 1u;
const TPR: u32 = 8u;
var<workgroup> mv_part: array<f32, 64>;
var<private> norm_inv: f32 = 1.0;
var<workgroup> xs: array<vec4<f32>, 32>;

// Element i of the matvec vector (normed when there is a prologue).
fn xf(i: u32) -> f32 {
    return bitcast<f32>(b2[i]);
}

// Elements 4i..4i+3 of the vector.
fn xv4(i: u32) -> vec4<f32> {
    return xs[i];
}

// Two 16-bit floats of a word (no SHADER_F16 needed).
fn f16_pair(w: u32) -> vec2<f32> {
    return unpack2x16float(w);
}

fn bf16_pair(w: u32) -> vec2<f32> {
    return vec2<f32>(bitcast<f32>(w << 16u), bitcast<f32>(w & 0xffff0000u));
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let wg = wg_linear(wid, nwg);
    for (var i = lid; i < 32u; i = i + WG) {
        xs[i] = vec4<f32>(xf(4u * i), xf(4u * i + 1u), xf(4u * i + 2u), xf(4u * i + 3u));
    }
    workgroupBarrier();

    let lane = lid % TPR;
    let team = lid / TPR;
{
        let cw = wg - 0u;
        for (var step = 0u; step < ROWS_PER_WG / (WG / TPR * RPP); step = step + 1u) {
        let rb = cw * ROWS_PER_WG + (step * (WG / TPR) + team) * RPP;
        let lr0 = min(rb + 0u, 128u - 1u);
        var a0_0 = 0.0;
        for (var u = lane; u < 4u; u = u + TPR) {
            let x0 = xv4(u * 8u + 0u);
            let x1 = xv4(u * 8u + 1u);
            let x2 = xv4(u * 8u + 2u);
            let x3 = xv4(u * 8u + 3u);
            let x4 = xv4(u * 8u + 4u);
            let x5 = xv4(u * 8u + 5u);
            let x6 = xv4(u * 8u + 6u);
            let x7 = xv4(u * 8u + 7u);
            let xe0 = vec4<f32>(x0.xz, x1.xz);
            let xo0 = vec4<f32>(x0.yw, x1.yw);
            let xe1 = vec4<f32>(x2.xz, x3.xz);
            let xo1 = vec4<f32>(x2.yw, x3.yw);
            let xe2 = vec4<f32>(x4.xz, x5.xz);
            let xo2 = vec4<f32>(x4.yw, x5.yw);
            let xe3 = vec4<f32>(x6.xz, x7.xz);
            let xo3 = vec4<f32>(x6.yw, x7.yw);
            let sx = dot(x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7, vec4<f32>(1.0));
            {
                let gi = ((min(b0[0u], 3u) * 128u) + lr0) * 4u + u;
                let wv0_0 = b3[gi * 1u + 0u];
                var d = 0.0;
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.x & 0x0F0F0F0Fu)), xe0) + dot(vec4<f32>(unpack4xU8((wv0_0.x >> 4u) & 0x0F0F0F0Fu)), xo0);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.y & 0x0F0F0F0Fu)), xe1) + dot(vec4<f32>(unpack4xU8((wv0_0.y >> 4u) & 0x0F0F0F0Fu)), xo1);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.z & 0x0F0F0F0Fu)), xe2) + dot(vec4<f32>(unpack4xU8((wv0_0.z >> 4u) & 0x0F0F0F0Fu)), xo2);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.w & 0x0F0F0F0Fu)), xe3) + dot(vec4<f32>(unpack4xU8((wv0_0.w >> 4u) & 0x0F0F0F0Fu)), xo3);
                a0_0 = a0_0 + (unpack2x16float(b4[(gi) >> 1u])[(gi) & 1u]) * d + (unpack2x16float(b5[(gi) >> 1u])[(gi) & 1u]) * sx;
            }
        }
        mv_part[0u * WG + lid] = a0_0;
        workgroupBarrier();
        for (var s = TPR / 2u; s > 0u; s = s >> 1u) {
            if (lane < s) {
                mv_part[0u * WG + lid] = mv_part[0u * WG + lid] + mv_part[0u * WG + lid + s];
            }
            workgroupBarrier();
        }
        let t0_0 = mv_part[0u * WG + lid];
        if (lane == 0u) {
            if (rb + 0u < 128u) {
                let r = 0u + rb + 0u;
                let v1 = t0_0;
                b1[r] = bitcast<u32>(v1);
            }
        }

        // The next pass overwrites `mv_part`.
        workgroupBarrier();
        }
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
// ==== region_mul
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
@group(0) @binding(4) var<storage, read_write> b3: array<u32>;

fn w0k0_cols() -> u32 {
    return 32u;
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
const ATTENTION_BASE: u32 = 0u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    {
    for (var e = lid; e < 32u; e = e + WG) {
        let a = bitcast<f32>(b2[e]);
        let b = w0_elem(0u + (e) / 32u, (e) % 32u);
        b3[e] = bitcast<u32>(a * b);
    }
    }
    storageBarrier();
}
// ==== fused_matvec_wg64_r16_p2_t8_v4_xs
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
@group(0) @binding(3) var<storage, read> b2: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read> b3: array<u32>;
@group(0) @binding(5) var<storage, read> b4: array<u32>;


const ROWS_PER_WG: u32 = 16u;
const RPP: u32 = 2u;
const TPR: u32 = 8u;
var<workgroup> mv_part: array<f32, 128>;
var<private> norm_inv: f32 = 1.0;
var<workgroup> xs: array<vec4<f32>, 32>;

// Element i of the matvec vector (normed when there is a prologue).
fn xf(i: u32) -> f32 {
    return bitcast<f32>(b1[i]);
}

// Elements 4i..4i+3 of the vector.
fn xv4(i: u32) -> vec4<f32> {
    return xs[i];
}

// Two 16-bit floats of a word (no SHADER_F16 needed).
fn f16_pair(w: u32) -> vec2<f32> {
    return unpack2x16float(w);
}

fn bf16_pair(w: u32) -> vec2<f32> {
    return vec2<f32>(bitcast<f32>(w << 16u), bitcast<f32>(w & 0xffff0000u));
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let wg = wg_linear(wid, nwg);
    for (var i = lid; i < 32u; i = i + WG) {
        xs[i] = vec4<f32>(xf(4u * i), xf(4u * i + 1u), xf(4u * i + 2u), xf(4u * i + 3u));
    }
    workgroupBarrier();

    let lane = lid % TPR;
    let team = lid / TPR;
{
        let cw = wg - 0u;
        for (var step = 0u; step < ROWS_PER_WG / (WG / TPR * RPP); step = step + 1u) {
        let rb = cw * ROWS_PER_WG + (step * (WG / TPR) + team) * RPP;
        let lr0 = min(rb + 0u, 512u - 1u);
        let lr1 = min(rb + 1u, 512u - 1u);
        var a0_0 = 0.0;
        var a0_1 = 0.0;
        for (var u = lane; u < 4u; u = u + TPR) {
            let x0 = xv4(u * 8u + 0u);
            let x1 = xv4(u * 8u + 1u);
            let x2 = xv4(u * 8u + 2u);
            let x3 = xv4(u * 8u + 3u);
            let x4 = xv4(u * 8u + 4u);
            let x5 = xv4(u * 8u + 5u);
            let x6 = xv4(u * 8u + 6u);
            let x7 = xv4(u * 8u + 7u);
            let sx = dot(x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7, vec4<f32>(1.0));
            {
                let gi = (0u + lr0) * 4u + u;
                let wv0_0 = b2[gi * 2u + 0u];
                let wv0_1 = b2[gi * 2u + 1u];
                var d = 0.0;
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.x)), x0);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.y)), x1);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.z)), x2);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.w)), x3);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_1.x)), x4);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_1.y)), x5);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_1.z)), x6);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_1.w)), x7);
                a0_0 = a0_0 + (unpack2x16float(b3[(gi) >> 1u])[(gi) & 1u]) * d + (unpack2x16float(b4[(gi) >> 1u])[(gi) & 1u]) * sx;
            }
            {
                let gi = (0u + lr1) * 4u + u;
                let wv0_0 = b2[gi * 2u + 0u];
                let wv0_1 = b2[gi * 2u + 1u];
                var d = 0.0;
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.x)), x0);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.y)), x1);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.z)), x2);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.w)), x3);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_1.x)), x4);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_1.y)), x5);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_1.z)), x6);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_1.w)), x7);
                a0_1 = a0_1 + (unpack2x16float(b3[(gi) >> 1u])[(gi) & 1u]) * d + (unpack2x16float(b4[(gi) >> 1u])[(gi) & 1u]) * sx;
            }
        }
        mv_part[0u * WG + lid] = a0_0;
        mv_part[1u * WG + lid] = a0_1;
        workgroupBarrier();
        for (var s = TPR / 2u; s > 0u; s = s >> 1u) {
            if (lane < s) {
                mv_part[0u * WG + lid] = mv_part[0u * WG + lid] + mv_part[0u * WG + lid + s];
                mv_part[1u * WG + lid] = mv_part[1u * WG + lid] + mv_part[1u * WG + lid + s];
            }
            workgroupBarrier();
        }
        let t0_0 = mv_part[0u * WG + lid];
        let t0_1 = mv_part[1u * WG + lid];
        if (lane == 0u) {
            if (rb + 0u < 512u) {
                let r = 0u + rb + 0u;
                let v1 = t0_0;
                b0[r] = bitcast<u32>(v1);
            }
            if (rb + 1u < 512u) {
                let r = 0u + rb + 1u;
                let v1 = t0_1;
                b0[r] = bitcast<u32>(v1);
            }
        }

        // The next pass overwrites `mv_part`.
        workgroupBarrier();
        }
    }
}
