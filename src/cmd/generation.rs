//! What `run`, `chat` and `smoke` share: model/backend/sampling flags, loading a bundle (or the
//! demo) with a progress bar, context sizing, streaming text to stdout, and the stderr summary.
//!
//! Convention: stdout carries only what the model wrote (or, for `smoke`, its report); every
//! notice, progress bar, timing and diagnostic goes to stderr, so `zaya-graph run ... > out.txt`
//! captures the answer alone.

use std::hash::{BuildHasher, Hasher};
use std::io::{IsTerminal, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::Arc;
use zaya_chat::{
    Channel, ChatAssets, ChatError, FinishReason, Generation, Generator, SamplerConfig,
    StopConditions, TextPiece, Tokenizer,
};
use zaya_graph::demo;
use zaya_graph::engine::{self, Backend, EngineOptions, LoadStage, Model, Session};
use zaya_model::{Bundle, Config, KvDtype, SkipMode};

/// Context of `chat` and `serve` when `--context` is not given: room for real conversations
/// without allocating the model's full (possibly 100k+) positions of cache.
pub const CONVERSATION_CONTEXT: usize = 4096;

/// Which model to load and how to run it.
#[derive(clap::Args, Debug)]
pub struct ModelArgs {
    /// Bundle directory (e.g. /path/to/ZAYA1-8B-MXFP4) with tokenizer.json and a chat template.
    /// Without it, a tiny built-in demo model with random weights is used.
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
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
    /// Context capacity in tokens (prompt plus output; for `chat` and `serve`, the whole
    /// conversation, 4096 by default).
    #[arg(long, value_name = "N")]
    pub context: Option<usize>,
    /// Longest chunk of batched prompt prefill (0: feed the prompt token by token)
    /// [default: 64 on the CPU, token by token on wgpu, whichever is faster there].
    #[arg(long, value_name = "N")]
    pub chunk: Option<usize>,
}

/// Sampling and stopping flags. Defaults are Zyphra's suggestion for chat.
#[derive(clap::Args, Debug)]
pub struct SamplingArgs {
    /// Softmax temperature; 0 picks the most likely token [default: 1.0].
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Keep only the K most likely tokens; 0 = off [default: 0].
    #[arg(long, value_name = "K")]
    pub top_k: Option<usize>,
    /// Nucleus sampling: keep the most likely tokens up to this probability mass [default: 0.95].
    #[arg(long, value_name = "P")]
    pub top_p: Option<f32>,
    /// Drop tokens below this fraction of the top token's probability [default: 0].
    #[arg(long, value_name = "P")]
    pub min_p: Option<f32>,
    /// Penalize tokens already in the context; 1 = off [default: 1.0].
    #[arg(long, value_name = "X")]
    pub repetition_penalty: Option<f32>,
    /// Seed for reproducible sampling (a random one is drawn and reported otherwise; `serve`
    /// draws one per request that sets none).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Deterministic decoding: always the most likely token.
    #[arg(long, conflicts_with_all = ["temperature", "top_k", "top_p", "min_p", "seed"])]
    pub greedy: bool,
    /// Stop when the output contains STR (cut from the output); repeatable.
    #[arg(long = "stop", value_name = "STR")]
    pub stop: Vec<String>,
    #[command(flatten)]
    pub special: SpecialArgs,
}

/// Whether text output shows control tokens (also used by `smoke`, which has no sampling flags).
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct SpecialArgs {
    /// Show control and unused tokens (<pad>, <bos>, <unusedN>, ...) in the text; hidden by
    /// default (token ids in --json output are always complete).
    #[arg(long)]
    pub special: bool,
}

impl SpecialArgs {
    /// Applies the flag to a generator.
    pub fn apply(self, generator: &mut Generator) {
        generator.set_show_special(self.special);
    }
}

impl SamplingArgs {
    /// The sampler settings; draws (and reports on stderr) a seed when sampling is random and
    /// none was given, so any run can be repeated.
    pub fn sampler_config(&self) -> SamplerConfig {
        let mut config = self.sampler_defaults();
        if config.seed.is_none() && !config.is_greedy() {
            let seed = random_seed();
            eprintln!("sampling with seed {seed} (pass --seed {seed} to repeat)");
            config.seed = Some(seed);
        }
        config
    }

    /// The sampler settings as given: no seed is drawn when none was given (the server draws
    /// one per request).
    pub fn sampler_defaults(&self) -> SamplerConfig {
        let mut config = if self.greedy {
            SamplerConfig::greedy()
        } else {
            SamplerConfig::default()
        };
        config.temperature = self.temperature.unwrap_or(config.temperature);
        config.top_k = self.top_k.unwrap_or(config.top_k);
        config.top_p = self.top_p.unwrap_or(config.top_p);
        config.min_p = self.min_p.unwrap_or(config.min_p);
        config.repetition_penalty = self.repetition_penalty.unwrap_or(config.repetition_penalty);
        config.seed = self.seed;
        config
    }

    /// The bundle's end-of-turn tokens, the `--stop` strings and the token budget.
    pub fn stop_conditions(&self, assets: &ChatAssets, max_tokens: usize) -> StopConditions {
        let mut stop = assets.stop_conditions().with_max_tokens(max_tokens);
        stop.stop_strings.extend(self.stop.iter().cloned());
        stop
    }
}

/// A seed from the OS-seeded hasher keys std already draws (no extra dependency).
fn random_seed() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish()
}

