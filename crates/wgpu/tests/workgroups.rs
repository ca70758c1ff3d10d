//! The lowering spreads heavy kernels over the device: for ZAYA1-8B under `all` (both skip
//! semantics, KV capacity 4096) no dispatch that binds more than 256 KiB for reading runs in
//! fewer than 32 workgroups, and split-K attention is in the plan.
//! Lowering only: no adapter, no weights.

use zaya_model::Config;
use zaya_model::graph::{GraphOptions, build_decode_graph};
use zaya_wgpu::report::{human, lower_declared, portable_limits};

const HEAVY: u64 = 256 * 1024;
const MIN_WORKGROUPS: u32 = 32;

#[test]
fn no_heavy_kernel_of_the_8b_plan_runs_in_few_workgroups() {
    for skip in [
        zaya_model::SkipMode::Zero,
        zaya_model::SkipMode::Passthrough,
    ] {
        let graph = build_decode_graph(
            &Config::zaya1_8b(),
            GraphOptions {
                skip,
                ..Default::default()
            },
        )
        .unwrap();
        let (graph, _) = zaya_opt::Strategy::parse("all", &zaya_model::graph::scope_fusions())
            .unwrap()
            .apply(&graph)
            .unwrap();
        let lowered = lower_declared(&graph, &portable_limits(), 4096).unwrap();
        let infos = lowered.dispatches(&graph);
        let narrow: Vec<String> = infos
            .iter()
            .filter(|d| d.read_bytes > HEAVY && d.workgroups < MIN_WORKGROUPS)
            .map(|d| {
                format!(
                    "{} ({}): {} workgroups read {}",
                    lowered.plan.kernels[d.kernel].label,
                    d.shader,
                    d.workgroups,
                    human(d.read_bytes)
                )
            })
            .collect();
        assert!(
            narrow.is_empty(),
            "{skip}: heavy dispatches in fewer than {MIN_WORKGROUPS} workgroups:\n{}",
            narrow.join("\n")
        );
        // The attention and conv phases are spread (not one workgroup per layer).
        let spread = |name: &str| {
            infos
                .iter()
                .filter(|d| d.shader.contains(name))
                .all(|d| d.workgroups >= MIN_WORKGROUPS)
        };
        assert!(spread("attention_split"), "{skip}: attention not split");
        assert!(
            infos.iter().any(|d| d.shader == "attention_split"),
            "{skip}: no split-K attention in the plan"
        );
        eprintln!(
            "ZAYA1-8B all/{skip}: {} dispatches/step, narrowest heavy dispatch {} workgroups",
            infos.len(),
            infos
                .iter()
                .filter(|d| d.read_bytes > HEAVY)
                .map(|d| d.workgroups)
                .min()
                .unwrap_or(0)
        );
    }
}

/// A device with few storage buffers: the groups that do not fit run per instruction, and
/// the lowering says which and why (what `dump --stage lowering` prints).
#[test]
fn refused_fusions_carry_their_reason() {
    let graph = build_decode_graph(&Config::zaya1_8b(), GraphOptions::default()).unwrap();
    let (graph, _) = zaya_opt::Strategy::parse("all", &zaya_model::graph::scope_fusions())
        .unwrap()
        .apply(&graph)
        .unwrap();
    let limits = wgpu::Limits {
        max_storage_buffers_per_shader_stage: 6,
        ..wgpu::Limits::default()
    };
    let lowered = lower_declared(&graph, &limits, 256).unwrap();
    let refused = &lowered.plan.refused;
    assert!(!refused.is_empty());
    assert!(
        refused
            .iter()
            .any(|r| r.reason.contains("storage bindings, the budget is 6")),
        "{refused:?}"
    );
    let text = lowered.text(&graph);
    assert!(text.contains("refused fusions:\n  "), "{text}");
}
