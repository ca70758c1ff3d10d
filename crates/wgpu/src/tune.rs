//! Per-device tuning of the fused matvec: time the template's variants on each distinct
//! matvec shape of a plan, keep only variants whose output equals a reference (the CPU
//! interpreter, supplied by the caller), and store the winners in a cache file per adapter
//! that every [`crate::GpuProgram`] loads ([`device_target`]).
//!
//! The cache lives in the user's cache directory (`dirs::cache_dir()/zaya-graph/`, or the
//! directory in `ZAYA_TUNE_DIR`), one JSON file per adapter named after the adapter, its
//! driver and backend. A file from another variant-space version, adapter or driver is
//! ignored, so a driver update or a change of the template falls back to the defaults
//! until `zaya-graph tune` runs again. `ZAYA_TUNE=off` ignores every cache.

use crate::context::{AdapterSummary, GpuContext};
use crate::error::{GpuError, Result};
use crate::program::{GpuProgram, ProgramOptions};
use crate::session::{Input, Tensor};
use crate::variant::{self, MatVecTarget, MatVecVariant, VARIANT_SPACE_VERSION};
use crate::weights::WeightData;
use crate::wgsl::Shader;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use zaya_ir::Graph;

/// The stored result of one shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TunedShape {
    pub variant: MatVecVariant,
    pub default: MatVecVariant,
    /// Median seconds per run of the winner and of the default, measured together.
    pub tuned_s: f64,
    pub default_s: f64,
}

/// One adapter's cache file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TuneCache {
    pub version: u32,
    pub adapter: String,
    pub driver: String,
    pub driver_info: String,
    pub backend: String,
    /// By [`variant::MatVecShape`] key.
    pub shapes: BTreeMap<String, TunedShape>,
    /// How prompts are fed on this adapter, measured by `zaya-graph tune` (absent in caches
    /// written before it was measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefill: Option<PrefillChoice>,
}

/// Batched prefill against token by token on one adapter: the same prompt through the
/// prefill graphs (chunks of `chunk`) and through the decode graph, medians of interleaved
/// runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrefillChoice {
    /// The chunk that was timed.
    pub chunk: usize,
    /// Prompt tokens per timed run.
    pub tokens: usize,
    /// The fastest `matmul` team width ([`crate::variant::MATMUL_TEAMS`]), which
    /// `batched_s` was timed with and every program on the adapter then uses.
    pub matmul_team: u32,
    pub batched_s: f64,
    pub sequential_s: f64,
}

impl PrefillChoice {
    /// The longest prefill chunk to run by default: the timed one when batched prefill was
    /// faster, else 0 (token by token).
    pub fn chosen_chunk(&self) -> usize {
        if self.batched_s < self.sequential_s {
            self.chunk
        } else {
            0
        }
    }
}

impl TuneCache {
    pub fn empty(summary: &AdapterSummary) -> TuneCache {
        TuneCache {
            version: VARIANT_SPACE_VERSION,
            adapter: summary.name.clone(),
            driver: summary.driver.clone(),
            driver_info: summary.driver_info.clone(),
            backend: summary.backend.clone(),
            shapes: BTreeMap::new(),
            prefill: None,
        }
    }

    fn matches(&self, summary: &AdapterSummary) -> bool {
        self.version == VARIANT_SPACE_VERSION
            && self.adapter == summary.name
            && self.driver == summary.driver
            && self.driver_info == summary.driver_info
            && self.backend == summary.backend
    }
}

/// The directory of the cache files.
pub fn cache_dir() -> Option<PathBuf> {
    match std::env::var_os("ZAYA_TUNE_DIR") {
        Some(d) => Some(PathBuf::from(d)),
        None => dirs::cache_dir().map(|d| d.join("zaya-graph")),
    }
}

/// The cache file of an adapter.
pub fn cache_path(summary: &AdapterSummary) -> Option<PathBuf> {
    let name = format!(
        "tune-{}-{}-{}.json",
        summary.name, summary.driver, summary.backend
    );
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    cache_dir().map(|d| d.join(slug))
}

/// The adapter's cache, if there is a readable one for this adapter, driver and version.
/// A damaged file is reported on stderr once and ignored (the defaults still run).
pub fn load(summary: &AdapterSummary) -> Option<TuneCache> {
    if std::env::var("ZAYA_TUNE").is_ok_and(|v| v == "off") {
        return None;
    }
    let path = cache_path(summary)?;
    let text = std::fs::read_to_string(&path).ok()?;
    match serde_json::from_str::<TuneCache>(&text) {
        Ok(c) if c.matches(summary) => Some(c),
        Ok(_) => None,
        Err(e) => {
            eprintln!(
                "zaya-wgpu: ignoring the tuning cache {}: {e}",
                path.display()
            );
            None
        }
    }
}

