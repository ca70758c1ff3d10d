//! The benchmark harness behind `zaya-graph bench`: fusion strategies compared on one model,
//! one backend and one process.
//!
//! Why it is built the way it is:
//! - **Correctness before speed.** Every strategy's logits are first compared with the unfused
//!   graph on the CPU interpreter (the oracle of every backend) and, on a GPU, with the unfused
//!   graph on the same GPU ([`check`]). A strategy that disagrees is refused: it gets a FAIL row
//!   and no timing, and the command exits non-zero.
//! - **Interleaved timing.** Strategies take turns one token at a time (the starting strategy
//!   rotates every round), after warm-up tokens, so clock boost, thermal drift or a busy
//!   neighbour cannot favour whichever strategy happened to run first. Medians, not means.
//! - **Against the device's own ceiling.** Decode is bandwidth-bound (spec §8), so the modeled
//!   bytes of a step divided by its time are set against a plain copy kernel measured in the same
//!   run on the same adapter ([`zaya_wgpu::bandwidth`]; on the CPU, a parallel memcpy).
//! - **Any size without real weights.** Random bundles in the real packed formats ([`model`])
//!   move the same bytes through the same kernels as the real model.

pub mod check;
pub mod kernels;
pub mod memcpy;
pub mod model;
pub mod peer;
pub mod report;
pub mod runner;
pub mod stats;

use anyhow::{Context, bail};
use runner::{ExecRunner, KernelSample, StepRunner};
use serde::Serialize;
use stats::TimeStats;
use std::collections::BTreeMap;
use std::time::Instant;
use zaya_ir::{BinaryOp, Graph, Op};
use zaya_model::graph::{GraphOptions, build_decode_graph_with};
use zaya_model::{KvDtype, SkipMode};
use zaya_opt::{Plan, PlanOptions, Strategy};

/// Where the benchmark runs: the engine's one backend enum.
pub use crate::engine::{Backend as BenchBackend, BindOptions, Device};

/// Prompt tokens submitted between two waits during prefill (a GPU pipelines them).
pub const PREFILL_CHUNK: usize = 16;

/// Everything `zaya-graph bench` can be asked.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    pub model: model::ModelSpec,
    /// The strategies compared, built-in ([`parse_strategies`]) or a user's own passes
    /// (`Strategy::parse("all")?.then(Arc::new(MyPass))`); each must have its own name.
    pub strategies: Vec<Strategy>,
    pub backend: BenchBackend,
    pub adapter: Option<String>,
    /// Timed decode tokens per strategy.
    pub tokens: usize,
    /// Untimed decode tokens per strategy before the timed ones.
    pub warmup: usize,
    /// Prompt length fed before decoding (timed as prefill; decode then runs at this context).
    pub context: usize,
    /// Longest chunk of batched prefill (timed beside the token-by-token prefill on backends
    /// that have it); 0 = no batched prefill.
    pub chunk: usize,
    /// Tokens compared against the reference before any timing.
    pub check_tokens: usize,
    pub tolerance: f32,
    /// Print a per-kernel profile of a decode step.
    pub profile: bool,
    /// Steps profiled per strategy (per-kernel GPU timestamps).
    pub profile_steps: usize,
    /// Bytes copied by the copy-bandwidth kernel (clamped to what the device allows).
    pub copy_bytes: u64,
    pub copy_iterations: usize,
    pub skip: SkipMode,
    /// Element type of the KV caches (`--kv-dtype`).
    pub kv_cache: KvDtype,
    /// Test hook: corrupt this strategy's logits so the correctness gate must refuse it.
    pub inject_fault: Option<String>,
    /// Benchmark each kernel kind alone ([`kernels`]) instead of comparing strategies.
    pub kernels: bool,
    /// Timed runs per kernel (after `warmup` untimed ones).
    pub kernel_iterations: usize,
}

impl BenchOptions {
    /// The graph-shaping part of the options.
    pub fn graph_options(&self) -> GraphOptions {
        GraphOptions {
            skip: self.skip,
            kv_cache: self.kv_cache,
        }
    }
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            model: model::ModelSpec::default(),
            strategies: crate::engine::STRATEGIES
                .iter()
                .map(|s| crate::engine::parse_strategy(s).expect("the built-in strategies parse"))
                .collect(),
            backend: BenchBackend::Auto,
            adapter: None,
            tokens: 16,
            warmup: 2,
            context: 32,
            chunk: crate::engine::DEFAULT_PREFILL_CHUNK,
            check_tokens: 3,
            tolerance: check::DEFAULT_TOLERANCE,
            profile: false,
            profile_steps: 3,
            copy_bytes: zaya_wgpu::bandwidth::DEFAULT_COPY_BYTES,
            copy_iterations: 5,
            skip: SkipMode::default(),
            kv_cache: KvDtype::default(),
            inject_fault: None,
            kernels: false,
            kernel_iterations: 20,
        }
    }
}

