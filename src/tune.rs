//! `zaya-graph tune`: per-device choice of the fused matvec variants.
//!
//! Every distinct fused matvec of a strategy's decode plan (the first instance of each shape,
//! cut out of the real graph with [`kernels::extract_kernel`]) is timed on the
//! adapter in each variant the template offers there (`zaya_wgpu::tune::tune_kernel`); a
//! variant whose output differs from the CPU interpreter's is refused. The winners go to the
//! adapter's cache file, which every later [`zaya_wgpu::GpuProgram`] on that adapter loads.

use crate::bench::kernels;
use crate::engine::{Backend, DEFAULT_PREFILL_CHUNK, EngineOptions, STRATEGY_ALL, engine_module};
use anyhow::Context;
use serde::Serialize;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use zaya_ir::exec::{Executor, Input};
use zaya_ir::{Graph, Op};
use zaya_model::Bundle;
use zaya_model::graph::{GraphOptions, build_decode_graph_with};
use zaya_opt::{Plan, PlanOptions, Strategy};
use zaya_wgpu::GpuContext;
use zaya_wgpu::tune::{self as gtune, Budget, OwnedInput, PrefillChoice, TuneCache, TuneCase};
use zaya_wgpu::variant::MATMUL_TEAMS;

/// What to tune.
#[derive(Clone, Debug)]
pub struct TuneOptions {
    /// Strategies whose plans' fused matvecs are tuned (`all` is the default of `run`).
    pub strategies: Vec<String>,
    /// Seconds spent trying new variants, shared by the shapes.
    pub seconds: f64,
}

impl Default for TuneOptions {
    fn default() -> Self {
        TuneOptions {
            strategies: vec!["all".into()],
            seconds: 60.0,
        }
    }
}

/// One tuned shape, as reported.
#[derive(Clone, Debug, Serialize)]
pub struct TunedReport {
    pub shape: String,
    /// The kernel it was cut from (`k12 matvec [l0.mlp]`, strategy).
    pub kernel: String,
    pub default: String,
    pub chosen: String,
    pub default_ms: f64,
    pub chosen_ms: f64,
    pub timed: usize,
    pub rejected: usize,
}

/// The outcome of a tuning run.
#[derive(Clone, Debug, Serialize)]
pub struct TuneReport {
    pub adapter: String,
    pub shapes: Vec<TunedReport>,
    /// Batched prefill against token by token, timed with the chosen kernels.
    pub prefill: PrefillChoice,
    /// Where the cache was written.
    pub cache: Option<PathBuf>,
    pub seconds: f64,
}

/// A structural key of instructions `start..end`: two kernels with the same key lower to the
/// same fused matvec shape, so only the first is timed.
fn signature(g: &Graph, start: usize, end: usize) -> String {
    let mut key = String::new();
    for inst in &g.insts[start..end] {
        key.push_str(inst.op.mnemonic());
        if let Op::Dequant { weight } = &inst.op {
            let w = &g.weights[weight.index()];
            key.push_str(&format!("<{}{:?}>", w.format.tag(), w.dims));
        }
        for v in inst.inputs.iter().chain(&inst.outputs) {
            key.push_str(&format!(" {:?}", g.ty(*v)));
        }
        key.push(';');
    }
    key
}

/// The CPU interpreter's outputs of a kernel graph: what every variant must reproduce.
fn reference(
    bundle: &Arc<Bundle>,
    graph: &Graph,
    inputs: &[OwnedInput],
) -> anyhow::Result<Vec<(String, zaya_ir::exec::Tensor)>> {
    let program = zaya_cpu::Program::from_bundle(bundle, graph.clone())
        .context("the CPU interpreter cannot run the kernel")?;
    let mut session = Arc::clone(&program).session(4)?;
    let names: Vec<&str> = graph.outputs.iter().map(|(n, _)| n.as_str()).collect();
    let feed = kernels::feed(inputs);
    let out = session.step(&feed, &names)?;
    Ok(names.iter().map(|n| n.to_string()).zip(out).collect())
}

