//! The device sampler against zaya-chat's CPU sampler: for random logits (with ties, NaN,
//! -inf and huge logits in the padding columns) and every kind of setting, the GPU given the
//! uniform the CPU sampler draws picks the token the CPU picks.
//!
//! Why picks could ever differ: the two sides compute each weight with their own `exp` (a
//! few ulp apart), so when the uniform falls within ~1e-7 (relative) of the boundary between
//! two candidates the sides may choose neighbours. The kernel's sums are exact integers (2^-40
//! units), so nothing else differs. The expected number of such flips over this test's 600
//! draws is far below one (draws x candidates x ~1e-7 < 0.1; lavapipe shows none), so the
//! test demands equality; it prints any flip before failing, with its settings and uniform.
//! Skipped without an adapter unless CI=true.

mod common;

use zaya_chat::{Sampler, SamplerConfig};
use zaya_wgpu::{DeviceSampler, Feed, GpuError, SampleSettings};

/// xorshift64*: deterministic logits without another dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Roughly normal logits with `spread`; some rounded to force ties, a few NaN / -inf, and
/// the padding columns (beyond `vocab`) far above everything.
fn logits(rng: &mut Rng, vocab: usize, columns: usize, spread: f32) -> Vec<f32> {
    let quantize = rng.below(3) == 0;
    let mut x: Vec<f32> = (0..columns)
        .map(|_| {
            let g = (0..4).map(|_| rng.unit()).sum::<f32>() - 2.0;
            let v = g * spread;
            if quantize { (v * 4.0).round() / 4.0 } else { v }
        })
        .collect();
    if vocab > 8 {
        x[rng.below(vocab)] = f32::NAN;
        x[rng.below(vocab)] = f32::NEG_INFINITY;
    }
    for v in &mut x[vocab..] {
        *v = 1e6;
    }
    x
}

fn settings(c: &SamplerConfig) -> SampleSettings {
    SampleSettings {
        temperature: c.temperature,
        top_k: c.top_k,
        top_p: c.top_p,
        min_p: c.min_p,
        repetition_penalty: c.repetition_penalty,
    }
}

fn configs() -> Vec<SamplerConfig> {
    let base = SamplerConfig {
        temperature: 1.0,
        top_k: 0,
        top_p: 1.0,
        min_p: 0.0,
        repetition_penalty: 1.0,
        seed: None,
    };
    let with = |f: &dyn Fn(&mut SamplerConfig)| {
        let mut c = base.clone();
        f(&mut c);
        c
    };
    vec![
        SamplerConfig::greedy(),
        with(&|c| c.temperature = 0.0),
        with(&|c| c.top_k = 1),
        base.clone(),
        with(&|c| c.temperature = 0.7),
        with(&|c| c.temperature = 1.8),
        with(&|c| c.top_k = 5),
        with(&|c| c.top_k = 40),
        with(&|c| c.top_p = 0.9),
        with(&|c| c.top_p = 0.5),
        with(&|c| c.top_p = 0.999),
        with(&|c| c.min_p = 0.05),
        with(&|c| c.min_p = 0.3),
        with(&|c| c.repetition_penalty = 1.3),
        with(&|c| c.repetition_penalty = 0.8),
        with(&|c| {
            c.temperature = 0.0;
            c.repetition_penalty = 2.0;
        }),
        with(&|c| {
            c.temperature = 0.8;
            c.top_k = 40;
            c.top_p = 0.9;
        }),
        with(&|c| {
            c.temperature = 1.2;
            c.top_k = 20;
            c.min_p = 0.1;
            c.repetition_penalty = 1.2;
        }),
        with(&|c| {
            c.temperature = 0.6;
            c.top_p = 0.95;
            c.min_p = 0.05;
            c.repetition_penalty = 1.1;
        }),
        with(&|c| {
            c.temperature = 0.01;
            c.top_p = 0.8;
        }),
    ]
}

