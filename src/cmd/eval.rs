//! `zaya-graph eval`: run token ids through the engine and write logits and router choices
//! to a safetensors file, for conformance checks from outside.

use anyhow::{Context, bail};
use safetensors::tensor::{Dtype, TensorView};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use zaya_graph::engine::{Backend, EngineOptions, Model};
use zaya_ir::exec::Input;
use zaya_model::graph::router_output;
use zaya_model::{Bundle, KvDtype, SkipMode};

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
    /// Execution backend (`auto`: the best hardware GPU, else the CPU).
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    pub backend: Backend,
    /// GPU adapter (case-insensitive substring of its name; see `zaya-graph devices`).
    #[arg(long)]
    pub adapter: Option<String>,
    /// Fusion strategy (`none`, `dequant`, `dequant+epilogue`, `cca`, `all`, or a
    /// `+`-composition) [default: `all` on a GPU, `none` on the CPU].
    #[arg(long, value_name = "S")]
    pub strategy: Option<String>,
    /// What the MoE does for tokens routed to the skip expert.
    #[arg(long, default_value_t = SkipMode::Zero)]
    pub mod_skip: SkipMode,
    /// Element type of the KV cache: `f16` halves its memory and the bytes attention reads
    /// per token (docs/BENCHMARKS.md has its deviation from the goldens).
    #[arg(long, value_name = "T", default_value_t = KvDtype::F32)]
    pub kv_dtype: KvDtype,
    /// How the prompt is fed: `batched` (the prefill graphs, in chunks of at most `--chunk`
    /// tokens) or `sequential` (one decode step per token). Both backends (CPU and wgpu)
    /// run batched prefill.
    #[arg(long, value_enum, default_value_t = PrefillMode::Batched)]
    pub prefill: PrefillMode,
    /// Longest prefill chunk (any length >= 1, so chunk boundaries can fall anywhere).
    #[arg(long, value_name = "N", default_value_t = zaya_graph::engine::DEFAULT_PREFILL_CHUNK)]
    pub chunk: usize,
    /// Output file: prefill_logits [P, V], decode_logits [D, V], router_choice [n_moe, P+D].
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PrefillMode {
    Batched,
    Sequential,
}

pub fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let bundle = Arc::new(Bundle::open(&args.model)?);
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
    if args.prefill == PrefillMode::Batched && args.chunk == 0 {
        bail!("--chunk: a batched prefill chunk holds at least 1 token");
    }
    let batched = args.prefill == PrefillMode::Batched;
    let options = EngineOptions {
        backend: args.backend,
        skip: args.mod_skip,
        kv_cache: args.kv_dtype,
        context: tokens.len(),
        strategy: args.strategy.clone(),
        adapter: args.adapter.clone(),
        columns: None,
        prefill_chunk: Some(if batched { args.chunk } else { 0 }),
        prefill_logits: true,
    };
    let n_moe = cfg.num_moe_layers();
    let model = Model::load(Arc::clone(&bundle), &options, &mut |_| {})?;
    let p = args.prompt_ids.len();
    let (logits, choices) = eval(&model, &tokens, p, batched, n_moe)?;
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
        model.backend(),
        model.strategy(),
        args.mod_skip,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Logits of every token (concatenated) and the router choices `[n_moe][tokens]`.
type EvalOutput = (Vec<f32>, Vec<Vec<i32>>);

/// Feeds the first `prompt` tokens through batched prefill when `batched` (reading every
/// position's logits and router choices), then the rest one by one, reading back the logits
/// and every router choice of each in the step that computes them (one submission per token
/// on a GPU).
fn eval(
    model: &Model,
    tokens: &[u32],
    prompt: usize,
    batched: bool,
    n_moe: usize,
) -> anyhow::Result<EvalOutput> {
    let mut session = model.session()?;
    let routes: Vec<String> = (0..n_moe).map(router_output).collect();
    let mut logits = vec![];
    let mut choices = vec![vec![0i32; tokens.len()]; n_moe];
    let mut start = 0;
    if batched {
        let mut read = vec![zaya_ir::ALL_LOGITS];
        read.extend(routes.iter().map(String::as_str));
        match session.exec().prefill(&tokens[..prompt], &read) {
            Ok(out) => {
                logits.extend_from_slice(out[0].as_f32().context("logits are not f32")?);
                for (k, row) in choices.iter_mut().enumerate() {
                    let got = out[k + 1].as_u32().context("router choice is not u32")?;
                    for (t, &c) in got.iter().enumerate() {
                        row[t] = c as i32;
                    }
                }
                start = prompt;
            }
            Err(zaya_ir::ExecError::Unsupported(why)) => {
                eprintln!(
                    "note: the {} backend {why}: the prompt is fed token by token",
                    model.backend()
                );
            }
            Err(e) => return Err(e).context("batched prefill of the prompt"),
        }
    }
    let names: Vec<String> = std::iter::once(zaya_ir::LOGITS.to_string())
        .chain(routes)
        .collect();
    let read: Vec<&str> = names.iter().map(String::as_str).collect();
    for (t, &token) in tokens.iter().enumerate().skip(start) {
        let out = session
            .exec()
            .step(&[Input::U32(&[token])], &read)
            .with_context(|| format!("token {t} (id {token})"))?;
        logits.extend_from_slice(out[0].as_f32().context("logits are not f32")?);
        for (k, row) in choices.iter_mut().enumerate() {
            row[t] = out[k + 1].as_u32().context("router choice is not u32")?[0] as i32;
        }
    }
    Ok((logits, choices))
}
