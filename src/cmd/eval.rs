//! `zaya-graph eval`: run token ids through the engine and write logits and router choices
//! to a safetensors file, for conformance checks from outside.

use anyhow::{Context, bail};
use safetensors::tensor::{Dtype, TensorView};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use zaya_cpu::{Program, bind_bundle};
use zaya_model::graph::{GraphOptions, build_decode_graph_with, router_output};
use zaya_model::{Bundle, SkipMode};

#[derive(clap::Args)]
pub struct EvalArgs {
    /// Bundle directory (quantized bundle or unquantized original-naming checkpoint).
    #[arg(long)]
    pub model: PathBuf,
    /// Prompt token ids, comma-separated (fed one at a time through the decode graph).
    #[arg(long, value_delimiter = ',', required = true)]
    pub prompt_ids: Vec<u32>,
    /// Token ids fed one by one after the prompt, through the cache.
    #[arg(long, value_delimiter = ',')]
    pub decode_ids: Vec<u32>,
    /// Execution backend.
    #[arg(long, value_enum, default_value_t = super::Backend::Cpu)]
    pub backend: super::Backend,
    /// Fusion strategy (`none`, `dequant`, `dequant+epilogue`, `cca`, `all`, or a `+`-composition).
    #[arg(long, default_value = "none")]
    pub strategy: String,
    /// What the MoE does for tokens routed to the skip expert.
    #[arg(long, default_value_t = SkipMode::Zero)]
    pub mod_skip: SkipMode,
    /// Output file: prefill_logits [P, V], decode_logits [D, V], router_choice [n_moe, P+D].
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let bundle = Bundle::open(&args.model)?;
    let cfg = &bundle.config;
    let vocab = cfg.vocab_size;
    for (what, ids) in [
        ("--prompt-ids", &args.prompt_ids),
        ("--decode-ids", &args.decode_ids),
    ] {
        if let Some(bad) = ids.iter().find(|&&t| t as usize >= vocab) {
            bail!("{what}: token id {bad} is out of range for a vocabulary of {vocab}");
        }
    }
    let tokens: Vec<u32> = args
        .prompt_ids
        .iter()
        .chain(&args.decode_ids)
        .copied()
        .collect();
    let graph = build_decode_graph_with(
        cfg,
        &bundle,
        GraphOptions {
            skip: args.mod_skip,
        },
    )?;
    let weights = bind_bundle(&bundle, &graph)?;
    let program = Arc::new(Program::new(graph, weights)?);
    let mut session = program.session(tokens.len())?;

    let n_moe = cfg.num_moe_layers();
    let mut logits: Vec<f32> = Vec::with_capacity(tokens.len() * vocab);
    let mut choices = vec![vec![0i32; tokens.len()]; n_moe];
    for (t, &token) in tokens.iter().enumerate() {
        logits.extend_from_slice(
            session
                .decode(token)
                .with_context(|| format!("token {t} (id {token})"))?,
        );
        for (k, row) in choices.iter_mut().enumerate() {
            let choice = session
                .output_u32(&router_output(k))
                .context("router choice output")?;
            row[t] = choice[0] as i32;
        }
    }

    let p = args.prompt_ids.len();
    let (prefill, decode) = logits.split_at(p * vocab);
    let choice_bytes: Vec<u8> = choices
        .iter()
        .flatten()
        .flat_map(|c| c.to_le_bytes())
        .collect();
    let prefill_bytes: Vec<u8> = prefill.iter().flat_map(|x| x.to_le_bytes()).collect();
    let decode_bytes: Vec<u8> = decode.iter().flat_map(|x| x.to_le_bytes()).collect();
    let views = [
        (
            "prefill_logits",
            TensorView::new(Dtype::F32, vec![p, vocab], &prefill_bytes)?,
        ),
        (
            "decode_logits",
            TensorView::new(
                Dtype::F32,
                vec![args.decode_ids.len(), vocab],
                &decode_bytes,
            )?,
        ),
        (
            "router_choice",
            TensorView::new(Dtype::I32, vec![n_moe, tokens.len()], &choice_bytes)?,
        ),
    ];
    safetensors::serialize_to_file(views, None, &args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!(
        "eval: {} prompt + {} decode tokens on {} with strategy {} ({} skip) -> {}",
        p,
        args.decode_ids.len(),
        args.backend,
        args.strategy,
        args.mod_skip,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
