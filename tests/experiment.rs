//! `examples/experiment.rs` runs as a user would run it, on the tiny fixture: its custom pass
//! fuses something (fewer kernels than `all`), keeps the graph's results (the bench's gate
//! passes it against the unfused graph) and is benchmarked beside `all`.

mod common;
#[path = "../examples/experiment.rs"]
mod experiment;

use std::sync::Arc;
use zaya_graph::bench;
use zaya_graph::engine::Backend;
use zaya_graph::model::Bundle;
use zaya_graph::model::graph::{GraphOptions, build_decode_graph};
use zaya_graph::opt::PlanOptions;

#[test]
fn the_experiment_example_fuses_passes_the_gate_and_is_benchmarked() {
    let dir = common::tiny_a().join("bundle_affine");
    let mut backends = vec![Backend::Cpu];
    // On lavapipe in CI (a GPU test there must not skip).
    if !zaya_graph::gpu::list_adapters().is_empty() {
        backends.push(Backend::Wgpu);
    } else {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "CI=true and no GPU adapter"
        );
    }
    for backend in backends {
        let mut lines = vec![];
        let table = experiment::experiment(Some(dir.clone()), backend, 2, &mut |l| {
            lines.push(l.to_string())
        })
        .unwrap_or_else(|e| panic!("{backend}: {e:#}\n{}", lines.join("\n")));
        for name in ["| none", "| all ", "| all+o_proj_into_cca"] {
            assert!(
                table.contains(name),
                "{backend}: {name} missing from\n{table}"
            );
        }
        assert!(table.contains(&format!("bench: {backend}")), "{table}");
    }

    let config = Bundle::open(&dir).unwrap().config.clone();
    let graph = build_decode_graph(&config, GraphOptions::default()).unwrap();
    let all = zaya_graph::engine::parse_strategy("all").unwrap();
    let mine = all.clone().then(Arc::new(experiment::OProjIntoAttention));
    assert_eq!(mine.name, "all+o_proj_into_cca");
    assert_eq!(mine.pass_names().last(), Some(&"dce"));
    let f_all = bench::plan_figures(&graph, &all, PlanOptions::default()).unwrap();
    let f_mine = bench::plan_figures(&graph, &mine, PlanOptions::default()).unwrap();
    // One kernel fewer per attention layer.
    let layers = config.num_layers as u32 / 2;
    assert_eq!(
        f_mine.kernels + layers,
        f_all.kernels,
        "{f_all:?} {f_mine:?}"
    );
}

/// Composition: a built-in pass can be dropped or replaced by a user's, and a name that is
/// not in the strategy is an error naming what is there.
#[test]
fn strategies_compose_with_user_passes() {
    let all = zaya_graph::engine::parse_strategy("all").unwrap();
    let without = all.clone().without("norm_prologue").unwrap();
    assert!(!without.pass_names().contains(&"norm_prologue"));
    assert_eq!(without.name, "all-norm_prologue");
    let replaced = all
        .clone()
        .replacing("cca", Arc::new(experiment::OProjIntoAttention))
        .unwrap();
    assert_eq!(replaced.pass_names().len(), all.pass_names().len());
    let err = all.without("nope").unwrap_err().to_string();
    assert!(err.contains("nope") && err.contains("dequant"), "{err}");
}
