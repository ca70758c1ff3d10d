// Causal GQA attention of one query head over cache[:, 0..=pos, :] (shared by the attention
// kernel, one workgroup per head, and region kernels, which loop over heads). Query head h
// reads kv head h / (nq / nkv); pos is read from a GPU value, never from the host. Three
// phases through a row of `ctx` scores per head: scores and their max, exp and sum, then the
// weighted sum of V. Data is reached through accessors the includer defines: q_at, pos_at,
// kc_at, vc_at (f32 reads), sc_get/sc_set (the scores row), out_set (u32 word writes).
// Call from uniform control flow (it contains barriers).
fn attention_head(h: u32, lid: u32, nq: u32, nkv: u32, hd: u32, ctx: u32, scale: f32) {
    let live = h < nq;
    let kv = h / (nq / nkv);
    let len = select(0u, min(pos_at() + 1u, ctx), live);
    let sbase = h * ctx;
    let cbase = kv * ctx * hd;

    var m = neg_inf();
    for (var t = lid; t < len; t = t + WG) {
        var d = 0.0;
        for (var k = 0u; k < hd; k = k + 1u) {
            d = d + q_at(h * hd + k) * kc_at(cbase + t * hd + k);
        }
        let s = d * scale;
        sc_set(sbase + t, s);
        m = max(m, s);
    }
    m = wg_max(m, lid);
    var sum = 0.0;
    for (var t = lid; t < len; t = t + WG) {
        let e = exp(sc_get(sbase + t) - m);
        sc_set(sbase + t, e);
        sum = sum + e;
    }
    let inv = 1.0 / wg_sum(sum, lid);
    storageBarrier();
    for (var k = lid; k < select(0u, hd, live); k = k + WG) {
        var acc = 0.0;
        for (var t = 0u; t < len; t = t + 1u) {
            acc = acc + sc_get(sbase + t) * inv * vc_at(cbase + t * hd + k);
        }
        out_set(h * hd + k, bitcast<u32>(acc));
    }
}
