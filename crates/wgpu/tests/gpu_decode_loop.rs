//! The GPU-resident decode loop: under `all`, one greedy step records exactly the
//! optimizer plan's dispatches in one compute pass of one encoder, feeds its argmax back on
//! the GPU and reads back only the 4-byte token id; pipelined greedy decoding produces the
//! CPU interpreter's tokens.

#![allow(clippy::arc_with_non_send_sync)]

mod common;

use common::{device, fixtures};
use std::sync::Arc;
use zaya_model::Bundle;
use zaya_model::graph::{GraphOptions, build_decode_graph_with};
use zaya_wgpu::{Feed, GpuProgram, StepStats, bind_bundle};

fn graph(bundle: &Bundle, strategy: &str) -> zaya_ir::Graph {
    let g = build_decode_graph_with(&bundle.config, bundle, GraphOptions::default()).unwrap();
    zaya_opt::Strategy::parse(strategy, &zaya_model::graph::scope_fusions())
        .unwrap()
        .apply(&g)
        .unwrap()
        .0
}

#[test]
fn a_greedy_step_records_the_plan_and_reads_back_four_bytes() {
    let Some(ctx) = device() else { return };
    let bundle = Bundle::open(&fixtures().join("zaya-tiny-a/bundle_affine")).unwrap();
    let g = graph(&bundle, "all");
    let plan = zaya_opt::Plan::build(
        &g,
        "all",
        zaya_opt::PlanOptions::on(zaya_wgpu::target(&ctx.limits())),
    );
    let weights = bind_bundle(&bundle, &g).unwrap();
    let program = GpuProgram::new(ctx, g.clone(), &weights).unwrap();
    let cpu = Arc::new(
        zaya_cpu::Program::new(g, zaya_cpu::bind_bundle(&bundle, program.graph()).unwrap())
            .unwrap(),
    );
    let mut gpu = program.session(32).unwrap();
    let mut reference = cpu.session(32).unwrap();
    let prompt = [2u32, 105, 17, 300];
    let mut first = 0;
    for &t in &prompt {
        first = gpu.step_greedy(Feed::Token(t)).unwrap();
        reference.decode(t).unwrap();
    }
    let next = |r: &zaya_cpu::Session| r.output_u32("next_token").unwrap()[0];
    let mut want = vec![next(&reference)];
    for _ in 0..8 {
        reference.decode(*want.last().unwrap()).unwrap();
        want.push(next(&reference));
    }
    assert_eq!(first, want[0], "token after the prompt");
    let got = gpu.decode_greedy(Feed::Previous, 8).unwrap();
    assert_eq!(
        got,
        want[1..],
        "pipelined greedy tokens vs the CPU interpreter"
    );
    assert_eq!(
        gpu.last_step_stats(),
        StepStats {
            command_encoders: 1,
            compute_passes: 1,
            dispatches: plan.totals.dispatches as usize,
            readback_bytes: 4,
        }
    );
}

/// Per-token wall time of pipelined greedy decoding under `none` and `all` (a report, not
/// an assertion: lavapipe measures correctness, not speed). `cargo test -p zaya-wgpu --test
/// gpu_decode_loop -- --ignored --nocapture`.
#[test]
#[ignore]
fn per_token_times() {
    let Some(ctx) = device() else { return };
    let dir = tempfile_dir();
    let mut wide = zaya_model::Config::zaya1_8b();
    wide.num_layers = 2;
    wide.vocab_size = 4096;
    zaya_model::random::write_random_bundle(&wide, &dir, 3).unwrap();
    let models = [
        ("tiny-a", fixtures().join("zaya-tiny-a/bundle_affine")),
        ("8B-width 2 layers", dir.clone()),
    ];
    for (what, path) in models {
        let bundle = Bundle::open(&path).unwrap();
        for strategy in ["none", "all"] {
            let g = graph(&bundle, strategy);
            let weights = bind_bundle(&bundle, &g).unwrap();
            let program = GpuProgram::new(Arc::clone(&ctx), g, &weights).unwrap();
            let mut s = program.session(64).unwrap();
            s.decode_greedy(Feed::Token(2), 2).unwrap();
            let steps = 16;
            let t = std::time::Instant::now();
            s.decode_greedy(Feed::Previous, steps).unwrap();
            let per = t.elapsed().as_secs_f64() / steps as f64;
            eprintln!(
                "{what} {strategy}: {:.2} ms/token, {} dispatches/step",
                per * 1e3,
                s.last_step_stats().dispatches
            );
            print_kernel_times(&mut s);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// GPU time per kernel label of one step (when the adapter has timestamps), the fastest
/// of a few profiled steps per label (a busy 2-core host is noisy), largest first: where
/// the step spends its time.
fn print_kernel_times(s: &mut zaya_wgpu::GpuSession) {
    let mut by_label = std::collections::BTreeMap::<String, (usize, f64)>::new();
    for _ in 0..5 {
        let Some(kernels) = s.profile_inputs(&[zaya_wgpu::Input::U32(&[2])]).unwrap() else {
            return;
        };
        let mut step = std::collections::BTreeMap::<String, (usize, f64)>::new();
        for k in &kernels {
            let e = step.entry(k.label.clone()).or_default();
            e.0 += 1;
            e.1 += k.seconds;
        }
        for (label, (n, t)) in step {
            let e = by_label.entry(label).or_insert((n, f64::INFINITY));
            e.1 = e.1.min(t);
        }
    }
    let mut rows: Vec<_> = by_label.into_iter().collect();
    rows.sort_by(|a, b| b.1.1.total_cmp(&a.1.1));
    for (label, (n, t)) in rows.into_iter().take(6) {
        eprintln!("    {label:>24}: {n:>3} kernels, {:8.3} ms", t * 1e3);
    }
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("zaya-wgpu-times-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
