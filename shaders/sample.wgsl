// Token sampling on the device, one workgroup of WG threads (after common.wgsl and
// reduce_wg.wgsl). Same semantics as zaya-chat's CPU sampler (crates/chat/src/sampling.rs):
// repetition penalty (HF), greedy argmax, or temperature + top-k + top-p + min-p and a draw
// with ONE host-supplied uniform, picking the same token as the CPU for the same uniform.
//
// How the CPU's result is reproduced without sorting the vocab:
// - the candidates are a prefix of the rank order (score descending, then id ascending); the
//   top-k and top-p ends of that prefix are found by radix selection over the score's
//   order-preserving bits (4 passes of 8 bits, count and mass histograms), ties by id;
// - the CPU draws over the candidates in a particular order: tokens of the score bins before
//   the last candidate's bin in id order, then that bin's candidates in rank order (all in id
//   order when the last bin is taken whole); the draw here walks the same two parts;
// - probability masses are sums of weights in u64 fixed point (2^-40 units): integer sums
//   do not depend on the order of accumulation, so every partial sum used to compare with a
//   threshold is exact, and differs from the CPU's f64 sums only by the rounding of each
//   weight (< 2^-40 each) and by exp() itself (a few ulp per weight).
//
// Params: 0 n (samplable columns), 1 history length, 2 flags (1 greedy, 2 top-p on),
// 3 top_k (0 off), 4 top_p (f32, unused: see 9), 5 min_p (f32), 6 penalty (f32),
// 7 1/temperature (f32), 8 the uniform * 2^32, 9 top_p * 2^32, 10 history capacity,
// 11 the score-bin scale (f32, 4096 / 40).

@group(0) @binding(1) var<storage, read> logits: array<u32>;
@group(0) @binding(2) var<storage, read_write> history: array<u32>;
@group(0) @binding(3) var<storage, read_write> scores: array<f32>;
@group(0) @binding(4) var<storage, read_write> chosen: array<u32>;

const BINS: u32 = 4096u;
const NONE: u32 = 0xffffffffu;
const NEG_INF_BITS: u32 = 0xff800000u;

// An unsigned 64-bit integer (no u64 in WGSL).
struct Wide {
    lo: u32,
    hi: u32,
}

// A count and a probability mass (fixed point, 2^-40 units: the top token weighs 2^40).
struct Agg {
    cnt: u32,
    mass: Wide,
}

// Which tokens an operation looks at: valid (not -inf) tokens with a rank key in
// [sk_lo, sk_hi], a rank no later than (lim_sk, lim_i), a score bin in [bin_lo, bin_hi]
// and, when `kept` is 1, a weight min-p keeps.
struct Filter {
    sk_lo: u32,
    sk_hi: u32,
    lim_sk: u32,
    lim_i: u32,
    bin_lo: u32,
    bin_hi: u32,
    kept: u32,
}

// A threshold: reached when the count (by_count = 1) or the mass is >= the value.
struct Th {
    by_count: u32,
    cnt: u32,
    mass: Wide,
}

// The first token (in the walk's order) whose inclusive running total reaches a threshold.
struct Pick {
    found: u32,
    i: u32,
    // Totals of the members before `i` (plus the base the walk started from).
    before: Agg,
    // Totals of every member (plus the base).
    total: Agg,
}

// Values every thread needs after thread 0 decided them (read with workgroupUniformLoad).
struct Ctl {
    found: u32,
    a: u32,
    b: u32,
    c: u32,
    before: Agg,
    total: Agg,
}

var<workgroup> ctl: Ctl;
var<workgroup> part_c: array<u32, WG>;
var<workgroup> part_lo: array<u32, WG>;
var<workgroup> part_hi: array<u32, WG>;
var<workgroup> hist_c: array<atomic<u32>, 256>;
var<workgroup> hist_lo: array<atomic<u32>, 256>;
var<workgroup> hist_hi: array<atomic<u32>, 256>;
var<workgroup> hist_min: array<atomic<u32>, 256>;

// The step's reference point, the same in every thread.
var<private> top: f32;
var<private> inv_t: f32;
var<private> min_p: f32;
var<private> bin_scale: f32;