/// The figures of the execution plan (modeled, device-independent).
#[derive(Clone, Debug, Serialize)]
pub struct PlanFigures {
    pub kernels: u32,
    pub dispatches: u32,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub lower_bound_bytes: u64,
    pub ratio: f64,
    pub peak_activation_bytes: u64,
    pub flops: u64,
}

impl PlanFigures {
    /// The figures of an already built plan.
    pub fn of(plan: &Plan) -> PlanFigures {
        let t = &plan.totals;
        PlanFigures {
            kernels: t.kernels,
            dispatches: t.dispatches,
            bytes_read: t.bytes_read,
            bytes_written: t.bytes_written,
            lower_bound_bytes: t.lower_bound_bytes,
            ratio: t.ratio,
            peak_activation_bytes: t.peak_activation_bytes,
            flops: t.flops,
        }
    }

    /// Bytes a step moves by the model (read + written), comparable with copy bandwidth.
    pub fn traffic_bytes(&self) -> u64 {
        self.bytes_read + self.bytes_written
    }
}

/// What became of a strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Checked and timed.
    Ok,
    /// Ran, but its output disagrees with the reference: refused, not timed.
    Fail,
    /// Could not run on this backend (e.g. a buffer over the device's limits).
    Error,
}

/// One plan kernel's share of a profiled step.
#[derive(Clone, Debug, Serialize)]
pub struct KernelShare {
    /// `k<index> <label> [<scope>]` from the optimizer's plan.
    pub kernel: String,
    /// Backend kernels (dispatch groups) that computed it.
    pub backend_kernels: usize,
    /// Workgroups they launched per step (per prefill for a prefill profile), where the
    /// backend reports them: a kernel that moves many bytes in few workgroups leaves most
    /// of a GPU idle.
    pub workgroups: Option<u64>,
    /// Median over profiled steps, seconds.
    pub seconds: f64,
    pub share: f64,
}

/// A per-kernel profile of one strategy, or why there is none.
#[derive(Clone, Debug, Serialize)]
pub struct Profile {
    /// `gpu-timestamps`, or `unavailable`.
    pub method: String,
    pub note: Option<String>,
    pub steps: usize,
    /// Sorted, largest first.
    pub kernels: Vec<KernelShare>,
}

/// Everything measured for one strategy.
#[derive(Clone, Debug, Serialize)]
pub struct StrategyResult {
    pub name: String,
    pub status: Status,
    pub reason: Option<String>,
    pub plan: PlanFigures,
    pub recorded_dispatches: Option<usize>,
    pub checks: Vec<check::Check>,
    /// Wall clock per decode token (submission to completion).
    pub decode_wall: Option<TimeStats>,
    /// Sum of per-kernel GPU timestamps per step (kernels in separate passes).
    pub decode_gpu: Option<TimeStats>,
    pub decode_tokens_per_s: Option<f64>,
    pub prefill_tokens: usize,
    /// The prompt fed token by token through the decode graph.
    pub prefill_seconds: Option<f64>,
    pub prefill_tokens_per_s: Option<f64>,
    /// The prompt through the batched prefill graphs (chunks of at most `chunk` tokens),
    /// where the backend has them (CPU and wgpu).
    pub batched_prefill_seconds: Option<f64>,
    pub batched_prefill_tokens_per_s: Option<f64>,
    /// Max |Δ| of the last prompt token's logits, batched against token by token.
    pub batched_prefill_max_diff: Option<f32>,
    /// Batched prefill tokens/s over decode tokens/s (the target: >= 5 on the CPU).
    pub prefill_over_decode: Option<f64>,
    /// Modeled traffic (read + written) per median decode step.
    pub effective_gb_per_s: Option<f64>,
    pub fraction_of_copy: Option<f64>,
    /// The plan's lower bound (weights touched once + KV) per median decode step: what an
    /// ideal kernel set would need to move; comparable across strategies.
    pub useful_gb_per_s: Option<f64>,
    pub useful_fraction_of_copy: Option<f64>,
    pub profile: Option<Profile>,
    /// Per backend kernel (by label) of one batched prefill of the prompt (`--profile`).
    pub prefill_profile: Option<Profile>,
}

