// A causal grouped 1-D convolution (torch Conv1d layout) over a window: one thread per
// (output channel, output column). window [C_in, W] (time 0 = oldest), weight
// [C_out, C_in/groups, K], output [C_out, T] with T = W - K + 1, column t over window columns
// t..t+K. The decode step (`conv_step`) is W = K, T = 1; prefill's `conv` runs a chunk.
// Params: 0 C_out, 1 C_in, 2 K, 3 groups, 4 W, 5 T.

{{BINDINGS}}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = wg_linear(wid, nwg) * 256u + lid;
    let c_out = p(0u);
    let cols = p(5u);
    if (e >= c_out * cols) {
        return;
    }
    let o = e / cols;
    let t0 = e % cols;
    let kk = p(2u);
    let w = p(4u);
    let in_per = p(1u) / p(3u);
    let g = o / (c_out / p(3u));
    var acc = bitcast<f32>(bias[o]);
    for (var ci = 0u; ci < in_per; ci = ci + 1u) {
        let channel = g * in_per + ci;
        for (var t = 0u; t < kk; t = t + 1u) {
            acc = acc + bitcast<f32>(weight[(o * in_per + ci) * kk + t])
                * bitcast<f32>(window[channel * w + t0 + t]);
        }
    }
    dst[e] = bitcast<u32>(acc);
}
