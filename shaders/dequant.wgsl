// Dequantize a weight (or, with an index, one slice of its leading axis) to f32: one thread
// per output element. Same format snippets as the matvec.
// Params: 0 grid elements, 1 cols, 2 first output row of the grid, 3 first weight row of
// the bound window, 4 rows in the window, 5 rows per index step, 6 index bound.

{{BINDINGS}}

fn w_cols() -> u32 {
    return p(1u);
}

{{WEIGHT}}

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
    let g = {{WEIGHT_ROW}};
    if (g < p(3u) || g >= p(3u) + p(4u)) {
        return;
    }
    dst[e] = bitcast<u32>(w_elem(g - p(3u), col));
}
