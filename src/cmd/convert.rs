//! `zaya-graph convert SRC DST`: a float checkpoint (original or HF transformers naming) to the
//! published bundle layout (`--format affine`) or true OCP MXFP4 (`--format mxfp4`).
//!
//! The work is `zaya_model::convert`; this adds the progress bar and Ctrl-C: the first Ctrl-C
//! stops the conversion between chunks and removes the temporary directory.
use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use zaya_model::QuantMode;
use zaya_model::convert::{self, ConvertOptions, Event};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// MLX affine (the published ZAYA1-8B-MXFP4 bundle): 4-bit linears, f16 scales and biases.
    Affine,
    /// OCP MXFP4: E2M1 codes with E8M0 (u8) scales per 32 elements, as MLX's `mode="mxfp4"`.
    Mxfp4,
}

#[derive(clap::Args)]
pub struct ConvertArgs {
    /// Float checkpoint directory (config.json + safetensors; original or HF naming).
    pub src: PathBuf,
    /// Bundle directory to create (must not exist).
    pub dst: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Affine)]
    pub format: Format,
    /// Bits of the linears (affine: 4 or 8; mxfp4: 4).
    #[arg(long, default_value_t = 4)]
    pub bits: u8,
    /// Group size of the linears (affine: 32, 64, 128; mxfp4: 32).
    #[arg(long, default_value_t = 32)]
    pub group_size: u32,
    /// Bits of the embedding (always affine): 4 or 8.
    #[arg(long, default_value_t = 8)]
    pub embed_bits: u8,
    /// Maximum shard size in MiB.
    #[arg(long, default_value_t = 1024)]
    pub shard_mib: u64,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(args: ConvertArgs) -> anyhow::Result<ExitCode> {
    let options = ConvertOptions {
        format: match args.format {
            Format::Affine => QuantMode::Affine,
            Format::Mxfp4 => QuantMode::Mxfp4,
        },
        bits: args.bits,
        group_size: args.group_size,
        embed_bits: args.embed_bits,
        shard_bytes: args.shard_mib.saturating_mul(1 << 20),
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&cancel);
    ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed))
        .context("cannot install the Ctrl-C handler")?;

    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if args.quiet {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    let style = ProgressStyle::with_template(
        "{msg} [{bar:40}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
    )
    .context("progress style")?
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message("converting");
    let started = Instant::now();
    let mut on_event = |event: Event| match event {
        Event::Planned { bytes, .. } => bar.set_length(bytes),
        Event::Wrote(n) => bar.inc(n),
        Event::Verifying => bar.set_message("verifying"),
    };
    let result = convert::convert(&args.src, &args.dst, &options, &cancel, &mut on_event);
    bar.finish_and_clear();
    let summary = result?;
    eprintln!(
        "{} -> {}: {} tensors, {} bytes in {} shard(s), {:.1} s ({} naming); verify: usable",
        args.src.display(),
        summary.dst.display(),
        summary.tensors,
        summary.tensor_bytes,
        summary.shards,
        started.elapsed().as_secs_f64(),
        match summary.naming {
            zaya_model::hf_names::Naming::Original => "original",
            zaya_model::hf_names::Naming::Hf => "HF",
        }
    );
    Ok(ExitCode::SUCCESS)
}