/// Rejects a zero token budget with the flag's name.
pub fn check_max_tokens(flag: &str, value: usize) -> anyhow::Result<()> {
    if value == 0 {
        bail!("{flag} must be at least 1");
    }
    Ok(())
}

/// An opened bundle with its tokenizer and chat template.
pub struct LoadedModel {
    pub dir: PathBuf,
    pub is_demo: bool,
    pub assets: ChatAssets,
    pub bundle: Arc<Bundle>,
}

/// Progress and timing of loading, from resolving the directory to an allocated session.
pub struct LoadProgress {
    bar: ProgressBar,
    started: Instant,
}

impl LoadProgress {
    fn start() -> Self {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let steps = 2 + LoadStage::COUNT as u64;
        let bar = ProgressBar::with_draw_target(Some(steps), target);
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} loading [{bar:24}] {pos}/{len} {msg} {elapsed}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.enable_steady_tick(Duration::from_millis(100));
        Self {
            bar,
            started: Instant::now(),
        }
    }

    fn step(&self, message: &'static str) {
        self.bar.set_message(message);
        self.bar.inc(1);
    }

    fn finish(self) -> Duration {
        self.bar.finish_and_clear();
        self.started.elapsed()
    }
}

/// Resolves `--model` (or the demo), loads tokenizer and template, opens the bundle and checks
/// that they fit together. `command` is the subcommand, for the demo notice.
pub fn open_model(args: &ModelArgs, command: &str) -> anyhow::Result<(LoadedModel, LoadProgress)> {
    engine::check_strategy(args.strategy.as_deref())?;
    let (dir, is_demo) = match &args.model {
        Some(dir) => (dir.clone(), false),
        None => (demo_dir(command)?, true),
    };
    let progress = LoadProgress::start();
    progress.step("reading the tokenizer and chat template");
    let assets = load_assets(&dir)?;
    progress.step("opening the bundle");
    let bundle = Arc::new(
        Bundle::open(&dir).with_context(|| format!("cannot open the bundle {}", dir.display()))?,
    );
    engine::check_vocab(&assets.tokenizer, &bundle.config).with_context(|| {
        format!(
            "{} and {}",
            dir.join(zaya_chat::TOKENIZER_FILE).display(),
            dir.join("config.json").display()
        )
    })?;
    let model = LoadedModel {
        dir,
        is_demo,
        assets,
        bundle,
    };
    Ok((model, progress))
}

/// Provides the demo bundle and says loudly what it is.
fn demo_dir(command: &str) -> anyhow::Result<PathBuf> {
    let dir = demo::ensure_demo_bundle()?;
    eprintln!(
        "note: no --model given: using the built-in DEMO model ({}) with RANDOM weights; its output is gibberish.",
        demo::describe()
    );
    eprintln!(
        "      For real answers point the same command at a bundle: zaya-graph {command} --model /path/to/ZAYA1-8B-MXFP4 ..."
    );
    Ok(dir)
}

/// Loads tokenizer.json and the chat template, naming the directory and, for a broken
/// template, quoting the offending line.
fn load_assets(dir: &Path) -> anyhow::Result<ChatAssets> {
    if !dir.is_dir() {
        bail!("model directory {} does not exist", dir.display());
    }
    ChatAssets::load(dir)
        .map_err(explain_template_error)
        .with_context(|| {
            format!(
                "cannot load the tokenizer and chat template of {} (a bundle needs {} and {} or {})",
                dir.display(),
                zaya_chat::TOKENIZER_FILE,
                zaya_chat::TEMPLATE_FILE,
                zaya_chat::TOKENIZER_CONFIG_FILE
            )
        })
}

