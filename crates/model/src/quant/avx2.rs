//! x86-64 AVX2 + FMA + F16C dequant-dot kernels: the interpreter's matvec on most x86 CPUs.
//!
//! Auto-vectorized lane arrays ([`super::simd`]'s portable level) reached less than the scalar
//! decoder here: LLVM kept the nibble unpacking and the stride-2 split of `x` scalar. These
//! kernels say each step instead:
//! - 4-bit codes: one 16-byte load per 32 codes, nibbles split with a mask and a shift and put
//!   back in element order with a byte unpack, so `x` is read as stored (no deinterleave);
//! - MXFP4: the nibbles index a 16-entry byte table of twice the E2M1 values (`pshufb`), the
//!   group scale is halved (exact);
//! - affine groups use `Σ (s·q + b)·x = s·Σ q·x + b·Σ x`, with `Σ x` shared by the row tile,
//!   scales and biases widened 8 groups at a time;
//! - a tile of [`TILE`] rows shares every load of `x`.
//!
//! Results differ from the scalar decoder only by f32 rounding in another summation order
//! (tested in `simd`'s tests at every level).
#![allow(unused_unsafe)] // intrinsics became safe inside `target_feature` functions in 1.87

use super::{Row, bf16_to_f32, e8m0, f16_to_f32, row_layout};
use std::arch::x86_64::*;
use zaya_ir::{DType, WeightFormat};

/// Rows decoded per pass over `x`.
const TILE: usize = 4;

/// `out[r] = Σ_i w[r, i] · x[i]` for `out.len()` consecutive rows. The caller checked the
/// byte lengths and that group sizes are multiples of 32.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot_rows(format: WeightFormat, rows: Row, x: &[f32], out: &mut [f32]) {
    let (p, s, b) = row_layout(format, x.len());
    let full = out.len() / TILE * TILE;
    let (head, tail) = out.split_at_mut(full);
    for (t, o) in head.chunks_exact_mut(TILE).enumerate() {
        let o: &mut [f32; TILE] = o.try_into().expect("chunks of TILE");
        *o = tile::<TILE>(format, &rows, (p, s, b), t * TILE, x);
    }
    for (i, o) in tail.iter_mut().enumerate() {
        *o = tile::<1>(format, &rows, (p, s, b), full + i, x)[0];
    }
}

/// Rows `r0 .. r0 + R` of `rows`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn tile<const R: usize>(
    format: WeightFormat,
    rows: &Row,
    (p, s, b): (usize, usize, usize),
    r0: usize,
    x: &[f32],
) -> [f32; R] {
    let packed = part::<R>(rows.packed, p, r0);
    match format {
        WeightFormat::Affine {
            bits,
            group_size,
            scale_dtype,
        } => {
            let (scales, biases) = (part::<R>(rows.scales, s, r0), part::<R>(rows.biases, b, r0));
            let group = group_size as usize;
            match (bits, scale_dtype) {
                (8, DType::F16) => affine::<R, 8, F16>(group, packed, scales, biases, x),
                (8, DType::BF16) => affine::<R, 8, BF16>(group, packed, scales, biases, x),
                (8, _) => affine::<R, 8, F32>(group, packed, scales, biases, x),
                (_, DType::F16) => affine::<R, 4, F16>(group, packed, scales, biases, x),
                (_, DType::BF16) => affine::<R, 4, BF16>(group, packed, scales, biases, x),
                _ => affine::<R, 4, F32>(group, packed, scales, biases, x),
            }
        }
        WeightFormat::Mxfp4 { group_size } => mxfp4::<R>(
            group_size as usize,
            packed,
            part::<R>(rows.scales, s, r0),
            x,
        ),
        WeightFormat::Float { dtype } => match dtype {
            DType::F16 => float::<R, F16>(packed, x),
            DType::BF16 => float::<R, BF16>(packed, x),
            _ => float::<R, F32>(packed, x),
        },
    }
}

/// Rows `r0 .. r0 + R` of one part of a tile's bytes (`len` bytes per row).
#[inline(always)]
fn part<const R: usize>(bytes: &[u8], len: usize, r0: usize) -> [&[u8]; R] {
    std::array::from_fn(|r| &bytes[(r0 + r) * len..(r0 + r + 1) * len])
}

/// Element dtypes of scales and float weights, as const parameters.
const F16: u8 = 0;
const BF16: u8 = 1;
const F32: u8 = 2;

