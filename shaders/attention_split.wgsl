// Split-K decode attention, pass 1 (flash-decoding): one workgroup per (query head, chunk of
// CHUNK keys) over cache[:, 0..=pos, :]. It writes the chunk's running max m, its sum
// l = sum exp(s - m) and the unnormalised o = sum exp(s - m) v to `part` (hd + 2 floats per
// (head, chunk)); attention_combine.wgsl merges the chunks. Chunks past pos write m = -inf,
// l = 0, o = 0. Keys are taken WG at a time with an online softmax over the tile. Each
// thread owns dims lid, lid + WG, ... of o (hd <= 4 * WG).
// Params: 0 nq, 1 nkv, 2 hd, 3 ctx, 4 scale (f32 bits), 5 keys per chunk, 6 chunks per head.

{{BINDINGS}}

var<workgroup> probs: array<f32, WG>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let nq = p(0u);
    let nkv = p(1u);
    let hd = p(2u);
    let ctx = p(3u);
    let scale = pf(4u);
    let chunk = p(5u);
    let nch = p(6u);
    let w = wg_linear(wid, nwg);
    let h = w / nch;
    let c = w % nch;
    let live = h < nq;
    let kv = min(h, nq - 1u) / (nq / nkv);
    let len = select(0u, min(u32(max(bitcast<f32>(pos[0]), 0.0)) + 1u, ctx), live);
    let t0 = min(c * chunk, len);
    let t1 = min(t0 + chunk, len);
    let qbase = min(h, nq - 1u) * hd;
    let cbase = kv * ctx * hd;

    var m = neg_inf();
    var l = 0.0;
    var acc = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
    for (var tb = t0; tb < t1; tb = tb + WG) {
        let t = tb + lid;
        var s = neg_inf();
        if (t < t1) {
            var d = 0.0;
            for (var k = 0u; k < hd; k = k + 1u) {
                d = d + bitcast<f32>(q[qbase + k]) * bitcast<f32>(k_cache[cbase + t * hd + k]);
            }
            s = d * scale;
        }
        let mn = max(m, wg_max(s, lid));
        let e = select(0.0, exp(s - mn), t < t1);
        probs[lid] = e;
        let f = exp(m - mn);
        l = l * f + wg_sum(e, lid);
        let n = min(WG, t1 - tb);
        for (var j = 0u; j < 4u; j = j + 1u) {
            let dim = lid + j * WG;
            if (dim < hd) {
                var a = acc[j] * f;
                for (var k = 0u; k < n; k = k + 1u) {
                    a = a + probs[k] * bitcast<f32>(v_cache[cbase + (tb + k) * hd + dim]);
                }
                acc[j] = a;
            }
        }
        workgroupBarrier();
        m = mn;
    }
    if (live) {
        let base = (h * nch + c) * (hd + 2u);
        if (lid == 0u) {
            part[base] = m;
            part[base + 1u] = l;
        }
        for (var j = 0u; j < 4u; j = j + 1u) {
            let dim = lid + j * WG;
            if (dim < hd) {
                part[base + 2u + dim] = acc[j];
            }
        }
    }
}
