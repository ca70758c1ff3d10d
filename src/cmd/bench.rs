//! `zaya-graph bench`: fusion strategies compared on one model and one backend (correctness
//! first, then interleaved timing against the device's copy bandwidth), or, with `--kernels`,
//! each kernel kind alone. The work is in `zaya_graph::bench`; this is flags and output.
//!
//! Progress goes to stderr; stdout holds the markdown report. Exit code 1 when a strategy was
//! refused (its output disagreed with the reference) or could not run.

use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;
use zaya_graph::bench::{self, BenchOptions, model::ModelSpec};
use zaya_graph::engine::Backend;
use zaya_model::{KvDtype, SkipMode};

/// Which model a measurement runs (`bench`, `tune`): a bundle as is, or random weights in the
/// real packed formats for a (shrunk) config.
#[derive(clap::Args)]
pub struct ModelSpecArgs {
    /// A bundle directory to measure as is.
    #[arg(long, conflicts_with = "config")]
    pub model: Option<PathBuf>,
    /// A config.json to generate a random-weight bundle for (default: the embedded ZAYA1-8B
    /// config), in the real packed formats.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Keep only the first N original layers of the config (even; ZAYA1-8B has 80).
    #[arg(long, value_name = "N")]
    pub layers: Option<usize>,
    /// Shrink the vocabulary to N tokens (ZAYA1-8B's 262272-row 8-bit embedding alone is
    /// 537 MB: fine on a GPU, slow on a CPU or lavapipe).
    #[arg(long, value_name = "N")]
    pub vocab: Option<usize>,
}

impl ModelSpecArgs {
    pub fn spec(&self, seed: u64) -> ModelSpec {
        ModelSpec {
            model: self.model.clone(),
            config: self.config.clone(),
            layers: self.layers,
            vocab: self.vocab,
            seed,
        }
    }
}

#[derive(clap::Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub source: ModelSpecArgs,
    /// Comma-separated strategies to compare (`none` is the reference).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "none,dequant,dequant+epilogue,cca,all"
    )]
    pub strategies: Vec<String>,
    /// Execution backend (`auto`: the best hardware GPU, else the CPU).
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    pub backend: Backend,
    /// Timed decode tokens per strategy.
    #[arg(long, default_value_t = 16)]
    pub tokens: usize,
    /// Untimed decode tokens per strategy first (also the untimed runs of each kernel).
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Prompt tokens fed (and timed as prefill) before decoding; decode runs at this context,
    /// and the plan's KV traffic is modeled at it.
    #[arg(long, default_value_t = 32)]
    pub context: usize,
    /// Longest chunk of batched prefill, timed beside token-by-token prefill (CPU and
    /// wgpu); 0 = token by token only.
    #[arg(long, value_name = "N", default_value_t = zaya_graph::engine::DEFAULT_PREFILL_CHUNK)]
    pub chunk: usize,
    /// Tokens compared with the unfused reference before anything is timed.
    #[arg(long, default_value_t = 3)]
    pub check_tokens: usize,
    /// Largest accepted |logit difference| against the reference.
    #[arg(long, default_value_t = bench::check::DEFAULT_TOLERANCE)]
    pub tolerance: f32,
    /// Write the full report as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Draw the comparison as an SVG chart.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Per-kernel profile of a decode step (GPU timestamps when the adapter has them).
    #[arg(long)]
    pub profile: bool,
    /// Benchmark each kernel kind alone at the model's shapes instead of comparing strategies.
    #[arg(long)]
    pub kernels: bool,
    /// Timed runs per kernel with --kernels.
    #[arg(long, default_value_t = 20)]
    pub kernel_iterations: usize,
    /// Case-insensitive substring of the GPU adapter's name (see `zaya-graph devices`).
    #[arg(long)]
    pub adapter: Option<String>,
    /// Seed of the random weights and of the token ids fed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// MiB copied by the copy-bandwidth measurement (clamped to the device's binding limit).
    #[arg(long, default_value_t = 128)]
    pub copy_mib: u64,
    #[arg(long, default_value_t = SkipMode::Zero)]
    pub mod_skip: SkipMode,
    /// Element type of the KV cache: `f16` halves its memory and the bytes attention reads
    /// per token (docs/BENCHMARKS.md has its deviation from the goldens).
    #[arg(long, value_name = "T", default_value_t = KvDtype::F32)]
    pub kv_dtype: KvDtype,
    /// Run as an external engine of the peer-bench kit instead (`shared/peer-bench`): read this
    /// token file, time load, prefills and decode steps of --model, write --peer-result.
    #[arg(long, value_name = "FILE", requires_all = ["model", "peer_result"])]
    pub peer_tokens: Option<PathBuf>,
    /// The peer-bench result JSON to write (with --peer-tokens).
    #[arg(long, value_name = "FILE", requires = "peer_tokens")]
    pub peer_result: Option<PathBuf>,
    /// Test hook: corrupt this strategy's logits (the correctness check must refuse it).
    #[arg(long, hide = true)]
    pub inject_fault: Option<String>,
}

pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    if let (Some(tokens), Some(result), Some(model)) =
        (&args.peer_tokens, &args.peer_result, &args.source.model)
    {
        let options = bench::peer::PeerOptions {
            model: model.clone(),
            tokens: tokens.clone(),
            result: result.clone(),
            backend: args.backend,
            adapter: args.adapter,
            skip: args.mod_skip,
            kv_cache: args.kv_dtype,
            chunk: args.chunk,
        };
        bench::peer::run(&options, &mut |line| eprintln!("{line}"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let options = BenchOptions {
        model: args.source.spec(args.seed),
        strategies: bench::parse_strategies(&args.strategies)?,
        backend: args.backend,
        adapter: args.adapter,
        tokens: args.tokens,
        warmup: args.warmup,
        context: args.context,
        chunk: args.chunk,
        check_tokens: args.check_tokens,
        tolerance: args.tolerance,
        profile: args.profile,
        copy_bytes: args
            .copy_mib
            .checked_mul(1 << 20)
            .context("--copy-mib: too large")?,
        skip: args.mod_skip,
        kv_cache: args.kv_dtype,
        inject_fault: args.inject_fault,
        kernels: args.kernels,
        kernel_iterations: args.kernel_iterations,
        ..BenchOptions::default()
    };
    // Output paths are checked before minutes of benchmarking, not after.
    for (flag, path) in [("--json", &args.json), ("--svg", &args.svg)] {
        if let Some(p) = path
            && let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            anyhow::bail!(
                "{flag} {}: no such directory {}",
                p.display(),
                dir.display()
            );
        }
    }
    let report = bench::run(&options, &mut |line| eprintln!("{line}"))?;
    print!("{}", bench::report::markdown(&report));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text + "\n").with_context(|| format!("--json {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(path) = &args.svg {
        bench::report::svg(&report, path).with_context(|| format!("--svg {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    eprintln!("bench took {:.1} s", report.seconds_total);
    if report.all_ok() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("error: not every strategy passed its correctness check and ran (see the table)");
        Ok(ExitCode::FAILURE)
    }
}
