//! Batched prefill on wgpu (lavapipe in CI): the GPU's prefill functions against the CPU's
//! batched prefill and the decode graph fed token by token (every position's logits, router
//! choices, state afterwards, decode after it), and against the HF goldens with odd chunk
//! lengths, on every fixture, both formats, both skip semantics. Skips without an adapter
//! unless CI=true (then a missing adapter fails).

mod common;
use common::*;
use std::sync::Arc;
use zaya_ir::{ALL_LOGITS, ExecSession, Executor, Input, LOGITS};
use zaya_model::graph::{GraphOptions, build_module_with, router_output};
use zaya_model::{Bundle, KvDtype, SkipMode};
use zaya_wgpu::{AdapterChoice, GpuContext, GpuProgram, ProgramOptions};

const SEQ_TOL: f32 = 1e-4;
/// Batched against token by token with f16 caches: a K or V value a rounding apart in f32
/// can land one f16 step apart (the CPU measures within 5e-3 too, `tests/prefill_cpu.rs`).
const SEQ_TOL_KV_F16: f32 = 5e-3;
const LOGIT_TOL: f32 = 1e-3;
const FIXTURES: [&str; 3] = ["zaya-tiny-a", "zaya-tiny-b", "zaya-tiny-c"];

fn context() -> Option<Arc<GpuContext>> {
    if zaya_wgpu::list_adapters().is_empty() {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "CI=true and no GPU adapter: the wgpu prefill tests must run in CI"
        );
        eprintln!("skipping: no GPU adapter");
        return None;
    }
    Some(Arc::new(
        GpuContext::new(&AdapterChoice::default()).expect("adapter opens"),
    ))
}

fn module(bundle: &Bundle, skip: SkipMode, chunk: usize, strategy: &str) -> zaya_ir::Module {
    module_with(bundle, skip, chunk, strategy, KvDtype::F32)
}

fn module_with(
    bundle: &Bundle,
    skip: SkipMode,
    chunk: usize,
    strategy: &str,
    kv_cache: KvDtype,
) -> zaya_ir::Module {
    let mut m = build_module_with(
        &bundle.config,
        bundle,
        GraphOptions { skip, kv_cache },
        chunk,
        true,
    )
    .expect("module builds");
    if strategy != "none" {
        // A strategy over every function, prefill graphs included: whatever it fuses there
        // must still lower.
        let s = zaya_graph::engine::parse_strategy(strategy).unwrap();
        let decode = s.apply(m.decode()).unwrap().0;
        let funcs = m.functions()[1..]
            .iter()
            .map(|f| zaya_ir::Function {
                graph: s.apply(&f.graph).unwrap().0,
                ..f.clone()
            })
            .collect();
        m = zaya_ir::Module::new(decode, funcs).unwrap();
    }
    m
}

fn gpu(ctx: &Arc<GpuContext>, bundle: &Arc<Bundle>, m: zaya_ir::Module) -> Arc<GpuProgram> {
    gpu_with_team(ctx, bundle, m, None)
}

/// A program whose prefill `matmul` uses `team` threads per row (`None`: the device's).
fn gpu_with_team(
    ctx: &Arc<GpuContext>,
    bundle: &Arc<Bundle>,
    m: zaya_ir::Module,
    team: Option<u32>,
) -> Arc<GpuProgram> {
    let options = ProgramOptions {
        matvec: team.map(|team| {
            let mut target = zaya_wgpu::tune::untuned_target(ctx);
            target.matmul_team = team;
            target
        }),
        ..Default::default()
    };
    GpuProgram::from_bundle_module(Arc::clone(ctx), bundle, m, &options, None)
        .expect("wgpu program binds")
}

struct Run {
    logits: Vec<Vec<f32>>,
    choices: Vec<Vec<u32>>,
}