/// The copy-bandwidth yardstick of this run.
#[derive(Clone, Debug, Serialize)]
pub struct CopyFigure {
    /// `gpu copy kernel` or `cpu memcpy (N threads)`.
    pub method: String,
    pub timing: String,
    pub bytes: u64,
    pub iterations: usize,
    pub median_seconds: f64,
    pub gb_per_s: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ModelInfo {
    pub description: String,
    pub hidden_size: usize,
    pub layers: usize,
    pub vocab_size: usize,
    pub bundle_bytes: u64,
    pub generated: Option<model::Generated>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Settings {
    pub tokens: usize,
    pub warmup: usize,
    pub context: usize,
    pub check_tokens: usize,
    pub tolerance: f32,
    pub seed: u64,
    pub skip: String,
}

/// The whole result (`--json` writes it as is).
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    pub backend: BenchBackend,
    pub device: String,
    pub timestamp_query: bool,
    pub model: ModelInfo,
    pub settings: Settings,
    pub copy: CopyFigure,
    pub strategies: Vec<StrategyResult>,
    pub kernels: Option<Vec<kernels::KernelResult>>,
    /// GPU memory held by the weights: one upload shared by every strategy (GPU only).
    pub gpu_weight_bytes: Option<u64>,
    pub seconds_total: f64,
}

impl BenchReport {
    /// True when every strategy passed its check and ran.
    pub fn all_ok(&self) -> bool {
        self.strategies.iter().all(|s| s.status == Status::Ok)
    }
}

impl Device {
    /// Measures the copy bandwidth this device's kernels are compared with.
    pub fn copy_bandwidth(&self, bytes: u64, iterations: usize) -> anyhow::Result<CopyFigure> {
        Ok(match self {
            Device::Cpu => {
                let m = memcpy::memcpy_bandwidth(bytes, iterations)?;
                CopyFigure {
                    method: format!("cpu memcpy ({} threads)", m.threads),
                    timing: "wall-clock".into(),
                    bytes: m.bytes,
                    iterations: m.iterations,
                    median_seconds: m.median_seconds,
                    gb_per_s: m.gb_per_s,
                }
            }
            Device::Gpu(ctx) => {
                let c = zaya_wgpu::bandwidth::copy_bandwidth(ctx, bytes, iterations)
                    .context("measuring the copy bandwidth")?;
                CopyFigure {
                    method: "gpu copy kernel".into(),
                    timing: c.timing.as_str().into(),
                    bytes: c.bytes,
                    iterations: c.iterations,
                    median_seconds: c.median_seconds,
                    gb_per_s: c.gb_per_s,
                }
            }
        })
    }
}

/// Deterministic token ids in `0..vocab` (splitmix64): every strategy sees the same sequence.
pub fn token_sequence(seed: u64, n: usize, vocab: usize) -> Vec<u32> {
    let mut state = seed ^ 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            (z % vocab as u64) as u32
        })
        .collect()
}

/// Adds 0.01 to every logit: the deliberately broken "fusion" of `--inject-fault`, done on the
/// graph so that it travels the real backend path and the gate has to catch it from the output.
pub fn inject_fault(graph: &mut Graph) -> anyhow::Result<()> {
    let logits = graph
        .output(zaya_ir::LOGITS)
        .context("the graph has no `logits` output")?;
    let ty = graph.ty(logits).clone();
    let n = ty.numel().context("the logits have no static shape")? as usize;
    let offset = graph.push(
        Op::Const {
            values: vec![0.01; n],
        },
        &[],
        Some(ty),
    )?[0];
    let broken = graph.push1(Op::Binary { op: BinaryOp::Add }, &[logits, offset])?;
    for (name, v) in graph.outputs.iter_mut() {
        if name == zaya_ir::LOGITS {
            *v = broken;
        }
    }
    graph.validate()?;
    Ok(())
}

/// The plan figures of `strategy` on `graph` without running anything: what an experiment
/// reads before it spends time on a benchmark. `options` says for which device rules
/// (`PlanOptions::on(device.target())`) and context.
pub fn plan_figures(
    graph: &Graph,
    strategy: &Strategy,
    options: PlanOptions,
) -> anyhow::Result<PlanFigures> {
    let (optimized, _) = strategy
        .apply(graph)
        .with_context(|| format!("strategy {}", strategy.name))?;
    Ok(PlanFigures::of(&Plan::build(
        &optimized,
        &strategy.name,
        options,
    )))
}

