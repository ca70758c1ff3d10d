// NeoX (rotate-half) rotary embedding of the first `rot` dims of each row; the rest pass.
// angle = f32(pos) * inv_freq[j] exactly like the CPU (inv_freq is computed on the host
// in f64 and rounded to f32, then uploaded once), then reduced modulo 2*pi in three parts
// (Cody-Waite, 9-bit leading parts so k * part is exact for k < 2^15) before cos/sin, so
// large positions do not depend on the driver's own range reduction.
// Params: 0 elements (rows * n), 1 n, 2 rot, 3 elements per token (a chunk's token t is at
// pos + t; in decode every row is at pos).

{{BINDINGS}}


@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = wg_linear(wid, nwg) * 256u + lid;
    if (e >= p(0u)) {
        return;
    }
    let n = p(1u);
    let rot = p(2u);
    let half = rot / 2u;
    let row = e / n;
    let i = e % n;
    if (i >= rot) {
        dst[e] = src[e];
        return;
    }
    let j = i % half;
    let angle = reduce_angle(f32(pos[0] + e / p(3u)) * bitcast<f32>(inv_freq[j]));
    let c = cos(angle);
    let s = sin(angle);
    let a = bitcast<f32>(src[row * n + j]);
    let b = bitcast<f32>(src[row * n + j + half]);
    dst[e] = bitcast<u32>(select(b * c + a * s, a * c - b * s, i < half));
}
