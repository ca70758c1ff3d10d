// OCP MXFP4: 8 E2M1 codes per u32 (LSB first; bit 3 sign, bits 0-2 index into
// [0, 0.5, 1, 1.5, 2, 3, 4, 6]) and one u8 E8M0 scale 2^(e - 127) per group.
const W_GROUP: u32 = {{GROUP}}u;
const W_CHUNK: u32 = 8u;

fn e2m1(code: u32) -> f32 {
    let e = (code >> 1u) & 3u;
    let m = code & 1u;
    let mag = select(f32(m) * 0.5, bitcast<f32>(((e + 126u) << 23u) | (m << 22u)), e != 0u);
    return select(mag, -mag, (code & 8u) != 0u);
}

fn e8m0(e: u32) -> f32 {
    if (e == 0u) {
        return bitcast<f32>(0x00400000u);
    }
    if (e == 255u) {
        return bitcast<f32>(0x7fc00000u);
    }
    return bitcast<f32>(e << 23u);
}

fn w_scale(i: u32) -> f32 {
    return e8m0((w_scales[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu);
}

fn w_elem(r: u32, col: u32) -> f32 {
    let word = w_packed[r * (w_cols() / 8u) + col / 8u];
    let gi = r * (w_cols() / W_GROUP) + col / W_GROUP;
    return e2m1(word >> ((col % 8u) * 4u)) * w_scale(gi);
}

// matvec only (cut from dequant kernels, which have no x):
fn w_chunk_dot(r: u32, c: u32) -> f32 {
    let word = w_packed[r * (w_cols() / 8u) + c];
    let first = c * 8u;
    let s = w_scale(r * (w_cols() / W_GROUP) + first / W_GROUP);
    var acc = 0.0;
    for (var k = 0u; k < 8u; k = k + 1u) {
        acc = acc + (e2m1(word >> (k * 4u)) * s) * xv(first + k);
    }
    return acc;
}

// matmul only (the prefill kernel's word decode; cut from every other kernel):
// The 8 elements of word c of row r (one word load, one scale).
fn w_unit(r: u32, c: u32) -> array<f32, W_CHUNK> {
    let word = w_packed[r * (w_cols() / 8u) + c];
    let s = w_scale(r * (w_cols() / W_GROUP) + (c * 8u) / W_GROUP);
    var v: array<f32, W_CHUNK>;
    for (var k = 0u; k < 8u; k = k + 1u) {
        v[k] = e2m1(word >> (k * 4u)) * s;
    }
    return v;
}