/// Parses `--strategies` names, failing on the first unknown one (duplicates are dropped by
/// [`BenchOptions::validate`]).
pub fn parse_strategies(list: &[String]) -> anyhow::Result<Vec<Strategy>> {
    list.iter()
        .map(|name| {
            crate::engine::parse_strategy(name.trim())
                .with_context(|| format!("--strategies {name}"))
        })
        .collect()
}

impl BenchOptions {
    /// Rejects settings that cannot produce a figure, before anything is generated or loaded.
    pub fn validate(&self) -> anyhow::Result<Vec<Strategy>> {
        if self.tokens == 0 {
            bail!("--tokens: at least 1 timed token is needed");
        }
        if self.check_tokens == 0 {
            bail!("--check-tokens: the correctness check needs at least 1 token");
        }
        if self.tolerance.is_nan() || self.tolerance < 0.0 {
            bail!("--tolerance: must be a non-negative number");
        }
        if self.copy_iterations == 0 {
            bail!("--copy-iterations: at least 1");
        }
        if self.kernels && self.kernel_iterations == 0 {
            bail!("--kernel-iterations: at least 1");
        }
        if self.strategies.is_empty() {
            bail!("--strategies: give at least one strategy");
        }
        let mut strategies: Vec<Strategy> = vec![];
        for s in &self.strategies {
            match strategies.iter().find(|o| o.name == s.name) {
                None => strategies.push(s.clone()),
                // The same strategy twice (the CLI's `none,none`) runs once.
                Some(o) if o.pass_names() == s.pass_names() => {}
                Some(o) => bail!(
                    "two strategies are named `{}` but run different passes ({:?} and {:?}): name them apart",
                    s.name,
                    o.pass_names(),
                    s.pass_names()
                ),
            }
        }
        if let Some(f) = &self.inject_fault
            && !strategies.iter().any(|s| &s.name == f)
        {
            bail!("--inject-fault {f}: not one of the benchmarked strategies");
        }
        Ok(strategies)
    }

    fn capacity(&self) -> usize {
        self.context + self.warmup + self.tokens + self.profile_steps + 2
    }
}

/// One strategy being benchmarked.
struct Contender {
    result: StrategyResult,
    graph: Graph,
    /// Bound with the device's default kernels although a tuning cache exists.
    untuned: bool,
    runner: Option<ExecRunner>,
    decode_samples: Vec<f64>,
    gpu_samples: Vec<f64>,
    prefill_seconds: f64,
    profiles: Vec<Vec<KernelSample>>,
}

