// The attention kernel: one workgroup per query head running `attention_head`
// (attention_head.wgsl) over a scratch row of `ctx` scores per head.
// Params: 0 nq, 1 nkv, 2 hd, 3 ctx, 4 scale (f32 bits).

{{BINDINGS}}

fn q_at(i: u32) -> f32 {
    return bitcast<f32>(q[i]);
}

fn pos_at() -> f32 {
    return bitcast<f32>(pos[0]);
}

fn kc_at(i: u32) -> f32 {
    return bitcast<f32>(k_cache[i]);
}

fn vc_at(i: u32) -> f32 {
    return bitcast<f32>(v_cache[i]);
}

fn sc_get(i: u32) -> f32 {
    return scores[i];
}

fn sc_set(i: u32, v: f32) {
    scores[i] = v;
}

fn out_set(i: u32, w: u32) {
    dst[i] = w;
}

{{HEAD}}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    attention_head(wg_linear(wid, nwg), lid, p(0u), p(1u), p(2u), p(3u), pf(4u));
}
