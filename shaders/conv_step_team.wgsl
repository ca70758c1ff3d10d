// A grouped conv_step spread over the device (region kernels whose phase is this one op):
// a team of CONV_TEAM lanes per output channel, WG / CONV_TEAM outputs per workgroup, the
// team's partial sums added in workgroup memory. Output e of group grp reads window rows
// grp * in_per .. +in_per, `taps` columns each. Data is reached through accessors the
// includer defines: conv_wt (weight), conv_win (window), conv_bias, conv_out (u32 writes).
// Call from uniform control flow (it contains a barrier).
const CONV_TEAM: u32 = 8u;

var<workgroup> conv_red: array<f32, WG>;

fn conv_team(lid: u32, wg: u32, c_out: u32, in_per: u32, out_per: u32, taps: u32) {
    let team = lid / CONV_TEAM;
    let lane = lid % CONV_TEAM;
    let e = wg * (WG / CONV_TEAM) + team;
    let eo = min(e, c_out - 1u);
    let grp = eo / out_per;
    var acc = 0.0;
    for (var r = lane; r < in_per * taps; r = r + CONV_TEAM) {
        let ci = r / taps;
        let t = r % taps;
        acc = acc + conv_wt((eo * in_per + ci) * taps + t) * conv_win((grp * in_per + ci) * taps + t);
    }
    conv_red[lid] = acc;
    workgroupBarrier();
    if (lane == 0u && e < c_out) {
        var s = conv_bias(eo);
        for (var j = 0u; j < CONV_TEAM; j = j + 1u) {
            s = s + conv_red[lid + j];
        }
        conv_out(eo, bitcast<u32>(s));
    }
}