/// A chat error as an anyhow error; template errors get the text of the line they point at.
pub fn explain_template_error(err: ChatError) -> anyhow::Error {
    if let ChatError::Template {
        template,
        line: Some(line),
        ..
    } = &err
    {
        let text = std::fs::read_to_string(template).ok().and_then(|source| {
            source
                .lines()
                .nth(line.saturating_sub(1))
                .map(|l| l.trim().to_string())
        });
        if let Some(text) = text {
            return anyhow::anyhow!("{err}; line {line} reads: {text}");
        }
    }
    anyhow::Error::new(err)
}

impl LoadedModel {
    pub fn config(&self) -> &Config {
        &self.bundle.config
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.assets.tokenizer
    }

    /// Loads the model and opens one session with room for `context` tokens, ends the
    /// progress bar and reports the load time on stderr.
    pub fn engine(
        &self,
        args: &ModelArgs,
        context: usize,
        progress: LoadProgress,
    ) -> anyhow::Result<(Session, Duration)> {
        let (model, elapsed) = self.load(args, context, progress)?;
        let session = model
            .session()
            .with_context(|| format!("cannot load {}", self.dir.display()))?;
        Ok((session, elapsed))
    }

    /// Loads the model (sessions of `context` tokens by default), ends the progress bar and
    /// reports the load time on stderr.
    pub fn load(
        &self,
        args: &ModelArgs,
        context: usize,
        progress: LoadProgress,
    ) -> anyhow::Result<(Arc<Model>, Duration)> {
        let options = EngineOptions {
            backend: args.backend,
            skip: args.mod_skip,
            kv_cache: args.kv_dtype,
            context,
            strategy: args.strategy.clone(),
            adapter: args.adapter.clone(),
            columns: Some(self.tokenizer().vocab_size()),
            prefill_chunk: args.chunk,
            prefill_logits: false,
        };
        let model = Model::load(Arc::clone(&self.bundle), &options, &mut |stage| {
            progress.step(stage.describe())
        })
        .map(Arc::new);
        let elapsed = progress.finish();
        let model = model.with_context(|| format!("cannot load {}", self.dir.display()))?;
        let c = self.config();
        eprintln!(
            "loaded {}{} in {:.2} s: {} layers, hidden {}, vocab {}",
            self.dir.display(),
            if self.is_demo {
                " (demo, random weights)"
            } else {
                ""
            },
            elapsed.as_secs_f64(),
            c.num_layers,
            c.hidden_size,
            c.vocab_size,
        );
        // Which path was chosen, so a slow run can be told from a misconfigured one.
        eprintln!("running on {}", model.describe_path());
        // Spec §4: say where the two skip semantics can disagree for this bundle.
        if let Ok(routes) = zaya_model::verify::skip_routes(&self.bundle) {
            let reachable: Vec<usize> = routes
                .iter()
                .filter(|r| r.reachable)
                .map(|r| r.layer)
                .collect();
            eprintln!(
                "skip route reachable in {} of {} MoE layers{} (--mod-skip {})",
                reachable.len(),
                routes.len(),
                if reachable.is_empty() {
                    String::new()
                } else {
                    format!(" {reachable:?}")
                },
                options.skip
            );
        }
        Ok((model, elapsed))
    }
}

/// The context capacity: `--context` when given (checked against the model and the prompt),
/// else just enough for the prompt plus `wanted` new tokens, capped at the model's positions.
pub fn context_size(
    requested: Option<usize>,
    config: &Config,
    prompt_tokens: usize,
    wanted: usize,
) -> anyhow::Result<usize> {
    let max = config.max_position_embeddings;
    match requested {
        Some(0) => bail!("--context must be at least 1"),
        Some(n) => {
            if n > max {
                bail!(
                    "--context {n} exceeds the {max} positions this model supports (max_position_embeddings in config.json)"
                );
            }
            if prompt_tokens >= n {
                bail!(
                    "prompt too long: {prompt_tokens} tokens leave no room for output in a context of {n} tokens; raise --context (this model supports up to {max})"
                );
            }
            Ok(n)
        }
        None => {
            if prompt_tokens >= max {
                bail!(
                    "prompt too long: {prompt_tokens} tokens, but this model supports at most {max} positions (prompt plus output)"
                );
            }
            Ok(max.min(prompt_tokens + wanted))
        }
    }
}