#[test]
fn device_picks_equal_cpu_picks() {
    let Some(ctx) = common::device() else {
        return;
    };
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let (mut draws, mut flips) = (0usize, vec![]);
    // (vocab, padding columns, logit spread)
    for &(vocab, pad, spread) in &[
        (7, 1, 2.0),
        (64, 0, 3.0),
        (479, 33, 1.0),
        (1000, 24, 4.0),
        (4099, 61, 2.5),
    ] {
        let columns = vocab + pad;
        let mut device = DeviceSampler::new(&ctx, columns, vocab, 64).unwrap();
        for (c, config) in configs().into_iter().enumerate() {
            for seed in 0..6u64 {
                let x = logits(&mut rng, vocab, columns, spread);
                let history: Vec<u32> = (0..rng.below(40))
                    .map(|_| rng.below(columns) as u32)
                    .collect();
                let config = SamplerConfig {
                    seed: Some(seed),
                    ..config.clone()
                };
                let mut cpu = Sampler::new(config.clone(), vocab).unwrap();
                let mut twin = Sampler::new(config.clone(), vocab).unwrap();
                let want = cpu.sample(&x, &history).unwrap();
                let u = if config.is_greedy() {
                    0.0
                } else {
                    twin.uniform()
                };
                let got = device.sample(&x, &history, &settings(&config), u).unwrap();
                assert!((got as usize) < vocab, "padding column {got} sampled");
                draws += 1;
                if got != want {
                    flips.push(format!(
                        "vocab {vocab} config #{c} {config:?} u {u}: gpu {got} cpu {want}"
                    ));
                }
            }
        }
    }
    eprintln!("{draws} draws, {} flips", flips.len());
    assert!(flips.is_empty(), "{flips:#?}");
}

#[test]
fn full_size_vocab_matches_the_cpu() {
    // ZAYA1-8B's shape: 262272 columns, a 262144-token tokenizer (several ids per thread
    // chunk, every radix pass over the whole vocabulary).
    let Some(ctx) = common::device() else {
        return;
    };
    let mut rng = Rng(262_272);
    let (vocab, columns) = (262_144, 262_272);
    let mut device = DeviceSampler::new(&ctx, columns, vocab, 16).unwrap();
    let all = configs();
    for (c, config) in all
        .iter()
        .enumerate()
        .filter(|(c, _)| [0, 3, 7, 9, 17, 18].contains(c))
    {
        let x = logits(&mut rng, vocab, columns, 3.0);
        let history: Vec<u32> = (0..10).map(|_| rng.below(vocab) as u32).collect();
        let config = SamplerConfig {
            seed: Some(c as u64),
            ..config.clone()
        };
        let want = Sampler::new(config.clone(), vocab)
            .unwrap()
            .sample(&x, &history)
            .unwrap();
        let u = if config.is_greedy() {
            0.0
        } else {
            Sampler::new(config.clone(), vocab).unwrap().uniform()
        };
        let got = device.sample(&x, &history, &settings(&config), u).unwrap();
        assert_eq!(got, want, "{config:?} u {u}");
    }
}

#[test]
fn uniform_sweep_matches_the_cpu_draw_order() {
    // One set of logits, many uniforms: every candidate's interval in the CPU's draw order
    // (id order for whole bins, rank order in the last bin) lands on the same token.
    let Some(ctx) = common::device() else {
        return;
    };
    let mut rng = Rng(77);
    let (vocab, columns) = (300, 320);
    let x = logits(&mut rng, vocab, columns, 2.0);
    let mut device = DeviceSampler::new(&ctx, columns, vocab, 8).unwrap();
    for config in [
        SamplerConfig {
            top_p: 0.9,
            ..SamplerConfig::default()
        },
        SamplerConfig {
            top_k: 17,
            top_p: 1.0,
            ..SamplerConfig::default()
        },
        SamplerConfig {
            top_p: 1.0,
            min_p: 0.02,
            ..SamplerConfig::default()
        },
    ] {
        for seed in 0..60 {
            let config = SamplerConfig {
                seed: Some(seed),
                ..config.clone()
            };
            let want = Sampler::new(config.clone(), vocab)
                .unwrap()
                .sample(&x, &[])
                .unwrap();
            let u = Sampler::new(config.clone(), vocab).unwrap().uniform();
            let got = device.sample(&x, &[], &settings(&config), u).unwrap();
            assert_eq!(got, want, "{config:?} u {u}");
        }
    }
}

