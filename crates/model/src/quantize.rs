//! Quantizers for the converter: MLX 0.32 `mx.quantize` (CPU backend) bit for bit, one row
//! at a time. The decoders they invert live in [`crate::quant`]; codes are packed with
//! [`crate::quant::pack_codes`].
//!
//! All arithmetic is f32 in the order MLX uses, so the codes, f16 scales/biases and E8M0
//! exponents equal the published converter's output exactly (the fixture tests hold that).
use half::f16;

/// MLX's floor on an affine group's step (`(max - min) / (2^bits - 1)`).
const AFFINE_MIN_SCALE: f32 = 1e-7;

/// Affine quantization of one row: per group of `group_size`, `value = scale * q + bias`.
///
/// The scale takes the sign that maps the group's larger-magnitude edge to code 0, and is then
/// nudged so that edge is exact (`scale = edge / round(edge / scale)`); codes round half to
/// even and clamp to `[0, 2^bits - 1]`. Appends codes, and f16 scales and biases (as bits).
pub fn affine_row(
    row: &[f32],
    group_size: usize,
    bits: u32,
    codes: &mut Vec<u32>,
    scales: &mut Vec<u16>,
    biases: &mut Vec<u16>,
) {
    let max_code = ((1u32 << bits) - 1) as f32;
    for group in row.chunks_exact(group_size) {
        let (lo, hi) = group
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| {
                (lo.min(x), hi.max(x))
            });
        let step = ((hi - lo) / max_code).max(AFFINE_MIN_SCALE);
        let (mut scale, edge) = if lo.abs() > hi.abs() {
            (step, lo)
        } else {
            (-step, hi)
        };
        let q0 = (edge / scale).round_ties_even();
        let bias = if q0 == 0.0 {
            0.0
        } else {
            scale = edge / q0;
            edge
        };
        for &x in group {
            let q = ((x - bias) / scale).round_ties_even().clamp(0.0, max_code);
            codes.push(q as u32);
        }
        scales.push(f16::from_f32(scale).to_bits());
        biases.push(f16::from_f32(bias).to_bits());
    }
}

/// OCP MXFP4 quantization of one row (MLX mode `mxfp4`): per group of `group_size`, an E8M0
/// exponent (the smallest power of two >= amax / 6) and E2M1 codes of `x / 2^(e - 127)`.
pub fn mxfp4_row(row: &[f32], group_size: usize, codes: &mut Vec<u32>, exponents: &mut Vec<u8>) {
    for group in row.chunks_exact(group_size) {
        let amax = group.iter().fold(0f32, |m, &x| m.max(x.abs()));
        let e = e8m0_round_up(amax / 6.0);
        let scale = if e == 0 {
            f32::from_bits(1 << 22) // 2^-127, the E8M0 code 0
        } else {
            2f32.powi(i32::from(e) - 127)
        };
        let inv = 1.0 / scale;
        codes.extend(group.iter().map(|&x| e2m1_encode(x * inv)));
        exponents.push(e);
    }
}

/// The biased E8M0 exponent of the smallest power of two >= `x` (x >= 0), clamped to
/// [2^-127, 2^127]; 127 for 0 and 255 for a non-finite `x` (MLX's `mx_scale_round_up`).
pub fn e8m0_round_up(x: f32) -> u8 {
    if !x.is_finite() {
        return 255;
    }
    if x == 0.0 {
        return 127;
    }
    let bits = x.to_bits();
    let (biased, mantissa) = ((bits >> 23) & 0xff, bits & 0x7f_ffff);
    // x = 2^n exactly when the mantissa is a power of two (subnormal) or zero (normal).
    let n: i32 = if biased == 0 {
        let top = 31 - mantissa.leading_zeros() as i32; // x in [2^(top-149), 2^(top-148))
        if mantissa.is_power_of_two() {
            top - 149
        } else {
            top - 148
        }
    } else if mantissa == 0 {
        biased as i32 - 127
    } else {
        biased as i32 - 126
    };
    (n.clamp(-127, 127) + 127) as u8
}

/// E2M1 code (bit 3 = sign) of `x` as MLX's CPU backend rounds: ties toward zero, values
/// that round to zero get code 0 (never -0), NaN gets 7.
pub fn e2m1_encode(x: f32) -> u32 {
    const THRESHOLDS: [f32; 7] = [0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0];
    if x.is_nan() {
        return 7;
    }
    let a = x.abs();
    let code = THRESHOLDS.iter().filter(|&&t| a > t).count() as u32;
    if code != 0 && x.is_sign_negative() {
        code | 8
    } else {
        code
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant;

    #[test]
    fn e2m1_ties_round_toward_zero() {
        let cases = [
            (0.25, 0),
            (0.26, 1),
            (0.75, 1),
            (1.25, 2),
            (1.75, 3),
            (2.5, 4),
            (3.5, 5),
            (5.0, 6),
            (7.0, 7),
            (-0.1, 0),
            (-6.0, 15),
        ];
        for (x, code) in cases {
            assert_eq!(e2m1_encode(x), code, "{x}");
        }
    }

    #[test]
    fn e8m0_is_the_smallest_power_of_two_at_least_x() {
        assert_eq!(e8m0_round_up(1.0), 127);
        assert_eq!(e8m0_round_up(1.5), 128);
        assert_eq!(e8m0_round_up(0.5), 126);
        assert_eq!(e8m0_round_up(0.0), 127);
        assert_eq!(e8m0_round_up(f32::INFINITY), 255);
        assert_eq!(e8m0_round_up(f32::from_bits(1)), 0); // 2^-149 clamps to 2^-127
        assert_eq!(e8m0_round_up(1e30), 127 + 100);
        for k in -126..127 {
            let p = 2f32.powi(k);
            assert_eq!(e8m0_round_up(p), (k + 127) as u8, "2^{k}");
            assert_eq!(
                e8m0_round_up(p * 1.01),
                (k + 128).min(254) as u8,
                "2^{k}*1.01"
            );
        }
    }

    #[test]
    fn affine_round_trip_error_is_within_half_a_step() {
        let row: Vec<f32> = (0..64)
            .map(|i| ((i * 37) % 19) as f32 * 0.01 - 0.07)
            .collect();
        let (mut codes, mut scales, mut biases) = (vec![], vec![], vec![]);
        affine_row(&row, 32, 4, &mut codes, &mut scales, &mut biases);
        let packed = quant::pack_codes(&codes, 4);
        let scale_bytes: Vec<u8> = scales.iter().flat_map(|s| s.to_le_bytes()).collect();
        let bias_bytes: Vec<u8> = biases.iter().flat_map(|s| s.to_le_bytes()).collect();
        let format = zaya_ir::WeightFormat::Affine {
            bits: 4,
            group_size: 32,
            scale_dtype: zaya_ir::DType::F16,
        };
        let mut back = vec![0f32; 64];
        let r = quant::Row {
            packed: &packed,
            scales: &scale_bytes,
            biases: &bias_bytes,
        };
        quant::dequant_row(format, r, &mut back);
        for (g, (a, b)) in row.chunks(32).zip(back.chunks(32)).enumerate() {
            let step = f16::from_bits(scales[g]).to_f32().abs();
            for (x, y) in a.iter().zip(b) {
                assert!((x - y).abs() <= step * 0.51 + 1e-3, "{x} vs {y}");
            }
        }
    }
}
