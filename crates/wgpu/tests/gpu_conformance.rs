//! The tiny ZAYA fixtures on the GPU: every golden sequence (prefill and decode logits,
//! router choices) for both bundle formats and both skip semantics, against the HF goldens
//! and against the CPU interpreter on the same tokens.

// The CPU interpreter takes its program as an Arc; these tests stay on one thread.
#![allow(clippy::arc_with_non_send_sync)]

mod common;

use common::{argmax, device, fixtures, max_diff};
use safetensors::{Dtype, SafeTensors};
use std::sync::Arc;
use std::time::Instant;
use zaya_model::graph::{GraphOptions, LOGITS, build_decode_graph_with, router_output};
use zaya_model::{Bundle, KvDtype, SkipMode};
use zaya_wgpu::{GpuProgram, Input, Tensor, bind_bundle};

const LOGIT_TOL: f32 = 1e-3;
/// An f16 KV cache against the f32 goldens (as on the CPU, `tests/conformance_cpu.rs`).
const LOGIT_TOL_KV_F16: f32 = 2e-2;
/// The GPU against the CPU, both with f16 caches: a key the two compute 1e-7 apart can round
/// to neighbouring f16 values (as batched against sequential prefill, `tests/prefill_cpu.rs`).
const CPU_TOL_KV_F16: f32 = 5e-3;

/// The GPU against the CPU interpreter with the same caches.
fn cpu_tol(kv_cache: KvDtype) -> f32 {
    match kv_cache {
        KvDtype::F32 => LOGIT_TOL,
        KvDtype::F16 => CPU_TOL_KV_F16,
    }
}

struct Golden(Vec<u8>);

impl Golden {
    fn st(&self) -> SafeTensors<'_> {
        SafeTensors::deserialize(&self.0).expect("golden parses")
    }
    fn has(&self, name: &str) -> bool {
        self.st().tensor(name).is_ok()
    }
    fn f32(&self, name: &str) -> Vec<f32> {
        let st = self.st();
        let t = st.tensor(name).unwrap();
        assert_eq!(t.dtype(), Dtype::F32);
        bytemuck::pod_collect_to_vec(t.data())
    }
    fn ints(&self, name: &str) -> Vec<i64> {
        let st = self.st();
        let t = st.tensor(name).unwrap();
        match t.dtype() {
            Dtype::I64 => bytemuck::pod_collect_to_vec(t.data()),
            Dtype::I32 => bytemuck::pod_collect_to_vec::<u8, i32>(t.data())
                .into_iter()
                .map(i64::from)
                .collect(),
            d => panic!("{name}: {d:?}"),
        }
    }
}

fn check(fixture: &str, format: &str, skip: SkipMode, strategy: &str) {
    check_with(fixture, format, skip, strategy, KvDtype::F32)
}

