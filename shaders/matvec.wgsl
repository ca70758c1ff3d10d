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

{{BINDINGS}}

fn w_cols() -> u32 {
    return p(1u);
}

fn xv(i: u32) -> f32 {
    return bitcast<f32>(x[i]);
}

{{WEIGHT}}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let local = wg_linear(wid, nwg);
    let o = p(2u) + local;
    let g = {{WEIGHT_ROW}};
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
