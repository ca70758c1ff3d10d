//! Random-weight bundles of other shapes and formats (untied lm_head, 8-bit group 64, MXFP4,
//! unquantized, odd head counts) load, build, optimize and run; every strategy matches the
//! unfused graph.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use zaya_cpu::{Program, bind_bundle};
use zaya_graph::engine::STRATEGIES;
use zaya_model::graph::{GraphOptions, build_decode_graph_with};
use zaya_model::random::write_random_bundle;
use zaya_model::{Bundle, Config, QuantMode, QuantSpec, Quantization, SkipMode};

fn config(quantization: Option<Quantization>, tied: bool, heads: (usize, usize)) -> Config {
    Config {
        hidden_size: 128,
        num_layers: 6,
        num_q_heads: heads.0,
        num_kv_heads: heads.1,
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
        tie_word_embeddings: tied,
        quantization,
    }
}

fn quant(bits: u8, group_size: u32, mode: QuantMode) -> Quantization {
    let embed = QuantSpec {
        bits: 8,
        group_size,
        mode: QuantMode::Affine,
    };
    Quantization {
        default: QuantSpec {
            bits,
            group_size,
            mode,
        },
        embed: Some(embed),
        router_bits: Some(16),
        overrides: BTreeMap::from([("model.embed_tokens".to_string(), Some(embed))]),
    }
}

fn logits(bundle: &Bundle, graph: zaya_ir::Graph, tokens: &[u32]) -> Vec<Vec<f32>> {
    let weights = bind_bundle(bundle, &graph).unwrap();
    let program = Arc::new(Program::new(graph, weights).unwrap());
    let mut session = program.session(tokens.len()).unwrap();
    tokens
        .iter()
        .map(|&t| session.decode(t).unwrap().to_vec())
        .collect()
}

#[test]
fn random_bundles_of_other_shapes_run_under_every_strategy() {
    let cases = [
        (
            "affine4 g32 tied 6/3 heads",
            config(Some(quant(4, 32, QuantMode::Affine)), true, (6, 3)),
        ),
        (
            "affine8 g64 untied 8/2 heads",
            config(Some(quant(8, 64, QuantMode::Affine)), false, (8, 2)),
        ),
        (
            "mxfp4 g32 4/4 heads",
            config(Some(quant(4, 32, QuantMode::Mxfp4)), true, (4, 4)),
        ),
        ("unquantized bf16 2/1 heads", config(None, true, (2, 1))),
    ];
    let tokens = [2u32, 17, 199, 5, 64, 3];
    for (what, cfg) in cases {
        let dir = tempfile::tempdir().unwrap();
        write_random_bundle(&cfg, dir.path(), 7).unwrap();
        let bundle = Bundle::open(dir.path()).unwrap_or_else(|e| panic!("{what}: {e}"));
        let graph = build_decode_graph_with(
            &bundle.config,
            &bundle,
            GraphOptions {
                skip: SkipMode::Passthrough,
                ..Default::default()
            },
        )
        .unwrap();
        let reference = logits(&bundle, graph.clone(), &tokens);
        assert!(
            reference.iter().flatten().all(|x| x.is_finite()),
            "{what}: non-finite logits"
        );
        assert_eq!(reference[0].len(), cfg.vocab_size);
        for s in STRATEGIES {
            let (optimized, _) = zaya_graph::engine::parse_strategy(s)
                .unwrap()
                .apply(&graph)
                .unwrap();
            for (t, (a, b)) in logits(&bundle, optimized, &tokens)
                .iter()
                .zip(&reference)
                .enumerate()
            {
                assert_close(&format!("{what} {s} token {t}"), a, b, 1e-5);
            }
        }
    }
}
