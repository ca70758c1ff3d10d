// Workgroup-wide reductions over WG threads (a power of two). Call them from uniform
// control flow only: they contain barriers.

const WG: u32 = {{WG}}u;

var<workgroup> red_f: array<f32, WG>;
var<workgroup> red_u: array<u32, WG>;

fn wg_sum(v: f32, lid: u32) -> f32 {
    red_f[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            red_f[lid] = red_f[lid] + red_f[lid + s];
        }
        workgroupBarrier();
    }
    let r = red_f[0];
    workgroupBarrier();
    return r;
}

fn wg_max(v: f32, lid: u32) -> f32 {
    red_f[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            red_f[lid] = max(red_f[lid], red_f[lid + s]);
        }
        workgroupBarrier();
    }
    let r = red_f[0];
    workgroupBarrier();
    return r;
}

// Whether candidate (v, i) beats (best, bi) in a first-maximum argmax that matches the CPU
// reference: bi = 0xffffffff means "none yet"; a NaN loses to any number, and among NaNs
// only the later index wins (the reference replaces a NaN best by whatever comes next).
fn argmax_better(v: f32, i: u32, best: f32, bi: u32) -> bool {
    if (bi == 0xffffffffu) {
        return i != 0xffffffffu;
    }
    if (is_nan(v)) {
        return is_nan(best) && i > bi && i != 0xffffffffu;
    }
    return is_nan(best) || v > best || (v == best && i < bi);
}

// First index of the maximum over the workgroup's (value, index) candidates.
fn wg_argmax(v: f32, i: u32, lid: u32) -> u32 {
    red_f[lid] = v;
    red_u[lid] = i;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s && argmax_better(red_f[lid + s], red_u[lid + s], red_f[lid], red_u[lid])) {
            red_f[lid] = red_f[lid + s];
            red_u[lid] = red_u[lid + s];
        }
        workgroupBarrier();
    }
    let r = red_u[0];
    workgroupBarrier();
    return r;
}
