//! `zaya-graph tune`: time the fused matvec variants of a model's decode plan on one GPU
//! adapter and store the fastest correct ones in that adapter's cache file, which every later
//! run on the adapter loads (`ZAYA_TUNE=off` ignores it). The work is in `zaya_graph::tune`.

use super::bench::ModelSpecArgs;
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use zaya_graph::bench::model::PreparedModel;
use zaya_graph::tune::{self, TuneOptions};

#[derive(clap::Args)]
pub struct TuneArgs {
    // The model whose shapes are tuned (without one, two layers of the embedded ZAYA1-8B
    // config: every layer pair has the same shapes).
    #[command(flatten)]
    pub source: ModelSpecArgs,
    /// Comma-separated strategies whose fused matvecs are tuned.
    #[arg(long, value_delimiter = ',', default_value = "all")]
    pub strategies: Vec<String>,
    /// Seconds spent trying variants, shared by the shapes (the final interleaved rounds and
    /// building the model come on top: about a minute more at ZAYA1-8B width on lavapipe).
    #[arg(long, default_value_t = 60.0)]
    pub seconds: f64,
    /// Case-insensitive substring of the GPU adapter's name (see `zaya-graph devices`).
    #[arg(long)]
    pub adapter: Option<String>,
    /// Also write the report as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

pub fn run(args: TuneArgs) -> anyhow::Result<ExitCode> {
    if !(args.seconds.is_finite() && args.seconds > 0.0) {
        anyhow::bail!("--seconds {}: must be a positive number", args.seconds);
    }
    let mut spec = args.source.spec(0);
    if spec.model.is_none() && spec.layers.is_none() {
        spec.layers = Some(2);
    }
    let model = PreparedModel::prepare(&spec)?;
    let ctx = Arc::new(zaya_wgpu::GpuContext::new(&zaya_wgpu::AdapterChoice {
        name: args.adapter.clone(),
    })?);
    eprintln!(
        "tuning {} on {} ({}, {})",
        model.description, ctx.summary.name, ctx.summary.backend, ctx.summary.device_type
    );
    let options = TuneOptions {
        strategies: args.strategies,
        seconds: args.seconds,
    };
    let report = tune::tune(&model.bundle, &ctx, &options, &mut |l| eprintln!("{l}"))?;
    println!("| shape | kernel | default | ms | chosen | ms | speed-up |");
    println!("|---|---|---|---:|---|---:|---:|");
    for s in &report.shapes {
        println!(
            "| `{}` | {} | `{}` | {:.3} | `{}` | {:.3} | {:.2}x |",
            s.shape,
            s.kernel,
            s.default,
            s.default_ms,
            s.chosen,
            s.chosen_ms,
            s.default_ms / s.chosen_ms
        );
    }
    let p = &report.prefill;
    println!();
    println!(
        "prefill of {} tokens: batched (chunks of {}) {:.3} ms, token by token {:.3} ms: {}",
        p.tokens,
        p.chunk,
        p.batched_s * 1e3,
        p.sequential_s * 1e3,
        match p.chosen_chunk() {
            0 => "run feeds prompts token by token".to_string(),
            n => format!("run prefills in chunks of up to {n}"),
        }
    );
    if let Some(path) = &report.cache {
        eprintln!(
            "wrote {} ({} shapes) in {:.1} s",
            path.display(),
            report.shapes.len(),
            report.seconds
        );
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text + "\n").with_context(|| format!("--json {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}