fn check_with(fixture: &str, format: &str, skip: SkipMode, strategy: &str, kv_cache: KvDtype) {
    let Some(ctx) = device() else { return };
    let golden_tol = match kv_cache {
        KvDtype::F32 => LOGIT_TOL,
        KvDtype::F16 => LOGIT_TOL_KV_F16,
    };
    let cpu_tol = cpu_tol(kv_cache);
    let started = Instant::now();
    let dir = fixtures().join(fixture);
    let bundle = Bundle::open(&dir.join(format!("bundle_{format}"))).unwrap();
    let file = match skip {
        SkipMode::Zero => "golden.safetensors",
        SkipMode::Passthrough => "golden_mod_passthrough.safetensors",
    };
    let golden = Golden(std::fs::read(dir.join(format!("golden_{format}")).join(file)).unwrap());
    let graph =
        build_decode_graph_with(&bundle.config, &bundle, GraphOptions { skip, kv_cache }).unwrap();
    let (graph, _) = zaya_opt::Strategy::parse(strategy, &zaya_model::graph::scope_fusions())
        .unwrap()
        .apply(&graph)
        .unwrap();
    let weights = bind_bundle(&bundle, &graph).unwrap();
    let program = GpuProgram::new(ctx, graph.clone(), &weights).unwrap();
    assert!(
        program.gpu_weight_bytes() as f64 <= 1.02 * graph.weight_bytes() as f64,
        "GPU weights {} B for {} B stored",
        program.gpu_weight_bytes(),
        graph.weight_bytes()
    );
    let cpu_weights = zaya_cpu::bind_bundle(&bundle, &graph).unwrap();
    let cpu_program = Arc::new(zaya_cpu::Program::new(graph, cpu_weights).unwrap());
    let v = bundle.config.vocab_size;
    let n_moe = bundle.config.num_moe_layers();
    let mut read: Vec<String> = vec![LOGITS.into()];
    read.extend((0..n_moe).map(router_output));
    let read: Vec<&str> = read.iter().map(String::as_str).collect();
    let (mut worst_golden, mut worst_cpu, mut steps) = (0f32, 0f32, 0);
    let mut dispatches = 0;
    for s in 0.. {
        if !golden.has(&format!("seq{s}.prompt_ids")) {
            break;
        }
        let ids = |k: &str| -> Vec<u32> {
            golden
                .ints(&format!("seq{s}.{k}"))
                .iter()
                .map(|&t| t as u32)
                .collect()
        };
        let tokens: Vec<u32> = [ids("prompt_ids"), ids("decode_ids")].concat();
        let prefill = golden.f32(&format!("seq{s}.prefill_logits"));
        let decoded = golden.f32(&format!("seq{s}.decode_logits"));
        let want: Vec<&[f32]> = prefill.chunks(v).chain(decoded.chunks(v)).collect();
        let choices = golden.ints(&format!("seq{s}.router_choice"));
        let mut gpu = program.session(64).unwrap();
        let mut cpu = cpu_program.session(64).unwrap();
        dispatches = gpu.dispatches_per_step();
        for (t, &token) in tokens.iter().enumerate() {
            let what =
                format!("{fixture} {format}/{skip} {strategy} kv {kv_cache} seq{s} token {t}");
            let out = gpu.step_inputs(&[Input::U32(&[token])], &read).unwrap();
            let logits = out[0].as_f32().unwrap();
            let cpu_logits = cpu.decode(token).unwrap();
            worst_golden = worst_golden.max(max_diff(logits, want[t]));
            worst_cpu = worst_cpu.max(max_diff(logits, cpu_logits));
            assert!(
                worst_golden <= golden_tol,
                "{what}: logits off the golden by {worst_golden}"
            );
            assert!(
                worst_cpu <= cpu_tol,
                "{what}: logits off the CPU by {worst_cpu}"
            );
            assert_eq!(argmax(logits), argmax(want[t]), "{what}: argmax");
            for (k, choice) in out[1..].iter().enumerate() {
                let Tensor::U32(c) = choice else {
                    panic!("router choice is not u32")
                };
                assert_eq!(
                    c[0] as i64,
                    choices[k * tokens.len() + t],
                    "{what}: router {k}"
                );
                assert_eq!(
                    c[0],
                    cpu.output_u32(&router_output(k)).unwrap()[0],
                    "{what}: router {k} vs CPU"
                );
            }
            steps += 1;
        }
    }
    eprintln!(
        "{fixture} {format}/{skip} {strategy} kv {kv_cache}: {steps} steps, {dispatches} dispatches/step, worst diff {worst_golden:.2e} vs golden, {worst_cpu:.2e} vs CPU, {:.2}s",
        started.elapsed().as_secs_f64()
    );
}

macro_rules! conformance {
    ($($name:ident: $fixture:literal, $format:literal, $skip:ident, $strategy:literal;)*) => {$(
        #[test]
        fn $name() {
            check($fixture, $format, SkipMode::$skip, $strategy);
        }
    )*};
}

