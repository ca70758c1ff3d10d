//! Vectorized dequant-dot: the CPU interpreter's matvec inner loop, at memory bandwidth.
//!
//! One portable source, written as fixed-width lane arrays (`[f32; 16]`) that LLVM turns into
//! vector code, compiled once per instruction-set level and chosen at run time:
//! - x86-64: AVX2 + FMA + F16C by hand-written intrinsics ([`super::avx2`]: the lane arrays
//!   did not vectorize the nibble unpacking there), else the lane arrays at the SSE2 baseline;
//! - aarch64: NEON is part of the baseline, so the portable level is already NEON with fused
//!   multiply-add;
//! - anything else: the portable level.
//!
//! The tests run each level this CPU supports against the scalar decoder ([`super::dot_row`]).
//!
//! The kernels use the per-group identity `Σ (s·q + b)·x = s·Σ q·x + b·Σ x` (affine) and
//! `Σ (v·2^e)·x = 2^e·Σ v·x` (MXFP4): codes are widened to f32 and dotted with `x` in f32 lanes,
//! and the scale and bias are applied once per group. Several rows are processed against one
//! read of `x` (a row tile), which also shares the per-group `Σ x`. Results differ from the
//! scalar decoder only by f32 rounding in a different summation order.
use super::{Row, bf16_to_f32, dot_row, e8m0, f16_to_f32, row_layout};
use std::sync::OnceLock;
use zaya_ir::{DType, WeightFormat};

const LANES: usize = 16;
type Lanes = [f32; LANES];

/// An instruction-set level the kernels are compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// The scalar decoder row by row ([`super::dot_row`]): the plain path the others are
    /// tested against.
    Scalar,
    /// The lane-array kernels at the target's baseline (SSE2 on x86-64, NEON on aarch64).
    Portable,
    /// x86-64 AVX2 + FMA + F16C ([`super::avx2`]).
    Avx2,
}

impl Level {
    /// The level the interpreter uses on this CPU, chosen once: AVX2 where x86-64 has it, else
    /// the scalar decoder (on the SSE2 baseline the lane arrays measured slower than scalar;
    /// `tests/dot_speed.rs` prints every level); the lane arrays on other targets (NEON on
    /// aarch64; not yet measured on a Mac). `ZAYA_CPU_KERNELS=scalar|portable|avx2+fma`
    /// overrides it among the available levels (to measure; results differ only in rounding).
    pub fn detected() -> Level {
        static CHOSEN: OnceLock<Level> = OnceLock::new();
        *CHOSEN.get_or_init(|| {
            let all = Level::available();
            let preferred = match all[all.len() - 1] {
                Level::Portable if cfg!(target_arch = "x86_64") => Level::Scalar,
                best => best,
            };
            match std::env::var("ZAYA_CPU_KERNELS") {
                Ok(name) => match all.iter().find(|l| l.name() == name) {
                    Some(&level) => level,
                    None => {
                        let names: Vec<_> = all.iter().map(|l| l.name()).collect();
                        eprintln!(
                            "warning: ZAYA_CPU_KERNELS={name} is not one of this CPU's levels \
                             ({}); using {preferred}",
                            names.join(", ")
                        );
                        preferred
                    }
                },
                Err(_) => preferred,
            }
        })
    }