/// Streams generated text to stdout, flushing each piece. Reasoning is shown only when asked,
/// wrapped in `<think>`/`</think>` lines so it stays distinguishable from the answer.
pub struct StreamPrinter {
    show_reasoning: bool,
    in_reasoning: bool,
    ends_with_newline: bool,
    wrote_any: bool,
    /// stdout went away (e.g. `| head`): stop generating instead of failing.
    closed: bool,
}

impl StreamPrinter {
    pub fn new(show_reasoning: bool) -> Self {
        Self {
            show_reasoning,
            in_reasoning: false,
            ends_with_newline: true,
            wrote_any: false,
            closed: false,
        }
    }

    /// The streaming callback: prints the piece; asks to stop when stdout is closed.
    pub fn piece(&mut self, piece: TextPiece<'_>) -> ControlFlow<()> {
        let mut text = String::new();
        match piece.channel {
            Channel::Reasoning if !self.show_reasoning => return ControlFlow::Continue(()),
            Channel::Reasoning if !self.in_reasoning => {
                self.in_reasoning = true;
                text.push_str("<think>\n");
            }
            Channel::Content if self.in_reasoning => {
                self.in_reasoning = false;
                text.push_str("\n</think>\n\n");
            }
            _ => {}
        }
        text.push_str(piece.text);
        self.write(&text)
    }

    /// Closes an unfinished reasoning block and ends the output with a newline.
    pub fn finish(&mut self) {
        if self.in_reasoning {
            self.in_reasoning = false;
            let _ = self.write("\n</think>");
        }
        if self.wrote_any && !self.ends_with_newline {
            let _ = self.write("\n");
        }
    }

    fn write(&mut self, text: &str) -> ControlFlow<()> {
        if self.closed || text.is_empty() {
            return ControlFlow::Continue(());
        }
        let mut out = std::io::stdout().lock();
        if out
            .write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .is_err()
        {
            self.closed = true;
            return ControlFlow::Break(());
        }
        self.wrote_any = true;
        self.ends_with_newline = text.ends_with('\n');
        ControlFlow::Continue(())
    }
}

/// Stable machine-readable name of a finish reason (for `--json`).
pub fn finish_reason_name(reason: &FinishReason) -> &'static str {
    match reason {
        FinishReason::StopToken(_) => "stop_token",
        FinishReason::StopString(_) => "stop_string",
        FinishReason::MaxTokens => "max_tokens",
        FinishReason::ContextFull => "context_full",
        FinishReason::Cancelled => "cancelled",
    }
}

/// A finish reason for people: which token or string stopped it.
pub fn describe_finish(reason: &FinishReason, tokenizer: &Tokenizer) -> String {
    match reason {
        FinishReason::StopToken(id) => match tokenizer.token(*id) {
            Some(token) => format!("stop token {token}"),
            None => format!("stop token {id}"),
        },
        FinishReason::StopString(s) => format!("stop string {s:?}"),
        FinishReason::MaxTokens => "max tokens reached".into(),
        FinishReason::ContextFull => "context full".into(),
        FinishReason::Cancelled => "cancelled (output closed)".into(),
    }
}

/// `12 tokens generated, decode 1234.5 tok/s; finish: ...`, the tail of every summary line.
pub fn describe_decode(generation: &Generation, tokenizer: &Tokenizer) -> String {
    let t = &generation.timings;
    format!(
        "{} tokens generated, decode {:.1} tok/s; finish: {}",
        generation.tokens.len(),
        t.decode_tokens_per_sec(),
        describe_finish(&generation.finish_reason, tokenizer)
    )
}

/// The timings object of `--json`.
pub fn timings_json(generation: &Generation, load: Duration) -> serde_json::Value {
    let t = &generation.timings;
    serde_json::json!({
        "load_secs": load.as_secs_f64(),
        "prefill_tokens": t.prefill_tokens,
        "prefill_secs": t.prefill_secs,
        "prefill_tokens_per_sec": t.prefill_tokens_per_sec(),
        "decode_tokens": t.decode_tokens,
        "decode_secs": t.decode_secs,
        "decode_tokens_per_sec": t.decode_tokens_per_sec(),
    })
}
