// Unary, binary, select, cast and symbol: one thread per output element, numpy broadcast.
// Params: 0 element count; 2..6 output dims (rank padded to 4 with leading 1s);
// 6+4k..10+4k strides of input k (0 where stretched); 18+k base offset of input k.
// The generator substitutes the input loads, the expression and the store.

{{BINDINGS}}

fn coords(i: u32) -> vec4<u32> {
    let d3 = i % p(5u);
    let r3 = i / p(5u);
    let d2 = r3 % p(4u);
    let r2 = r3 / p(4u);
    let d1 = r2 % p(3u);
    let d0 = r2 / p(3u);
    return vec4<u32>(d0, d1, d2, d3);
}

fn offset_of(c: vec4<u32>, k: u32) -> u32 {
    let s = vec4<u32>(p(6u + 4u * k), p(7u + 4u * k), p(8u + 4u * k), p(9u + 4u * k));
    return dot(c, s) + p(18u + k);
}

{{HELPERS}}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = wg_linear(wid, nwg) * 256u + lid;
    if (i >= p(0u)) {
        return;
    }
    let at = coords(i);
{{LOADS}}
    dst[i] = {{STORE}};
}