    /// Every level this CPU can run, slowest first (tests and benchmarks compare them).
    pub fn available() -> &'static [Level] {
        static LEVELS: OnceLock<Vec<Level>> = OnceLock::new();
        LEVELS.get_or_init(Level::detect)
    }

    fn detect() -> Vec<Level> {
        #[allow(unused_mut)]
        let mut levels = vec![Level::Scalar, Level::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2")
                && std::is_x86_feature_detected!("fma")
                && std::is_x86_feature_detected!("f16c")
            {
                levels.push(Level::Avx2);
            }
        }
        levels
    }

    pub fn name(self) -> &'static str {
        match self {
            Level::Scalar => "scalar",
            Level::Portable if cfg!(target_arch = "aarch64") => "neon",
            Level::Portable => "portable",
            Level::Avx2 => "avx2+fma",
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `out[r] = Σ_i w[r, i] · x[i]` for `out.len()` consecutive rows whose bytes are `rows`
/// (`row_layout(format, x.len())` bytes per row in each part), at the detected level.
pub fn dot_rows(format: WeightFormat, rows: Row, x: &[f32], out: &mut [f32]) {
    dot_rows_at(Level::detected(), format, rows, x, out)
}

/// [`dot_rows`] at a given level. Panics if `level` is not in [`Level::available`] or if the
/// byte lengths do not match `out.len()` rows of `x.len()` columns (caller bugs: a loaded
/// weight's lengths are checked when it is opened).
pub fn dot_rows_at(level: Level, format: WeightFormat, rows: Row, x: &[f32], out: &mut [f32]) {
    let (p, s, b) = row_layout(format, x.len());
    let n = out.len();
    assert!(
        rows.packed.len() == n * p && rows.scales.len() == n * s && rows.biases.len() == n * b,
        "dot_rows: {} rows of {} columns of {format} do not match the bytes given",
        n,
        x.len()
    );
    // Groups the lane kernels do not tile (none of the published formats): the scalar decoder.
    if level == Level::Scalar || !tiled(format) {
        for (r, o) in out.iter_mut().enumerate() {
            let row = Row {
                packed: &rows.packed[r * p..(r + 1) * p],
                scales: &rows.scales[r * s..(r + 1) * s],
                biases: &rows.biases[r * b..(r + 1) * b],
            };
            *o = dot_row(format, row, x);
        }
        return;
    }
    match level {
        Level::Scalar | Level::Portable => portable(format, rows, x, out),
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => {
            assert!(
                Level::available().contains(&level),
                "{level} is not available"
            );
            // SAFETY: the features this function enables were detected above.
            unsafe { super::avx2::dot_rows(format, rows, x, out) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        Level::Avx2 => panic!("{level} is not available on this target"),
    }
}

/// [`super::dequant_row`] at the detected level: the same bits, vectorized where the level
/// has a kernel for the format (AVX2), else the scalar decoder.
pub fn dequant_row(format: WeightFormat, row: Row, out: &mut [f32]) {
    dequant_row_at(Level::detected(), format, row, out)
}

/// [`dequant_row`] at a given level (panics if `level` is not available).
pub fn dequant_row_at(level: Level, format: WeightFormat, row: Row, out: &mut [f32]) {
    let (p, s, b) = row_layout(format, out.len());
    assert!(
        row.packed.len() == p && row.scales.len() == s && row.biases.len() == b,
        "dequant_row: a row of {} columns of {format} does not match the bytes given",
        out.len()
    );
    match level {
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 if tiled(format) => {
            assert!(
                Level::available().contains(&level),
                "{level} is not available"
            );
            // SAFETY: the features this function enables were detected above.
            unsafe { super::avx2::dequant_row(format, row, out) }
        }
        _ => super::dequant_row(format, row, out),
    }
}

/// Whether the vector kernels handle `format`'s groups (all published formats do).
fn tiled(format: WeightFormat) -> bool {
    match format {
        WeightFormat::Affine { group_size, .. } | WeightFormat::Mxfp4 { group_size } => {
            group_size > 0 && group_size % 32 == 0
        }
        WeightFormat::Float { .. } => true,
    }
}

fn portable(format: WeightFormat, rows: Row, x: &[f32], out: &mut [f32]) {
    // NEON always has fused multiply-add; the x86-64 baseline has none (a libm call per
    // element would be far slower than a separate multiply and add).
    kernel::<{ cfg!(target_arch = "aarch64") }, 2>(format, rows, x, out)
}

/// `a·b + c`, fused where the level has FMA.
#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// `acc[l] += a[l] · b[l]`.
#[inline(always)]
fn madd_lanes<const FMA: bool>(acc: &mut Lanes, a: &Lanes, b: &Lanes) {
    for l in 0..LANES {
        acc[l] = madd::<FMA>(a[l], b[l], acc[l]);
    }
}

/// `acc[l] += s · a[l]`.
#[inline(always)]
fn madd_scalar<const FMA: bool>(acc: &mut Lanes, s: f32, a: &Lanes) {
    for l in 0..LANES {
        acc[l] = madd::<FMA>(s, a[l], acc[l]);
    }
}

#[inline(always)]
fn sum_lanes(a: &Lanes) -> f32 {
    let mut h = [0.0f32; LANES / 2];
    for l in 0..LANES / 2 {
        h[l] = a[l] + a[l + LANES / 2];
    }
    ((h[0] + h[4]) + (h[2] + h[6])) + ((h[1] + h[5]) + (h[3] + h[7]))
}

#[inline(always)]
fn lanes_from(x: &[f32]) -> Lanes {
    let mut v = [0.0f32; LANES];
    v.copy_from_slice(&x[..LANES]);
    v
}

/// The even and odd elements of 32 consecutive values (a 4-bit code block holds element
/// `2m` in the low and `2m + 1` in the high nibble of byte `m`).
#[inline(always)]
fn deinterleave(x: &[f32]) -> (Lanes, Lanes) {
    let (mut even, mut odd) = ([0.0f32; LANES], [0.0f32; LANES]);
    for m in 0..LANES {
        even[m] = x[2 * m];
        odd[m] = x[2 * m + 1];
    }
    (even, odd)
}

/// 4-bit codes of 16 bytes: (low nibbles, high nibbles) as f32.
#[inline(always)]
fn nibbles(bytes: &[u8]) -> (Lanes, Lanes) {
    let (mut lo, mut hi) = ([0.0f32; LANES], [0.0f32; LANES]);
    for m in 0..LANES {
        lo[m] = (bytes[m] & 15) as f32;
        hi[m] = (bytes[m] >> 4) as f32;
    }
    (lo, hi)
}

/// Twice the E2M1 values of the low and high nibbles of 16 bytes (twice, so they are the
/// integers 0, 1, 2, 3, 4, 6, 8, 12; the caller halves the group scale, exactly). Computed as
/// `max(c, 2c - 4, 4c - 16)` of the 3 magnitude bits `c`, with bit 3 as the sign: arithmetic
/// that vectorizes and never makes a subnormal (subnormal operands stall x86 multipliers).
#[inline(always)]
fn e2m1_doubled_lanes(bytes: &[u8]) -> (Lanes, Lanes) {
    #[inline(always)]
    fn decode(code: u32) -> f32 {
        let c = (code & 7) as f32;
        let k = c.max(2.0 * c - 4.0).max(4.0 * c - 16.0);
        f32::from_bits(k.to_bits() | ((code & 8) << 28))
    }
    let (mut lo, mut hi) = ([0.0f32; LANES], [0.0f32; LANES]);
    for m in 0..LANES {
        lo[m] = decode(bytes[m] as u32 & 15);
        hi[m] = decode(bytes[m] as u32 >> 4);
    }
    (lo, hi)
}

/// Group `g`'s scale (or bias) in a row's f16/bf16/f32 array.
#[inline(always)]
fn read_scale<const DT: u8>(bytes: &[u8], g: usize) -> f32 {
    match DT {
        BF16 => bf16_to_f32(u16::from_le_bytes([bytes[2 * g], bytes[2 * g + 1]])),
        F16 => f16_to_f32(u16::from_le_bytes([bytes[2 * g], bytes[2 * g + 1]])),
        _ => f32::from_le_bytes([
            bytes[4 * g],
            bytes[4 * g + 1],
            bytes[4 * g + 2],
            bytes[4 * g + 3],
        ]),
    }
}

/// Float element dtypes as const parameters (so each kernel is compiled per dtype).
const F16: u8 = 0;
const BF16: u8 = 1;
const F32: u8 = 2;

const fn dtype_code(dtype: DType) -> u8 {
    match dtype {
        DType::F16 => F16,
        DType::BF16 => BF16,
        _ => F32,
    }
}

/// Runs the format's tile kernel over `out` in tiles of `R` rows, then single rows.
#[inline(always)]
fn kernel<const FMA: bool, const R: usize>(
    format: WeightFormat,
    rows: Row,
    x: &[f32],
    out: &mut [f32],
) {
    let (p, s, b) = row_layout(format, x.len());
    let tile = |r0: usize, n: usize| Row {
        packed: &rows.packed[r0 * p..(r0 + n) * p],
        scales: &rows.scales[r0 * s..(r0 + n) * s],
        biases: &rows.biases[r0 * b..(r0 + n) * b],
    };
    let full = out.len() / R * R;
    let (head, tail) = out.split_at_mut(full);
    for (t, o) in head.chunks_exact_mut(R).enumerate() {
        let o: &mut [f32; R] = o.try_into().expect("chunks of R");
        *o = tile_dot::<FMA, R>(format, tile(t * R, R), (p, s, b), x);
    }
    for (i, o) in tail.iter_mut().enumerate() {
        *o = tile_dot::<FMA, 1>(format, tile(full + i, 1), (p, s, b), x)[0];
    }
}

/// Row `r`'s part of a tile's bytes (`len` bytes per row).
#[inline(always)]
fn part(bytes: &[u8], len: usize, r: usize) -> &[u8] {
    &bytes[r * len..(r + 1) * len]
}

#[inline(always)]
fn tile_dot<const FMA: bool, const R: usize>(
    format: WeightFormat,
    rows: Row,
    (p, s, b): (usize, usize, usize),
    x: &[f32],
) -> [f32; R] {
    let packed: [&[u8]; R] = std::array::from_fn(|r| part(rows.packed, p, r));
    match format {
        WeightFormat::Affine {
            bits,
            group_size,
            scale_dtype,
        } => {
            let scales: [&[u8]; R] = std::array::from_fn(|r| part(rows.scales, s, r));
            let biases: [&[u8]; R] = std::array::from_fn(|r| part(rows.biases, b, r));
            let group = group_size as usize;
            match (bits, dtype_code(scale_dtype)) {
                (8, F16) => affine8::<FMA, R, F16>(group, packed, scales, biases, x),
                (8, BF16) => affine8::<FMA, R, BF16>(group, packed, scales, biases, x),
                (8, _) => affine8::<FMA, R, F32>(group, packed, scales, biases, x),
                (_, F16) => affine4::<FMA, R, F16>(group, packed, scales, biases, x),
                (_, BF16) => affine4::<FMA, R, BF16>(group, packed, scales, biases, x),
                _ => affine4::<FMA, R, F32>(group, packed, scales, biases, x),
            }
        }
        WeightFormat::Mxfp4 { group_size } => {
            let scales: [&[u8]; R] = std::array::from_fn(|r| part(rows.scales, s, r));
            mxfp4::<FMA, R>(group_size as usize, packed, scales, x)
        }
        WeightFormat::Float { dtype } => match dtype_code(dtype) {
            F16 => float::<FMA, R, F16>(packed, x),
            BF16 => float::<FMA, R, BF16>(packed, x),
            _ => float::<FMA, R, F32>(packed, x),
        },
    }
}

/// Applies one group's scale and bias: `acc += s · dot + b · xsum` (all lanes).
#[inline(always)]
fn close_group<const FMA: bool>(acc: &mut Lanes, s: f32, dot: &Lanes, b: f32, xsum: &Lanes) {
    madd_scalar::<FMA>(acc, s, dot);
    madd_scalar::<FMA>(acc, b, xsum);
}

#[inline(always)]
fn affine4<const FMA: bool, const R: usize, const DT: u8>(
    group: usize,
    packed: [&[u8]; R],
    scales: [&[u8]; R],
    biases: [&[u8]; R],
    x: &[f32],
) -> [f32; R] {
    let mut acc = [[0.0f32; LANES]; R];
    for (g, xg) in x.chunks_exact(group).enumerate() {
        let mut dot = [[0.0f32; LANES]; R];
        let mut xsum = [0.0f32; LANES];
        for (c, xb) in xg.chunks_exact(2 * LANES).enumerate() {
            let (even, odd) = deinterleave(xb);
            for l in 0..LANES {
                xsum[l] += even[l] + odd[l];
            }
            let at = g * group / 2 + c * LANES;
            for r in 0..R {
                let (lo, hi) = nibbles(&packed[r][at..at + LANES]);
                madd_lanes::<FMA>(&mut dot[r], &lo, &even);
                madd_lanes::<FMA>(&mut dot[r], &hi, &odd);
            }
        }
        for r in 0..R {
            let (s, b) = (
                read_scale::<DT>(scales[r], g),
                read_scale::<DT>(biases[r], g),
            );
            close_group::<FMA>(&mut acc[r], s, &dot[r], b, &xsum);
        }
    }
    std::array::from_fn(|r| sum_lanes(&acc[r]))
}

#[inline(always)]
fn affine8<const FMA: bool, const R: usize, const DT: u8>(
    group: usize,
    packed: [&[u8]; R],
    scales: [&[u8]; R],
    biases: [&[u8]; R],
    x: &[f32],
) -> [f32; R] {
    let mut acc = [[0.0f32; LANES]; R];
    for (g, xg) in x.chunks_exact(group).enumerate() {
        let mut dot = [[0.0f32; LANES]; R];
        let mut xsum = [0.0f32; LANES];
        for (c, xb) in xg.chunks_exact(LANES).enumerate() {
            let xv = lanes_from(xb);
            for l in 0..LANES {
                xsum[l] += xv[l];
            }
            let at = g * group + c * LANES;
            for r in 0..R {
                let bytes = &packed[r][at..at + LANES];
                let mut q = [0.0f32; LANES];
                for l in 0..LANES {
                    q[l] = bytes[l] as f32;
                }
                madd_lanes::<FMA>(&mut dot[r], &q, &xv);
            }
        }
        for r in 0..R {
            let (s, b) = (
                read_scale::<DT>(scales[r], g),
                read_scale::<DT>(biases[r], g),
            );
            close_group::<FMA>(&mut acc[r], s, &dot[r], b, &xsum);
        }
    }
    std::array::from_fn(|r| sum_lanes(&acc[r]))
}

#[inline(always)]
fn mxfp4<const FMA: bool, const R: usize>(
    group: usize,
    packed: [&[u8]; R],
    scales: [&[u8]; R],
    x: &[f32],
) -> [f32; R] {
    let mut acc = [[0.0f32; LANES]; R];
    for (g, xg) in x.chunks_exact(group).enumerate() {
        let mut dot = [[0.0f32; LANES]; R];
        for (c, xb) in xg.chunks_exact(2 * LANES).enumerate() {
            let (even, odd) = deinterleave(xb);
            let at = g * group / 2 + c * LANES;
            for r in 0..R {
                let (lo, hi) = e2m1_doubled_lanes(&packed[r][at..at + LANES]);
                madd_lanes::<FMA>(&mut dot[r], &lo, &even);
                madd_lanes::<FMA>(&mut dot[r], &hi, &odd);
            }
        }
        for r in 0..R {
            madd_scalar::<FMA>(&mut acc[r], 0.5 * e8m0(scales[r][g]), &dot[r]);
        }
    }
    std::array::from_fn(|r| sum_lanes(&acc[r]))
}

/// Float rows of dtype `DT`; the tail goes to lanes `i % 16`.
#[allow(clippy::needless_range_loop)] // one index walks several parallel arrays
#[inline(always)]
fn float<const FMA: bool, const R: usize, const DT: u8>(packed: [&[u8]; R], x: &[f32]) -> [f32; R] {
    let mut acc = [[0.0f32; LANES]; R];
    let full = x.len() / LANES * LANES;
    for (c, xb) in x[..full].chunks_exact(LANES).enumerate() {
        let xv = lanes_from(xb);
        for r in 0..R {
            let mut w = [0.0f32; LANES];
            for l in 0..LANES {
                w[l] = read_scale::<DT>(packed[r], c * LANES + l);
            }
            madd_lanes::<FMA>(&mut acc[r], &w, &xv);
        }
    }
    for i in full..x.len() {
        for r in 0..R {
            let w = read_scale::<DT>(packed[r], i);
            acc[r][i % LANES] = madd::<FMA>(w, x[i], acc[r][i % LANES]);
        }
    }
    std::array::from_fn(|r| sum_lanes(&acc[r]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{dequant_row as scalar_dequant_row, row_layout};
    use rand::{Rng, SeedableRng, rngs::StdRng};

    /// Random rows of `format` with finite, varied scales (sd of the weights ~0.02).
    fn random_rows(
        format: WeightFormat,
        rows: usize,
        cols: usize,
        rng: &mut StdRng,
    ) -> Vec<Vec<u8>> {
        let (p, s, _) = row_layout(format, cols);
        let mut packed: Vec<u8> = (0..rows * p).map(|_| rng.random()).collect();
        let half_of = |v: f32, dt: DType| -> [u8; 2] {
            match dt {
                DType::BF16 => half::bf16::from_f32(v).to_le_bytes(),
                _ => half::f16::from_f32(v).to_le_bytes(),
            }
        };
        let (scales, biases) = match format {
            WeightFormat::Affine { scale_dtype, .. } => {
                let mut scales = vec![];
                let mut biases = vec![];
                for _ in 0..s * rows / 2 {
                    scales.extend(half_of(rng.random_range(0.001..0.01), scale_dtype));
                    biases.extend(half_of(rng.random_range(-0.05..0.05), scale_dtype));
                }
                (scales, biases)
            }
            WeightFormat::Mxfp4 { .. } => (
                (0..rows * s).map(|_| rng.random_range(110..135)).collect(),
                vec![],
            ),
            WeightFormat::Float { dtype } => {
                packed.clear();
                for _ in 0..rows * cols {
                    let v: f32 = rng.random_range(-0.1..0.1);
                    match dtype {
                        DType::F32 => packed.extend(v.to_le_bytes()),
                        _ => packed.extend(half_of(v, dtype)),
                    }
                }
                (vec![], vec![])
            }
        };
        vec![packed, scales, biases]
    }

    fn formats() -> Vec<WeightFormat> {
        let mut all = vec![];
        for bits in [4, 8] {
            for group_size in [32, 64, 128] {
                for scale_dtype in [DType::F16, DType::BF16] {
                    all.push(WeightFormat::Affine {
                        bits,
                        group_size,
                        scale_dtype,
                    });
                }
            }
        }
        all.push(WeightFormat::Mxfp4 { group_size: 32 });
        for dtype in [DType::F16, DType::BF16, DType::F32] {
            all.push(WeightFormat::Float { dtype });
        }
        all
    }

    /// Every level against `dot(dequant_row)` in f64, within f32 summation-order error:
    /// row counts that leave every tile remainder, column counts of 1, 3, 5, 11 and 16 groups (and
    /// float tails of every length mod 16).
    #[test]
    fn every_level_matches_the_scalar_decoder_on_odd_shapes() {
        let mut rng = StdRng::seed_from_u64(15);
        let levels = Level::available();
        eprintln!("levels: {levels:?}");
        for format in formats() {
            let col_cases: Vec<usize> = match format {
                WeightFormat::Affine { group_size, .. } | WeightFormat::Mxfp4 { group_size } => {
                    // 11 and 16: whole runs of 8 groups (scales widened 8 at a time) and a remainder.
                    [1, 3, 5, 11, 16].map(|k| k * group_size as usize).to_vec()
                }
                WeightFormat::Float { .. } => vec![1, 7, 15, 16, 17, 31, 33, 100],
            };
            for cols in col_cases {
                for rows in [1, 2, 3, 5, 7, 9] {
                    let bytes = random_rows(format, rows, cols, &mut rng);
                    let all = Row {
                        packed: &bytes[0],
                        scales: &bytes[1],
                        biases: &bytes[2],
                    };
                    let x: Vec<f32> = (0..cols).map(|_| rng.random_range(-2.0..2.0)).collect();
                    let (p, s, b) = row_layout(format, cols);
                    let mut w = vec![0.0f32; cols];
                    let want: Vec<(f64, f64)> = (0..rows)
                        .map(|r| {
                            let row = Row {
                                packed: &all.packed[r * p..(r + 1) * p],
                                scales: &all.scales[r * s..(r + 1) * s],
                                biases: &all.biases[r * b..(r + 1) * b],
                            };
                            scalar_dequant_row(format, row, &mut w);
                            let exact: f64 =
                                w.iter().zip(&x).map(|(&w, &x)| w as f64 * x as f64).sum();
                            let magnitude: f64 = w
                                .iter()
                                .zip(&x)
                                .map(|(&w, &x)| (w as f64 * x as f64).abs())
                                .sum();
                            (exact, magnitude)
                        })
                        .collect();
                    for &level in levels {
                        let mut got = vec![f32::NAN; rows];
                        dot_rows_at(level, format, all, &x, &mut got);
                        for (r, (&g, &(exact, magnitude))) in got.iter().zip(&want).enumerate() {
                            // f32 rounding of partial sums plus the per-group s·Σq·x
                            // re-association: a few ulps of the absolute sum.
                            let tol = 1e-5 * magnitude + 1e-6 * exact.abs() + 1e-30;
                            assert!(
                                (g as f64 - exact).abs() <= tol,
                                "{format} {level}: {rows}x{cols}, row {r}: {g} vs {exact} (tol {tol})"
                            );
                        }
                    }
                }
            }
        }
    }

    /// Every level's dequantization is the scalar decoder's, bit for bit (-0 and all).
    #[test]
    fn every_level_dequantizes_bit_for_bit() {
        let mut rng = StdRng::seed_from_u64(16);
        for format in formats() {
            let cols = match format {
                WeightFormat::Affine { group_size, .. } | WeightFormat::Mxfp4 { group_size } => {
                    3 * group_size as usize
                }
                WeightFormat::Float { .. } => 37,
            };
            let bytes = random_rows(format, 1, cols, &mut rng);
            let row = Row {
                packed: &bytes[0],
                scales: &bytes[1],
                biases: &bytes[2],
            };
            let mut want = vec![0.0f32; cols];
            scalar_dequant_row(format, row, &mut want);
            for &level in Level::available() {
                let mut got = vec![f32::NAN; cols];
                dequant_row_at(level, format, row, &mut got);
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "{format} {level}");
            }
        }
    }

    #[test]
    fn nan_scales_propagate_at_every_level() {
        let format = WeightFormat::Mxfp4 { group_size: 32 };
        let packed = [0x11u8; 16];
        let x = [1.0f32; 32];
        for &level in Level::available() {
            let mut got = [0.0f32];
            dot_rows_at(
                level,
                format,
                Row {
                    packed: &packed,
                    scales: &[255],
                    biases: &[],
                },
                &x,
                &mut got,
            );
            assert!(got[0].is_nan(), "{level}: {}", got[0]);
        }
    }

    #[test]
    fn e2m1_lanes_decode_every_code() {
        let bytes: Vec<u8> = (0..16u8).map(|c| c | (15 - c) << 4).collect();
        let (lo, hi) = e2m1_doubled_lanes(&bytes);
        for c in 0..16u8 {
            let want = |c: u8| (2.0 * crate::quant::e2m1(c)).to_bits();
            assert_eq!(lo[c as usize].to_bits(), want(c), "code {c}");
            assert_eq!(hi[c as usize].to_bits(), want(15 - c), "code {}", 15 - c);
        }
    }
}