fn sequential(s: &mut dyn ExecSession, tokens: &[u32], n_moe: usize) -> Run {
    let names: Vec<String> = (0..n_moe).map(router_output).collect();
    let mut read: Vec<&str> = vec![LOGITS];
    read.extend(names.iter().map(String::as_str));
    let mut run = Run {
        logits: vec![],
        choices: vec![vec![]; n_moe],
    };
    for &t in tokens {
        let out = s.step(&[Input::U32(&[t])], &read).unwrap();
        run.logits.push(out[0].as_f32().unwrap().to_vec());
        for (k, c) in run.choices.iter_mut().enumerate() {
            c.push(out[k + 1].as_u32().unwrap()[0]);
        }
    }
    run
}

fn batched(s: &mut dyn ExecSession, tokens: &[u32], n_moe: usize, vocab: usize) -> Run {
    let names: Vec<String> = (0..n_moe).map(router_output).collect();
    let mut read: Vec<&str> = vec![ALL_LOGITS, LOGITS];
    read.extend(names.iter().map(String::as_str));
    let out = s.prefill(tokens, &read).unwrap();
    let all = out[0].as_f32().unwrap();
    assert_eq!(all.len(), tokens.len() * vocab, "every position's logits");
    assert_eq!(
        out[1].as_f32().unwrap(),
        &all[(tokens.len() - 1) * vocab..],
        "`logits` is the last row of `prefill_logits`"
    );
    Run {
        logits: all.chunks(vocab).map(<[f32]>::to_vec).collect(),
        choices: out[2..]
            .iter()
            .map(|t| t.as_u32().unwrap().to_vec())
            .collect(),
    }
}

fn tokens_for(bundle: &Bundle, n: usize, seed: u32) -> Vec<u32> {
    let v = bundle.config.vocab_size as u32;
    (0..n as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed * 977)) % v)
        .collect()
}

fn open(fixture: &str, format: &str) -> Arc<Bundle> {
    Arc::new(Bundle::open(&fixtures().join(fixture).join(format!("bundle_{format}"))).unwrap())
}

/// GPU batched prefill against GPU token-by-token decode and the CPU's batched prefill.
fn check_against_sequential(
    ctx: &Arc<GpuContext>,
    fixture: &str,
    format: &str,
    skip: SkipMode,
    team: Option<u32>,
    kv: KvDtype,
) {
    let bundle = open(fixture, format);
    let (n_moe, vocab) = (bundle.config.num_moe_layers(), bundle.config.vocab_size);
    let chunk = 4;
    let tol = match kv {
        KvDtype::F32 => SEQ_TOL,
        KvDtype::F16 => SEQ_TOL_KV_F16,
    };
    let m = || module_with(&bundle, skip, chunk, "none", kv);
    let program: Arc<dyn Executor> = gpu_with_team(ctx, &bundle, m(), team);
    let cpu: Arc<dyn Executor> = zaya_cpu::Program::from_bundle_module(&bundle, m()).unwrap();
    let states: Vec<String> = program
        .graph()
        .states
        .iter()
        .map(|s| s.name.clone())
        .collect();
    for (case, &(lead, n)) in [(0, 1), (0, 3), (0, 5), (0, 14), (3, 5)].iter().enumerate() {
        let what =
            format!("{fixture} {format}/{skip} kv {kv} team {team:?} lead {lead} prompt {n}");
        let lead_tokens = tokens_for(&bundle, lead, 7 + case as u32);
        let prompt = tokens_for(&bundle, n, case as u32);
        let mut a = Arc::clone(&program).session(32).unwrap();
        let mut b = Arc::clone(&program).session(32).unwrap();
        let mut c = Arc::clone(&cpu).session(32).unwrap();
        sequential(a.as_mut(), &lead_tokens, n_moe);
        sequential(b.as_mut(), &lead_tokens, n_moe);
        sequential(c.as_mut(), &lead_tokens, n_moe);
        let want = sequential(a.as_mut(), &prompt, n_moe);
        let got = batched(b.as_mut(), &prompt, n_moe, vocab);
        let cpu_got = batched(c.as_mut(), &prompt, n_moe, vocab);
        assert_eq!(b.position(), lead + n, "{what}: position");
        for (t, ((g, w), cw)) in got
            .logits
            .iter()
            .zip(&want.logits)
            .zip(&cpu_got.logits)
            .enumerate()
        {
            assert_close(
                &format!("{what}: token {t} logits vs sequential"),
                g,
                w,
                tol,
            );
            assert_close(&format!("{what}: token {t} logits vs CPU"), g, cw, tol);
        }
        assert_eq!(got.choices, want.choices, "{what}: router choices");
        assert_eq!(
            got.choices, cpu_got.choices,
            "{what}: router choices vs CPU"
        );
        for name in &states {
            let (sa, sb) = (a.read_state(name).unwrap(), b.read_state(name).unwrap());
            assert_close(&format!("{what}: state {name}"), &sb, &sa, tol);
        }
        let next = tokens_for(&bundle, 3, 99);
        let da = sequential(a.as_mut(), &next, n_moe);
        let db = sequential(b.as_mut(), &next, n_moe);
        for (t, (g, w)) in db.logits.iter().zip(&da.logits).enumerate() {
            assert_close(&format!("{what}: decode {t} after prefill"), g, w, tol);
        }
        assert_eq!(db.choices, da.choices, "{what}: decode router choices");
    }
}