/// Writes the adapter's cache file; returns its path.
pub fn save(cache: &TuneCache, summary: &AdapterSummary) -> std::io::Result<PathBuf> {
    let path = cache_path(summary).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no cache directory (set ZAYA_TUNE_DIR)",
        )
    })?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(cache).map_err(std::io::Error::other)?;
    std::fs::write(&path, text)?;
    Ok(path)
}

/// The fused matvec target of `ctx`'s device with its tuned variants.
pub fn device_target(ctx: &GpuContext) -> MatVecTarget {
    let mut target = untuned_target(ctx);
    if let Some(cache) = load(&ctx.summary) {
        if let Some(prefill) = &cache.prefill
            && crate::variant::MATMUL_TEAMS.contains(&prefill.matmul_team)
        {
            target.matmul_team = prefill.matmul_team;
        }
        target.tuned = cache
            .shapes
            .into_iter()
            .map(|(k, s)| (k, s.variant))
            .collect();
    }
    target
}

/// The device's target without any tuned variant (the defaults).
pub fn untuned_target(ctx: &GpuContext) -> MatVecTarget {
    MatVecTarget::of_device(&ctx.limits(), ctx.features.subgroups)
}

/// A graph input's data for [`tune_kernel`].
#[derive(Clone, Debug)]
pub enum OwnedInput {
    U32(Vec<u32>),
    F32(Vec<f32>),
}

/// One fused matvec kernel to tune: a graph holding just that kernel's group (its inputs
/// the values the kernel reads), its weights, inputs, and the reference outputs (by output
/// name, from the CPU interpreter).
pub struct TuneCase<'w> {
    pub graph: Graph,
    pub weights: Vec<WeightData<'w>>,
    pub inputs: Vec<OwnedInput>,
    pub reference: Vec<(String, Tensor)>,
}

/// How far a variant's output may be from the reference (absolute, like the bench gate).
pub const TOLERANCE: f32 = 1e-3;

/// The outcome of tuning one shape.
#[derive(Clone, Debug)]
pub struct ShapeResult {
    pub shape: String,
    pub tuned: TunedShape,
    /// Variants timed (including the default).
    pub timed: usize,
    /// Variants refused, with the reason (output differs, or it failed to build or run).
    pub rejected: Vec<(MatVecVariant, String)>,
}

/// Timing budget of one shape.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Runs per variant in the first round.
    pub runs: usize,
    /// Finalists re-timed against the default, interleaved.
    pub finalists: usize,
    /// Interleaved rounds of the final.
    pub final_runs: usize,
    /// Stop trying new variants after this many seconds on the shape.
    pub max_seconds: f64,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            runs: 3,
            finalists: 3,
            final_runs: 5,
            max_seconds: 20.0,
        }
    }
}

/// A built variant of a case: its program and a session over it.
struct Built {
    session: crate::GpuSession,
}

fn feed(inputs: &[OwnedInput]) -> Vec<Input<'_>> {
    inputs
        .iter()
        .map(|i| match i {
            OwnedInput::U32(v) => Input::U32(v),
            OwnedInput::F32(v) => Input::F32(v),
        })
        .collect()
}

fn build(ctx: &Arc<GpuContext>, case: &TuneCase<'_>, target: MatVecTarget) -> Result<Built> {
    let options = ProgramOptions {
        matvec: Some(target),
        ..Default::default()
    };
    let program =
        GpuProgram::with_options(Arc::clone(ctx), case.graph.clone(), &case.weights, &options)?;
    let session = program.session(4)?;
    Ok(Built { session })
}

/// Runs once and compares every reference output.
fn check(built: &mut Built, case: &TuneCase<'_>) -> Result<Option<String>> {
    let names: Vec<&str> = case.reference.iter().map(|(n, _)| n.as_str()).collect();
    built.session.reset()?;
    let out = built.session.step_inputs(&feed(&case.inputs), &names)?;
    for ((name, want), got) in case.reference.iter().zip(&out) {
        let bad = match (want, got) {
            (Tensor::F32(w), Tensor::F32(g)) if w.len() == g.len() => w
                .iter()
                .zip(g)
                .map(|(a, b)| (a - b).abs())
                .fold(
                    0.0f32,
                    |m, d| if d.is_nan() { f32::INFINITY } else { m.max(d) },
                )
                .gt(&TOLERANCE)
                .then(|| {
                    format!("{name} differs from the CPU interpreter by more than {TOLERANCE}")
                }),
            (Tensor::U32(w), Tensor::U32(g)) => {
                (w != g).then(|| format!("{name} differs from the CPU interpreter"))
            }
            _ => Some(format!(
                "{name} has another type or length than the reference"
            )),
        };
        if bad.is_some() {
            return Ok(bad);
        }
    }
    Ok(None)
}

