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
@group(0) @binding(3) var<storage, read_write> b2: array<u32>;
@group(0) @binding(4) var<storage, read_write> b3: array<u32>;
@group(0) @binding(5) var<storage, read_write> b4: array<u32>;
@group(0) @binding(6) var<storage, read> b5: array<u32>;
@group(0) @binding(7) var<storage, read> b6: array<vec4<u32>>;
@group(0) @binding(8) var<storage, read> b7: array<u32>;
@group(0) @binding(9) var<storage, read> b8: array<u32>;
@group(0) @binding(10) var<storage, read> b9: array<vec4<u32>>;
@group(0) @binding(11) var<storage, read> b10: array<u32>;
@group(0) @binding(12) var<storage, read> b11: array<u32>;
@group(0) @binding(13) var<storage, read> b12: array<vec4<u32>>;
@group(0) @binding(14) var<storage, read> b13: array<u32>;
@group(0) @binding(15) var<storage, read> b14: array<u32>;
@group(0) @binding(16) var<storage, read> b15: array<vec4<u32>>;
@group(0) @binding(17) var<storage, read> b16: array<u32>;
@group(0) @binding(18) var<storage, read> b17: array<u32>;

fn w0k0_cols() -> u32 {
    return 128u;
}
// Unquantized weights (f16, bf16 or f32 as stored, or an f32 activation): one element per
// chunk; 16-bit floats are read from u32 words (unpack2x16float / upper half of an f32),
// so no SHADER_F16 is needed.
const W0K0_CHUNK: u32 = 1u;

fn w0k0_elem(r: u32, col: u32) -> f32 {
    let i = r * w0k0_cols() + col;
    return unpack2x16float(b0[(i) >> 1u])[(i) & 1u];
}


fn w0_elem(g: u32, col: u32) -> f32 {
    return w0k0_elem(g - 0u, col);
}

const ROWS_PER_WG: u32 = 16u;
const RPP: u32 = 4u;
var<private> norm_inv: f32 = 1.0;
var<workgroup> xs: array<vec4<f32>, 32>;

