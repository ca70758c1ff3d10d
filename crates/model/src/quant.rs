//! CPU dequantization of one weight row, bit-exact with the spec (§5).
//!
//! - Affine (MLX): `w = f32(scale) * q + f32(bias)`, computed as a separate multiply and add
//!   (the goldens were made with `f32(scales) * q + f32(biases)` in torch float32). The
//!   product of an f16/bf16 scale and an 8-bit code is exact in f32, so the add is the only
//!   rounding and an FMA would give the same bits; we still do not fuse, to match the
//!   formula literally.
//!   Codes are little-endian in each u32, first element in the lowest bits, so for 8 bits
//!   element k is simply byte k, and for 4 bits it is the low (even k) or high (odd k)
//!   nibble of byte k/2.
//! - MXFP4 (OCP): `w = E2M1(code) * 2^(e - 127)`; exact in f32. An E8M0 scale of 255 is
//!   NaN in OCP: it dequantizes to NaN (the loader does not read data at open, so it cannot
//!   reject it there; NaN then shows up in any reference comparison).
//! - Float: f16, bf16 or f32 widened to f32.
//!
//! `dot_row` decodes 8 elements at a time into 8 independent accumulators and computes exactly
//! the dequantized values, so it differs from `dot(dequant_row)` only in summation order. It
//! is the plain path: the interpreter's matvec runs [`simd::dot_rows`] (vectorized, several
//! rows per pass, chosen by CPU features at run time), which is tested against it.
use zaya_ir::{DType, WeightFormat};

#[cfg(target_arch = "x86_64")]
mod avx2;
pub mod simd;
pub use simd::dot_rows;

/// E2M1 magnitudes indexed by code bits 0-2.
pub const E2M1_MAGNITUDES: [f32; 8] = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0];

/// All 16 E2M1 codes (bit 3 = sign).
const E2M1_TABLE: [f32; 16] = {
    let mut t = [0.0f32; 16];
    let mut i = 0;
    while i < 8 {
        t[i] = E2M1_MAGNITUDES[i];
        t[i + 8] = -E2M1_MAGNITUDES[i];
        i += 1;
    }
    t
};

/// Value of a 4-bit E2M1 code (only the low 4 bits are used).
pub fn e2m1(code: u8) -> f32 {
    E2M1_TABLE[(code & 15) as usize]
}

/// `2^(e - 127)` for an E8M0 scale byte; 255 is NaN (OCP).
pub fn e8m0(e: u8) -> f32 {
    match e {
        // 2^-127 is an f32 subnormal: mantissa bit 22.
        0 => f32::from_bits(0x0040_0000),
        255 => f32::NAN,
        e => f32::from_bits((e as u32) << 23),
    }
}

/// Exact f16 -> f32 without branches (vectorizes, unlike a per-element library call):
/// place exponent and mantissa in an f32 and rebias by multiplying with 2^112 (exact for
/// normals and subnormals), then force the exponent to all-ones for inf/NaN.
#[inline(always)]
pub fn f16_to_f32(h: u16) -> f32 {
    let h = h as u32;
    let magnitude = f32::from_bits((h & 0x7fff) << 13) * f32::from_bits(0x7780_0000);
    let special = if h & 0x7c00 == 0x7c00 { 0x7f80_0000 } else { 0 };
    f32::from_bits(magnitude.to_bits() | special | ((h & 0x8000) << 16))
}

#[inline(always)]
fn bf16_to_f32(h: u16) -> f32 {
    f32::from_bits((h as u32) << 16)
}

/// Element `i` of a little-endian float array in `dtype` (f16, bf16 or f32).
#[inline(always)]
pub fn read_float(bytes: &[u8], dtype: DType, i: usize) -> f32 {
    let half = || u16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]]);
    match dtype {
        DType::F16 => f16_to_f32(half()),
        DType::BF16 => bf16_to_f32(half()),
        DType::F32 => f32::from_le_bytes([
            bytes[4 * i],
            bytes[4 * i + 1],
            bytes[4 * i + 2],
            bytes[4 * i + 3],
        ]),
        // Integer dtypes never reach here: the loader only builds Float formats from floats.
        DType::U32 | DType::U8 | DType::I32 => f32::NAN,
    }
}

/// Bytes of one row of `cols` values: (packed, scales, biases).
pub fn row_layout(format: WeightFormat, cols: usize) -> (usize, usize, usize) {
    match format {
        WeightFormat::Affine {
            bits,
            group_size,
            scale_dtype,
        } => {
            let s = cols / group_size as usize * scale_dtype.size();
            (cols * bits as usize / 8, s, s)
        }
        WeightFormat::Mxfp4 { group_size } => (cols / 2, cols / group_size as usize, 0),
        WeightFormat::Float { dtype } => (cols * dtype.size(), 0, 0),
    }
}