fn wadd(a: Wide, b: Wide) -> Wide {
    let lo = a.lo + b.lo;
    return Wide(lo, a.hi + b.hi + select(0u, 1u, lo < a.lo));
}

fn wlt(a: Wide, b: Wide) -> bool {
    return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo);
}

// The full 64-bit product of two u32.
fn mul32(a: u32, b: u32) -> Wide {
    let a0 = a & 0xffffu;
    let a1 = a >> 16u;
    let b0 = b & 0xffffu;
    let b1 = b >> 16u;
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
    return Wide((p00 & 0xffffu) | (mid << 16u), a1 * b1 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u));
}

// floor(a * f / 2^32): `a` scaled by a fraction f / 2^32.
fn wscale(a: Wide, f: u32) -> Wide {
    return wadd(mul32(a.hi, f), Wide(mul32(a.lo, f).hi, 0u));
}

fn agg_add(a: Agg, b: Agg) -> Agg {
    return Agg(a.cnt + b.cnt, wadd(a.mass, b.mass));
}

fn reached(a: Agg, th: Th) -> bool {
    if (th.by_count != 0u) {
        return a.cnt >= th.cnt;
    }
    return !wlt(a.mass, th.mass);
}

fn is_valid(s: f32) -> bool {
    return bitcast<u32>(s) != NEG_INF_BITS;
}