// Element i of the matvec vector (normed when there is a prologue).
fn xf(i: u32) -> f32 {
    return bitcast<f32>(b5[i]) * norm_inv * w0_elem(0u + (i) / 128u, (i) % 128u);
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
        @builtin(local_invocation_index) lid: u32,
        @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) sg_size: u32,
        @builtin(subgroup_id) sg_id: u32, @builtin(num_subgroups) n_sg: u32) {
    let wg = wg_linear(wid, nwg);
    var ss = 0.0;
    for (var i = lid; i < 128u; i = i + WG) {
        let v = bitcast<f32>(b5[i]);
        ss = ss + v * v;
    }
    norm_inv = 1.0 / sqrt(wg_sum(ss, lid) / f32(128u) + bitcast<f32>(0x3727c5acu));
    for (var i = lid; i < 32u; i = i + WG) {
        xs[i] = vec4<f32>(xf(4u * i), xf(4u * i + 1u), xf(4u * i + 2u), xf(4u * i + 3u));
    }
    workgroupBarrier();

    // A team is one subgroup (of at most WG threads).
    let stride = min(sg_size, WG);
if (wg < 8u) {
        let cw = wg - 0u;
        for (var r0 = sg_id * RPP; r0 < ROWS_PER_WG; r0 = r0 + n_sg * RPP) {
        let rb = cw * ROWS_PER_WG + r0;
        let lr0 = min(rb + 0u, 128u - 1u);
        let lr1 = min(rb + 1u, 128u - 1u);
        let lr2 = min(rb + 2u, 128u - 1u);
        let lr3 = min(rb + 3u, 128u - 1u);
        var a0_0 = 0.0;
        var a0_1 = 0.0;
        var a0_2 = 0.0;
        var a0_3 = 0.0;
        for (var u = lane; u < 4u; u = u + stride) {
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
                let wv0_0 = b6[gi * 1u + 0u];
                var d = 0.0;
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.x & 0x0F0F0F0Fu)), xe0) + dot(vec4<f32>(unpack4xU8((wv0_0.x >> 4u) & 0x0F0F0F0Fu)), xo0);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.y & 0x0F0F0F0Fu)), xe1) + dot(vec4<f32>(unpack4xU8((wv0_0.y >> 4u) & 0x0F0F0F0Fu)), xo1);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.z & 0x0F0F0F0Fu)), xe2) + dot(vec4<f32>(unpack4xU8((wv0_0.z >> 4u) & 0x0F0F0F0Fu)), xo2);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.w & 0x0F0F0F0Fu)), xe3) + dot(vec4<f32>(unpack4xU8((wv0_0.w >> 4u) & 0x0F0F0F0Fu)), xo3);
                a0_0 = a0_0 + (unpack2x16float(b7[(gi) >> 1u])[(gi) & 1u]) * d + (unpack2x16float(b8[(gi) >> 1u])[(gi) & 1u]) * sx;
            }
            {
                let gi = (0u + lr1) * 4u + u;
                let wv0_0 = b6[gi * 1u + 0u];
                var d = 0.0;
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.x & 0x0F0F0F0Fu)), xe0) + dot(vec4<f32>(unpack4xU8((wv0_0.x >> 4u) & 0x0F0F0F0Fu)), xo0);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.y & 0x0F0F0F0Fu)), xe1) + dot(vec4<f32>(unpack4xU8((wv0_0.y >> 4u) & 0x0F0F0F0Fu)), xo1);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.z & 0x0F0F0F0Fu)), xe2) + dot(vec4<f32>(unpack4xU8((wv0_0.z >> 4u) & 0x0F0F0F0Fu)), xo2);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.w & 0x0F0F0F0Fu)), xe3) + dot(vec4<f32>(unpack4xU8((wv0_0.w >> 4u) & 0x0F0F0F0Fu)), xo3);
                a0_1 = a0_1 + (unpack2x16float(b7[(gi) >> 1u])[(gi) & 1u]) * d + (unpack2x16float(b8[(gi) >> 1u])[(gi) & 1u]) * sx;
            }
            {
                let gi = (0u + lr2) * 4u + u;
                let wv0_0 = b6[gi * 1u + 0u];
                var d = 0.0;
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.x & 0x0F0F0F0Fu)), xe0) + dot(vec4<f32>(unpack4xU8((wv0_0.x >> 4u) & 0x0F0F0F0Fu)), xo0);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.y & 0x0F0F0F0Fu)), xe1) + dot(vec4<f32>(unpack4xU8((wv0_0.y >> 4u) & 0x0F0F0F0Fu)), xo1);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.z & 0x0F0F0F0Fu)), xe2) + dot(vec4<f32>(unpack4xU8((wv0_0.z >> 4u) & 0x0F0F0F0Fu)), xo2);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.w & 0x0F0F0F0Fu)), xe3) + dot(vec4<f32>(unpack4xU8((wv0_0.w >> 4u) & 0x0F0F0F0Fu)), xo3);
                a0_2 = a0_2 + (unpack2x16float(b7[(gi) >> 1u])[(gi) & 1u]) * d + (unpack2x16float(b8[(gi) >> 1u])[(gi) & 1u]) * sx;
            }
            {
                let gi = (0u + lr3) * 4u + u;
                let wv0_0 = b6[gi * 1u + 0u];
                var d = 0.0;
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.x & 0x0F0F0F0Fu)), xe0) + dot(vec4<f32>(unpack4xU8((wv0_0.x >> 4u) & 0x0F0F0F0Fu)), xo0);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.y & 0x0F0F0F0Fu)), xe1) + dot(vec4<f32>(unpack4xU8((wv0_0.y >> 4u) & 0x0F0F0F0Fu)), xo1);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.z & 0x0F0F0F0Fu)), xe2) + dot(vec4<f32>(unpack4xU8((wv0_0.z >> 4u) & 0x0F0F0F0Fu)), xo2);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.w & 0x0F0F0F0Fu)), xe3) + dot(vec4<f32>(unpack4xU8((wv0_0.w >> 4u) & 0x0F0F0F0Fu)), xo3);
                a0_3 = a0_3 + (unpack2x16float(b7[(gi) >> 1u])[(gi) & 1u]) * d + (unpack2x16float(b8[(gi) >> 1u])[(gi) & 1u]) * sx;
            }
        }
        let t0_0 = subgroupAdd(a0_0);
        let t0_1 = subgroupAdd(a0_1);
        let t0_2 = subgroupAdd(a0_2);
        let t0_3 = subgroupAdd(a0_3);
        if (lane == 0u) {
            if (rb + 0u < 128u) {
                let r = 0u + rb + 0u;
                let v3 = t0_0;
                b1[r] = bitcast<u32>(v3);
            }
            if (rb + 1u < 128u) {
                let r = 0u + rb + 1u;
                let v3 = t0_1;
                b1[r] = bitcast<u32>(v3);
            }
            if (rb + 2u < 128u) {
                let r = 0u + rb + 2u;
                let v3 = t0_2;
                b1[r] = bitcast<u32>(v3);
            }
            if (rb + 3u < 128u) {
                let r = 0u + rb + 3u;
                let v3 = t0_3;
                b1[r] = bitcast<u32>(v3);
            }
        }

        }
    }