/// Element `i` of a little-endian f16/bf16/f32 array.
#[inline(always)]
fn read<const DT: u8>(bytes: &[u8], i: usize) -> f32 {
    match DT {
        F16 => f16_to_f32(u16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]])),
        BF16 => bf16_to_f32(u16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]])),
        _ => f32::from_le_bytes(bytes[4 * i..4 * i + 4].try_into().expect("4 bytes")),
    }
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum(v: __m256) -> f32 {
    unsafe {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
    }
}

/// `x[i .. i + 8]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load8(x: &[f32], i: usize) -> __m256 {
    let x = &x[i..i + 8];
    // SAFETY: `x` holds 8 floats.
    unsafe { _mm256_loadu_ps(x.as_ptr()) }
}

/// 16 bytes of `bytes` at `at`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load16(bytes: &[u8], at: usize) -> __m128i {
    let b = &bytes[at..at + 16];
    // SAFETY: `b` holds 16 bytes; unaligned loads are allowed.
    unsafe { _mm_loadu_si128(b.as_ptr().cast()) }
}

/// The 8-bit values of bytes `0..8` and `8..16` of `v`, widened to f32 (unsigned or signed).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn widen<const SIGNED: bool>(v: __m128i) -> (__m256, __m256) {
    unsafe {
        let hi = _mm_srli_si128::<8>(v);
        if SIGNED {
            (
                _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)),
                _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)),
            )
        } else {
            (
                _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v)),
                _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi)),
            )
        }
    }
}

/// The 8-bit codes `bytes[at .. at + 8]` as f32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn codes8(bytes: &[u8], at: usize) -> __m256 {
    let b = &bytes[at..at + 8];
    // SAFETY: `b` holds 8 bytes; unaligned loads are allowed.
    unsafe { _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(b.as_ptr().cast()))) }
}

/// 16 bytes of two 4-bit codes each, as the 32 codes in element order (element `2m` is the
/// low nibble of byte `m`): the low nibbles, the high ones, interleaved back by an unpack.
/// With `lut`, each code is replaced by `lut[code]` (a byte table) first.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn nibbles(v: __m128i, lut: Option<__m128i>) -> (__m128i, __m128i) {
    unsafe {
        let mask = _mm_set1_epi8(0x0f);
        let mut lo = _mm_and_si128(v, mask);
        let mut hi = _mm_and_si128(_mm_srli_epi16::<4>(v), mask);
        if let Some(lut) = lut {
            lo = _mm_shuffle_epi8(lut, lo);
            hi = _mm_shuffle_epi8(lut, hi);
        }
        (_mm_unpacklo_epi8(lo, hi), _mm_unpackhi_epi8(lo, hi))
    }
}

/// `acc + a·x[i..] + b·x[i + 8..]` as two FMAs.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn fma2(acc: __m256, (a, b): (__m256, __m256), x: &[__m256; 4], k: usize) -> __m256 {
    unsafe { _mm256_fmadd_ps(b, x[k + 1], _mm256_fmadd_ps(a, x[k], acc)) }
}

/// MLX affine rows of `BITS` (4 or 8) with `DT` scales and biases, groups of `group`.
/// Groups go in runs of 8: the run's scales and biases are widened 8 at a time (F16C), and
/// the biases meet the run's 8 sums of `x` in one multiply-add per row.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn affine<const R: usize, const BITS: usize, const DT: u8>(
    group: usize,
    packed: [&[u8]; R],
    scales: [&[u8]; R],
    biases: [&[u8]; R],
    x: &[f32],
) -> [f32; R] {
    unsafe {
        let mut acc = [_mm256_setzero_ps(); R];
        let mut bias_acc = [_mm256_setzero_ps(); R];
        let groups = x.len() / group;
        for g0 in (0..groups).step_by(8) {
            let run = (groups - g0).min(8);
            let s8: [[f32; 8]; R] = std::array::from_fn(|r| widen8::<DT>(scales[r], g0, run));
            let b8: [[f32; 8]; R] = std::array::from_fn(|r| widen8::<DT>(biases[r], g0, run));
            let mut xsums = [0.0f32; 8];
            for (k, xs_k) in xsums.iter_mut().enumerate().take(run) {
                let g = g0 + k;
                let mut even = [_mm256_setzero_ps(); R];
                let mut odd = [_mm256_setzero_ps(); R];
                let mut xsum = _mm256_setzero_ps();
                for c in 0..group / 32 {
                    let i = g * group + c * 32;
                    let xs = [
                        load8(x, i),
                        load8(x, i + 8),
                        load8(x, i + 16),
                        load8(x, i + 24),
                    ];
                    xsum = _mm256_add_ps(
                        xsum,
                        _mm256_add_ps(_mm256_add_ps(xs[0], xs[1]), _mm256_add_ps(xs[2], xs[3])),
                    );
                    for r in 0..R {
                        let (a, b) = if BITS == 4 {
                            let (a, b) = nibbles(load16(packed[r], i / 2), None);
                            (widen::<false>(a), widen::<false>(b))
                        } else {
                            // Widened straight from memory: no shuffle to reach the high half.
                            let w = packed[r];
                            (
                                (codes8(w, i), codes8(w, i + 8)),
                                (codes8(w, i + 16), codes8(w, i + 24)),
                            )
                        };
                        even[r] = fma2(even[r], a, &xs, 0);
                        odd[r] = fma2(odd[r], b, &xs, 2);
                    }
                }
                *xs_k = hsum(xsum);
                for r in 0..R {
                    let dot = _mm256_add_ps(even[r], odd[r]);
                    acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(s8[r][k]), dot, acc[r]);
                }
            }
            // SAFETY: both arrays hold 8 floats.
            let xsums = _mm256_loadu_ps(xsums.as_ptr());
            for r in 0..R {
                bias_acc[r] = _mm256_fmadd_ps(_mm256_loadu_ps(b8[r].as_ptr()), xsums, bias_acc[r]);
            }
        }
        std::array::from_fn(|r| hsum(_mm256_add_ps(acc[r], bias_acc[r])))
    }
}

