//! An HF transformers-named checkpoint (names, `gate_up_proj`, `ZayaConfig` fields; one file
//! or index + shards; bf16 or f32) gives the same logits and routing through the CPU
//! interpreter as the same weights in original naming.

mod common;
#[path = "../crates/model/tests/common/hf_twin.rs"]
mod hf_twin;

use common::fixtures;
use hf_twin::{TwinDtype, write_hf_twin};
use zaya_cpu::{Program, bind_bundle};
use zaya_model::graph::{GraphOptions, LOGITS, build_decode_graph_with, router_output};
use zaya_model::hf_names::Naming;
use zaya_model::{Bundle, SkipMode, verify};

/// Logits and router choices of every step of `tokens`.
fn run(bundle: &Bundle, tokens: &[u32]) -> (Vec<Vec<f32>>, Vec<u32>) {
    let graph = build_decode_graph_with(
        &bundle.config,
        bundle,
        GraphOptions {
            skip: SkipMode::Zero,
            ..Default::default()
        },
    )
    .unwrap();
    let weights = bind_bundle(bundle, &graph).unwrap();
    let program = std::sync::Arc::new(Program::new(graph, weights).unwrap());
    let mut session = program.session(32).unwrap();
    let (mut logits, mut choices) = (Vec::new(), Vec::new());
    // The fixtures' vocabularies differ; keep every id in range of each.
    for &t in tokens {
        session.decode(t % bundle.config.vocab_size as u32).unwrap();
        logits.push(session.output_f32(LOGITS).unwrap().to_vec());
        for k in 0..bundle.config.num_moe_layers() {
            choices.push(session.output_u32(&router_output(k)).unwrap()[0]);
        }
    }
    (logits, choices)
}

#[test]
fn hf_named_twin_gives_the_same_logits() {
    let tokens = [2u32, 17, 301, 5, 99, 42, 7, 250];
    for (fixture, dtype, shards) in [
        ("zaya-tiny-a", TwinDtype::Same, 1),
        ("zaya-tiny-b", TwinDtype::F32, 1),
        ("zaya-tiny-c", TwinDtype::Same, 3),
    ] {
        let source = fixtures().join(fixture).join("source");
        let work = tempfile::tempdir().unwrap();
        let twin = work.path().join("hf");
        write_hf_twin(&source, &twin, dtype, shards);

        let report = verify::verify(&twin);
        assert!(report.usable, "{fixture}: {:?}", report.error);
        assert_eq!(report.naming, Some(Naming::Hf));

        let original = Bundle::open(&source).unwrap();
        let hf = Bundle::open(&twin).unwrap();
        assert_eq!(original.config.num_layers, hf.config.num_layers);
        assert_eq!(
            original.tensor_names().collect::<Vec<_>>(),
            hf.tensor_names().collect::<Vec<_>>(),
            "{fixture}: canonical names"
        );
        let (want, want_choices) = run(&original, &tokens);
        let (got, got_choices) = run(&hf, &tokens);
        assert_eq!(got_choices, want_choices, "{fixture}: routing");
        for (t, (g, w)) in got.iter().zip(&want).enumerate() {
            let worst = g
                .iter()
                .zip(w)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            // Same values (f32 widens bf16 exactly); only the dtype of the reads differs.
            assert!(
                worst <= 1e-5,
                "{fixture} ({dtype:?}) token {t}: logits differ by {worst}"
            );
        }
    }
}
