// Row kernels along the last axis: one workgroup of WG threads per row, threads stride
// over the row and combine through workgroup memory.
// Params: 0 rows, 1 row length n, 2 op constant (eps for rms_norm).

{{BINDINGS}}
// The row bodies (row_*.wgsl, shared with region kernels) read and write through these.
fn src_at(i: u32) -> f32 {
    return bitcast<f32>(src[i]);
}

fn dst_set(i: u32, w: u32) {
    dst[i] = w;
}
{{GAMMA}}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let row = wg_linear(wid, nwg);
    if (row >= p(0u)) {
        return;
    }
    let n = p(1u);
    let base = row * n;
{{BODY}}
}
