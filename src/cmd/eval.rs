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
    /// GPU adapter (case-insensitive substring of its name; see `zaya-graph devices`).
    #[arg(long)]
    pub adapter: Option<String>,
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
    let strategy = zaya_graph::engine::check_strategy(Some(&args.strategy))?;
    let (graph, _) = strategy.apply(&graph)?;
    let n_moe = cfg.num_moe_layers();
    let (logits, choices) = match args.backend {
        super::Backend::Cpu => eval_cpu(&bundle, graph, &tokens, n_moe)?,
        super::Backend::Wgpu => eval_gpu(&bundle, graph, &tokens, n_moe, args.adapter.clone())?,
    };
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

/// Logits of every token (concatenated) and the router choices `[n_moe][tokens]`.
type EvalOutput = (Vec<f32>, Vec<Vec<i32>>);

fn eval_cpu(
    bundle: &Bundle,
    graph: zaya_ir::Graph,
    tokens: &[u32],
    n_moe: usize,
) -> anyhow::Result<EvalOutput> {
    let weights = bind_bundle(bundle, &graph)?;
    #[allow(clippy::arc_with_non_send_sync)]
    let program = Arc::new(Program::new(graph, weights)?);
    let mut session = program.session(tokens.len())?;
    let mut logits = vec![];
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
    Ok((logits, choices))
}

/// The same on the wgpu backend: logits and every router choice read back in one
/// submission per token.
fn eval_gpu(
    bundle: &Bundle,
    graph: zaya_ir::Graph,
    tokens: &[u32],
    n_moe: usize,
    adapter: Option<String>,
) -> anyhow::Result<EvalOutput> {
    let ctx = zaya_wgpu::GpuContext::new(&zaya_wgpu::AdapterChoice { name: adapter })?;
    let weights = zaya_wgpu::bind_bundle(bundle, &graph)?;
    let program = zaya_wgpu::GpuProgram::new(Arc::new(ctx), graph, &weights)?;
    let mut session = program.session(tokens.len())?;
    let names: Vec<String> = std::iter::once(zaya_model::graph::LOGITS.to_string())
        .chain((0..n_moe).map(router_output))
        .collect();
    let read: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut logits = vec![];
    let mut choices = vec![vec![0i32; tokens.len()]; n_moe];
    for (t, &token) in tokens.iter().enumerate() {
        let out = session
            .step_inputs(&[zaya_wgpu::Input::U32(&[token])], &read)
            .with_context(|| format!("token {t} (id {token})"))?;
        logits.extend_from_slice(out[0].as_f32().context("logits are not f32")?);
        for (k, row) in choices.iter_mut().enumerate() {
            row[t] = out[k + 1].as_u32().context("router choice is not u32")?[0] as i32;
        }
    }
    Ok((logits, choices))
}