/// One row's bytes, as `row_layout` describes them.
#[derive(Clone, Copy)]
pub struct Row<'a> {
    pub packed: &'a [u8],
    pub scales: &'a [u8],
    pub biases: &'a [u8],
}

/// Dequantizes one row into `out` (`out.len()` = columns).
pub fn dequant_row(format: WeightFormat, row: Row, out: &mut [f32]) {
    match format {
        WeightFormat::Affine {
            bits: 8,
            group_size,
            scale_dtype,
        } => affine_row::<8>(group_size as usize, scale_dtype, row, out),
        WeightFormat::Affine {
            group_size,
            scale_dtype,
            ..
        } => affine_row::<4>(group_size as usize, scale_dtype, row, out),
        WeightFormat::Mxfp4 { group_size } => mxfp4_row(group_size as usize, row, out),
        WeightFormat::Float { dtype } => {
            for (i, o) in out.iter_mut().enumerate() {
                *o = read_float(row.packed, dtype, i);
            }
        }
    }
}

/// `sum_i w[i] * x[i]` over one row, without materializing `w`.
pub fn dot_row(format: WeightFormat, row: Row, x: &[f32]) -> f32 {
    match format {
        WeightFormat::Affine {
            bits: 8,
            group_size,
            scale_dtype,
        } => affine_dot::<8>(group_size as usize, scale_dtype, row, x),
        WeightFormat::Affine {
            group_size,
            scale_dtype,
            ..
        } => affine_dot::<4>(group_size as usize, scale_dtype, row, x),
        WeightFormat::Mxfp4 { group_size } => mxfp4_dot(group_size as usize, row, x),
        WeightFormat::Float { dtype } => float_dot(dtype, row.packed, x),
    }
}

/// The 8 codes held in `BITS` bytes (4 bytes for 4-bit, 8 bytes for 8-bit).
#[inline(always)]
fn codes8<const BITS: usize>(bytes: &[u8]) -> [f32; 8] {
    let mut q = [0.0f32; 8];
    if BITS == 8 {
        for k in 0..8 {
            q[k] = bytes[k] as f32;
        }
    } else {
        for m in 0..4 {
            q[2 * m] = (bytes[m] & 15) as f32;
            q[2 * m + 1] = (bytes[m] >> 4) as f32;
        }
    }
    q
}

/// The 8 E2M1 code values held in 4 bytes.
#[inline(always)]
fn e2m1_8(bytes: &[u8]) -> [f32; 8] {
    let mut v = [0.0f32; 8];
    for m in 0..4 {
        v[2 * m] = E2M1_TABLE[(bytes[m] & 15) as usize];
        v[2 * m + 1] = E2M1_TABLE[(bytes[m] >> 4) as usize];
    }
    v
}

/// The 16 values `s * q + b` of a 4-bit group: computed once per group (same operations,
/// same bits), then looked up per code.
#[inline(always)]
fn affine4_table(s: f32, b: f32) -> [f32; 16] {
    let mut t = [0.0f32; 16];
    for (q, v) in t.iter_mut().enumerate() {
        *v = s * q as f32 + b;
    }
    t
}

fn affine_row<const BITS: usize>(group: usize, sd: DType, row: Row, out: &mut [f32]) {
    let group_bytes = group * BITS / 8;
    let groups = row
        .packed
        .chunks_exact(group_bytes)
        .zip(out.chunks_exact_mut(group));
    for (g, (bytes, out)) in groups.enumerate() {
        let (s, b) = (read_float(row.scales, sd, g), read_float(row.biases, sd, g));
        for (chunk, o) in bytes.chunks_exact(BITS).zip(out.chunks_exact_mut(8)) {
            let q = codes8::<BITS>(chunk);
            for k in 0..8 {
                o[k] = s * q[k] + b;
            }
        }
    }
}

fn affine_dot<const BITS: usize>(group: usize, sd: DType, row: Row, x: &[f32]) -> f32 {
    if BITS == 4 {
        return affine4_dot(group, sd, row, x);
    }
    let group_bytes = group * BITS / 8;
    let mut acc = [0.0f32; 8];
    let groups = row
        .packed
        .chunks_exact(group_bytes)
        .zip(x.chunks_exact(group));
    for (g, (bytes, x)) in groups.enumerate() {
        let (s, b) = (read_float(row.scales, sd, g), read_float(row.biases, sd, g));
        for (chunk, x) in bytes.chunks_exact(BITS).zip(x.chunks_exact(8)) {
            let q = codes8::<BITS>(chunk);
            for k in 0..8 {
                acc[k] += (s * q[k] + b) * x[k];
            }
        }
    }
    sum8(acc)
}

