// Y[t, o] = sum_i w[row(t, o), i] * x[t, i] over a chunk of T tokens (prefill): one
// workgroup per output row (per expert and row when per-token experts pick the weight).
// Each weight element is decoded once per block of TB tokens (w_elem from the format
// snippet) and kept in a register while it is multiplied into every token of the block, so
// the weight is read ceil(T / TB) times per chunk instead of T times.
// Per-token experts (the routing loop is filled in per variant): workgroup (e, o) scans the chunk's
// expert ids on the GPU, computes only the tokens routed to expert e, and exits at once when
// there is none, so each used expert's rows are read once per block and unused ones never.
// Params: 0 output rows (per token), 1 cols, 2 tokens T, 3 first weight row of the bound
// window, 4 rows in the window, 5 rows per index step, 6 index bound (experts).

{{BINDINGS}}

fn w_cols() -> u32 {
    return p(1u);
}

{{WEIGHT}}

const WG: u32 = 64u;
const TB: u32 = 8u;
const MAX_T: u32 = 1024u;

var<workgroup> sums: array<f32, TB * WG>;
// Tokens this workgroup computes, in order, and their count.
var<workgroup> toks: array<u32, MAX_T>;
var<workgroup> n_sh: u32;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let rows = p(0u);
    let cols = p(1u);
    let tokens = min(p(2u), MAX_T);
    let local = wg_linear(wid, nwg);
    let e = local / rows;
    let o = local % rows;
    if (lid == 0u) {
        var n = 0u;
{{TOKENS}}
        n_sh = n;
    }
    let n = workgroupUniformLoad(&n_sh);
    let g = {{WEIGHT_ROW}};
    // Uniform: rows outside the bound window (another dispatch holds them), or no token.
    if (g < p(3u) || g >= p(3u) + p(4u) || n == 0u) {
        return;
    }
    let r = g - p(3u);
    for (var b = 0u; b < n; b = b + TB) {
        let m = min(TB, n - b);
        // Constant trip counts so compilers unroll the token loops and keep `acc` and `xb`
        // in registers; the slots past the last token repeat it and are never written.
        var acc: array<f32, TB>;
        var xb: array<u32, TB>;
        for (var j = 0u; j < TB; j = j + 1u) {
            xb[j] = toks[b + min(j, m - 1u)] * cols;
        }
        for (var col = lid; col < cols; col = col + WG) {
            let v = w_elem(r, col);
            for (var j = 0u; j < TB; j = j + 1u) {
                acc[j] = acc[j] + v * bitcast<f32>(x[xb[j] + col]);
            }
        }
        for (var j = 0u; j < TB; j = j + 1u) {
            sums[j * WG + lid] = acc[j];
        }
        workgroupBarrier();
        for (var s = WG / 2u; s > 0u; s = s >> 1u) {
            if (lid < s) {
                for (var j = 0u; j < TB; j = j + 1u) {
                    sums[j * WG + lid] = sums[j * WG + lid] + sums[j * WG + lid + s];
                }
            }
            workgroupBarrier();
        }
        if (lid < m) {
            y[toks[b + lid] * rows + o] = bitcast<u32>(sums[lid * WG]);
        }
        workgroupBarrier();
    }
}
