//! Batched prefill on the CPU: the prefill functions of a module against the decode graph
//! fed token by token (every position's logits within 1e-4, router choices equal, the state
//! afterwards equal, decode after either equal), and against the HF goldens, on every
//! fixture, both formats, both skip semantics.

mod common;
use common::*;
use std::sync::Arc;
use zaya_cpu::{Program, bind_module};
use zaya_ir::{ALL_LOGITS, Input, LOGITS};
use zaya_model::graph::{GraphOptions, build_module_with, router_output};
use zaya_model::{Bundle, KvDtype, SkipMode};

const SEQ_TOL: f32 = 1e-4;
/// In f16 a key the two paths compute 1e-7 apart can round to neighbouring f16 values
/// (2^-11 relative apart), so they agree only to the f16 cache's resolution.
const SEQ_TOL_KV_F16: f32 = 5e-3;
const LOGIT_TOL: f32 = 1e-3;
const FIXTURES: [&str; 3] = ["zaya-tiny-a", "zaya-tiny-b", "zaya-tiny-c"];

fn program(bundle: &Bundle, options: GraphOptions, chunk: usize) -> Arc<Program<'_>> {
    let module =
        build_module_with(&bundle.config, bundle, options, chunk, true).expect("module builds");
    let weights = bind_module(bundle, &module).expect("weights bind");
    Arc::new(Program::with_module(module, weights).expect("program validates"))
}

struct Run {
    /// [token][vocab]
    logits: Vec<Vec<f32>>,
    /// [moe layer][token]
    choices: Vec<Vec<u32>>,
}

fn sequential(s: &mut zaya_cpu::Session<'_>, tokens: &[u32], n_moe: usize) -> Run {
    let mut run = Run {
        logits: vec![],
        choices: vec![vec![]; n_moe],
    };
    for &t in tokens {
        run.logits.push(s.decode(t).unwrap().to_vec());
        for (k, c) in run.choices.iter_mut().enumerate() {
            c.push(s.output_u32(&router_output(k)).unwrap()[0]);
        }
    }
    run
}