/// Runs the whole benchmark. `log` receives progress lines (the CLI prints them to stderr).
pub fn run(options: &BenchOptions, log: &mut dyn FnMut(&str)) -> anyhow::Result<BenchReport> {
    let started = Instant::now();
    let strategies = options.validate()?;
    let device = match Device::open(options.backend, options.adapter.as_deref()) {
        // Already names its flag.
        Err(e @ crate::engine::EngineError::AdapterOnCpu(_)) => return Err(e.into()),
        opened => opened.with_context(|| format!("--backend {}", options.backend))?,
    };
    log(&format!("device: {}", device.describe()));
    let prepared = model::PreparedModel::prepare(&options.model)?;
    let bundle = &prepared.bundle;
    let config = &bundle.config;
    if let Some(g) = &prepared.generated {
        log(&format!(
            "generated the random model ({:.1} MB) in {:.2} s",
            g.bytes as f64 / 1e6,
            g.seconds
        ));
    }
    let copy = device.copy_bandwidth(options.copy_bytes, options.copy_iterations)?;
    log(&format!(
        "copy bandwidth: {:.2} GB/s ({}, {} MiB, {})",
        copy.gb_per_s,
        copy.method,
        copy.bytes >> 20,
        copy.timing
    ));

    let model_info = ModelInfo {
        description: prepared.description.clone(),
        hidden_size: config.hidden_size,
        layers: config.num_layers,
        vocab_size: config.vocab_size,
        bundle_bytes: bundle.total_tensor_bytes(),
        generated: prepared.generated.clone(),
    };
    let settings = Settings {
        tokens: options.tokens,
        warmup: options.warmup,
        context: options.context,
        check_tokens: options.check_tokens,
        tolerance: options.tolerance,
        seed: options.model.seed,
        skip: options.skip.to_string(),
    };
    if options.kernels {
        let kernels = kernels::run_kernels(
            bundle,
            &device,
            options.warmup,
            options.kernel_iterations,
            copy.gb_per_s,
            log,
        )?;
        return Ok(BenchReport {
            backend: device.backend(),
            device: device.describe(),
            timestamp_query: device.timestamps(),
            model: model_info,
            settings,
            copy,
            strategies: vec![],
            kernels: Some(kernels),
            gpu_weight_bytes: None,
            seconds_total: started.elapsed().as_secs_f64(),
        });
    }

    let base = build_decode_graph_with(config, bundle.as_ref(), options.graph_options())
        .context("cannot build the decode graph")?;
    let capacity = options.capacity();
    let plan_options = PlanOptions {
        context_tokens: options.context as u64,
        capacity: capacity as u64,
        ..PlanOptions::on(device.target())
    };
    let vocab = config.vocab_size;
    let check_tokens = token_sequence(options.model.seed, options.check_tokens, vocab);
    let prompt = token_sequence(options.model.seed ^ 1, options.context, vocab);
    let decode_tokens = token_sequence(
        options.model.seed ^ 2,
        options.warmup + options.tokens + options.profile_steps,
        vocab,
    );

    // The oracle: the unfused graph on the CPU interpreter.
    let reference = {
        let executor = Device::Cpu
            .bind(bundle, base.clone())
            .context("the CPU reference (strategy none)")?;
        let mut cpu = ExecRunner::new(&executor, options.check_tokens)
            .context("the CPU reference (strategy none)")?;
        check::collect_logits(&mut cpu, &check_tokens).context("the CPU reference")?
    };

    let mut contenders: Vec<Contender> = vec![];
    for strategy in &strategies {
        let (mut graph, _) = strategy
            .apply(&base)
            .with_context(|| format!("strategy {}", strategy.name))?;
        if options.inject_fault.as_deref() == Some(strategy.name.as_str()) {
            inject_fault(&mut graph)?;
            log(&format!(
                "--inject-fault: every logit of {} is offset by 0.01",
                strategy.name
            ));
        }
        let plan = Plan::build(&graph, &strategy.name, plan_options);
        contenders.push(Contender {
            result: StrategyResult {
                name: strategy.name.clone(),
                status: Status::Ok,
                reason: None,
                plan: PlanFigures::of(&plan),
                recorded_dispatches: None,
                checks: vec![],
                decode_wall: None,
                decode_gpu: None,
                decode_tokens_per_s: None,
                prefill_tokens: options.context,
                prefill_seconds: None,
                prefill_tokens_per_s: None,
                batched_prefill_seconds: None,
                batched_prefill_tokens_per_s: None,
                batched_prefill_max_diff: None,
                prefill_over_decode: None,
                effective_gb_per_s: None,
                fraction_of_copy: None,
                useful_gb_per_s: None,
                useful_fraction_of_copy: None,
                profile: None,
                prefill_profile: None,
            },
            graph,
            untuned: false,
            runner: None,
            decode_samples: vec![],
            gpu_samples: vec![],
            prefill_seconds: 0.0,
            profiles: vec![],
        });
    }

    // Where `zaya-graph tune` chose kernels for this adapter, the last fused strategy is also
    // run with the defaults, so the report shows what tuning bought.
    if device.is_tuned()
        && let Some(c) = contenders.iter().rev().find(|c| c.result.name != "none")
    {
        let mut result = c.result.clone();
        result.name = format!("{} (untuned)", result.name);
        log(&format!(
            "this adapter is tuned: {} also runs with the default kernels",
            c.result.name
        ));
        contenders.push(Contender {
            result,
            graph: c.graph.clone(),
            untuned: true,
            runner: None,
            decode_samples: vec![],
            gpu_samples: vec![],
            prefill_seconds: 0.0,
            profiles: vec![],
        });
    }

    // One upload of the weights for every strategy: they are the same tensors.
    let shared = device.shared_weights(bundle);
    // Build every runner and run the correctness gate.
    let mut backend_none: Option<Vec<Vec<f32>>> = None;
    // `none` first, so the other strategies can also be held against it on the same backend.
    let mut order: Vec<usize> = (0..contenders.len()).collect();
    order.sort_by_key(|&i| contenders[i].result.name != "none");
    for i in order {
        let c = &mut contenders[i];
        let bind = BindOptions {
            untuned: c.untuned,
            shared: shared.clone(),
        };
        // The strategy's decode graph plus unfused prefill graphs (backends without prefill
        // bind the decode graph alone).
        let module = if options.chunk > 0 && !prompt.is_empty() {
            zaya_model::graph::prefill_functions(
                config,
                bundle.as_ref(),
                options.graph_options(),
                options.chunk,
                false,
            )
            .map_err(anyhow::Error::from)
            .and_then(|f| Ok(zaya_ir::Module::new(c.graph.clone(), f)?))
        } else {
            Ok(zaya_ir::Module::decode_only(c.graph.clone()))
        };
        let built = module
            .and_then(|m| Ok(device.bind_module_with(bundle, m, &bind)?))
            .and_then(|executor| ExecRunner::new(&executor, capacity));
        let mut runner = match built {
            Ok(r) => r,
            Err(e) => {
                log(&format!(
                    "{}: cannot run on this backend: {e:#}",
                    c.result.name
                ));
                c.result.status = Status::Error;
                c.result.reason = Some(format!("{e:#}"));
                continue;
            }
        };
        c.result.recorded_dispatches = runner.recorded_dispatches();
        let logits = match check::collect_logits(&mut runner, &check_tokens) {
            Ok(l) => l,
            Err(e) => {
                c.result.status = Status::Error;
                c.result.reason = Some(format!("{e:#}"));
                continue;
            }
        };
        let mut checks = vec![check::compare_logits(
            &reference,
            &logits,
            options.tolerance,
            "cpu none",
        )];
        if device.backend() == BenchBackend::Wgpu {
            match &backend_none {
                Some(r) => checks.push(check::compare_logits(
                    r,
                    &logits,
                    options.tolerance,
                    "wgpu none",
                )),
                None if c.result.name == "none" && checks[0].passed => {
                    backend_none = Some(logits.clone())
                }
                None => {}
            }
        }
        let failed: Vec<String> = checks.iter().filter_map(|k| k.reason.clone()).collect();
        for k in &checks {
            log(&format!(
                "check {} vs {}: max |diff| {:.2e}, argmax mismatches {}/{}: {}",
                c.result.name,
                k.against,
                k.max_abs_diff,
                k.argmax_mismatches,
                k.tokens,
                if k.passed { "ok" } else { "FAIL" }
            ));
        }
        c.result.checks = checks;
        if !failed.is_empty() {
            c.result.status = Status::Fail;
            c.result.reason = Some(format!("refused, not timed: {}", failed.join("; ")));
            continue;
        }
        runner.reset()?;
        c.runner = Some(runner);
    }

    // Everything below runs only the strategies that passed, interleaved.
    let live: Vec<usize> = (0..contenders.len())
        .filter(|&i| contenders[i].runner.is_some())
        .collect();
    let rotate = |round: usize| -> Vec<usize> {
        let n = live.len();
        (0..n).map(|k| live[(round + k) % n]).collect()
    };

    // Batched prefill first (then reset): the whole prompt through the prefill graphs.
    let mut batched: Vec<Option<(f64, Vec<f32>)>> = vec![None; contenders.len()];
    if !prompt.is_empty() && options.chunk > 0 {
        for &i in &live {
            let runner = contenders[i].runner.as_mut().expect("live");
            let t = Instant::now();
            if let Some(logits) = runner.prefill(&prompt)? {
                runner.finish()?;
                batched[i] = Some((t.elapsed().as_secs_f64(), logits));
            }
            runner.reset()?;
        }
        if batched.iter().any(Option::is_some) {
            log(&format!(
                "prefilled {} tokens batched (chunks of at most {})",
                prompt.len(),
                options.chunk
            ));
        }
        if options.profile {
            for &i in &live {
                let c = &mut contenders[i];
                let runner = c.runner.as_mut().expect("live");
                if let Some(times) = runner.profile_prefill(&prompt)? {
                    c.result.prefill_profile = Some(profile_by_label(&times));
                }
                runner.reset()?;
            }
        }
    }
    // Prefill: the prompt through the decode graph, in chunks the GPU can pipeline; the
    // last token's logits are kept to check the batched prefill against.
    let mut last_logits: Vec<Option<Vec<f32>>> = vec![None; contenders.len()];
    for (round, chunk) in prompt.chunks(PREFILL_CHUNK).enumerate() {
        let last_chunk = (round + 1) * PREFILL_CHUNK >= prompt.len();
        for i in rotate(round) {
            let c = &mut contenders[i];
            let runner = c.runner.as_mut().expect("live");
            let t = Instant::now();
            for (k, &token) in chunk.iter().enumerate() {
                let want = last_chunk && k + 1 == chunk.len();
                if let Some(l) = runner.step(token, want)? {
                    last_logits[i] = Some(l);
                }
            }
            runner.finish()?;
            c.prefill_seconds += t.elapsed().as_secs_f64();
        }
    }
    if !prompt.is_empty() {
        log(&format!("prefilled {} tokens", prompt.len()));
    }
    for (i, b) in batched.into_iter().enumerate() {
        let (Some((seconds, logits)), Some(want)) = (b, &last_logits[i]) else {
            continue;
        };
        let r = &mut contenders[i].result;
        let diff = logits
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        log(&format!(
            "check {} batched prefill vs token by token: max |diff| {diff:.2e}: {}",
            r.name,
            if diff <= options.tolerance {
                "ok"
            } else {
                "FAIL"
            }
        ));
        r.batched_prefill_max_diff = Some(diff);
        if diff <= options.tolerance {
            r.batched_prefill_seconds = Some(seconds);
            r.batched_prefill_tokens_per_s = Some(prompt.len() as f64 / seconds);
        }
    }

    // Decode: warm-up, then timed tokens, one token per strategy per round.
    let timed = options.warmup + options.tokens;
    for (round, &token) in decode_tokens.iter().enumerate().take(timed) {
        for i in rotate(round) {
            let c = &mut contenders[i];
            let runner = c.runner.as_mut().expect("live");
            let t = Instant::now();
            runner.step(token, false)?;
            runner.finish()?;
            if round >= options.warmup {
                c.decode_samples.push(t.elapsed().as_secs_f64());
            }
        }
    }
    log(&format!(
        "decoded {} + {} warm-up tokens per strategy",
        options.tokens, options.warmup
    ));

    // Per-kernel GPU timestamps (each kernel in its own pass, so slightly pessimistic).
    if device.timestamps() || options.profile {
        for round in 0..options.profile_steps {
            let token = decode_tokens[options.warmup + options.tokens + round];
            for i in rotate(round) {
                let c = &mut contenders[i];
                let runner = c.runner.as_mut().expect("live");
                if let Some(samples) = runner.profile_step(token)? {
                    c.gpu_samples.push(samples.iter().map(|s| s.seconds).sum());
                    c.profiles.push(samples);
                }
            }
        }
    }

    let copy_gbs = copy.gb_per_s;
    for c in &mut contenders {
        let r = &mut c.result;
        if c.runner.is_none() {
            continue;
        }
        r.decode_wall = TimeStats::of(&c.decode_samples);
        r.decode_gpu = TimeStats::of(&c.gpu_samples);
        if let Some(w) = &r.decode_wall {
            let t = w.median_s;
            r.decode_tokens_per_s = Some(1.0 / t);
            let eff = r.plan.traffic_bytes() as f64 / t / 1e9;
            let useful = r.plan.lower_bound_bytes as f64 / t / 1e9;
            r.effective_gb_per_s = Some(eff);
            r.useful_gb_per_s = Some(useful);
            r.fraction_of_copy = Some(eff / copy_gbs);
            r.useful_fraction_of_copy = Some(useful / copy_gbs);
        }
        if !prompt.is_empty() {
            r.prefill_seconds = Some(c.prefill_seconds);
            r.prefill_tokens_per_s = Some(prompt.len() as f64 / c.prefill_seconds);
        }
        if let (Some(p), Some(d)) = (r.batched_prefill_tokens_per_s, r.decode_tokens_per_s) {
            r.prefill_over_decode = Some(p / d);
        }
        if options.profile {
            r.profile = Some(summarize_profile(&c.graph, &c.profiles, &device));
        }
    }

    Ok(BenchReport {
        backend: device.backend(),
        device: device.describe(),
        timestamp_query: device.timestamps(),
        model: model_info,
        settings,
        copy,
        strategies: contenders.into_iter().map(|c| c.result).collect(),
        gpu_weight_bytes: shared.as_ref().map(|s| s.bytes()),
        kernels: None,
        seconds_total: started.elapsed().as_secs_f64(),
    })
}