fn check_against_golden(
    ctx: &Arc<GpuContext>,
    fixture: &str,
    format: &str,
    skip: SkipMode,
    chunk: usize,
    strategy: &str,
) {
    let dir = fixtures().join(fixture);
    let bundle = open(fixture, format);
    let file = match skip {
        SkipMode::Zero => "golden.safetensors",
        SkipMode::Passthrough => "golden_mod_passthrough.safetensors",
    };
    let golden = Golden::open(&dir.join(format!("golden_{format}")).join(file));
    let (n_moe, vocab) = (bundle.config.num_moe_layers(), bundle.config.vocab_size);
    let program: Arc<dyn Executor> = gpu(ctx, &bundle, module(&bundle, skip, chunk, strategy));
    for s in 0..golden.sequences() {
        let ids = |name: &str| -> Vec<u32> {
            golden
                .ints(&format!("seq{s}.{name}"))
                .iter()
                .map(|&t| t as u32)
                .collect()
        };
        let (prompt, decode) = (ids("prompt_ids"), ids("decode_ids"));
        let what = format!("{fixture} {format}/{skip} {strategy} chunk {chunk} seq{s}");
        let mut session = Arc::clone(&program).session(64).unwrap();
        let got = batched(session.as_mut(), &prompt, n_moe, vocab);
        let after = sequential(session.as_mut(), &decode, n_moe);
        let want_prefill = golden.f32(&format!("seq{s}.prefill_logits"));
        let want_decode = golden.f32(&format!("seq{s}.decode_logits"));
        let want: Vec<&[f32]> = want_prefill
            .chunks(vocab)
            .chain(want_decode.chunks(vocab))
            .collect();
        for (t, (g, w)) in got
            .logits
            .iter()
            .chain(&after.logits)
            .zip(&want)
            .enumerate()
        {
            assert_close(&format!("{what}: token {t} logits"), g, w, LOGIT_TOL);
            assert_eq!(argmax(g), argmax(w), "{what}: token {t} argmax");
        }
        let choices = golden.ints(&format!("seq{s}.router_choice"));
        let n = prompt.len() + decode.len();
        for k in 0..n_moe {
            let mine: Vec<i64> = got.choices[k]
                .iter()
                .chain(&after.choices[k])
                .map(|&c| c as i64)
                .collect();
            assert_eq!(
                mine.as_slice(),
                &choices[k * n..(k + 1) * n],
                "{what}: router choices of MoE layer {k}"
            );
        }
    }
}