// Rank key: ascending key = descending score (IEEE total order, so -0 ranks after +0 like
// the CPU's total_cmp).
fn rank_key(s: f32) -> u32 {
    let b = bitcast<u32>(s);
    return ~select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

// The CPU's score bin: ((max - s) / T) * (4096 / 40), saturated at BINS.
fn bin_of(s: f32) -> u32 {
    return u32(min(((top - s) * inv_t) * bin_scale, f32(BINS)));
}

// Weight relative to the top token (which gets exactly 1).
fn weight(s: f32) -> f32 {
    return exp(max((s - top) * inv_t, -200.0));
}

fn is_kept(w: f32) -> bool {
    return w > 0.0 && (min_p <= 0.0 || w >= min_p);
}

// The weight in 2^-40 units (weights are in [0, 1]).
fn fixed(w: f32) -> Wide {
    let x = w * 256.0;
    let hi = floor(x);
    return Wide(u32((x - hi) * 4294967296.0), u32(hi));
}

fn member(f: Filter, i: u32, s: f32) -> bool {
    if (!is_valid(s)) {
        return false;
    }
    let k = rank_key(s);
    if (k < f.sk_lo || k > f.sk_hi || k > f.lim_sk || (k == f.lim_sk && i > f.lim_i)) {
        return false;
    }
    let b = bin_of(s);
    if (b < f.bin_lo || b > f.bin_hi) {
        return false;
    }
    return f.kept == 0u || is_kept(weight(s));
}

fn unit(s: f32) -> Agg {
    return Agg(1u, fixed(weight(s)));
}

fn zero() -> Agg {
    return Agg(0u, Wide(0u, 0u));
}

fn never() -> Th {
    return Th(1u, NONE, Wide(NONE, NONE));
}

// Walks the members in id order from `base`; finds the first whose inclusive total reaches
// `th`. Each thread owns a contiguous chunk of ids: chunk totals, a scan by thread 0, then
// the owner of the crossing chunk walks it.
fn index_cross(f: Filter, base: Agg, th: Th, lid: u32) -> Pick {
    let n = p(0u);
    let chunk = (n + WG - 1u) / WG;
    let start = min(lid * chunk, n);
    let end = min(start + chunk, n);
    var a = zero();
    for (var i = start; i < end; i = i + 1u) {
        let s = scores[i];
        if (member(f, i, s)) {
            a = agg_add(a, unit(s));
        }
    }
    part_c[lid] = a.cnt;
    part_lo[lid] = a.mass.lo;
    part_hi[lid] = a.mass.hi;
    workgroupBarrier();
    if (lid == 0u) {
        var cum = base;
        var owner = NONE;
        var before = base;
        for (var t = 0u; t < WG; t = t + 1u) {
            let next = agg_add(cum, Agg(part_c[t], Wide(part_lo[t], part_hi[t])));
            if (owner == NONE && reached(next, th)) {
                owner = t;
                before = cum;
            }
            cum = next;
        }
        ctl = Ctl(select(1u, 0u, owner == NONE), owner, NONE, 0u, before, cum);
    }
    let c = workgroupUniformLoad(&ctl);
    if (lid == c.a) {
        var cum = c.before;
        for (var i = start; i < end; i = i + 1u) {
            let s = scores[i];
            if (member(f, i, s)) {
                let next = agg_add(cum, unit(s));
                if (reached(next, th)) {
                    ctl.b = i;
                    ctl.before = cum;
                    break;
                }
                cum = next;
            }
        }
    }
    let d = workgroupUniformLoad(&ctl);
    return Pick(d.found, d.b, d.before, c.total);
}

// Walks the members in rank order from `base`; finds the first whose inclusive total
// reaches `th`: radix selection over the rank key, then ties in id order.
fn rank_select(f: Filter, base: Agg, th: Th, lid: u32) -> Pick {
    var g = f;
    g.sk_lo = 0u;
    g.sk_hi = NONE;
    var before = base;
    var last_cnt = 0u;
    var last_min = NONE;
    for (var round = 0u; round < 4u; round = round + 1u) {
        let shift = 24u - 8u * round;
        atomicStore(&hist_c[lid], 0u);
        atomicStore(&hist_lo[lid], 0u);
        atomicStore(&hist_hi[lid], 0u);
        atomicStore(&hist_min[lid], NONE);
        workgroupBarrier();
        for (var i = lid; i < p(0u); i = i + WG) {
            let s = scores[i];
            if (member(g, i, s)) {
                let d = (rank_key(s) >> shift) & 0xffu;
                let m = fixed(weight(s));
                atomicAdd(&hist_c[d], 1u);
                let old = atomicAdd(&hist_lo[d], m.lo);
                atomicAdd(&hist_hi[d], m.hi + select(0u, 1u, old > NONE - m.lo));
                atomicMin(&hist_min[d], i);
            }
        }
        workgroupBarrier();
        if (lid == 0u) {
            var cum = before;
            var digit = NONE;
            for (var d = 0u; d < 256u; d = d + 1u) {
                let h = Agg(atomicLoad(&hist_c[d]), Wide(atomicLoad(&hist_lo[d]), atomicLoad(&hist_hi[d])));
                let next = agg_add(cum, h);
                if (reached(next, th)) {
                    digit = d;
                    break;
                }
                cum = next;
            }
            var cnt = 0u;
            var first = NONE;
            if (digit != NONE) {
                cnt = atomicLoad(&hist_c[digit]);
                first = atomicLoad(&hist_min[digit]);
            }
            ctl = Ctl(select(1u, 0u, digit == NONE), digit, cnt, first, cum, cum);
        }
        let c = workgroupUniformLoad(&ctl);
        if (c.found == 0u) {
            return Pick(0u, NONE, before, before);
        }
        g.sk_lo = g.sk_lo | (c.a << shift);
        g.sk_hi = g.sk_lo | ((1u << shift) - 1u);
        before = c.before;
        last_cnt = c.b;
        last_min = c.c;
    }
    if (last_cnt == 1u) {
        return Pick(1u, last_min, before, before);
    }
    // Tied scores: id order.
    let tie = index_cross(g, before, th, lid);
    return Pick(tie.found, tie.i, tie.before, tie.before);
}

fn clean(bits: u32) -> f32 {
    let x = bitcast<f32>(bits);
    return select(x, bitcast<f32>(NEG_INF_BITS), is_nan(x));
}

fn finish(token: u32, lid: u32) {
    if (lid == 0u) {
        chosen[0] = token;
        if (token != NONE && p(1u) < p(10u)) {
            history[p(1u)] = token;
        }
    }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
    let n = p(0u);
    let flags = p(2u);
    // 1. Scores: NaN -> -inf, then the repetition penalty on each distinct history token
    //    (recomputed from the logit, so a repeated id is penalized once).
    for (var i = lid; i < n; i = i + WG) {
        scores[i] = clean(logits[i]);
    }
    storageBarrier();
    let penalty = pf(6u);
    if (penalty != 1.0) {
        for (var j = lid; j < p(1u); j = j + WG) {
            let t = history[j];
            if (t < n) {
                let x = clean(logits[t]);
                scores[t] = select(x / penalty, x * penalty, x < 0.0);
            }
        }
    }
    storageBarrier();
    // 2. The argmax (first index on ties).
    // NaN: what an empty thread offers wg_argmax (scores hold no NaN).
    var best = bitcast<f32>(0x7fc00000u);
    var bi = NONE;
    for (var i = lid; i < n; i = i + WG) {
        let v = scores[i];
        if (argmax_better(v, i, best, bi)) {
            best = v;
            bi = i;
        }
    }
    let arg = wg_argmax(best, bi, lid);
    if (lid == 0u) {
        ctl.a = arg;
        ctl.b = bitcast<u32>(scores[arg]);
    }
    let c0 = workgroupUniformLoad(&ctl);
    let best_i = c0.a;
    if (best_i >= n || c0.b == NEG_INF_BITS) {
        finish(NONE, lid);
        return;
    }
    if ((flags & 1u) != 0u) {
        finish(best_i, lid);
        return;
    }
    top = bitcast<f32>(c0.b);
    inv_t = pf(7u);
    min_p = pf(5u);
    bin_scale = pf(11u);
    let u = p(8u);
    let top_k = p(3u);
    let top_p = (flags & 2u) != 0u;
    let every = Filter(0u, NONE, NONE, NONE, 0u, BINS, 0u);

    // 3. The candidates: a rank prefix ending at (lim_sk, lim_i).
    var lim_sk = NONE;
    var lim_i = NONE;
    // Whether the last candidate's bin is walked in id order (taken whole) or rank order.
    var whole = true;
    var last_bin = BINS;
    if ((top_k != 0u && top_k < n) || top_p) {
        let valid = index_cross(every, zero(), never(), lid).total;
        var mass_k = valid.mass;
        if (top_k != 0u && top_k < valid.cnt) {
            let k = rank_select(every, zero(), Th(1u, top_k, Wide(0u, 0u)), lid);
            if (k.found != 0u) {
                let s = scores[k.i];
                mass_k = wadd(k.before.mass, fixed(weight(s)));
                lim_sk = rank_key(s);
                lim_i = k.i;
            }
        }
        if (top_p) {
            let nucleus = wscale(mass_k, p(9u));
            var f = every;
            f.lim_sk = lim_sk;
            f.lim_i = lim_i;
            let q = rank_select(f, zero(), Th(0u, 0u, nucleus), lid);
            if (q.found != 0u) {
                lim_sk = rank_key(scores[q.i]);
                lim_i = q.i;
            }
        }
        if (lim_i != NONE) {
            last_bin = bin_of(scores[lim_i]);
            whole = false;
            if (!top_p) {
                // Top-k alone: the CPU sorts the cut bin only when the cut falls inside it.
                var rest = every;
                rest.bin_lo = last_bin;
                rest.bin_hi = last_bin;
                let in_bin = index_cross(rest, zero(), never(), lid).total.cnt;
                rest.lim_sk = lim_sk;
                rest.lim_i = lim_i;
                let taken = index_cross(rest, zero(), never(), lid).total.cnt;
                whole = taken == in_bin;
            }
        }
    }

    // 4. The draw: the first candidate whose running mass exceeds u * total.
    var kept = every;
    kept.kept = 1u;
    kept.lim_sk = lim_sk;
    kept.lim_i = lim_i;
    let total = index_cross(kept, zero(), never(), lid).total.mass;
    let th = Th(0u, 0u, wadd(wscale(total, u), Wide(1u, 0u)));
    var first = kept;
    if (!whole) {
        if (last_bin == 0u) {
            first.bin_lo = 1u;
            first.bin_hi = 0u;
        } else {
            first.bin_hi = last_bin - 1u;
        }
    } else {
        first.bin_hi = last_bin;
    }
    let a = index_cross(first, zero(), th, lid);
    if (a.found != 0u) {
        finish(a.i, lid);
        return;
    }
    if (!whole) {
        var second = kept;
        second.bin_lo = last_bin;
        second.bin_hi = last_bin;
        let b = rank_select(second, a.total, th, lid);
        if (b.found != 0u) {
            finish(b.i, lid);
            return;
        }
    }
    finish(best_i, lid);
}