// Every named strategy on tiny-a in both formats and both skip semantics; tiny-b and tiny-c
// (other shapes: more experts, other head counts) under `none` and `all`.
conformance! {
    tiny_a_affine_zero_none: "zaya-tiny-a", "affine", Zero, "none";
    tiny_a_affine_passthrough_none: "zaya-tiny-a", "affine", Passthrough, "none";
    tiny_a_mxfp4_zero_none: "zaya-tiny-a", "mxfp4", Zero, "none";
    tiny_a_mxfp4_passthrough_none: "zaya-tiny-a", "mxfp4", Passthrough, "none";
    tiny_a_affine_zero_dequant: "zaya-tiny-a", "affine", Zero, "dequant";
    tiny_a_affine_passthrough_dequant: "zaya-tiny-a", "affine", Passthrough, "dequant";
    tiny_a_mxfp4_zero_dequant: "zaya-tiny-a", "mxfp4", Zero, "dequant";
    tiny_a_mxfp4_passthrough_dequant: "zaya-tiny-a", "mxfp4", Passthrough, "dequant";
    tiny_a_affine_zero_epilogue: "zaya-tiny-a", "affine", Zero, "dequant+epilogue";
    tiny_a_affine_passthrough_epilogue: "zaya-tiny-a", "affine", Passthrough, "dequant+epilogue";
    tiny_a_mxfp4_zero_epilogue: "zaya-tiny-a", "mxfp4", Zero, "dequant+epilogue";
    tiny_a_mxfp4_passthrough_epilogue: "zaya-tiny-a", "mxfp4", Passthrough, "dequant+epilogue";
    tiny_a_affine_zero_cca: "zaya-tiny-a", "affine", Zero, "cca";
    tiny_a_affine_passthrough_cca: "zaya-tiny-a", "affine", Passthrough, "cca";
    tiny_a_mxfp4_zero_cca: "zaya-tiny-a", "mxfp4", Zero, "cca";
    tiny_a_mxfp4_passthrough_cca: "zaya-tiny-a", "mxfp4", Passthrough, "cca";
    tiny_a_affine_zero_all: "zaya-tiny-a", "affine", Zero, "all";
    tiny_a_affine_passthrough_all: "zaya-tiny-a", "affine", Passthrough, "all";
    tiny_a_mxfp4_zero_all: "zaya-tiny-a", "mxfp4", Zero, "all";
    tiny_a_mxfp4_passthrough_all: "zaya-tiny-a", "mxfp4", Passthrough, "all";
    tiny_b_affine_passthrough_none: "zaya-tiny-b", "affine", Passthrough, "none";
    tiny_b_mxfp4_zero_all: "zaya-tiny-b", "mxfp4", Zero, "all";
    tiny_b_affine_passthrough_all: "zaya-tiny-b", "affine", Passthrough, "all";
    tiny_c_mxfp4_passthrough_none: "zaya-tiny-c", "mxfp4", Passthrough, "none";
    tiny_c_affine_zero_all: "zaya-tiny-c", "affine", Zero, "all";
    tiny_c_mxfp4_passthrough_all: "zaya-tiny-c", "mxfp4", Passthrough, "all";
}

/// Past one split-K attention chunk (`ATTENTION_CHUNK` keys) and several: `steps` tokens of
/// a fixed pseudo-random sequence, GPU logits and router choices against the CPU
/// interpreter at every step (no goldens this long).
fn long_context(fixture: &str, format: &str, skip: SkipMode, strategy: &str, steps: usize) {
    long_context_with(fixture, format, skip, strategy, steps, KvDtype::F32)
}

