//! The text form round-trips: `parse(print(g))` is `g` up to renumbering, for the tiny
//! fixture model and ZAYA1-8B at full width (decode and prefill, unfused and under `all`),
//! and bad text is refused with the line and column.

use std::path::Path;
use zaya_ir::{Graph, ParseError, parse};
use zaya_model::graph::{GraphOptions, PrefillOptions, build_decode_graph, build_prefill_graph};
use zaya_model::{Config, SkipMode};
use zaya_opt::Strategy;

fn tiny() -> Config {
    Config::from_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/zaya-tiny-a/bundle_affine"),
    )
    .unwrap()
}

/// Round-trips `g` and its optimized form under `all`.
fn round_trip(g: &Graph) {
    for graph in [
        g.clone(),
        Strategy::parse("all", &zaya_model::graph::scope_fusions())
            .unwrap()
            .apply(g)
            .unwrap()
            .0,
    ] {
        let text = graph.to_string();
        let back = parse(&text).unwrap_or_else(|e| panic!("{}: {e}", graph.name));
        assert!(
            back == graph.canonical(),
            "{}: the parsed graph differs from the printed one",
            graph.name
        );
        assert_eq!(
            back.to_string(),
            text,
            "{}: printing is not stable",
            graph.name
        );
        // Scopes survive the trip: the text shows what the scope passes key on.
        assert!(text.contains("#head"), "{}", graph.name);
    }
}

#[test]
fn tiny_model_round_trips() {
    let cfg = tiny();
    for skip in [SkipMode::Zero, SkipMode::Passthrough] {
        round_trip(
            &build_decode_graph(
                &cfg,
                GraphOptions {
                    skip,
                    ..Default::default()
                },
            )
            .unwrap(),
        );
    }
    let p = PrefillOptions {
        tokens: 3,
        all_logits: true,
    };
    round_trip(&build_prefill_graph(&cfg, GraphOptions::default(), p).unwrap());
}

#[test]
fn zaya1_8b_round_trips() {
    let cfg = Config::zaya1_8b();
    let g = build_decode_graph(&cfg, GraphOptions::default()).unwrap();
    assert!(g.insts.len() > 5000);
    round_trip(&g);
    let p = PrefillOptions {
        tokens: 4,
        all_logits: false,
    };
    round_trip(&build_prefill_graph(&cfg, GraphOptions::default(), p).unwrap());
}

fn err(text: &str) -> (usize, usize, String) {
    match parse(text) {
        Err(ParseError::At { line, column, msg }) => (line, column, msg),
        other => panic!("expected a positioned error, got {other:?}"),
    }
}

#[test]
fn bad_text_is_refused_with_line_and_column() {
    let head = "graph g {\n  input %x: f32[4]\n";
    let (l, c, m) = err(&format!("{head}  %y: f32[4] = exp %z\n}}\n"));
    assert_eq!((l, c), (3, 20), "{m}");
    assert!(m.contains("%z is not defined"), "{m}");
    let (l, c, m) = err(&format!("{head}  %y: f32[8] = exp %x\n}}\n"));
    assert_eq!((l, c), (3, 3), "{m}");
    assert!(m.contains("exp gives f32[4]"), "{m}");
    let (l, c, m) = err(&format!("{head}  %y: f32[4] = frobnicate %x\n}}\n"));
    assert_eq!((l, c), (3, 16), "{m}");
    assert!(m.contains("unknown op `frobnicate`"), "{m}");
    let (l, _, m) = err(&format!(
        "{head}  %y: f32[4] = reduce_sum{{axs=0}} %x\n}}\n"
    ));
    assert!(l == 3 && m.contains("`axis=`"), "{m}");
    let (l, _, m) = err(&format!("{head}  %y: f32[4] = exp %x\n"));
    assert!(l == 3 && m.contains("closing"), "{m}");
    let (l, c, m) = err("graph g {\n  weight @1 = f16[4] \"w\"\n}\n");
    assert_eq!((l, c), (2, 10), "{m}");
    // Parses, but a kernel split in two is not a valid graph.
    let split = "graph g {\n  input %x: f32[4]\n  kernel k0 a {\n    %a: f32[4] = exp %x\n  }\n  %b: f32[4] = exp %a\n  kernel k0 a {\n    %c: f32[4] = exp %b\n  }\n}\n";
    let (l, c, m) = err(split);
    assert_eq!((l, c), (7, 10), "{m}");
}

#[test]
fn hand_written_text_with_named_values_parses() {
    let g = parse(
        "; a comment line\ngraph hand {\n  symbol pos\n  weight @0 = affine4g32f16[8, 32] \"w\"\n  input %x: f32[32]  ; x\n  kernel k7 matvec {\n    %w: f32[8, 32] = dequant @0  #l0.mlp\n    %y: f32[8] = matvec %w, %x  #l0.mlp  ; y\n  }\n  %one: f32[8] = const{1.0}\n  %p: u32[1] = symbol{pos}\n  %z: f32[8] = mul %y, %one\n  output z = %z\n}\n",
    )
    .unwrap();
    assert_eq!(g.insts.len(), 5);
    assert_eq!(g.scope_of(1), Some("l0.mlp"));
    assert_eq!(g.kernel_ranges().len(), 4);
    let text = g.to_string();
    assert!(
        text.contains("%2: f32[8] = matvec %1, %0  #l0.mlp  ; y"),
        "{text}"
    );
    assert_eq!(parse(&text).unwrap(), g.canonical());
}
