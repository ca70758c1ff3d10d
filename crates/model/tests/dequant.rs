//! Bit-exact dequantization on hand-packed words.
use half::{bf16, f16};
use zaya_ir::{DType, WeightFormat};
use zaya_model::PackedWeight;
use zaya_model::quant::{e2m1, e8m0, pack_codes};

fn f16_bytes(values: &[f32]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|v| f16::from_f32(*v).to_le_bytes())
        .collect()
}

fn bf16_bytes(values: &[f32]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|v| bf16::from_f32(*v).to_le_bytes())
        .collect()
}

/// The spec's formula, spelled out: w = f32(scale) * q + f32(bias), no FMA.
fn affine_ref(scale: f32, q: u32, bias: f32) -> f32 {
    let product = std::hint::black_box(scale * q as f32);
    product + bias
}

#[test]
fn affine4_word_layout_and_values() {
    // One row of 64 = two groups of 32. Word 0 = 0x76543210 -> codes 0..7 LSB first.
    let codes: Vec<u32> = (0..64).map(|k| (k * 7 + 3) % 16).collect();
    let packed = pack_codes(&codes, 4);
    assert_eq!(&packed[..4], &[0xa3, 0x81, 0x6f, 0x4d]); // codes 3,10,1,8,15,6,13,4: low nibble first
    let (scales, biases) = ([0.1f32, -0.37], [-0.8f32, 1.25]);
    let (sb, bb) = (f16_bytes(&scales), f16_bytes(&biases));
    let shape = [1usize, 64];
    let format = WeightFormat::Affine {
        bits: 4,
        group_size: 32,
        scale_dtype: DType::F16,
    };
    let w = PackedWeight::new("hand", format, &shape, &packed, Some(&sb), Some(&bb)).unwrap();
    let got = w.dequant();
    for (k, &q) in codes.iter().enumerate() {
        let g = k / 32;
        let (s, b) = (
            f16::from_f32(scales[g]).to_f32(),
            f16::from_f32(biases[g]).to_f32(),
        );
        assert_eq!(
            got[k].to_bits(),
            affine_ref(s, q, b).to_bits(),
            "element {k}"
        );
    }
}

#[test]
fn affine8_bf16_scales_group64() {
    let codes: Vec<u32> = (0..128).map(|k| (k * 53 + 11) % 256).collect();
    let packed = pack_codes(&codes, 8);
    assert_eq!(
        u32::from_le_bytes(packed[..4].try_into().unwrap()),
        codes[0] | codes[1] << 8 | codes[2] << 16 | codes[3] << 24
    );
    let scales = [0.013f32, -0.0071];
    let biases = [-1.7f32, 0.9];
    let (sb, bb) = (bf16_bytes(&scales), bf16_bytes(&biases));
    let shape = [1usize, 128];
    let format = WeightFormat::Affine {
        bits: 8,
        group_size: 64,
        scale_dtype: DType::BF16,
    };
    let w = PackedWeight::new("hand", format, &shape, &packed, Some(&sb), Some(&bb)).unwrap();
    let got = w.dequant();
    for (k, &q) in codes.iter().enumerate() {
        let (s, b) = (
            bf16::from_f32(scales[k / 64]).to_f32(),
            bf16::from_f32(biases[k / 64]).to_f32(),
        );
        assert_eq!(
            got[k].to_bits(),
            affine_ref(s, q, b).to_bits(),
            "element {k}"
        );
    }
}

/// An f16 scale has 11 significant bits and a code at most 8, so `scale * q` is exact in
/// f32 and mul+add equals FMA: the single rounding is the add. Checked exhaustively here
/// for 4-bit codes, so kernels on any backend may fuse freely.
#[test]
fn affine_product_is_exact_in_f32() {
    for bits in 0..=0x7bffu16 {
        let s = f16::from_bits(bits).to_f32();
        for q in 0..16u32 {
            let p = s * q as f32;
            assert_eq!(p as f64, s as f64 * q as f64);
        }
    }
}

