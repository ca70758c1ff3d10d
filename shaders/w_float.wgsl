// Unquantized weights (f16, bf16 or f32 as stored, or an f32 activation): one element per
// chunk; 16-bit floats are read from u32 words (unpack2x16float / upper half of an f32),
// so no SHADER_F16 is needed.
const W_CHUNK: u32 = 1u;

fn w_elem(r: u32, col: u32) -> f32 {
    let i = r * w_cols() + col;
    return {{ELEM_AT_I}};
}

// matvec only (cut from dequant kernels, which have no x):
fn w_chunk_dot(r: u32, c: u32) -> f32 {
    return w_elem(r, c) * xv(c);
}

// matmul only (the prefill kernel's word decode; cut from every other kernel):
// Element c of row r, as a one-element unit.
fn w_unit(r: u32, c: u32) -> array<f32, W_CHUNK> {
    return array<f32, W_CHUNK>(w_elem(r, c));
}
