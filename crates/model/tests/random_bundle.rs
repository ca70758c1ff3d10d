//! Random bundles of other dimensions and formats: written from `names.rs`, read back by
//! the loader and `verify`, deterministic per seed.
use std::collections::BTreeMap;
use zaya_ir::DType;
use zaya_model::random::{write_random_bundle, write_random_bundle_sharded};
use zaya_model::{Bundle, Config, QuantMode, QuantSpec, Quantization, verify};

fn small(quantization: Option<Quantization>) -> Config {
    Config {
        hidden_size: 128,
        num_layers: 6,
        num_q_heads: 6,
        num_kv_heads: 3,
        head_dim: 16,
        num_experts: 3,
        expert_intermediate: 64,
        router_hidden: 24,
        vocab_size: 200,
        rope_theta: 10_000.0,
        partial_rotary_factor: 0.5,
        norm_eps: 1e-6,
        max_position_embeddings: 512,
        bos_token_id: Some(2),
        eos_token_id: Some(106),
        pad_token_id: Some(0),
        tie_word_embeddings: true,
        quantization,
    }
}

fn quant(bits: u8, group_size: u32, mode: QuantMode, embed_group: u32) -> Quantization {
    Quantization {
        default: QuantSpec {
            bits,
            group_size,
            mode,
        },
        embed: Some(QuantSpec {
            bits: 8,
            group_size,
            mode: QuantMode::Affine,
        }),
        router_bits: Some(16),
        overrides: BTreeMap::from([(
            "model.embed_tokens".to_string(),
            Some(QuantSpec {
                bits: 8,
                group_size: embed_group,
                mode: QuantMode::Affine,
            }),
        )]),
    }
}

fn check_roundtrip(config: &Config, shard_bytes: u64) -> Bundle {
    let dir = tempfile::tempdir().unwrap();
    write_random_bundle_sharded(config, dir.path(), 7, shard_bytes).unwrap();
    let report = verify::verify(dir.path());
    assert!(report.usable, "{}", report.render_text());
    assert_eq!(report.tensors.found, config.expected_tensor_count());
    let bundle = Bundle::open(dir.path()).unwrap();
    assert_eq!(&bundle.config, config);
    for module in bundle.weight_names() {
        let w = bundle.weight(module).unwrap();
        let x: Vec<f32> = (0..w.cols()).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut row = vec![0.0; w.cols()];
        for r in (0..w.rows()).step_by(5) {
            w.dequant_row(r, &mut row);
            assert!(row.iter().all(|v| v.is_finite()), "{module}");
            let want: f64 = row.iter().zip(&x).map(|(a, b)| *a as f64 * *b as f64).sum();
            let scale: f64 = row
                .iter()
                .zip(&x)
                .map(|(a, b)| (*a as f64 * *b as f64).abs())
                .sum();
            assert!(
                (w.dot_row(r, &x) as f64 - want).abs() <= 1e-5 * scale + 1e-30,
                "{module} row {r}"
            );
        }
    }
    bundle
}

#[test]
fn affine_bundle_of_other_dimensions() {
    let b = check_roundtrip(&small(Some(quant(4, 32, QuantMode::Affine, 64))), 1 << 30);
    let embed = b.weight("model.embed_tokens").unwrap();
    assert_eq!(embed.format.tag(), "affine8g64f16");
    assert_eq!(
        b.weight("model.layers.5.zaya_block.experts.switch_mlp.down_proj")
            .unwrap()
            .shape,
        &[3, 128, 64]
    );
}

#[test]
fn mxfp4_bundle_sharded() {
    // Small shards force an index over many files.
    let b = check_roundtrip(&small(Some(quant(4, 32, QuantMode::Mxfp4, 32))), 20_000);
    assert_eq!(
        b.weight("model.layers.0.self_attn.o_proj")
            .unwrap()
            .format
            .tag(),
        "mxfp4g32"
    );
}

#[test]
fn affine8_group64_untied() {
    let mut c = small(Some(quant(8, 64, QuantMode::Affine, 64)));
    c.tie_word_embeddings = false;
    // o_proj's input (nq * hd) must be a multiple of 64 too.
    (c.num_q_heads, c.num_kv_heads) = (8, 2);
    let b = check_roundtrip(&c, 1 << 30);
    assert_eq!(b.weight("lm_head").unwrap().format.tag(), "affine8g64f16");
}

#[test]
fn unquantized_checkpoint_layout() {
    let b = check_roundtrip(&small(None), 1 << 30);
    let gate = b
        .weight("model.layers.1.zaya_block.experts.switch_mlp.gate_proj")
        .unwrap();
    assert_eq!(gate.format.tag(), DType::BF16.name());
    assert_eq!(gate.shape, &[3, 64, 128]);
}

#[test]
fn same_seed_same_bytes() {
    let config = small(Some(quant(4, 32, QuantMode::Affine, 32)));
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    write_random_bundle(&config, a.path(), 1).unwrap();
    write_random_bundle(&config, b.path(), 1).unwrap();
    write_random_bundle(&config, c.path(), 2).unwrap();
    let shard = "model-00001-of-00001.safetensors";
    let read = |d: &tempfile::TempDir| std::fs::read(d.path().join(shard)).unwrap();
    assert_eq!(read(&a), read(&b));
    assert_ne!(read(&a), read(&c));
}
