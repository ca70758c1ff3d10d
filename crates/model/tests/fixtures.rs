//! The tiny fixture bundles open, expose the right formats, and dequantize to the bf16
//! source (within quantization error) and to the goldens' dequantized embedding (exactly).
mod common;
use common::*;
use zaya_ir::{DType, WeightFormat};
use zaya_model::{Bundle, names};

const AFFINE4: WeightFormat = WeightFormat::Affine {
    bits: 4,
    group_size: 32,
    scale_dtype: DType::F16,
};
const AFFINE8: WeightFormat = WeightFormat::Affine {
    bits: 8,
    group_size: 32,
    scale_dtype: DType::F16,
};
const MXFP4: WeightFormat = WeightFormat::Mxfp4 { group_size: 32 };

#[test]
fn affine_bundle_opens_with_201_tensors() {
    let b = Bundle::open(&tiny("bundle_affine")).unwrap();
    assert_eq!(b.tensor_names().count(), 201);
    assert_eq!(b.config.expected_tensor_count(), 201);
    assert_eq!(b.weight("model.embed_tokens").unwrap().format, AFFINE8);
    let o = b.weight("model.layers.0.self_attn.o_proj").unwrap();
    assert_eq!((o.format, o.shape), (AFFINE4, &[128usize, 128][..]));
    let gate = b.weight(&names::switch_mlp(1, "gate_proj")).unwrap();
    assert_eq!(gate.shape, &[4, 128, 128]);
    assert_eq!(gate.rows(), 512);
    let router = b
        .weight("model.layers.1.zaya_block.router.down_proj")
        .unwrap();
    assert_eq!(router.format, WeightFormat::Float { dtype: DType::F16 });
    assert_eq!(b.vector_f32("model.final_norm.weight").unwrap().len(), 128);
    assert_eq!(b.total_tensor_bytes(), 855_288);
}

#[test]
fn mxfp4_bundle_has_no_linear_biases() {
    let b = Bundle::open(&tiny("bundle_mxfp4")).unwrap();
    // 201 minus one `.biases` per 4-bit linear: 5 per attention layer, 3 per MoE layer.
    let expected = 201 - 4 * 5 - 4 * 3;
    assert_eq!(b.tensor_names().count(), expected);
    assert_eq!(b.config.expected_tensor_count(), expected);
    assert_eq!(b.weight("model.embed_tokens").unwrap().format, AFFINE8);
    let up = b.weight(&names::switch_mlp(3, "up_proj")).unwrap();
    assert_eq!(up.format, MXFP4);
    assert!(up.biases.is_none());
}

#[test]
fn source_checkpoint_opens_with_stacked_experts() {
    let b = Bundle::open(&tiny("source")).unwrap();
    assert!(b.config.quantization.is_none());
    assert_eq!(b.config.expected_tensor_count(), 155);
    assert!(b.tensor_names().all(|n| !n.contains("local_experts")));
    let down = b.weight(&names::switch_mlp(1, "down_proj")).unwrap();
    assert_eq!(down.format, WeightFormat::Float { dtype: DType::BF16 });
    assert_eq!(down.shape, &[4, 128, 128]);
}

/// Stacking took gate = fc1 rows 0..I and up = rows I..2I of each expert.
#[test]
fn source_experts_stack_in_the_right_order() {
    let b = Bundle::open(&tiny("source")).unwrap();
    let raw = read_tensors(&tiny("source").join(SHARD));
    let fc1 = raw
        .iter()
        .find(|t| t.name == names::local_expert_fc1(3, 2))
        .unwrap();
    let row_bytes = 128 * 2;
    let gate = b.weight(&names::switch_mlp(3, "gate_proj")).unwrap();
    let up = b.weight(&names::switch_mlp(3, "up_proj")).unwrap();
    let expert2 = 2 * 128 * row_bytes;
    assert_eq!(
        &gate.packed[expert2..expert2 + row_bytes],
        &fc1.data[..row_bytes]
    );
    assert_eq!(
        &up.packed[expert2..expert2 + row_bytes],
        &fc1.data[128 * row_bytes..129 * row_bytes]
    );
}

fn rel_rms(a: &[f32], b: &[f32]) -> f64 {
    let err: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    let norm: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    (err / norm).sqrt()
}