fn affine4_dot(group: usize, sd: DType, row: Row, x: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let groups = row
        .packed
        .chunks_exact(group / 2)
        .zip(x.chunks_exact(group));
    for (g, (bytes, x)) in groups.enumerate() {
        let t = affine4_table(read_float(row.scales, sd, g), read_float(row.biases, sd, g));
        for (chunk, x) in bytes.chunks_exact(4).zip(x.chunks_exact(8)) {
            for m in 0..4 {
                acc[2 * m] += t[(chunk[m] & 15) as usize] * x[2 * m];
                acc[2 * m + 1] += t[(chunk[m] >> 4) as usize] * x[2 * m + 1];
            }
        }
    }
    sum8(acc)
}

fn mxfp4_row(group: usize, row: Row, out: &mut [f32]) {
    let groups = row
        .packed
        .chunks_exact(group / 2)
        .zip(out.chunks_exact_mut(group));
    for ((bytes, out), &e) in groups.zip(row.scales) {
        let scale = e8m0(e);
        for (chunk, o) in bytes.chunks_exact(4).zip(out.chunks_exact_mut(8)) {
            let v = e2m1_8(chunk);
            for k in 0..8 {
                o[k] = v[k] * scale;
            }
        }
    }
}

fn mxfp4_dot(group: usize, row: Row, x: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let groups = row
        .packed
        .chunks_exact(group / 2)
        .zip(x.chunks_exact(group));
    for ((bytes, x), &e) in groups.zip(row.scales) {
        let scale = e8m0(e);
        for (chunk, x) in bytes.chunks_exact(4).zip(x.chunks_exact(8)) {
            let v = e2m1_8(chunk);
            for k in 0..8 {
                acc[k] += (v[k] * scale) * x[k];
            }
        }
    }
    sum8(acc)
}

fn float_dot(dtype: DType, bytes: &[u8], x: &[f32]) -> f32 {
    match dtype {
        DType::F16 => half_dot(bytes, x, f16_to_f32),
        DType::BF16 => half_dot(bytes, x, bf16_to_f32),
        _ => {
            let mut acc = [0.0f32; 8];
            for (i, &xi) in x.iter().enumerate() {
                acc[i % 8] += read_float(bytes, dtype, i) * xi;
            }
            sum8(acc)
        }
    }
}

/// 16-bit floats, 8 per step, with the same lane assignment as the tail (`i % 8`).
#[inline(always)]
fn half_dot(bytes: &[u8], x: &[f32], widen: fn(u16) -> f32) -> f32 {
    let mut acc = [0.0f32; 8];
    let full = x.len() / 8 * 8;
    for (b, x8) in bytes.chunks_exact(16).zip(x[..full].chunks_exact(8)) {
        for k in 0..8 {
            acc[k] += widen(u16::from_le_bytes([b[2 * k], b[2 * k + 1]])) * x8[k];
        }
    }
    for i in full..x.len() {
        acc[i % 8] += widen(u16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]])) * x[i];
    }
    sum8(acc)
}

#[inline(always)]
fn sum8(a: [f32; 8]) -> f32 {
    ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
}

/// Packs codes (each < 2^bits) into little-endian u32 words, first element lowest: the
/// inverse of the decoder, for tests and the random bundle writer.
pub fn pack_codes(codes: &[u32], bits: u32) -> Vec<u8> {
    let per_word = (32 / bits) as usize;
    let mut out = Vec::with_capacity(codes.len() * bits as usize / 8);
    for word_codes in codes.chunks(per_word) {
        let word = word_codes.iter().enumerate().fold(0u32, |w, (k, &c)| {
            w | ((c & ((1u32 << bits) - 1)) << (k as u32 * bits))
        });
        out.extend_from_slice(&word.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e2m1_and_e8m0_values() {
        assert_eq!(e2m1(0b0111), 6.0);
        assert_eq!(e2m1(0b1011), -1.5);
        assert_eq!(e2m1(0b1000), -0.0);
        assert_eq!(e8m0(127), 1.0);
        assert_eq!(e8m0(130), 8.0);
        assert_eq!(e8m0(0), 2f32.powi(-127));
        assert!(e8m0(255).is_nan());
    }

    #[test]
    fn f16_conversion_matches_half_for_every_value() {
        for h in 0..=u16::MAX {
            let (ours, theirs) = (f16_to_f32(h), half::f16::from_bits(h).to_f32());
            assert!(
                ours.to_bits() == theirs.to_bits() || (ours.is_nan() && theirs.is_nan()),
                "{h:#06x}"
            );
        }
    }

    #[test]
    fn pack_codes_is_lsb_first() {
        let bytes = pack_codes(&[1, 2, 3, 4, 5, 6, 7, 8], 4);
        assert_eq!(
            u32::from_le_bytes(bytes[..4].try_into().unwrap()),
            0x8765_4321
        );
        let bytes = pack_codes(&[0xAA, 0xBB, 0xCC, 0xDD], 8);
        assert_eq!(
            u32::from_le_bytes(bytes[..4].try_into().unwrap()),
            0xDDCC_BBAA
        );
    }
}