else if (wg < 12u) {
        let cw = wg - 8u;
        for (var r0 = sg_id * RPP; r0 < ROWS_PER_WG; r0 = r0 + n_sg * RPP) {
        let rb = cw * ROWS_PER_WG + r0;
        let lr0 = min(rb + 0u, 64u - 1u);
        let lr1 = min(rb + 1u, 64u - 1u);
        let lr2 = min(rb + 2u, 64u - 1u);
        let lr3 = min(rb + 3u, 64u - 1u);
        var a0_0 = 0.0;
        var a0_1 = 0.0;
        var a0_2 = 0.0;
        var a0_3 = 0.0;
        for (var u = lane; u < 4u; u = u + stride) {
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
                let wv0_0 = b9[gi * 1u + 0u];
                var d = 0.0;
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.x & 0x0F0F0F0Fu)), xe0) + dot(vec4<f32>(unpack4xU8((wv0_0.x >> 4u) & 0x0F0F0F0Fu)), xo0);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.y & 0x0F0F0F0Fu)), xe1) + dot(vec4<f32>(unpack4xU8((wv0_0.y >> 4u) & 0x0F0F0F0Fu)), xo1);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.z & 0x0F0F0F0Fu)), xe2) + dot(vec4<f32>(unpack4xU8((wv0_0.z >> 4u) & 0x0F0F0F0Fu)), xo2);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.w & 0x0F0F0F0Fu)), xe3) + dot(vec4<f32>(unpack4xU8((wv0_0.w >> 4u) & 0x0F0F0F0Fu)), xo3);
                a0_0 = a0_0 + (unpack2x16float(b10[(gi) >> 1u])[(gi) & 1u]) * d + (unpack2x16float(b11[(gi) >> 1u])[(gi) & 1u]) * sx;
            }
            {
                let gi = (0u + lr1) * 4u + u;
                let wv0_0 = b9[gi * 1u + 0u];
                var d = 0.0;
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.x & 0x0F0F0F0Fu)), xe0) + dot(vec4<f32>(unpack4xU8((wv0_0.x >> 4u) & 0x0F0F0F0Fu)), xo0);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.y & 0x0F0F0F0Fu)), xe1) + dot(vec4<f32>(unpack4xU8((wv0_0.y >> 4u) & 0x0F0F0F0Fu)), xo1);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.z & 0x0F0F0F0Fu)), xe2) + dot(vec4<f32>(unpack4xU8((wv0_0.z >> 4u) & 0x0F0F0F0Fu)), xo2);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.w & 0x0F0F0F0Fu)), xe3) + dot(vec4<f32>(unpack4xU8((wv0_0.w >> 4u) & 0x0F0F0F0Fu)), xo3);
                a0_1 = a0_1 + (unpack2x16float(b10[(gi) >> 1u])[(gi) & 1u]) * d + (unpack2x16float(b11[(gi) >> 1u])[(gi) & 1u]) * sx;
            }
            {
                let gi = (0u + lr2) * 4u + u;
                let wv0_0 = b9[gi * 1u + 0u];
                var d = 0.0;
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.x & 0x0F0F0F0Fu)), xe0) + dot(vec4<f32>(unpack4xU8((wv0_0.x >> 4u) & 0x0F0F0F0Fu)), xo0);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.y & 0x0F0F0F0Fu)), xe1) + dot(vec4<f32>(unpack4xU8((wv0_0.y >> 4u) & 0x0F0F0F0Fu)), xo1);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.z & 0x0F0F0F0Fu)), xe2) + dot(vec4<f32>(unpack4xU8((wv0_0.z >> 4u) & 0x0F0F0F0Fu)), xo2);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.w & 0x0F0F0F0Fu)), xe3) + dot(vec4<f32>(unpack4xU8((wv0_0.w >> 4u) & 0x0F0F0F0Fu)), xo3);
                a0_2 = a0_2 + (unpack2x16float(b10[(gi) >> 1u])[(gi) & 1u]) * d + (unpack2x16float(b11[(gi) >> 1u])[(gi) & 1u]) * sx;
            }
            {
                let gi = (0u + lr3) * 4u + u;
                let wv0_0 = b9[gi * 1u + 0u];
                var d = 0.0;
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.x & 0x0F0F0F0Fu)), xe0) + dot(vec4<f32>(unpack4xU8((wv0_0.x >> 4u) & 0x0F0F0F0Fu)), xo0);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.y & 0x0F0F0F0Fu)), xe1) + dot(vec4<f32>(unpack4xU8((wv0_0.y >> 4u) & 0x0F0F0F0Fu)), xo1);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.z & 0x0F0F0F0Fu)), xe2) + dot(vec4<f32>(unpack4xU8((wv0_0.z >> 4u) & 0x0F0F0F0Fu)), xo2);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.w & 0x0F0F0F0Fu)), xe3) + dot(vec4<f32>(unpack4xU8((wv0_0.w >> 4u) & 0x0F0F0F0Fu)), xo3);
                a0_3 = a0_3 + (unpack2x16float(b10[(gi) >> 1u])[(gi) & 1u]) * d + (unpack2x16float(b11[(gi) >> 1u])[(gi) & 1u]) * sx;
            }
        }
        let t0_0 = subgroupAdd(a0_0);
        let t0_1 = subgroupAdd(a0_1);
        let t0_2 = subgroupAdd(a0_2);
        let t0_3 = subgroupAdd(a0_3);
        if (lane == 0u) {
            if (rb + 0u < 64u) {
                let r = 0u + rb + 0u;
                let v5 = t0_0;
                b2[r] = bitcast<u32>(v5);
            }
            if (rb + 1u < 64u) {
                let r = 0u + rb + 1u;
                let v5 = t0_1;
                b2[r] = bitcast<u32>(v5);
            }
            if (rb + 2u < 64u) {
                let r = 0u + rb + 2u;
                let v5 = t0_2;
                b2[r] = bitcast<u32>(v5);
            }
            if (rb + 3u < 64u) {
                let r = 0u + rb + 3u;
                let v5 = t0_3;
                b2[r] = bitcast<u32>(v5);
            }
        }

        }
    }
