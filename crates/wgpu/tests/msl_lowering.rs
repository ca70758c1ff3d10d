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
    let graph = build_decode_graph(
        config,
        GraphOptions {
            skip,
            ..Default::default()
        },
    )
    .unwrap();
    let (graph, _) = zaya_opt::Strategy::parse(strategy, &zaya_model::graph::scope_fusions())
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
    // A group of serial ops runs as its phases (`zaya_opt::phases`), each of more than
    // one instruction a fused kernel.
    let grouped: usize = graph
        .kernel_ranges()
        .iter()
        .filter(|r| r.group.is_some())
        .flat_map(|r| zaya_opt::phases(&graph, r))
        .filter(|p| p.end - p.start > 1)
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
    for &strategy in zaya_model::graph::STRATEGIES {
        for skip in [
            zaya_model::SkipMode::Zero,
            zaya_model::SkipMode::Passthrough,
        ] {
            check_strategy(&config, strategy, skip);
        }
    }
}

/// The fused matvec modules of the tiny fixture under `all` with `target`.
fn tiny_fused_modules(target: &zaya_wgpu::variant::MatVecTarget) -> Vec<(String, String)> {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/zaya-tiny-a/bundle_affine");
    let config = Config::from_dir(&dir).unwrap();
    let graph = build_decode_graph(&config, GraphOptions::default()).unwrap();
    let (graph, _) = zaya_opt::Strategy::parse("all", &zaya_model::graph::scope_fusions())
        .unwrap()
        .apply(&graph)
        .unwrap();
    let limits = wgpu::Limits {
        max_storage_buffers_per_shader_stage: 31,
        ..wgpu::Limits::default()
    };
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
            ctx: 64,
            max_bindings,
            max_binding_bytes,
            matvec: target,
        },
    )
    .unwrap();
    plan.shaders()
        .into_iter()
        .filter(|s| matches!(s, wgsl::Shader::Generated(g) if g.matvec.is_some()))
        .map(|s| (s.label(), s.wgsl()))
        .collect()
}

/// Every variant `tune` may pick for the tiny model's fused matvecs (with and without
/// subgroups) validates and lowers to MSL.
#[test]
fn every_fused_matvec_variant_lowers_to_msl() {
    use zaya_wgpu::variant::{MatVecTarget, candidates};
    for subgroups in [false, true] {
        let target = MatVecTarget {
            subgroups,
            ..Default::default()
        };
        let mut seen = std::collections::HashSet::new();
        let defaults = tiny_fused_modules(&target);
        assert!(!defaults.is_empty());
        for (label, source) in &defaults {
            check(label, source);
        }
        // The candidates of a norm-prologue 4-bit matvec, forced on every group they fit.
        let shape = zaya_wgpu::variant::MatVecShape {
            class_rows: vec![128],
            cols: 128,
            formats: vec!["affine4".into()],
            norm: true,
            argmax: false,
        };
        let cap = zaya_wgpu::variant::Capability {
            vec4: true,
            stage_words: 128,
            max_class_matvecs: 2,
            one_pass_argmax: false,
        };
        for v in candidates(&target, &shape, &cap) {
            let forced = MatVecTarget {
                force: Some(v),
                ..target.clone()
            };
            for (label, source) in tiny_fused_modules(&forced) {
                if seen.insert(source.clone()) {
                    check(&label, &source);
                }
            }
        }
        assert!(seen.len() > 20, "{} distinct modules", seen.len());
    }
}

/// The generated WGSL of a few variants, pinned as text (`UPDATE_SNAPSHOTS=1` rewrites).
#[test]
fn fused_matvec_snapshots() {
    use zaya_wgpu::variant::{MatVecTarget, MatVecVariant};
    let base = MatVecVariant {
        wg: 64,
        rows_per_wg: 16,
        rows_per_pass: 2,
        tpr: 8,
        vec: 4,
        subgroups: false,
        stage_x: true,
    };
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    for v in [
        base,
        MatVecVariant {
            subgroups: true,
            rows_per_pass: 4,
            ..base
        },
        MatVecVariant {
            vec: 1,
            stage_x: false,
            rows_per_pass: 1,
            rows_per_wg: 8,
            ..base
        },
    ] {
        let target = MatVecTarget {
            subgroups: true,
            force: Some(v),
            ..Default::default()
        };
        let modules = tiny_fused_modules(&target);
        let (label, source) = modules
            .iter()
            .find(|(l, _)| l.ends_with(&v.to_string()))
            .unwrap_or_else(|| panic!("no module uses {v}: {modules:?}"));
        let path = dir.join(format!("{}.wgsl", label.replace(['/', ' '], "_")));
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, source).unwrap();
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_SNAPSHOTS=1 to write)", path.display()));
        assert!(
            want == *source,
            "{} differs from the generated WGSL (UPDATE_SNAPSHOTS=1 to accept)",
            path.display()
        );
    }
}
