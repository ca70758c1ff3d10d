// erf is not a WGSL builtin. Abramowitz & Stegun 7.1.26: |error| <= 1.5e-7 for all x,
// which keeps exact-erf GELU within ~1e-7 * |x| of the CPU's libm erff.
fn erf_approx(x: f32) -> f32 {
    let a = abs(x);
    let t = 1.0 / (1.0 + 0.3275911 * a);
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741
        + t * (-1.453152027 + t * 1.061405429))));
    let y = 1.0 - poly * exp(-a * a);
    return select(y, -y, x < 0.0);
}