/// Every weight of a quantized bundle dequantizes close to the bf16 source.
fn compare_with_source(bundle: &str, tolerance: f64) {
    let q = Bundle::open(&tiny(bundle)).unwrap();
    let src = Bundle::open(&tiny("source")).unwrap();
    let mut checked = 0;
    for module in q.weight_names() {
        let (wq, ws) = (q.weight(module).unwrap(), src.weight(module).unwrap());
        assert_eq!(wq.shape, ws.shape, "{module}");
        let err = rel_rms(&wq.dequant(), &ws.dequant());
        let tol = if wq.format.is_quantized() {
            tolerance
        } else {
            1e-2
        };
        assert!(
            err < tol,
            "{module}: relative rms error {err} ({})",
            wq.format
        );
        checked += 1;
    }
    assert_eq!(checked, q.weight_names().count());
    for name in q
        .tensor_names()
        .filter(|n| names::is_passthrough(n) && !n.ends_with(".weight"))
    {
        let err = rel_rms(&q.vector_f32(name).unwrap(), &src.vector_f32(name).unwrap());
        assert!(err < 1e-2, "{name}: {err}");
    }
}

#[test]
fn affine_weights_match_source_within_quantization_error() {
    compare_with_source("bundle_affine", 0.12);
}

#[test]
fn mxfp4_weights_match_source_within_quantization_error() {
    compare_with_source("bundle_mxfp4", 0.2);
}

/// Every `(bundle dir, golden file, captured token's sequence, decode step)` among the
/// tiny fixtures present (preset A always; others when shipped).
fn golden_cases() -> Vec<(std::path::PathBuf, std::path::PathBuf, usize, usize)> {
    let mut cases = Vec::new();
    let mut presets: Vec<_> = std::fs::read_dir(fixtures())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    presets.retain(|p| {
        p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("zaya-tiny-")
    });
    presets.sort();
    for preset in presets {
        for kind in ["affine", "mxfp4"] {
            let golden = preset.join(format!("golden_{kind}"));
            let Ok(text) = std::fs::read_to_string(golden.join("manifest.json")) else {
                continue;
            };
            let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
            let capture = &manifest["capture"];
            let (seq, step) = (
                capture["seq"].as_u64().unwrap() as usize,
                capture["decode_step"].as_u64().unwrap() as usize,
            );
            cases.push((
                preset.join(format!("bundle_{kind}")),
                golden.join("golden.safetensors"),
                seq,
                step,
            ));
        }
    }
    assert!(cases.len() >= 2);
    cases
}

/// The goldens' `capture.embed` is the dequantized embedding row of the captured token:
/// our dequantization must reproduce it bit for bit.
#[test]
fn embedding_row_matches_golden_bit_for_bit() {
    for (bundle, golden, seq, step) in golden_cases() {
        let token = golden_values(&golden, &format!("seq{seq}.decode_ids"))[step] as usize;
        let want = golden_values(&golden, "capture.embed");
        let b = Bundle::open(&bundle).unwrap();
        let mut row = vec![0.0f32; b.config.hidden_size];
        b.weight("model.embed_tokens")
            .unwrap()
            .dequant_row(token, &mut row);
        for (i, (got, want)) in row.iter().zip(&want).enumerate() {
            assert_eq!(
                *got as f64,
                *want,
                "{} token {token} col {i}",
                bundle.display()
            );
        }
    }
}

/// The tied lm_head: logits = embed . final_norm_out, through `dot_row`.
#[test]
fn lm_head_dot_rows_reproduce_golden_logits() {
    for (bundle, golden, _, _) in golden_cases() {
        let x: Vec<f32> = golden_values(&golden, "capture.final_norm_out")
            .iter()
            .map(|v| *v as f32)
            .collect();
        let logits = golden_values(&golden, "capture.logits");
        let b = Bundle::open(&bundle).unwrap();
        let w = b.weight("model.embed_tokens").unwrap();
        assert_eq!(w.rows(), logits.len());
        for (row, want) in logits.iter().enumerate() {
            let got = w.dot_row(row, &x) as f64;
            assert!(
                (got - want).abs() < 2e-4,
                "{} row {row}: {got} vs {want}",
                bundle.display()
            );
        }
    }
}

#[test]
fn dot_row_equals_dot_of_dequant_row() {
    for bundle in ["bundle_affine", "bundle_mxfp4", "source"] {
        let b = Bundle::open(&tiny(bundle)).unwrap();
        for module in b.weight_names() {
            let w = b.weight(module).unwrap();
            let x: Vec<f32> = (0..w.cols())
                .map(|i| ((i * 37 % 19) as f32 - 9.0) * 0.11)
                .collect();
            let mut row = vec![0.0f32; w.cols()];
            for r in (0..w.rows()).step_by(7) {
                w.dequant_row(r, &mut row);
                let want: f64 = row.iter().zip(&x).map(|(a, b)| *a as f64 * *b as f64).sum();
                let scale: f64 = row
                    .iter()
                    .zip(&x)
                    .map(|(a, b)| (*a as f64 * *b as f64).abs())
                    .sum();
                let got = w.dot_row(r, &x) as f64;
                assert!(
                    (got - want).abs() <= 1e-5 * scale + 1e-30,
                    "{bundle} {module} row {r}: {got} vs {want}"
                );
            }
        }
    }
}