/// Elements `g0 .. g0 + run` (`run <= 8`) of a `DT` array as f32, zero past `run`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn widen8<const DT: u8>(bytes: &[u8], g0: usize, run: usize) -> [f32; 8] {
    let mut out = [0.0f32; 8];
    if run == 8 && DT != F32 {
        let v = load_half8(bytes, g0);
        let v = if DT == F16 {
            _mm256_cvtph_ps(v)
        } else {
            _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(v)))
        };
        // SAFETY: `out` holds 8 floats.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), v) };
    } else {
        for (k, o) in out.iter_mut().enumerate().take(run) {
            *o = read::<DT>(bytes, g0 + k);
        }
    }
    out
}

/// MXFP4 rows (E2M1 codes, E8M0 scales), groups of `group`.
#[allow(clippy::needless_range_loop)] // one index walks several parallel arrays
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn mxfp4<const R: usize>(
    group: usize,
    packed: [&[u8]; R],
    scales: [&[u8]; R],
    x: &[f32],
) -> [f32; R] {
    unsafe {
        // Twice the E2M1 values (integers, so a byte holds them); bit 3 is the sign.
        let lut = _mm_setr_epi8(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);
        let mut acc = [_mm256_setzero_ps(); R];
        for g in 0..x.len() / group {
            let mut even = [_mm256_setzero_ps(); R];
            let mut odd = [_mm256_setzero_ps(); R];
            for c in 0..group / 32 {
                let i = g * group + c * 32;
                let xs = [
                    load8(x, i),
                    load8(x, i + 8),
                    load8(x, i + 16),
                    load8(x, i + 24),
                ];
                for r in 0..R {
                    let (a, b) = nibbles(load16(packed[r], i / 2), Some(lut));
                    even[r] = fma2(even[r], widen::<true>(a), &xs, 0);
                    odd[r] = fma2(odd[r], widen::<true>(b), &xs, 2);
                }
            }
            for r in 0..R {
                let scale = 0.5 * e8m0(scales[r][g]);
                let dot = _mm256_add_ps(even[r], odd[r]);
                acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(scale), dot, acc[r]);
            }
        }
        std::array::from_fn(|r| hsum(acc[r]))
    }
}

/// Float rows of dtype `DT`, 8 elements per step; the tail is scalar.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn float<const R: usize, const DT: u8>(packed: [&[u8]; R], x: &[f32]) -> [f32; R] {
    unsafe {
        let mut acc = [_mm256_setzero_ps(); R];
        let full = x.len() / 8 * 8;
        for i in (0..full).step_by(8) {
            let xv = load8(x, i);
            for r in 0..R {
                let w = match DT {
                    F16 => _mm256_cvtph_ps(load_half8(packed[r], i)),
                    BF16 => _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(
                        load_half8(packed[r], i),
                    ))),
                    _ => {
                        let w = &packed[r][4 * i..4 * i + 32];
                        // SAFETY: `w` holds 8 floats (32 bytes); unaligned loads are allowed.
                        _mm256_loadu_ps(w.as_ptr().cast())
                    }
                };
                acc[r] = _mm256_fmadd_ps(w, xv, acc[r]);
            }
        }
        std::array::from_fn(|r| {
            let tail: f32 = (full..x.len())
                .map(|i| read::<DT>(packed[r], i) * x[i])
                .sum();
            hsum(acc[r]) + tail
        })
    }
}

