//! The ZAYA decode graph: built from a config alone, deterministic, validated, and its
//! canonical text pinned by a snapshot (regenerate with `UPDATE_SNAPSHOTS=1`).

use std::path::Path;
use std::time::Instant;
use zaya_model::graph::{GraphOptions, LOGITS, build_decode_graph, router_output};
use zaya_model::{Config, SkipMode};

fn snapshot(name: &str, text: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, text).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    if want != text {
        let line = want
            .lines()
            .zip(text.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!(
            "{name} differs from the snapshot at line {}:\n  want: {:?}\n  got:  {:?}\n(UPDATE_SNAPSHOTS=1 to accept)",
            line + 1,
            want.lines().nth(line),
            text.lines().nth(line)
        );
    }
}

fn tiny_config() -> Config {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/zaya-tiny-a/bundle_affine");
    Config::from_dir(&dir).unwrap()
}

#[test]
fn tiny_graph_text_matches_snapshot() {
    let g = build_decode_graph(&tiny_config(), GraphOptions::default()).unwrap();
    snapshot("zaya-tiny-a.decode.txt", &g.to_string());
}

#[test]
fn full_zaya1_8b_graph_builds_fast_and_prints_identically() {
    let cfg = Config::zaya1_8b();
    let start = Instant::now();
    let a = build_decode_graph(&cfg, GraphOptions::default()).unwrap();
    let elapsed = start.elapsed();
    let b = build_decode_graph(&cfg, GraphOptions::default()).unwrap();
    let (ta, tb) = (a.to_string(), b.to_string());
    assert_eq!(ta, tb, "the text form must be byte-identical across builds");
    eprintln!(
        "ZAYA1-8B decode graph: {} insts, {} weights, built in {elapsed:?}",
        a.insts.len(),
        a.weights.len()
    );
    assert!(elapsed.as_secs_f64() < 1.0, "building took {elapsed:?}");
    // Every bundle tensor is declared once: 1965 keys minus scales/biases of quantized weights.
    let quantized = a.weights.iter().filter(|w| w.format.is_quantized()).count();
    assert_eq!(a.weights.len() + 2 * quantized, 1965);
    // One state set per attention layer; one router output per MoE layer.
    assert_eq!(a.states.len(), 4 * 40);
    assert!(a.output(LOGITS).is_some() && a.output(&router_output(39)).is_some());
    // The packed weights add up to the bundle's tensor bytes (5,849,666,544).
    assert_eq!(a.weight_bytes(), 5_849_666_544);
}

#[test]
fn skip_semantics_change_only_the_skip_value() {
    let cfg = tiny_config();
    let zero = build_decode_graph(
        &cfg,
        GraphOptions {
            skip: SkipMode::Zero,
            ..Default::default()
        },
    )
    .unwrap()
    .to_string();
    let pass = build_decode_graph(
        &cfg,
        GraphOptions {
            skip: SkipMode::Passthrough,
            ..Default::default()
        },
    )
    .unwrap()
    .to_string();
    assert_ne!(zero, pass);
    assert!(zero.contains("= const{0.0}"));
    assert!(pass.contains("slice{axis=0, start=4, len=1}"));
}
