//! Every WGSL module the backend can emit parses, validates with naga, and translates to
//! Metal Shading Language: all op/format variants, and everything the full ZAYA1-8B decode
//! graph needs (both skip semantics). No device needed.

use zaya_model::Config;
use zaya_model::graph::{GraphOptions, build_decode_graph};
use zaya_wgpu::{graph_shaders, msl, wgsl};

fn check(label: &str, source: &str) {
    assert!(!source.contains("{{"), "{label}: unfilled template hole");
    let metal = msl::to_msl(label, source).unwrap_or_else(|e| panic!("{e}"));
    assert!(metal.contains("kernel void"), "{label}: no kernel in MSL");
}

#[test]
fn every_variant_lowers_to_msl() {
    let variants = wgsl::all_variants(&wgsl::test_formats());
    assert!(variants.len() > 50, "{} variants", variants.len());
    for shader in &variants {
        check(&shader.label(), &shader.wgsl());
    }
}

#[test]
fn the_zaya1_8b_graph_lowers_to_msl() {
    let config = Config::zaya1_8b();
    for skip in [
        zaya_model::SkipMode::Zero,
        zaya_model::SkipMode::Passthrough,
    ] {
        let graph = build_decode_graph(&config, GraphOptions { skip }).unwrap();
        let shaders = graph_shaders(&graph, &wgpu::Limits::default()).unwrap();
        // The whole graph needs a few dozen pipelines, not one per instruction.
        assert!(
            shaders.len() < 48,
            "{} shaders: {:?}",
            shaders.len(),
            shaders.iter().map(|s| &s.0).collect::<Vec<_>>()
        );
        for (label, source) in &shaders {
            check(label, source);
        }
    }
}
