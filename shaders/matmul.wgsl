// Y[t, o] = sum_i w[row(t, o), i] * x[t, i] over a chunk of T tokens (prefill).
// A workgroup computes ROWS output rows, a team of TPR threads per row; the team strides over
// the row's units (one packed word: W_CHUNK elements, decoded once by w_unit from the format
// snippet) and multiplies each unit into a block of TB tokens held in registers, so the
// weight is read ceil(T / TB) times per chunk instead of T times. TPR = 1 gives each thread
// whole rows (no reduction: what a SIMD-on-CPU adapter wants); a wider team reads a row's
// words side by side (what a GPU's memory wants). The device picks TPR (`zaya-graph tune`,
// `MatVecTarget::matmul_team`).
// Per-token experts (`routed_to` is filled in per variant): workgroup (e, rows block)
// scans the chunk's expert ids on the GPU, computes only the tokens routed to expert e, and
// exits at once when there is none, so each used expert's rows are read once per block and
// unused ones never.
// Params: 0 output rows (per token), 1 cols, 2 tokens T, 3 first weight row of the bound
// window, 4 rows in the window, 5 rows per index step, 6 index bound (experts).

{{BINDINGS}}

fn w_cols() -> u32 {
    return p(1u);
}

{{WEIGHT}}

// Whether token t multiplies weight slice e (always, for one weight shared by the chunk).
fn routed_to(t: u32, e: u32) -> bool {
    return {{ROUTED}};
}

const WG: u32 = 64u;
const TPR: u32 = {{TEAM}}u;
const ROWS: u32 = WG / TPR;
const TB: u32 = 8u;
const MAX_T: u32 = 1024u;

var<workgroup> part: array<f32, WG * TB>;
// Tokens this workgroup computes, in order, and their count.
var<workgroup> toks: array<u32, MAX_T>;
var<workgroup> n_sh: u32;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let rows = p(0u);
    let cols = p(1u);
    let tokens = min(p(2u), MAX_T);
    let blocks = (rows + ROWS - 1u) / ROWS;
    let local = wg_linear(wid, nwg);
    let e = local / blocks;
    if (lid == 0u) {
        var n = 0u;
        for (var t = 0u; t < tokens; t = t + 1u) {
            if (routed_to(t, e)) {
                toks[n] = t;
                n = n + 1u;
            }
        }
        n_sh = n;
    }
    let n = workgroupUniformLoad(&n_sh);
    if (n == 0u) {
        return;
    }
    let team = lid / TPR;
    let lane = lid % TPR;
    let o_want = (local % blocks) * ROWS + team;
    let o = min(o_want, rows - 1u);
    let g = {{WEIGHT_ROW}};
    // Rows outside the bound window (another dispatch holds them) or past the last compute
    // a clamped row and store nothing: the barriers below need every thread.
    let stores = o_want < rows && g >= p(3u) && g < p(3u) + p(4u);
    let r = min(g - min(g, p(3u)), p(4u) - 1u);
    let units = cols / W_CHUNK;
    for (var b = 0u; b < n; b = b + TB) {
        let m = min(TB, n - b);
        // Constant trip counts, so compilers unroll the token loops and keep `acc` and
        // `xb` in registers; slots past the last token are skipped and never stored.
        var acc: array<f32, TB>;
        var xb: array<u32, TB>;
        for (var j = 0u; j < TB; j = j + 1u) {
            xb[j] = toks[b + min(j, m - 1u)] * cols;
        }
        for (var c = lane; c < units; c = c + TPR) {
            let v = w_unit(r, c);
            let col = c * W_CHUNK;
            for (var j = 0u; j < TB; j = j + 1u) {
                // Uniform over the workgroup: a block with few tokens (an expert's) skips
                // the empty slots without diverging.
                if (j < m) {
                    var d = 0.0;
                    for (var k = 0u; k < W_CHUNK; k = k + 1u) {
                        d = d + v[k] * bitcast<f32>(x[xb[j] + col + k]);
                    }
                    acc[j] = acc[j] + d;
                }
            }
        }
        if (TPR > 1u) {
            for (var j = 0u; j < TB; j = j + 1u) {
                part[lid * TB + j] = acc[j];
            }
            workgroupBarrier();
            for (var s = TPR / 2u; s > 0u; s = s >> 1u) {
                if (lane < s) {
                    for (var j = 0u; j < TB; j = j + 1u) {
                        part[lid * TB + j] = part[lid * TB + j] + part[(lid + s) * TB + j];
                    }
                }
                workgroupBarrier();
            }
            for (var j = 0u; j < TB; j = j + 1u) {
                acc[j] = part[lid * TB + j];
            }
            workgroupBarrier();
        }
        if (lane == 0u && stores) {
            for (var j = 0u; j < TB; j = j + 1u) {
                if (j < m) {
                    y[toks[b + j] * rows + o] = bitcast<u32>(acc[j]);
                }
            }
        }
    }
}
