// Split-K decode attention, pass 2: merges the per-chunk (m, l, o) that attention_split.wgsl
// wrote, M = max m_c, L = sum l_c e^(m_c - M), out = sum o_c e^(m_c - M) / L, one thread per
// output element (head h, dim d), over the chunks that hold keys 0..=pos only.
// Params: 0 nq, 1 hd, 2 ctx, 3 keys per chunk, 4 chunks per head, 5 query tokens T (token t
// of a prefill chunk merges its own partials over keys 0..=pos + t).

{{BINDINGS}}

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