/// 8 16-bit values at element `i`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load_half8(bytes: &[u8], i: usize) -> __m128i {
    load16(bytes, 2 * i)
}

/// One row dequantized to f32, bit for bit what [`super::dequant_row`] writes (`s·q + b` as
/// a multiply then an add, as the spec's formula; E2M1 and E8M0 products are exact). The
/// caller checked the lengths and that group sizes are multiples of 32.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dequant_row(format: WeightFormat, row: Row, out: &mut [f32]) {
    match format {
        WeightFormat::Affine {
            bits,
            group_size,
            scale_dtype,
        } => match (bits, scale_dtype) {
            (8, DType::F16) => dequant_affine::<8, F16>(group_size as usize, row, out),
            (8, DType::BF16) => dequant_affine::<8, BF16>(group_size as usize, row, out),
            (8, _) => dequant_affine::<8, F32>(group_size as usize, row, out),
            (_, DType::F16) => dequant_affine::<4, F16>(group_size as usize, row, out),
            (_, DType::BF16) => dequant_affine::<4, BF16>(group_size as usize, row, out),
            _ => dequant_affine::<4, F32>(group_size as usize, row, out),
        },
        WeightFormat::Mxfp4 { group_size } => dequant_mxfp4(group_size as usize, row, out),
        WeightFormat::Float { .. } => super::dequant_row(format, row, out),
    }
}

/// 8 f32 to `out[i .. i + 8]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn store8(out: &mut [f32], i: usize, v: __m256) {
    let o = &mut out[i..i + 8];
    // SAFETY: `o` holds 8 floats.
    unsafe { _mm256_storeu_ps(o.as_mut_ptr(), v) }
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn dequant_affine<const BITS: usize, const DT: u8>(group: usize, row: Row, out: &mut [f32]) {
    unsafe {
        for g in 0..out.len() / group {
            let s = _mm256_set1_ps(read::<DT>(row.scales, g));
            let b = _mm256_set1_ps(read::<DT>(row.biases, g));
            for c in 0..group / 32 {
                let i = g * group + c * 32;
                let q = if BITS == 4 {
                    let (lo, hi) = nibbles(load16(row.packed, i / 2), None);
                    let ((q0, q1), (q2, q3)) = (widen::<false>(lo), widen::<false>(hi));
                    [q0, q1, q2, q3]
                } else {
                    let w = row.packed;
                    [
                        codes8(w, i),
                        codes8(w, i + 8),
                        codes8(w, i + 16),
                        codes8(w, i + 24),
                    ]
                };
                for (k, q) in q.into_iter().enumerate() {
                    store8(out, i + 8 * k, _mm256_add_ps(_mm256_mul_ps(s, q), b));
                }
            }
        }
    }
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn dequant_mxfp4(group: usize, row: Row, out: &mut [f32]) {
    unsafe {
        for g in 0..out.len() / group {
            // Twice the E2M1 value times half the scale: both exact, so the same bits.
            let scale = _mm256_set1_ps(0.5 * e8m0(row.scales[g]));
            for c in 0..group / 32 {
                let i = g * group + c * 32;
                let (lo, hi) = nibbles(load16(row.packed, i / 2), None);
                let q = [
                    e2m1_doubled8(lo),
                    e2m1_doubled8(_mm_srli_si128::<8>(lo)),
                    e2m1_doubled8(hi),
                    e2m1_doubled8(_mm_srli_si128::<8>(hi)),
                ];
                for (k, q) in q.into_iter().enumerate() {
                    store8(out, i + 8 * k, _mm256_mul_ps(q, scale));
                }
            }
        }
    }
}

/// Twice the E2M1 values of the 8 codes in the low bytes of `codes`, with the sign of code 8
/// kept (-0, as the scalar table has it): magnitudes by a byte table, the sign from bit 3.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn e2m1_doubled8(codes: __m128i) -> __m256 {
    unsafe {
        let magnitudes = _mm_setr_epi8(0, 1, 2, 3, 4, 6, 8, 12, 0, 1, 2, 3, 4, 6, 8, 12);
        let m = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_shuffle_epi8(magnitudes, codes)));
        let c = _mm256_cvtepu8_epi32(codes);
        let sign = _mm256_slli_epi32::<28>(_mm256_and_si256(c, _mm256_set1_epi32(8)));
        _mm256_castsi256_ps(_mm256_xor_si256(_mm256_castps_si256(m), sign))
    }
}
