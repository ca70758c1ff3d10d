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
        let formats: Vec<_> = graph.weights.iter().map(|w| w.format).collect();
        let max = zaya_wgpu::weights::max_window_bytes(&wgpu::Limits::default());
        let windows: Vec<_> = graph
            .weights
            .iter()
            .map(|w| zaya_wgpu::weights::plan_windows(&w.source, w.format, &w.dims, max).unwrap())
            .collect();
        let plan = zaya_wgpu::plan::lower(
            &graph,
            &zaya_wgpu::plan::LowerInput {
                formats: &formats,
                windows: &windows,
                ctx: 4096,
            },
        )
        .unwrap();
        let windowed = windows.iter().filter(|w| w.len() > 1).count();
        assert!(windowed >= 1, "the 537 MB embedding needs windows");
        eprintln!(
            "ZAYA1-8B {skip}: {} instructions, {} kernels, {} dispatches/step, {} shaders, {windowed} windowed weight(s)",
            graph.insts.len(),
            plan.kernels.len(),
            plan.dispatches_per_step(),
            shaders.len()
        );
    }
}