/// `<label> [<where>]`: the plan label, and the builder scope or else the first named value the
/// kernel defines (`l3.q_rope`), so an unscoped matvec still says which layer and weight it is.
pub fn kernel_name(graph: &Graph, start: usize, end: usize) -> String {
    let label = graph.kernel_label(start);
    let place = (start..end)
        .find_map(|i| graph.scope_of(i).map(str::to_string))
        .or_else(|| {
            (start..end).find_map(|i| {
                graph.insts[i]
                    .outputs
                    .iter()
                    .find_map(|o| graph.value(*o).name.clone())
            })
        })
        .unwrap_or_else(|| "-".into());
    format!("{label} [{place}]")
}

/// Backend kernel times summed per label (`matmul_affine_4_64`, `attention_chunk`, ...),
/// sorted: a prefill runs graphs of several chunk lengths, so there is no one plan to fold
/// them into.
fn profile_by_label(times: &[KernelSample]) -> Profile {
    let mut by_label: BTreeMap<&str, (f64, usize, Option<u64>)> = BTreeMap::new();
    for t in times {
        let e = by_label.entry(&t.label).or_insert((0.0, 0, Some(0)));
        e.0 += t.seconds;
        e.1 += 1;
        e.2 = e.2.zip(t.workgroups).map(|(a, b)| a + b);
    }
    let total: f64 = times.iter().map(|t| t.seconds).sum();
    let mut kernels: Vec<KernelShare> = by_label
        .into_iter()
        .map(|(label, (seconds, n, workgroups))| KernelShare {
            kernel: label.to_string(),
            backend_kernels: n,
            workgroups,
            seconds,
            share: if total > 0.0 { seconds / total } else { 0.0 },
        })
        .collect();
    kernels.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
    Profile {
        method: "gpu-timestamps".into(),
        note: Some(
            "one batched prefill of the prompt, each backend kernel in its own compute pass; seconds are sums over the kernel's runs".into(),
        ),
        steps: 1,
        kernels,
    }
}

