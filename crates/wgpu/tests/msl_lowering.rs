//! Every WGSL module the backend can emit parses, validates with naga, and translates to
//! Metal Shading Language: all op/format variants, and every module the full ZAYA1-8B decode
//! graph needs under every named strategy (both skip semantics). No device needed.

use zaya_model::Config;
use zaya_model::graph::{GraphOptions, build_decode_graph};
use zaya_wgpu::plan::{LowerInput, lower};
use zaya_wgpu::{KernelKind, graph_shaders, msl, wgsl};

fn check(label: &str, source: &str) {
    assert!(!source.contains("{{"), "{label}: unfilled template hole");
    let metal = msl::to_msl(label, source).unwrap_or_else(|e| panic!("{e}\n{source}"));
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

/// The 8B graph under one strategy: every generated module lowers to MSL, every group is a
/// fused kernel (none falls back to primitives) and, under `all`, one step records exactly
/// the dispatches the optimizer's plan counts.
fn check_strategy(config: &Config, strategy: &str, skip: zaya_model::SkipMode) {
    let graph = build_decode_graph(config, GraphOptions { skip }).unwrap();
    let (graph, _) = zaya_opt::Strategy::parse(strategy)
        .unwrap()
        .apply(&graph)
        .unwrap();
    // Apple GPUs offer 31 buffer slots per stage (WebGPU's default of 8 storage buffers
    // would send the windowed embedding and lm_head groups to the primitive fallback).
    let limits = wgpu::Limits {
        max_storage_buffers_per_shader_stage: 31,
        ..wgpu::Limits::default()
    };
    let shaders = graph_shaders(&graph, &limits).unwrap();
    for (label, source) in &shaders {
        check(&format!("{strategy}/{skip}: {label}"), source);
    }
    let formats: Vec<_> = graph.weights.iter().map(|w| w.format).collect();
    let max = zaya_wgpu::weights::max_window_bytes(&limits);
    let windows: Vec<_> = graph
        .weights
        .iter()
        .map(|w| zaya_wgpu::weights::plan_windows(&w.source, w.format, &w.dims, max).unwrap())
        .collect();
    let (max_bindings, max_binding_bytes) = LowerInput::limits_of(&limits);
    let plan = lower(
        &graph,
        &LowerInput {
            formats: &formats,
            windows: &windows,
            ctx: 4096,
            max_bindings,
            max_binding_bytes,
            matvec: &zaya_wgpu::variant::MatVecTarget::default(),
        },
    )
    .unwrap();
    let grouped: usize = graph
        .kernel_ranges()
        .iter()
        .filter(|r| r.group.is_some() && r.end - r.start > 1)
        .count();
    let fused = plan
        .kernels
        .iter()
        .filter(|k| matches!(k.kind, KernelKind::FusedMatVec | KernelKind::Region))
        .count();
    assert_eq!(
        fused, grouped,
        "{strategy}/{skip}: a group fell back to primitives"
    );
    for k in &plan.kernels {
        for d in &k.dispatches {
            assert!(
                d.bindings.len() as u32 <= max_bindings,
                "{}: bindings",
                k.label
            );
        }
    }
    let opt = zaya_opt::Plan::build(
        &graph,
        strategy,
        zaya_opt::PlanOptions::on(zaya_wgpu::target(&limits)),
    );
    if strategy == "all" {
        assert_eq!(
            plan.dispatches_per_step(),
            opt.totals.dispatches as usize,
            "{strategy}/{skip}: dispatches per step vs the optimizer's plan"
        );
    }
    eprintln!(
        "ZAYA1-8B {strategy}/{skip}: {} kernels, {} dispatches/step (plan {}), {} shaders, {fused} fused",
        plan.kernels.len(),
        plan.dispatches_per_step(),
        opt.totals.dispatches,
        shaders.len()
    );
}

#[test]
fn the_zaya1_8b_graph_lowers_to_msl_under_every_strategy() {
    let config = Config::zaya1_8b();
    for &strategy in zaya_opt::STRATEGIES {
        for skip in [
            zaya_model::SkipMode::Zero,
            zaya_model::SkipMode::Passthrough,
        ] {
            check_strategy(&config, strategy, skip);
        }
    }
}