/// Seconds of one run (submission to completion).
fn time_once(ctx: &GpuContext, built: &mut Built, inputs: &[OwnedInput]) -> Result<f64> {
    built.session.reset()?;
    let t = Instant::now();
    built.session.step_inputs(&feed(inputs), &[])?;
    ctx.wait()?;
    Ok(t.elapsed().as_secs_f64())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::INFINITY)
}

/// Times the candidate variants of the case's fused matvec; `Ok(None)` when its plan has
/// no fused matvec or `skip` says its shape (the cache key) is already done. Every
/// candidate's output is checked against the reference first.
pub fn tune_kernel(
    ctx: &Arc<GpuContext>,
    case: &TuneCase<'_>,
    budget: Budget,
    skip: &dyn Fn(&str) -> bool,
    log: &mut dyn FnMut(&str),
) -> Result<Option<ShapeResult>> {
    let base = untuned_target(ctx);
    let mut default_built = build(ctx, case, base.clone())?;
    let Some(point) = point_of_session(&default_built)? else {
        return Ok(None);
    };
    let key = point.shape.to_string();
    if skip(&key) {
        return Ok(None);
    }
    let default = point.variant;
    if let Some(reason) = check(&mut default_built, case)? {
        return Err(GpuError::Validation(format!(
            "the default fused matvec variant {default} of `{key}` is wrong: {reason}"
        )));
    }
    let started = Instant::now();
    let mut rejected = vec![];
    let mut scores: Vec<(f64, MatVecVariant)> = vec![];
    let mut first = vec![];
    for _ in 0..budget.runs {
        first.push(time_once(ctx, &mut default_built, &case.inputs)?);
    }
    scores.push((median(first), default));
    for v in variant::candidates(&base, &point.shape, &point.cap) {
        if v == default {
            continue;
        }
        if started.elapsed().as_secs_f64() > budget.max_seconds {
            log(&format!(
                "{key}: time budget spent after {} variants",
                scores.len()
            ));
            break;
        }
        let mut target = base.clone();
        target.tuned.insert(key.clone(), v);
        let mut built = match build(ctx, case, target) {
            Ok(b) => b,
            Err(e) => {
                rejected.push((v, e.to_string()));
                continue;
            }
        };
        match check(&mut built, case) {
            Ok(None) => {}
            Ok(Some(reason)) => {
                rejected.push((v, reason));
                continue;
            }
            Err(e) => {
                rejected.push((v, e.to_string()));
                continue;
            }
        }
        let mut t = vec![];
        for _ in 0..budget.runs {
            t.push(time_once(ctx, &mut built, &case.inputs)?);
        }
        scores.push((median(t), v));
    }
    let timed = scores.len();
    scores.sort_by(|a, b| a.0.total_cmp(&b.0));
    // The final: the best few against the default, interleaved, so drift hits all alike.
    let mut finalists: Vec<MatVecVariant> = scores
        .iter()
        .map(|s| s.1)
        .filter(|v| *v != default)
        .take(budget.finalists)
        .collect();
    finalists.insert(0, default);
    let mut built: Vec<Built> = vec![];
    for v in &finalists {
        let mut target = base.clone();
        target.tuned.insert(key.clone(), *v);
        built.push(build(ctx, case, target)?);
    }
    let mut samples = vec![vec![]; finalists.len()];
    for round in 0..budget.final_runs {
        for k in 0..finalists.len() {
            let k = (k + round) % finalists.len();
            samples[k].push(time_once(ctx, &mut built[k], &case.inputs)?);
        }
    }
    let medians: Vec<f64> = samples.into_iter().map(median).collect();
    let best = (0..finalists.len())
        .min_by(|&a, &b| medians[a].total_cmp(&medians[b]))
        .unwrap_or(0);
    Ok(Some(ShapeResult {
        shape: key,
        tuned: TunedShape {
            variant: finalists[best],
            default,
            tuned_s: medians[best],
            default_s: medians[0],
        },
        timed,
        rejected,
    }))
}

fn point_of_session(built: &Built) -> Result<Option<variant::MatVecPoint>> {
    Ok(built
        .session
        .plan()
        .kernels
        .iter()
        .flat_map(|k| &k.dispatches)
        .find_map(|d| match &d.shader {
            Shader::Generated(g) => g.matvec.clone(),
            _ => None,
        }))
}
