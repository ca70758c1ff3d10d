// Data movement as 32-bit words: slice, concat (one dispatch per part), gather, state
// read/write and KV-cache append. Element e = (o, k, i) over (outer, mid, inner):
//   src = src_base + o * src_outer + k * src_mid + i
//   dst = dst_base + o * dst_outer + k * dst_mid + i
// Params: 0 count, 1 mid, 2 inner, 3 src_base, 4 src_outer, 5 src_mid, 6 dst_base,
// 7 dst_outer, 8 dst_mid, 9 index bound, 10 index stride.
// The index snippet may rewrite `src` (gather: index array selects k) or `dst` (cache append:
// a u32 position selects the row); an index out of bounds writes nothing. The store moves
// one word, or (into an f16 cache, where every index counts pairs) packs two floats.

{{BINDINGS}}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = wg_linear(wid, nwg) * 256u + lid;
    if (e >= p(0u)) {
        return;
    }
    let i = e % p(2u);
    let k = (e / p(2u)) % p(1u);
    let o = e / (p(2u) * p(1u));
    var src = p(3u) + o * p(4u) + k * p(5u) + i;
    var dst = p(6u) + o * p(7u) + k * p(8u) + i;
{{INDEX}}
{{STORE}}
}
