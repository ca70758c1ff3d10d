//! The benchmark-facing API on a tiny model: per-step wall time, dispatch counts, and
//! per-kernel GPU timestamps when the adapter has TIMESTAMP_QUERY.

mod common;

use common::{device, fixtures};
use zaya_model::Bundle;
use zaya_model::graph::{GraphOptions, build_decode_graph_with};
use zaya_wgpu::{GpuProgram, KernelKind, bind_bundle};

#[test]
fn step_timing_and_kernel_profile() {
    let Some(ctx) = device() else { return };
    let bundle = Bundle::open(&fixtures().join("zaya-tiny-c/bundle_affine")).unwrap();
    let graph = build_decode_graph_with(&bundle.config, &bundle, GraphOptions::default()).unwrap();
    let weights = bind_bundle(&bundle, &graph).unwrap();
    let program = GpuProgram::new(ctx.clone(), graph, &weights).unwrap();
    let mut s = program.session(16).unwrap();
    let plan = s.plan();
    let qmatvecs = plan
        .kernels
        .iter()
        .filter(|k| k.kind == KernelKind::QMatVec)
        .count();
    assert!(qmatvecs > 0, "matvecs read packed weights");
    assert!(s.dispatches_per_step() < plan.kernels.iter().map(|k| k.dispatches.len()).sum());
    s.step_token(2, true).unwrap();
    let mut times = vec![];
    for t in 0..5 {
        s.step_token(3 + t, false).unwrap();
        times.push(s.last_step_time().unwrap().as_secs_f64());
    }
    let argmax_steps: Vec<f64> = times.iter().map(|t| t * 1e3).collect();
    eprintln!(
        "{} dispatches/step, {} pipelines, step wall times (ms, no read-back): {argmax_steps:.2?}",
        s.dispatches_per_step(),
        program.pipeline_count()
    );
    let profile = s.profile_inputs(&[zaya_wgpu::Input::U32(&[9])]).unwrap();
    match profile {
        Some(kernels) => {
            assert!(ctx.features.timestamp_query);
            let total: f64 = kernels.iter().map(|k| k.seconds).sum();
            let mut by_label = std::collections::BTreeMap::<String, f64>::new();
            for k in &kernels {
                *by_label.entry(k.label.clone()).or_default() += k.seconds;
            }
            let mut top: Vec<_> = by_label.into_iter().collect();
            top.sort_by(|a, b| b.1.total_cmp(&a.1));
            eprintln!(
                "{} kernels, {:.3} ms GPU; top: {:?}",
                kernels.len(),
                total * 1e3,
                &top[..top.len().min(5)]
            );
            assert_eq!(
                kernels.len(),
                s.plan().kernels.iter().filter(|k| !k.constant).count()
            );
        }
        None => {
            assert!(!ctx.features.timestamp_query);
            eprintln!("no TIMESTAMP_QUERY on this adapter: no kernel profile");
        }
    }
    assert_eq!(s.position(), 7);
}
