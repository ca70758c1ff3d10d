// Reduce along one axis: one thread per output element of (outer, inner).
// Params: 0 outputs (outer * inner), 1 axis length n, 2 inner.

{{BINDINGS}}

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
    var acc = {{INIT}};
    for (var k = 0u; k < n; k = k + 1u) {
        let v = bitcast<f32>(src[base + k * inner]);
        acc = {{COMBINE}};
    }
    dst[e] = bitcast<u32>({{FINISH}});
}