else if (wg < 14u) {
        let cw = wg - 12u;
        for (var r0 = sg_id * RPP; r0 < ROWS_PER_WG; r0 = r0 + n_sg * RPP) {
        let rb = cw * ROWS_PER_WG + r0;
        let lr0 = min(rb + 0u, 32u - 1u);
        let lr1 = min(rb + 1u, 32u - 1u);
        let lr2 = min(rb + 2u, 32u - 1u);
        let lr3 = min(rb + 3u, 32u - 1u);
        var a0_0 = 0.0;
        var a0_1 = 0.0;
        var a0_2 = 0.0;
        var a0_3 = 0.0;
        var a1_0 = 0.0;
        var a1_1 = 0.0;
        var a1_2 = 0.0;
        var a1_3 = 0.0;
        for (var u = lane; u < 4u; u = u + stride) {
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
                let wv0_0 = b12[gi * 1u + 0u];
                var d = 0.0;
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.x & 0x0F0F0F0Fu)), xe0) + dot(vec4<f32>(unpack4xU8((wv0_0.x >> 4u) & 0x0F0F0F0Fu)), xo0);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.y & 0x0F0F0F0Fu)), xe1) + dot(vec4<f32>(unpack4xU8((wv0_0.y >> 4u) & 0x0F0F0F0Fu)), xo1);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.z & 0x0F0F0F0Fu)), xe2) + dot(vec4<f32>(unpack4xU8((wv0_0.z >> 4u) & 0x0F0F0F0Fu)), xo2);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.w & 0x0F0F0F0Fu)), xe3) + dot(vec4<f32>(unpack4xU8((wv0_0.w >> 4u) & 0x0F0F0F0Fu)), xo3);
                a0_0 = a0_0 + (unpack2x16float(b13[(gi) >> 1u])[(gi) & 1u]) * d + (unpack2x16float(b14[(gi) >> 1u])[(gi) & 1u]) * sx;
            }
            {
                let gi = (0u + lr1) * 4u + u;
                let wv0_0 = b12[gi * 1u + 0u];
                var d = 0.0;
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.x & 0x0F0F0F0Fu)), xe0) + dot(vec4<f32>(unpack4xU8((wv0_0.x >> 4u) & 0x0F0F0F0Fu)), xo0);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.y & 0x0F0F0F0Fu)), xe1) + dot(vec4<f32>(unpack4xU8((wv0_0.y >> 4u) & 0x0F0F0F0Fu)), xo1);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.z & 0x0F0F0F0Fu)), xe2) + dot(vec4<f32>(unpack4xU8((wv0_0.z >> 4u) & 0x0F0F0F0Fu)), xo2);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.w & 0x0F0F0F0Fu)), xe3) + dot(vec4<f32>(unpack4xU8((wv0_0.w >> 4u) & 0x0F0F0F0Fu)), xo3);
                a0_1 = a0_1 + (unpack2x16float(b13[(gi) >> 1u])[(gi) & 1u]) * d + (unpack2x16float(b14[(gi) >> 1u])[(gi) & 1u]) * sx;
            }
            {
                let gi = (0u + lr2) * 4u + u;
                let wv0_0 = b12[gi * 1u + 0u];
                var d = 0.0;
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.x & 0x0F0F0F0Fu)), xe0) + dot(vec4<f32>(unpack4xU8((wv0_0.x >> 4u) & 0x0F0F0F0Fu)), xo0);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.y & 0x0F0F0F0Fu)), xe1) + dot(vec4<f32>(unpack4xU8((wv0_0.y >> 4u) & 0x0F0F0F0Fu)), xo1);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.z & 0x0F0F0F0Fu)), xe2) + dot(vec4<f32>(unpack4xU8((wv0_0.z >> 4u) & 0x0F0F0F0Fu)), xo2);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.w & 0x0F0F0F0Fu)), xe3) + dot(vec4<f32>(unpack4xU8((wv0_0.w >> 4u) & 0x0F0F0F0Fu)), xo3);
                a0_2 = a0_2 + (unpack2x16float(b13[(gi) >> 1u])[(gi) & 1u]) * d + (unpack2x16float(b14[(gi) >> 1u])[(gi) & 1u]) * sx;
            }
            {
                let gi = (0u + lr3) * 4u + u;
                let wv0_0 = b12[gi * 1u + 0u];
                var d = 0.0;
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.x & 0x0F0F0F0Fu)), xe0) + dot(vec4<f32>(unpack4xU8((wv0_0.x >> 4u) & 0x0F0F0F0Fu)), xo0);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.y & 0x0F0F0F0Fu)), xe1) + dot(vec4<f32>(unpack4xU8((wv0_0.y >> 4u) & 0x0F0F0F0Fu)), xo1);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.z & 0x0F0F0F0Fu)), xe2) + dot(vec4<f32>(unpack4xU8((wv0_0.z >> 4u) & 0x0F0F0F0Fu)), xo2);
                d = d + dot(vec4<f32>(unpack4xU8(wv0_0.w & 0x0F0F0F0Fu)), xe3) + dot(vec4<f32>(unpack4xU8((wv0_0.w >> 4u) & 0x0F0F0F0Fu)), xo3);
                a0_3 = a0_3 + (unpack2x16float(b13[(gi) >> 1u])[(gi) & 1u]) * d + (unpack2x16float(b14[(gi) >> 1u])[(gi) & 1u]) * sx;
            }
            {
                let gi = (0u + lr0) * 4u + u;
                let wv1_0 = b15[gi * 1u + 0u];
                var d = 0.0;
                d = d + dot(vec4<f32>(unpack4xU8(wv1_0.x & 0x0F0F0F0Fu)), xe0) + dot(vec4<f32>(unpack4xU8((wv1_0.x >> 4u) & 0x0F0F0F0Fu)), xo0);
                d = d + dot(vec4<f32>(unpack4xU8(wv1_0.y & 0x0F0F0F0Fu)), xe1) + dot(vec4<f32>(unpack4xU8((wv1_0.y >> 4u) & 0x0F0F0F0Fu)), xo1);
                d = d + dot(vec4<f32>(unpack4xU8(wv1_0.z & 0x0F0F0F0Fu)), xe2) + dot(vec4<f32>(unpack4xU8((wv1_0.z >> 4u) & 0x0F0F0F0Fu)), xo2);
                d = d + dot(vec4<f32>(unpack4xU8(wv1_0.w & 0x0F0F0F0Fu)), xe3) + dot(vec4<f32>(unpack4xU8((wv1_0.w >> 4u) & 0x0F0F0F0Fu)), xo3);
                a1_0 = a1_0 + (unpack2x16float(b16[(gi) >> 1u])[(gi) & 1u]) * d + (unpack2x16float(b17[(gi) >> 1u])[(gi) & 1u]) * sx;
            }
            {
                let gi = (0u + lr1) * 4u + u;
                let wv1_0 = b15[gi * 1u + 0u];
                var d = 0.0;
                d = d + dot(vec4<f32>(unpack4xU8(wv1_0.x & 0x0F0F0F0Fu)), xe0) + dot(vec4<f32>(unpack4xU8((wv1_0.x >> 4u) & 0x0F0F0F0Fu)), xo0);
                d = d + dot(vec4<f32>(unpack4xU8(wv1_0.y & 0x0F0F0F0Fu)), xe1) + dot(vec4<f32>(unpack4xU8((wv1_0.y >> 4u) & 0x0F0F0F0Fu)), xo1);
                d = d + dot(vec4<f32>(unpack4xU8(wv1_0.z & 0x0F0F0F0Fu)), xe2) + dot(vec4<f32>(unpack4xU8((wv1_0.z >> 4u) & 0x0F0F0F0Fu)), xo2);
                d = d + dot(vec4<f32>(unpack4xU8(wv1_0.w & 0x0F0F0F0Fu)), xe3) + dot(vec4<f32>(unpack4xU8((wv1_0.w >> 4u) & 0x0F0F0F0Fu)), xo3);
                a1_1 = a1_1 + (unpack2x16float(b16[(gi) >> 1u])[(gi) & 1u]) * d + (unpack2x16float(b17[(gi) >> 1u])[(gi) & 1u]) * sx;
            }
            {
                let gi = (0u + lr2) * 4u + u;
                let wv1_0 = b15[gi * 1u + 0u];
                var d = 0.0;
                d = d + dot(vec4<f32>(unpack4xU8(wv1_0.x & 0x0F0F0F0Fu)), xe0) + dot(vec4<f32>(unpack4xU8((wv1_0.x >> 4u) & 0x0F0F0F0Fu)), xo0);
                d = d + dot(vec4<f32>(unpack4xU8(wv1_0.y & 0x0F0F0F0Fu)), xe1) + dot(vec4<f32>(unpack4xU8((wv1_0.y >> 4u) & 0x0F0F0F0Fu)), xo1);
                d = d + dot(vec4<f32>(unpack4xU8(wv1_0.z & 0x0F0F0F0Fu)), xe2) + dot(vec4<f32>(unpack4xU8((wv1_0.z >> 4u) & 0x0F0F0F0Fu)), xo2);
                d = d + dot(vec4<f32>(unpack4xU8(wv1_0.w & 0x0F0F0F0Fu)), xe3) + dot(vec4<f32>(unpack4xU8((wv1_0.w >> 4u) & 0x0F0F0F0Fu)), xo3);
                a1_2 = a1_2 + (unpack2x16float(b16[(gi) >> 1u])[(gi) & 1u]) * d + (unpack2x16float(b17[(gi) >> 1u])[(gi) & 1u]) * sx;
            }
            {
                let gi = (0u + lr3) * 4u + u;
                let wv1_0 = b15[gi * 1u + 0u];
                var d = 0.0;
                d = d + dot(vec4<f32>(unpack4xU8(wv1_0.x & 0x0F0F0F0Fu)), xe0) + dot(vec4<f32>(unpack4xU8((wv1_0.x >> 4u) & 0x0F0F0F0Fu)), xo0);
                d = d + dot(vec4<f32>(unpack4xU8(wv1_0.y & 0x0F0F0F0Fu)), xe1) + dot(vec4<f32>(unpack4xU8((wv1_0.y >> 4u) & 0x0F0F0F0Fu)), xo1);
                d = d + dot(vec4<f32>(unpack4xU8(wv1_0.z & 0x0F0F0F0Fu)), xe2) + dot(vec4<f32>(unpack4xU8((wv1_0.z >> 4u) & 0x0F0F0F0Fu)), xo2);
                d = d + dot(vec4<f32>(unpack4xU8(wv1_0.w & 0x0F0F0F0Fu)), xe3) + dot(vec4<f32>(unpack4xU8((wv1_0.w >> 4u) & 0x0F0F0F0Fu)), xo3);
                a1_3 = a1_3 + (unpack2x16float(b16[(gi) >> 1u])[(gi) & 1u]) * d + (unpack2x16float(b17[(gi) >> 1u])[(gi) & 1u]) * sx;
            }
        }
        let t0_0 = subgroupAdd(a0_0);
        let t0_1 = subgroupAdd(a0_1);
        let t0_2 = subgroupAdd(a0_2);
        let t0_3 = subgroupAdd(a0_3);
        let t1_0 = subgroupAdd(a1_0);
        let t1_1 = subgroupAdd(a1_1);
        let t1_2 = subgroupAdd(a1_2);
        let t1_3 = subgroupAdd(a1_3);
        if (lane == 0u) {
            if (rb + 0u < 32u) {
                let r = 0u + rb + 0u;
                let v7 = t0_0;
                let v9 = t1_0;
                b3[r] = bitcast<u32>(v7);
                b4[r] = bitcast<u32>(v9);
            }
            if (rb + 1u < 32u) {
                let r = 0u + rb + 1u;
                let v7 = t0_1;
                let v9 = t1_1;
                b3[r] = bitcast<u32>(v7);
                b4[r] = bitcast<u32>(v9);
            }
            if (rb + 2u < 32u) {
                let r = 0u + rb + 2u;
                let v7 = t0_2;
                let v9 = t1_2;
                b3[r] = bitcast<u32>(v7);
                b4[r] = bitcast<u32>(v9);
            }
            if (rb + 3u < 32u) {
                let r = 0u + rb + 3u;
                let v7 = t0_3;
                let v9 = t1_3;
                b3[r] = bitcast<u32>(v7);
                b4[r] = bitcast<u32>(v9);
            }
        }

        }
    }
}