/// Tunes the fused matvecs of `bundle`'s decode plans on `ctx` and saves the adapter's cache
/// (merged into an existing one, so tuning a second model keeps the first one's shapes).
pub fn tune(
    bundle: &Arc<Bundle>,
    ctx: &Arc<GpuContext>,
    options: &TuneOptions,
    log: &mut dyn FnMut(&str),
) -> anyhow::Result<TuneReport> {
    let started = Instant::now();
    let base = build_decode_graph_with(&bundle.config, bundle.as_ref(), GraphOptions::default())
        .context("cannot build the decode graph")?;
    let target = zaya_wgpu::target(&ctx.limits());
    // The kernels to time: every fused matvec group, one per structural key.
    let mut cases = vec![];
    let mut seen = HashSet::new();
    for name in &options.strategies {
        let strategy =
            Strategy::parse(name, &base.fusions).with_context(|| format!("--strategy {name}"))?;
        let (g, _) = strategy.apply(&base)?;
        let plan = Plan::build(&g, &strategy.name, PlanOptions::on(target));
        for pk in &plan.kernels {
            let [start, end] = [pk.insts[0] as usize, pk.insts[1] as usize];
            let has_matvec = g.insts[start..end]
                .iter()
                .any(|i| matches!(i.op, Op::MatVec));
            if !has_matvec || !seen.insert(signature(&g, start, end)) {
                continue;
            }
            let kernel = format!(
                "k{} {} ({})",
                pk.index,
                crate::bench::kernel_name(&g, start, end),
                strategy.name
            );
            let graph = kernels::extract_kernel(&g, start, end, &pk.label)?;
            cases.push((kernel, graph));
        }
    }
    log(&format!(
        "{} distinct matvec kernels to tune on {}",
        cases.len(),
        ctx.summary.name
    ));
    let mut cache = gtune::load(&ctx.summary).unwrap_or_else(|| TuneCache::empty(&ctx.summary));
    let mut shapes = vec![];
    let total = cases.len().max(1);
    for (n, (kernel, graph)) in cases.into_iter().enumerate() {
        // Whatever earlier shapes left of the budget is shared by the rest.
        let left = (options.seconds - started.elapsed().as_secs_f64()).max(1.0);
        let budget = Budget {
            max_seconds: left / (total - n) as f64,
            ..Budget::default()
        };
        let inputs = kernels::inputs_of(&graph)?;
        let reference = reference(bundle, &graph, &inputs)
            .with_context(|| format!("reference outputs of {kernel}"))?;
        let weights = zaya_wgpu::bind_bundle(bundle, &graph)?;
        let case = TuneCase {
            graph,
            weights,
            inputs,
            reference,
        };
        let done: HashSet<String> = shapes
            .iter()
            .map(|s: &TunedReport| s.shape.clone())
            .collect();
        let skip = |key: &str| done.contains(key);
        let Some(result) = gtune::tune_kernel(ctx, &case, budget, &skip, log)
            .with_context(|| format!("tuning {kernel}"))?
        else {
            // Lowered without a fused matvec (e.g. over the binding budget), or a shape
            // already tuned by an earlier kernel: nothing to pick.
            continue;
        };
        for (v, why) in &result.rejected {
            log(&format!("{}: refused {v}: {why}", result.shape));
        }
        log(&format!(
            "{}: {} ({:.3} ms) over the default {} ({:.3} ms), {} variants timed",
            result.shape,
            result.tuned.variant,
            result.tuned.tuned_s * 1e3,
            result.tuned.default,
            result.tuned.default_s * 1e3,
            result.timed
        ));
        shapes.push(TunedReport {
            shape: result.shape.clone(),
            kernel,
            default: result.tuned.default.to_string(),
            chosen: result.tuned.variant.to_string(),
            default_ms: result.tuned.default_s * 1e3,
            chosen_ms: result.tuned.tuned_s * 1e3,
            timed: result.timed,
            rejected: result.rejected.len(),
        });
        cache.shapes.insert(result.shape, result.tuned);
    }
    // The prefill is timed with the kernels just chosen: the program loads them from the
    // cache file.
    cache.prefill = None;
    gtune::save(&cache, &ctx.summary).context("cannot write the tuning cache")?;
    let prefill = time_prefill(bundle, ctx, log).context("timing batched prefill")?;
    cache.prefill = Some(prefill.clone());
    let path = gtune::save(&cache, &ctx.summary).context("cannot write the tuning cache")?;
    Ok(TuneReport {
        adapter: ctx.summary.name.clone(),
        shapes,
        prefill,
        cache: Some(path),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Timed runs of each prefill path (the first of each is a warm-up: pipelines, constants).
const PREFILL_ROUNDS: usize = 3;

/// Times one prompt of [`DEFAULT_PREFILL_CHUNK`] tokens through batched prefill with every
/// `matmul` team width ([`MATMUL_TEAMS`]) and through the decode graph token by token, on
/// `ctx` with the tuned matvecs (strategy `all`, interleaved), so `run` feeds prompts the
/// fastest way on this adapter.
fn time_prefill(
    bundle: &Arc<Bundle>,
    ctx: &Arc<GpuContext>,
    log: &mut dyn FnMut(&str),
) -> anyhow::Result<PrefillChoice> {
    let chunk = DEFAULT_PREFILL_CHUNK;
    let options = EngineOptions {
        backend: Backend::Wgpu,
        strategy: Some(STRATEGY_ALL.into()),
        prefill_chunk: Some(chunk),
        ..EngineOptions::cpu(chunk)
    };
    let shared = zaya_wgpu::SharedWeights::new(ctx, bundle);
    let module = engine_module(bundle, &options)?;
    // One program per team width (the decode graph is the same in all; the first one's
    // steps it token by token).
    let mut sessions = vec![];
    for team in MATMUL_TEAMS {
        let mut target = gtune::device_target(ctx);
        target.matmul_team = team;
        let program = zaya_wgpu::GpuProgram::from_bundle_module(
            Arc::clone(ctx),
            bundle,
            module.clone(),
            &zaya_wgpu::ProgramOptions {
                matvec: Some(target),
                ..Default::default()
            },
            Some(&shared),
        )?;
        sessions.push((team, (program as Arc<dyn Executor>).session(chunk)?));
    }
    // Ids spread over the vocabulary, so the MoE routes them to many experts.
    let vocab = bundle.config.vocab_size;
    let prompt: Vec<u32> = (0..chunk)
        .map(|i| ((i * 7919 + 1) % vocab) as u32)
        .collect();
    let mut batched = vec![vec![]; sessions.len()];
    let mut sequential = vec![];
    for round in 0..PREFILL_ROUNDS {
        for (k, (_, exec)) in sessions.iter_mut().enumerate() {
            exec.reset()?;
            let t = Instant::now();
            exec.prefill(&prompt, &[])?;
            exec.finish()?;
            if round > 0 {
                batched[k].push(t.elapsed().as_secs_f64());
            }
        }
        let exec = &mut sessions[0].1;
        exec.reset()?;
        let t = Instant::now();
        for &token in &prompt {
            exec.step(&[Input::U32(&[token])], &[])?;
        }
        exec.finish()?;
        if round > 0 {
            sequential.push(t.elapsed().as_secs_f64());
        }
    }
    let mut teams: Vec<(u32, f64)> = sessions
        .iter()
        .zip(&mut batched)
        .map(|((team, _), times)| (*team, median(times)))
        .collect();
    for (team, s) in &teams {
        log(&format!(
            "prefill of {chunk} tokens, matmul team {team}: {:.1} ms",
            s * 1e3
        ));
    }
    teams.sort_by(|a, b| a.1.total_cmp(&b.1));
    let (team, batched_s) = teams[0];
    let choice = PrefillChoice {
        chunk,
        tokens: prompt.len(),
        matmul_team: team,
        batched_s,
        sequential_s: median(&mut sequential),
    };
    log(&format!(
        "prefill of {} tokens: batched {:.1} ms (matmul team {team}), token by token {:.1} ms: {}",
        choice.tokens,
        choice.batched_s * 1e3,
        choice.sequential_s * 1e3,
        match choice.chosen_chunk() {
            0 => "prompts go token by token".to_string(),
            n => format!("prompts go in chunks of up to {n}"),
        }
    ));
    Ok(choice)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