fn long_context_with(
    fixture: &str,
    format: &str,
    skip: SkipMode,
    strategy: &str,
    steps: usize,
    kv_cache: KvDtype,
) {
    let Some(ctx) = device() else { return };
    assert!(steps as u64 > 4 * zaya_wgpu::wgsl::ATTENTION_CHUNK);
    let tol = cpu_tol(kv_cache);
    let dir = fixtures().join(fixture);
    let bundle = Bundle::open(&dir.join(format!("bundle_{format}"))).unwrap();
    let graph =
        build_decode_graph_with(&bundle.config, &bundle, GraphOptions { skip, kv_cache }).unwrap();
    let (graph, _) = zaya_opt::Strategy::parse(strategy, &zaya_model::graph::scope_fusions())
        .unwrap()
        .apply(&graph)
        .unwrap();
    let weights = bind_bundle(&bundle, &graph).unwrap();
    let program = GpuProgram::new(ctx, graph.clone(), &weights).unwrap();
    let cpu_weights = zaya_cpu::bind_bundle(&bundle, &graph).unwrap();
    let cpu_program = Arc::new(zaya_cpu::Program::new(graph, cpu_weights).unwrap());
    let v = bundle.config.vocab_size as u64;
    let n_moe = bundle.config.num_moe_layers();
    let mut read: Vec<String> = vec![LOGITS.into()];
    read.extend((0..n_moe).map(router_output));
    let read: Vec<&str> = read.iter().map(String::as_str).collect();
    let mut gpu = program.session(steps + 8).unwrap();
    let mut cpu = cpu_program.session(steps + 8).unwrap();
    let mut worst = 0f32;
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for t in 0..steps {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let token = ((state >> 33) % v) as u32;
        let what = format!("{fixture} {format}/{skip} {strategy} kv {kv_cache} token {t}");
        let out = gpu.step_inputs(&[Input::U32(&[token])], &read).unwrap();
        let logits = out[0].as_f32().unwrap();
        let cpu_logits = cpu.decode(token).unwrap();
        worst = worst.max(max_diff(logits, cpu_logits));
        assert!(worst <= tol, "{what}: logits off the CPU by {worst}");
        for (k, choice) in out[1..].iter().enumerate() {
            let Tensor::U32(c) = choice else {
                panic!("router choice is not u32")
            };
            assert_eq!(
                c[0],
                cpu.output_u32(&router_output(k)).unwrap()[0],
                "{what}: router {k} vs CPU"
            );
        }
    }
    eprintln!(
        "{fixture} {format}/{skip} {strategy} kv {kv_cache}: {steps} tokens, worst {worst:.2e} vs CPU"
    );
}

#[test]
fn long_context_all_equals_the_cpu() {
    long_context("zaya-tiny-a", "affine", SkipMode::Zero, "all", 300);
    long_context("zaya-tiny-c", "mxfp4", SkipMode::Passthrough, "all", 300);
}

#[test]
fn long_context_none_equals_the_cpu() {
    long_context("zaya-tiny-b", "mxfp4", SkipMode::Zero, "none", 300);
    long_context("zaya-tiny-a", "affine", SkipMode::Passthrough, "cca", 300);
}

/// An f16 KV cache (`--kv-dtype f16`): the goldens within the f16 tolerance and the CPU
/// interpreter with the same cache within the f32 one, through the region kernels (`all`)
/// and the primitive ones (`none`), at short and long context.
#[test]
fn kv_f16_matches_the_goldens_and_the_cpu() {
    check_with("zaya-tiny-a", "affine", SkipMode::Zero, "all", KvDtype::F16);
    check_with(
        "zaya-tiny-b",
        "mxfp4",
        SkipMode::Passthrough,
        "none",
        KvDtype::F16,
    );
    check_with("zaya-tiny-c", "affine", SkipMode::Zero, "cca", KvDtype::F16);
}

#[test]
fn long_context_kv_f16_equals_the_cpu() {
    long_context_with(
        "zaya-tiny-a",
        "mxfp4",
        SkipMode::Zero,
        "all",
        300,
        KvDtype::F16,
    );
    long_context_with(
        "zaya-tiny-b",
        "affine",
        SkipMode::Passthrough,
        "none",
        300,
        KvDtype::F16,
    );
}