#[test]
fn mxfp4_codes_and_scales() {
    // Word 0x76543210: codes 0..7 = +[0, .5, 1, 1.5, 2, 3, 4, 6]; word 0xfedcba98: the negatives.
    let mut packed = Vec::new();
    for word in [0x7654_3210u32, 0xfedc_ba98, 0x1111_1111, 0x9999_9999] {
        packed.extend_from_slice(&word.to_le_bytes());
    }
    let scales = [130u8]; // 2^3
    let shape = [1usize, 32];
    let w = PackedWeight::new(
        "hand",
        WeightFormat::Mxfp4 { group_size: 32 },
        &shape,
        &packed,
        Some(&scales),
        None,
    )
    .unwrap();
    let got = w.dequant();
    let mags = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0];
    for k in 0..8 {
        assert_eq!(got[k], mags[k] * 8.0);
        assert_eq!(got[8 + k], -mags[k] * 8.0);
        assert_eq!(got[16 + k], 4.0);
        assert_eq!(got[24 + k], -4.0);
    }
    assert_eq!(e2m1(0xf), -6.0);
    assert_eq!(e8m0(1), f32::MIN_POSITIVE);
}

#[test]
fn mxfp4_e8m0_255_is_nan() {
    let packed = pack_codes(&[2; 32], 4);
    let shape = [1usize, 32];
    let w = PackedWeight::new(
        "hand",
        WeightFormat::Mxfp4 { group_size: 32 },
        &shape,
        &packed,
        Some(&[255]),
        None,
    )
    .unwrap();
    assert!(w.dequant().iter().all(|v| v.is_nan()));
}

#[test]
fn rows_flatten_leading_dims() {
    // [2 experts, 3 rows, 32 cols] of 4-bit codes equal to the flattened row index.
    let codes: Vec<u32> = (0..6 * 32).map(|i| (i / 32) as u32).collect();
    let packed = pack_codes(&codes, 4);
    let sb = f16_bytes(&[1.0; 6]);
    let bb = f16_bytes(&[0.0; 6]);
    let shape = [2usize, 3, 32];
    let format = WeightFormat::Affine {
        bits: 4,
        group_size: 32,
        scale_dtype: DType::F16,
    };
    let w = PackedWeight::new("hand", format, &shape, &packed, Some(&sb), Some(&bb)).unwrap();
    assert_eq!((w.rows(), w.cols()), (6, 32));
    let mut row = vec![0.0; 32];
    w.dequant_row(4, &mut row);
    assert!(row.iter().all(|v| *v == 4.0));
    let x = vec![1.0f32; 32];
    assert_eq!(w.dot_row(5, &x), 5.0 * 32.0);
    assert_eq!(w.stored_bytes(), (packed.len() + 24) as u64);
}

#[test]
fn float_weights_widen_exactly() {
    let values = [1.5f32, -2.25, 3.0e-3, 65504.0];
    let shape = [2usize, 2];
    let bytes = bf16_bytes(&values);
    let w = PackedWeight::new(
        "hand",
        WeightFormat::Float { dtype: DType::BF16 },
        &shape,
        &bytes,
        None,
        None,
    )
    .unwrap();
    let want: Vec<f32> = values.iter().map(|v| bf16::from_f32(*v).to_f32()).collect();
    assert_eq!(w.dequant(), want);
    assert_eq!(w.dot_row(1, &[1.0, 2.0]), want[2] + 2.0 * want[3]);
}

#[test]
fn new_rejects_inconsistent_lengths() {
    let shape = [1usize, 32];
    let packed = vec![0u8; 16];
    let format = WeightFormat::Affine {
        bits: 4,
        group_size: 32,
        scale_dtype: DType::F16,
    };
    assert!(
        PackedWeight::new(
            "short",
            format,
            &shape,
            &packed[..8],
            Some(&[0; 2]),
            Some(&[0; 2])
        )
        .is_err()
    );
    assert!(PackedWeight::new("no-biases", format, &shape, &packed, Some(&[0; 2]), None).is_err());
    let odd = [1usize, 48];
    assert!(
        PackedWeight::new(
            "group",
            format,
            &odd,
            &[0; 24],
            Some(&[0; 2]),
            Some(&[0; 2])
        )
        .is_err()
    );
}