/// Folds backend kernel times into the optimizer plan's kernels (median over steps), sorted.
fn summarize_profile(graph: &Graph, profiles: &[Vec<KernelSample>], device: &Device) -> Profile {
    if profiles.is_empty() {
        let note = match device {
            Device::Cpu => {
                "the CPU interpreter runs a step as one call and exposes no per-kernel clock; use --kernels for per-kernel figures"
            }
            Device::Gpu(_) => {
                "this adapter has no TIMESTAMP_QUERY, and wall-clock timing of single kernels inside a step is not exposed by the wgpu backend; use --kernels"
            }
        };
        return Profile {
            method: "unavailable".into(),
            note: Some(note.into()),
            steps: 0,
            kernels: vec![],
        };
    }
    let ranges = graph.kernel_ranges();
    let name_of = |inst: usize| -> (usize, String) {
        let k = ranges
            .iter()
            .position(|r| r.start <= inst && inst < r.end)
            .unwrap_or(0);
        let r = &ranges[k];
        (k, format!("k{k} {}", kernel_name(graph, r.start, r.end)))
    };
    // Per step: plan kernel -> (seconds, backend kernels, workgroups).
    let mut per_kernel: BTreeMap<usize, (String, Vec<f64>, usize, Option<u64>)> = BTreeMap::new();
    for step in profiles {
        let mut this: BTreeMap<usize, (String, f64, usize, Option<u64>)> = BTreeMap::new();
        for s in step {
            let inst = s.insts.last().copied().unwrap_or(0);
            let (k, name) = name_of(inst);
            let e = this.entry(k).or_insert((name, 0.0, 0, Some(0)));
            e.1 += s.seconds;
            e.2 += 1;
            e.3 = e.3.zip(s.workgroups).map(|(a, b)| a + b);
        }
        for (k, (name, secs, n, workgroups)) in this {
            let e = per_kernel.entry(k).or_insert((name, vec![], n, workgroups));
            e.1.push(secs);
        }
    }
    let mut kernels: Vec<KernelShare> = per_kernel
        .into_values()
        .map(|(kernel, secs, n, workgroups)| KernelShare {
            kernel,
            backend_kernels: n,
            workgroups,
            seconds: TimeStats::of(&secs).map_or(0.0, |s| s.median_s),
            share: 0.0,
        })
        .collect();
    let total: f64 = kernels.iter().map(|k| k.seconds).sum();
    for k in &mut kernels {
        k.share = if total > 0.0 { k.seconds / total } else { 0.0 };
    }
    kernels.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
    Profile {
        method: "gpu-timestamps".into(),
        note: Some("each backend kernel in its own compute pass between two timestamps".into()),
        steps: profiles.len(),
        kernels,
    }
}
