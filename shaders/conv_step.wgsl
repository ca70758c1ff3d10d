// One output step of a causal grouped 1-D convolution (torch Conv1d layout): one thread per
// output channel. window [C_in, K] (time 0 = oldest), weight [C_out, C_in/groups, K].
// Params: 0 C_out, 1 C_in, 2 K, 3 groups.

{{BINDINGS}}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let o = wg_linear(wid, nwg) * 256u + lid;
    let c_out = p(0u);
    if (o >= c_out) {
        return;
    }
    let kk = p(2u);
    let in_per = p(1u) / p(3u);
    let g = o / (c_out / p(3u));
    var acc = bitcast<f32>(bias[o]);
    for (var ci = 0u; ci < in_per; ci = ci + 1u) {
        let channel = g * in_per + ci;
        for (var t = 0u; t < kk; t = t + 1u) {
            acc = acc + bitcast<f32>(weight[(o * in_per + ci) * kk + t])
                * bitcast<f32>(window[channel * kk + t]);
        }
    }
    dst[o] = bitcast<u32>(acc);
}
