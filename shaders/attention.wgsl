// Causal GQA attention of one query token over cache[:, 0..=pos, :]: one workgroup per
// query head; query head h reads kv head h / (nq / nkv). pos is read from a GPU buffer
// (an f32 position value), never from the host. Three phases through a scratch row of
// `ctx` scores per head: scores and their max, exp and sum, then the weighted sum of V.
// Params: 0 nq, 1 nkv, 2 hd, 3 ctx, 4 scale (f32 bits).

{{BINDINGS}}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let h = wg_linear(wid, nwg);
    let nq = p(0u);
    let hd = p(2u);
    let ctx = p(3u);
    let scale = pf(4u);
    let live = h < nq;
    let kv = h / (nq / p(1u));
    let len = select(0u, min(u32(max(bitcast<f32>(pos[0]), 0.0)) + 1u, ctx), live);
    let sbase = h * ctx;
    let cbase = kv * ctx * hd;

    var m = neg_inf();
    for (var t = lid; t < len; t = t + WG) {
        var d = 0.0;
        for (var k = 0u; k < hd; k = k + 1u) {
            d = d + bitcast<f32>(q[h * hd + k]) * bitcast<f32>(k_cache[cbase + t * hd + k]);
        }
        let s = d * scale;
        scores[sbase + t] = s;
        m = max(m, s);
    }
    m = wg_max(m, lid);
    var sum = 0.0;
    for (var t = lid; t < len; t = t + WG) {
        let e = exp(scores[sbase + t] - m);
        scores[sbase + t] = e;
        sum = sum + e;
    }
    let inv = 1.0 / wg_sum(sum, lid);
    storageBarrier();
    for (var k = lid; k < select(0u, hd, live); k = k + WG) {
        var acc = 0.0;
        for (var t = 0u; t < len; t = t + 1u) {
            acc = acc + scores[sbase + t] * inv * bitcast<f32>(v_cache[cbase + t * hd + k]);
        }
        dst[h * hd + k] = bitcast<u32>(acc);
    }
}
