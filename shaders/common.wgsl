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
