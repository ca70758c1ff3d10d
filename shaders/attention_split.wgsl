// Split-K decode attention, pass 1 (flash-decoding): one workgroup per (kv head, chunk of
// `chunk` keys) over cache[:, 0..=pos, :], for all G = nq / nkv query heads of the kv head,
// so each K and V row is read once. Per tile of WG keys: each thread scores one key for all
// G heads in one pass over its K row (to workgroup memory); thread g < G folds head g's tile
// into its running max m and sum l (online softmax) and leaves exp(s - m) in place; every
// thread then updates its dims (lid, lid + WG, ..) of the G unnormalised outputs o from the
// V rows. It writes (m, l, o)
// per (query head, chunk) to `part` (hd + 2 floats each); attention_combine.wgsl merges the
// chunks. Chunks past pos write m = -inf, l = 0, o = 0. G <= 8, hd <= 4 * WG.
// Params: 0 nq, 1 nkv, 2 hd, 3 ctx, 4 scale (f32 bits), 5 keys per chunk, 6 chunks per head,
// 7 query tokens T (1 in decode). A prefill chunk's token t (q [T, nq, hd]) reads keys
// 0..=pos + t (the cache before the chunk and the chunk causally), its partials at t's block.

{{BINDINGS}}

// k_at / v_at: element i of a cache, stored as f32 or as f16 pairs (--kv-dtype f16).
{{CACHE_AT}}

const MAX_G: u32 = 8u;

var<workgroup> sc: array<f32, 512>;
var<workgroup> m_sh: array<f32, 8>;
var<workgroup> l_sh: array<f32, 8>;
var<workgroup> f_sh: array<f32, 8>;

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
    let gq = nq / nkv;
    let wl = wg_linear(wid, nwg);
    let tok = wl / (nkv * nch);
    let w = wl % (nkv * nch);
    let kv = w / nch;
    let c = w % nch;
    let live = tok < p(7u);
    let len = select(0u, min(pos[0] + 1u + tok, ctx), live);
    let t0 = min(c * chunk, len);
    let t1 = min(t0 + chunk, len);
    let cbase = min(kv, nkv - 1u) * ctx * hd;
    let qbase = min(tok, p(7u) - 1u) * nq * hd + min(kv, nkv - 1u) * gq * hd;
    if (lid < MAX_G) {
        m_sh[lid] = neg_inf();
        l_sh[lid] = 0.0;
    }
    var acc: array<f32, 32>;
    for (var tb = t0; tb < t1; tb = tb + WG) {
        let t = tb + lid;
        // Each thread scores its key for all G heads at once, so the K row is read once
        // (not once per head); the head loop has a constant trip count and unrolls.
        var d: array<f32, MAX_G>;
        if (t < t1) {
            let kb = cbase + t * hd;
            for (var k = 0u; k < hd; k = k + 1u) {
                let kv = k_at(kb + k);
                for (var g = 0u; g < MAX_G; g = g + 1u) {
                    if (g < gq) {
                        d[g] = d[g] + bitcast<f32>(q[qbase + g * hd + k]) * kv;
                    }
                }
            }
        }
        for (var g = 0u; g < gq; g = g + 1u) {
            sc[g * WG + lid] = select(neg_inf(), d[g] * scale, t < t1);
        }
        workgroupBarrier();
        let n = min(WG, t1 - tb);
        if (lid < gq) {
            let row = lid * WG;
            var tm = neg_inf();
            for (var k = 0u; k < n; k = k + 1u) {
                tm = max(tm, sc[row + k]);
            }
            let mo = m_sh[lid];
            let mn = max(mo, tm);
            var sum = 0.0;
            for (var k = 0u; k < n; k = k + 1u) {
                let e = exp(sc[row + k] - mn);
                sc[row + k] = e;
                sum = sum + e;
            }
            let f = exp(mo - mn);
            f_sh[lid] = f;
            l_sh[lid] = l_sh[lid] * f + sum;
            m_sh[lid] = mn;
        }
        workgroupBarrier();
        for (var j = 0u; j < 4u; j = j + 1u) {
            let dim = lid + j * WG;
            if (dim < hd) {
                for (var g = 0u; g < gq; g = g + 1u) {
                    acc[g * 4u + j] = acc[g * 4u + j] * f_sh[g];
                }
                for (var k = 0u; k < n; k = k + 1u) {
                    let v = v_at(cbase + (tb + k) * hd + dim);
                    for (var g = 0u; g < gq; g = g + 1u) {
                        acc[g * 4u + j] = acc[g * 4u + j] + sc[g * WG + k] * v;
                    }
                }
            }
        }
        workgroupBarrier();
    }
    workgroupBarrier();
    if (live) {
        for (var g = 0u; g < gq; g = g + 1u) {
            let base = (((tok * nkv + kv) * gq + g) * nch + c) * (hd + 2u);
            if (lid == 0u) {
                part[base] = m_sh[g];
                part[base + 1u] = l_sh[g];
            }
            for (var j = 0u; j < 4u; j = j + 1u) {
                let dim = lid + j * WG;
                if (dim < hd) {
                    part[base + 2u + dim] = acc[g * 4u + j];
                }
            }
        }
    }
}