#[test]
fn padding_columns_are_never_picked_and_bad_input_is_an_error() {
    let Some(ctx) = common::device() else {
        return;
    };
    let (vocab, columns) = (10, 16);
    let mut device = DeviceSampler::new(&ctx, columns, vocab, 4).unwrap();
    let mut x = vec![-5.0f32; columns];
    for v in &mut x[vocab..] {
        *v = f32::MAX;
    }
    x[3] = 1.0;
    for settings in [
        SampleSettings::greedy(),
        SampleSettings {
            temperature: 100.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repetition_penalty: 1.0,
        },
    ] {
        for k in 0..20 {
            let got = device.sample(&x, &[], &settings, k as f64 / 20.0).unwrap();
            assert!((got as usize) < vocab, "{got}");
        }
    }
    // Every samplable logit NaN or -inf: a typed error, like the CPU's.
    let mut dead = vec![f32::NEG_INFINITY; columns];
    dead[0] = f32::NAN;
    dead[vocab] = 3.0;
    let err = device
        .sample(&dead, &[], &SampleSettings::greedy(), 0.0)
        .unwrap_err();
    assert!(matches!(err, GpuError::NoCandidates { vocab: 10 }), "{err}");
    // Bad settings and shapes are rejected before anything runs.
    let bad = SampleSettings {
        top_p: 0.0,
        ..SampleSettings::greedy()
    };
    let err = device.sample(&x, &[], &bad, 0.0).unwrap_err().to_string();
    assert!(err.contains("top_p"), "{err}");
    let err = device
        .sample(&x[..4], &[], &SampleSettings::greedy(), 0.0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("16"), "{err}");
    let err = device
        .sample(&x, &[1, 2, 3, 4, 5], &SampleSettings::greedy(), 0.0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("history"), "{err}");
    assert!(DeviceSampler::new(&ctx, 4, 5, 1).is_err());
}

#[test]
fn the_kernel_lowers_to_msl() {
    // The Metal proof without a Mac: naga validates the module and translates it.
    let msl = zaya_wgpu::msl::to_msl("sample", &DeviceSampler::wgsl()).unwrap();
    assert!(msl.contains("kernel"), "{msl}");
}

#[test]
fn a_sampled_session_step_reads_back_four_bytes_and_picks_the_cpu_token() {
    let Some(ctx) = common::device() else {
        return;
    };
    let bundle =
        zaya_model::Bundle::open(&common::fixtures().join("zaya-tiny-a/bundle_affine")).unwrap();
    let mut g = zaya_model::graph::build_decode_graph_with(
        &bundle.config,
        &bundle,
        zaya_model::graph::GraphOptions::default(),
    )
    .unwrap();
    // A tokenizer smaller than the model's 512 columns, as on the demo model.
    let vocab = 479;
    zaya_model::graph::mask_next_token(&mut g, vocab).unwrap();
    let g = zaya_opt::Strategy::parse("all", &zaya_model::graph::scope_fusions())
        .unwrap()
        .apply(&g)
        .unwrap()
        .0;
    let weights = zaya_wgpu::bind_bundle(&bundle, &g).unwrap();
    let program = zaya_wgpu::GpuProgram::new(ctx, g, &weights).unwrap();
    let prompt = [2u32, 105, 17, 300];
    let config = SamplerConfig {
        temperature: 0.9,
        top_k: 50,
        top_p: 0.95,
        min_p: 0.02,
        repetition_penalty: 1.2,
        seed: Some(11),
    };
    // Reference: logits read back every step, the CPU sampler picks.
    let mut reference = program.session(16).unwrap();
    let mut cpu = Sampler::new(config.clone(), vocab).unwrap();
    let mut history = prompt.to_vec();
    let mut logits = vec![];
    for &t in &prompt {
        logits = reference.step_token(t, true).unwrap().unwrap();
    }
    let mut want = vec![];
    for _ in 0..6 {
        let t = cpu.sample(&logits, &history).unwrap();
        want.push(t);
        history.push(t);
        logits = reference.step_token(t, true).unwrap().unwrap();
    }
    // Device: the prompt without read-back, then each pick fed back on the GPU.
    let mut session = program.session(16).unwrap();
    let mut device = session.device_sampler(vocab).unwrap();
    let mut twin = Sampler::new(config.clone(), vocab).unwrap();
    let settings = settings(&config);
    let mut history = prompt.to_vec();
    for &t in &prompt[..3] {
        session.step_token(t, false).unwrap();
    }
    let mut feed = Feed::Token(prompt[3]);
    let mut got = vec![];
    for _ in 0..6 {
        let t = session
            .step_sampled_with(feed, &mut device, &settings, &history, twin.uniform())
            .unwrap();
        assert_eq!(session.last_step_stats().readback_bytes, 4);
        got.push(t);
        history.push(t);
        feed = Feed::Previous;
    }
    assert_eq!(got, want);
    // Greedy through the sampler equals the graph's masked argmax.
    let greedy = session
        .step_sampled_with(
            Feed::Previous,
            &mut device,
            &SampleSettings::greedy(),
            &history,
            0.0,
        )
        .unwrap();
    let mut other = program.session(16).unwrap();
    let mut last = 0;
    for &t in &history {
        last = other.step_greedy(Feed::Token(t)).unwrap();
    }
    assert_eq!(greedy, last);
    assert!((last as usize) < vocab);
}