macro_rules! prefill {
    ($($name:ident: $format:literal, $skip:ident;)*) => {$(
        #[test]
        fn $name() {
            let Some(ctx) = context() else { return };
            for fixture in FIXTURES {
                check_against_sequential(&ctx, fixture, $format, SkipMode::$skip, None, KvDtype::F32);
                // Odd chunk lengths put chunk boundaries anywhere in the golden prompts.
                for chunk in [3, 5, 16] {
                    check_against_golden(&ctx, fixture, $format, SkipMode::$skip, chunk, "none");
                }
                check_against_golden(&ctx, fixture, $format, SkipMode::$skip, 5, "all");
            }
        }
    )*};
}

prefill! {
    affine_zero_skip: "affine", Zero;
    affine_passthrough_skip: "affine", Passthrough;
    mxfp4_zero_skip: "mxfp4", Zero;
    mxfp4_passthrough_skip: "mxfp4", Passthrough;
}

/// Every `matmul` team width a device can choose (`zaya-graph tune`) computes the same
/// prefill: against token by token and the CPU, both formats, dense and per-expert weights.
#[test]
fn every_matmul_team_width_gives_the_same_prefill() {
    let Some(ctx) = context() else { return };
    for team in zaya_wgpu::variant::MATMUL_TEAMS {
        for format in ["affine", "mxfp4"] {
            let skip = SkipMode::Zero;
            check_against_sequential(&ctx, "zaya-tiny-a", format, skip, Some(team), KvDtype::F32);
        }
    }
}

/// f16 KV caches (`--kv-dtype f16`): batched prefill writes the chunk's rows as f16 pairs and
/// attends over them, like token by token and like the CPU with the same caches.
#[test]
fn kv_f16_batched_prefill_matches_sequential_and_the_cpu() {
    let Some(ctx) = context() else { return };
    for (fixture, format, skip) in [
        ("zaya-tiny-a", "affine", SkipMode::Zero),
        ("zaya-tiny-b", "mxfp4", SkipMode::Passthrough),
    ] {
        check_against_sequential(&ctx, fixture, format, skip, None, KvDtype::F16);
    }
}

/// The engine feeds prompts through batched prefill on wgpu: the same logits and greedy
/// tokens as with token-by-token prompts.
#[test]
fn engine_prompts_use_batched_prefill_on_wgpu() {
    use zaya_chat::TokenModel;
    use zaya_graph::engine::{Backend, EngineOptions, Model};
    if context().is_none() {
        return;
    }
    let bundle = Arc::new(Bundle::open(&tiny_a().join("bundle_mxfp4")).unwrap());
    let load = |chunk: usize| {
        let mut o = EngineOptions::cpu(48);
        o.backend = Backend::Wgpu;
        o.prefill_chunk = Some(chunk);
        Model::load(Arc::clone(&bundle), &o, &mut |_| {}).unwrap()
    };
    let prompt = tokens_for(&bundle, 11, 5);
    let (batched, sequential) = (load(3), load(0));
    let (mut a, mut b) = (batched.session().unwrap(), sequential.session().unwrap());
    assert!(a.batched_prefill());
    let la = a.forward_tokens(&prompt).unwrap();
    assert!(
        a.batched_prefill(),
        "the wgpu backend offers batched prefill"
    );
    let lb = b.forward_tokens(&prompt).unwrap();
    assert_close("engine logits", &la, &lb, SEQ_TOL);
    let (mut a, mut b) = (batched.session().unwrap(), sequential.session().unwrap());
    let mut ga = vec![a.forward_greedy(&prompt).unwrap()];
    let mut gb = vec![b.forward_greedy(&prompt).unwrap()];
    for _ in 0..5 {
        ga.push(a.forward_greedy(&[*ga.last().unwrap()]).unwrap());
        gb.push(b.forward_greedy(&[*gb.last().unwrap()]).unwrap());
    }
    assert_eq!(ga, gb, "greedy continuation");
    assert!(a.batched_prefill());
    assert_eq!(a.position(), prompt.len() + 5);
}