fn batched(s: &mut zaya_cpu::Session<'_>, tokens: &[u32], n_moe: usize, vocab: usize) -> Run {
    let names: Vec<String> = (0..n_moe).map(router_output).collect();
    let mut read: Vec<&str> = vec![ALL_LOGITS, LOGITS];
    read.extend(names.iter().map(String::as_str));
    let out = s.prefill_batched(tokens, &read).unwrap();
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

fn check_against_sequential(fixture: &str, format: &str, options: GraphOptions) {
    let skip = options.skip;
    let tol = match options.kv_cache {
        KvDtype::F32 => SEQ_TOL,
        KvDtype::F16 => SEQ_TOL_KV_F16,
    };
    let bundle = Bundle::open(&fixtures().join(fixture).join(format!("bundle_{format}"))).unwrap();
    let (n_moe, vocab) = (bundle.config.num_moe_layers(), bundle.config.vocab_size);
    let chunk = 4;
    let program = program(&bundle, options, chunk);
    let states: Vec<String> = program
        .graph()
        .states
        .iter()
        .map(|s| s.name.clone())
        .collect();
    // Prompt lengths 1, 2, 3, chunk - 1, chunk, chunk + 1, and several chunks; each after a
    // few decoded tokens too, so a chunk starts mid-sequence.
    for (case, &(lead, n)) in [
        (0, 1),
        (0, 2),
        (0, 3),
        (0, 4),
        (0, 5),
        (0, 14),
        (3, 5),
        (2, 9),
    ]
    .iter()
    .enumerate()
    {
        let what = format!(
            "{fixture} {format}/{skip} kv {} lead {lead} prompt {n}",
            options.kv_cache
        );
        let lead_tokens = tokens_for(&bundle, lead, 7 + case as u32);
        let prompt = tokens_for(&bundle, n, case as u32);
        let (mut a, mut b) = (program.session(32).unwrap(), program.session(32).unwrap());
        sequential(&mut a, &lead_tokens, n_moe);
        sequential(&mut b, &lead_tokens, n_moe);
        let want = sequential(&mut a, &prompt, n_moe);
        let got = batched(&mut b, &prompt, n_moe, vocab);
        assert_eq!(b.position(), lead + n, "{what}: position");
        for (t, (g, w)) in got.logits.iter().zip(&want.logits).enumerate() {
            assert_close(&format!("{what}: token {t} logits"), g, w, tol);
        }
        assert_eq!(got.choices, want.choices, "{what}: router choices");
        for name in &states {
            let (sa, sb) = (a.state(name).unwrap(), b.state(name).unwrap());
            assert_close(&format!("{what}: state {name}"), &sb, &sa, tol);
        }
        // Decode after a batched prefill equals decode after a sequential one.
        let next = tokens_for(&bundle, 3, 99);
        let da = sequential(&mut a, &next, n_moe);
        let db = sequential(&mut b, &next, n_moe);
        for (t, (g, w)) in db.logits.iter().zip(&da.logits).enumerate() {
            assert_close(&format!("{what}: decode {t} after prefill"), g, w, tol);
        }
        assert_eq!(db.choices, da.choices, "{what}: decode router choices");
    }
}

fn check_against_golden(fixture: &str, format: &str, skip: SkipMode, chunk: usize) {
    let dir = fixtures().join(fixture);
    let bundle = Bundle::open(&dir.join(format!("bundle_{format}"))).unwrap();
    let file = match skip {
        SkipMode::Zero => "golden.safetensors",
        SkipMode::Passthrough => "golden_mod_passthrough.safetensors",
    };
    let golden = Golden::open(&dir.join(format!("golden_{format}")).join(file));
    let (n_moe, vocab) = (bundle.config.num_moe_layers(), bundle.config.vocab_size);
    let options = GraphOptions {
        skip,
        ..Default::default()
    };
    let program = program(&bundle, options, chunk);
    for s in 0..golden.sequences() {
        let ids = |name: &str| -> Vec<u32> {
            golden
                .ints(&format!("seq{s}.{name}"))
                .iter()
                .map(|&t| t as u32)
                .collect()
        };
        let (prompt, decode) = (ids("prompt_ids"), ids("decode_ids"));
        let what = format!("{fixture} {format}/{skip} chunk {chunk} seq{s}");
        let mut session = program.session(64).unwrap();
        let got = batched(&mut session, &prompt, n_moe, vocab);
        let after = sequential(&mut session, &decode, n_moe);
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
            for fixture in FIXTURES {
                let options = GraphOptions {
                    skip: SkipMode::$skip,
                    ..Default::default()
                };
                check_against_sequential(fixture, $format, options);
                // Odd chunk lengths put chunk boundaries anywhere in the golden prompts.
                for chunk in [3, 5, 16] {
                    check_against_golden(fixture, $format, SkipMode::$skip, chunk);
                }
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

/// With the KV cache in f16, batched prefill agrees with the sequential path to the cache's
/// resolution, with the same router choices.
#[test]
fn kv_f16_batched_prefill_equals_the_sequential_path() {
    for (fixture, format) in [("zaya-tiny-a", "affine"), ("zaya-tiny-b", "mxfp4")] {
        for skip in [SkipMode::Zero, SkipMode::Passthrough] {
            let kv_cache = KvDtype::F16;
            check_against_sequential(fixture, format, GraphOptions { skip, kv_cache });
        }
    }
}

/// The seam: a program with prefill functions runs a prompt through `ExecSession::prefill`;
/// one without says so (the engine then steps the decode graph).
#[test]
fn exec_session_prefill_is_offered_only_with_prefill_functions() {
    let bundle = Arc::new(Bundle::open(&tiny_a().join("bundle_affine")).unwrap());
    let module =
        build_module_with(&bundle.config, &*bundle, GraphOptions::default(), 4, false).unwrap();
    let with: Arc<dyn zaya_ir::Executor> = Program::from_bundle_module(&bundle, module).unwrap();
    let mut s = Arc::clone(&with).session(16).unwrap();
    let out = s.prefill(&[1, 2, 3, 4, 5, 6], &[LOGITS]).unwrap();
    assert_eq!(s.position(), 6);
    let mut seq = with.session(16).unwrap();
    let mut last = vec![];
    for t in 1..=6 {
        last = seq.step(&[Input::U32(&[t])], &[LOGITS]).unwrap();
    }
    assert_close(
        "prefill logits",
        out[0].as_f32().unwrap(),
        last[0].as_f32().unwrap(),
        SEQ_TOL,
    );
    // Too long for the capacity: an error, the position unchanged.
    assert!(s.prefill(&[1; 11], &[LOGITS]).is_err());
    assert_eq!(s.position(), 6);

    let graph = zaya_model::graph::build_decode_graph_with(
        &bundle.config,
        &*bundle,
        GraphOptions::default(),
    )
    .unwrap();
    let without: Arc<dyn zaya_ir::Executor> = Program::from_bundle(&bundle, graph).unwrap();
    let mut s = without.session(16).unwrap();
    assert!(matches!(
        s.prefill(&[1, 2], &[LOGITS]),
        Err(zaya_ir::ExecError::Unsupported(_))
    ));
    assert_eq!(s.position(), 0);
}

/// The engine feeds prompts through batched prefill on the CPU: the same logits and greedy
/// tokens as with token-by-token prompts.
#[test]
fn engine_prompts_use_batched_prefill_with_the_same_results() {
    use zaya_chat::TokenModel;
    use zaya_graph::engine::{EngineOptions, Model};
    let bundle = Arc::new(Bundle::open(&tiny_a().join("bundle_mxfp4")).unwrap());
    let load = |chunk: usize, strategy: &str| {
        let mut o = EngineOptions::cpu(48);
        o.prefill_chunk = Some(chunk);
        o.strategy = Some(strategy.into());
        Model::load(Arc::clone(&bundle), &o, &mut |_| {}).unwrap()
    };
    let prompt = tokens_for(&bundle, 11, 5);
    for strategy in ["none", "all"] {
        let (batched, sequential) = (load(3, strategy), load(0, strategy));
        let (mut a, mut b) = (batched.session().unwrap(), sequential.session().unwrap());
        assert!(a.batched_prefill());
        let la = a.forward_tokens(&prompt).unwrap();
        let lb = b.forward_tokens(&prompt).unwrap();
        assert_close(&format!("{strategy}: engine logits"), &la, &lb, SEQ_TOL);
        let (mut a, mut b) = (batched.session().unwrap(), sequential.session().unwrap());
        let mut ga = vec![a.forward_greedy(&prompt).unwrap()];
        let mut gb = vec![b.forward_greedy(&prompt).unwrap()];
        for _ in 0..5 {
            ga.push(a.forward_greedy(&[*ga.last().unwrap()]).unwrap());
            gb.push(b.forward_greedy(&[*gb.last().unwrap()]).unwrap());
        }
        assert_eq!(ga, gb, "{strategy}: greedy continuation");
        assert_eq!(a.position(), prompt.len() + 5);
    }
}

/// Every strategy leaves a prefill graph valid and computing the same (they are applied to
/// the decode graph only in the engine; here they run on the prefill graphs too).
#[test]
fn every_strategy_leaves_prefill_graphs_valid_and_equal() {
    use zaya_model::graph::prefill_functions;
    let bundle = Bundle::open(&fixtures().join("zaya-tiny-b").join("bundle_affine")).unwrap();
    let cfg = &bundle.config;
    let opts = GraphOptions::default();
    let decode = zaya_model::graph::build_decode_graph_with(cfg, &bundle, opts).unwrap();
    let prompt = tokens_for(&bundle, 7, 3);
    let mut reference: Option<Vec<f32>> = None;
    for name in zaya_graph::engine::STRATEGIES {
        let strategy = zaya_graph::engine::parse_strategy(name).unwrap();
        let mut funcs = prefill_functions(cfg, &bundle, opts, 4, true).unwrap();
        for f in &mut funcs {
            let (g, _) = strategy.apply(&f.graph).unwrap();
            g.validate().unwrap();
            f.graph = g;
        }
        let module = zaya_ir::Module::new(decode.clone(), funcs).unwrap();
        let weights = bind_module(&bundle, &module).unwrap();
        let program = Arc::new(Program::with_module(module, weights).unwrap());
        let mut s = program.session(16).unwrap();
        let out = s.prefill_batched(&prompt, &[ALL_LOGITS]).unwrap();
        let got = out[0].as_f32().unwrap().to_vec();
        match &reference {
            None => reference = Some(got),
            Some(r) => {
                assert_close(&format!("strategy {name} on prefill"), &got, r, 1e-5);
            }
        }
    }
}
