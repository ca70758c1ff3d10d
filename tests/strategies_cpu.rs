//! Every fusion strategy computes the same step as the unfused graph on the CPU
//! interpreter: logits within 1e-5, identical routing, on every fixture, format and skip mode.

mod common;
use common::*;
use std::sync::Arc;
use zaya_cpu::{Program, bind_bundle};
use zaya_graph::engine::STRATEGIES;
use zaya_model::graph::{GraphOptions, LOGITS, NEXT_TOKEN, build_decode_graph_with, router_output};
use zaya_model::{Bundle, SkipMode};

fn run(bundle: &Bundle, graph: zaya_ir::Graph, tokens: &[u32]) -> (Vec<Vec<f32>>, Vec<u32>) {
    let weights = bind_bundle(bundle, &graph).unwrap();
    let program = Arc::new(Program::new(graph, weights).unwrap());
    let mut session = program.session(tokens.len()).unwrap();
    let (mut logits, mut routes) = (vec![], vec![]);
    for &t in tokens {
        session.decode(t).unwrap();
        logits.push(session.output_f32(LOGITS).unwrap().to_vec());
        for k in 0..bundle.config.num_moe_layers() {
            routes.push(session.output_u32(&router_output(k)).unwrap()[0]);
        }
        let next = session.output_u32(NEXT_TOKEN).unwrap()[0] as usize;
        assert_eq!(
            next,
            argmax(logits.last().unwrap()),
            "next_token is the argmax of the logits"
        );
    }
    (logits, routes)
}

#[test]
fn every_strategy_matches_the_unfused_graph_on_the_cpu() {
    for fixture in ["zaya-tiny-a", "zaya-tiny-b", "zaya-tiny-c"] {
        for format in ["affine", "mxfp4"] {
            let bundle =
                Bundle::open(&fixtures().join(fixture).join(format!("bundle_{format}"))).unwrap();
            let golden = Golden::open(
                &fixtures()
                    .join(fixture)
                    .join(format!("golden_{format}/golden.safetensors")),
            );
            let tokens: Vec<u32> = golden
                .ints("seq1.prompt_ids")
                .iter()
                .chain(&golden.ints("seq1.decode_ids"))
                .map(|&t| t as u32)
                .collect();
            for skip in [SkipMode::Zero, SkipMode::Passthrough] {
                let graph = build_decode_graph_with(
                    &bundle.config,
                    &bundle,
                    GraphOptions {
                        skip,
                        ..Default::default()
                    },
                )
                .unwrap();
                let (reference, routes) = run(&bundle, graph.clone(), &tokens);
                for spec in
                    STRATEGIES
                        .iter()
                        .copied()
                        .chain(["epilogue", "router+head", "dequant+cca"])
                {
                    let (optimized, _) = zaya_graph::engine::parse_strategy(spec)
                        .unwrap()
                        .apply(&graph)
                        .unwrap();
                    let (logits, got_routes) = run(&bundle, optimized, &tokens);
                    for (t, (a, b)) in logits.iter().zip(&reference).enumerate() {
                        assert_close(
                            &format!("{fixture} {format} {skip} {spec} token {t}"),
                            a,
                            b,
                            1e-5,
                        );
                    }
                    assert_eq!(
                        got_routes, routes,
                        "{fixture} {format} {skip} {spec}: routing"
                    );
                }
            }
        }
    }
}

#[test]
fn a_masked_next_token_never_picks_columns_beyond_the_tokenizer() {
    let bundle = Bundle::open(&fixtures().join("zaya-tiny-a/bundle_affine")).unwrap();
    let base = build_decode_graph_with(&bundle.config, &bundle, GraphOptions::default()).unwrap();
    let tokens = [2u32, 105, 300, 7, 99];
    let (logits, _) = run(&bundle, base.clone(), &tokens);
    // Restrict to the columns below the first token's unmasked argmax: the choice must move.
    let cut = argmax(&logits[0]).max(1);
    let mut masked = base;
    zaya_model::graph::mask_next_token(&mut masked, cut).unwrap();
    for spec in ["none", "all"] {
        let (g, _) = zaya_graph::engine::parse_strategy(spec)
            .unwrap()
            .apply(&masked)
            .unwrap();
        let weights = bind_bundle(&bundle, &g).unwrap();
        let program = Arc::new(Program::new(g, weights).unwrap());
        let mut session = program.session(tokens.len()).unwrap();
        for &t in &tokens {
            session.decode(t).unwrap();
            let logits = session.output_f32(LOGITS).unwrap();
            let next = session.output_u32(NEXT_TOKEN).unwrap()[0] as usize;
            assert_eq!(next, argmax(&logits[..cut]), "{spec}");
        }
    }
    let mut g = build_decode_graph_with(&bundle.config, &bundle, GraphOptions::default()).unwrap();
    assert!(zaya_model::graph::mask_next_token(&mut g, 0).is_err());
    assert!(zaya_model::graph::mask_next_token(&mut g, 513).is_err());
}
