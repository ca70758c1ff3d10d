//! The one place a bundle becomes a running model for generation.
//!
//! The CLI (`run`, `chat`, `smoke`) only ever sees a [`zaya_chat::TokenModel`]: everything
//! backend-specific (which graph, which executor, how weights are bound) stays here, so a GPU
//! engine can be added as one more [`BackendKind`] arm and one more struct beside
//! [`CpuEngine`] (the wgpu engine will also override `forward_and_sample` to sample on the
//! device instead of copying the logits back).

use std::sync::Arc;

use zaya_chat::{ModelFailure, TokenModel, Tokenizer};
use zaya_cpu::{CpuError, Input, Program, Session, bind_bundle};
use zaya_ir::GraphError;
use zaya_model::graph::{GraphOptions, build_decode_graph_with};
use zaya_model::{Bundle, Config, ModelError, SkipMode};

/// Where the model runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BackendKind {
    /// The reference interpreter (`zaya-cpu`): exact, portable, slow on the full model.
    #[default]
    Cpu,
    /// The wgpu backend (`zaya-wgpu`): Metal, Vulkan, DX12 or GL.
    Wgpu,
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackendKind::Cpu => "cpu",
            BackendKind::Wgpu => "wgpu",
        })
    }
}

/// The strategy used when none is given: the graph exactly as built.
pub const STRATEGY_NONE: &str = "none";

/// How to build an engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineOptions {
    pub backend: BackendKind,
    /// What a MoE layer does with tokens routed to the skip expert (spec §4).
    pub skip: SkipMode,
    /// Session capacity in tokens: the prompt plus everything generated must fit.
    pub context: usize,
    /// Fusion strategy (`--strategy`: `none`, `dequant`, `dequant+epilogue`, `cca`, `all`, or
    /// a `+`-composition); `None` means [`STRATEGY_NONE`].
    pub strategy: Option<String>,
    /// GPU adapter name (case-insensitive substring, `--adapter`); `None` picks the best.
    /// `WGPU_BACKEND` narrows the backends searched.
    pub adapter: Option<String>,
    /// Logit columns a token can stand for (the tokenizer's vocabulary); `None` = all. The
    /// wgpu engine restricts its on-device greedy argmax to them, so greedy decoding never
    /// reads the logits back even when the model pads its vocabulary (ZAYA1-8B, the demo).
    pub columns: Option<usize>,
}

impl EngineOptions {
    /// Options for the CPU backend with the default skip semantics and no optimization.
    pub fn cpu(context: usize) -> Self {
        Self {
            backend: BackendKind::Cpu,
            skip: SkipMode::default(),
            context,
            strategy: None,
            adapter: None,
            columns: None,
        }
    }

    /// Rejects settings no engine can honour, before any weight is touched.
    pub fn validate(&self) -> Result<(), EngineError> {
        if self.context == 0 {
            return Err(EngineError::ZeroContext);
        }
        check_strategy(self.strategy.as_deref()).map(|_| ())
    }
}

/// Resolves `--strategy` (callers check it before loading anything, so a typo fails fast).
pub fn check_strategy(strategy: Option<&str>) -> Result<zaya_opt::Strategy, EngineError> {
    zaya_opt::Strategy::parse(strategy.unwrap_or(STRATEGY_NONE)).map_err(EngineError::Strategy)
}

/// Everything that can go wrong between an opened bundle and the first logits.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("--strategy: {0}")]
    Strategy(zaya_opt::OptError),

    #[error("the context must hold at least 1 token (--context)")]
    ZeroContext,

    #[error(
        "the tokenizer has {tokenizer} token ids but the model has only {model} (vocab_size in config.json): the tokenizer does not belong to this model"
    )]
    VocabMismatch { tokenizer: usize, model: usize },

    #[error("token id {token} is out of range for the model's vocabulary of {vocab}")]
    TokenOutOfRange { token: u32, vocab: usize },

    #[error("nothing to feed: a forward pass needs at least one token")]
    NoTokens,

    #[error(transparent)]
    Model(#[from] ModelError),

    #[error("cannot build the decode graph: {0}")]
    Graph(#[from] GraphError),

    #[error(transparent)]
    Cpu(#[from] CpuError),

    #[error(transparent)]
    Gpu(#[from] zaya_wgpu::GpuError),
}

/// Checks that every id the tokenizer can produce has a logit column and an embedding row.
/// The model may have more columns than the tokenizer has ids (ZAYA1-8B pads to 262272); the
/// sampler masks those.
pub fn check_vocab(tokenizer: &Tokenizer, config: &Config) -> Result<(), EngineError> {
    if tokenizer.vocab_size() > config.vocab_size {
        return Err(EngineError::VocabMismatch {
            tokenizer: tokenizer.vocab_size(),
            model: config.vocab_size,
        });
    }
    Ok(())
}

/// The graph every engine runs: the decode graph of `bundle` with `options.skip`, its greedy
/// `next_token` restricted to `options.columns`, optimized by `options.strategy`.
pub fn decode_graph(
    bundle: &Bundle,
    options: &EngineOptions,
) -> Result<zaya_ir::Graph, EngineError> {
    let strategy = check_strategy(options.strategy.as_deref())?;
    let config = &bundle.config;
    let mut graph = build_decode_graph_with(config, bundle, GraphOptions { skip: options.skip })?;
    // Before optimizing, so the unmasked argmax is dead code that `dce` removes.
    zaya_model::graph::mask_next_token(&mut graph, options.columns.unwrap_or(config.vocab_size))?;
    let (graph, _) = strategy.apply(&graph).map_err(EngineError::Strategy)?;
    Ok(graph)
}

/// Steps of building an engine, reported so a caller can show progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadStage {
    /// Building the decode graph from the config and the stored weight formats.
    BuildGraph,
    /// Binding every graph weight to the bundle's (memory-mapped) tensors.
    BindWeights,
    /// Validating the program and allocating the session's state for the context.
    AllocateSession,
}

impl LoadStage {
    /// Number of stages, for a progress bar's length.
    pub const COUNT: usize = 3;

    pub fn describe(self) -> &'static str {
        match self {
            LoadStage::BuildGraph => "building the decode graph",
            LoadStage::BindWeights => "binding weights",
            LoadStage::AllocateSession => "allocating the session",
        }
    }
}

/// Builds the engine `options.backend` names. The result borrows `bundle` (weights stay in its
/// memory map).
pub fn load<'b>(
    bundle: &'b Bundle,
    options: &EngineOptions,
    on_stage: &mut dyn FnMut(LoadStage),
) -> Result<Box<dyn TokenModel + 'b>, EngineError> {
    options.validate()?;
    match options.backend {
        BackendKind::Cpu => Ok(Box::new(CpuEngine::new(bundle, options, on_stage)?)),
        BackendKind::Wgpu => Ok(Box::new(GpuEngine::new(bundle, options, on_stage)?)),
    }
}

/// The reference interpreter as a [`TokenModel`]: tokens go one at a time through the decode
/// graph (there is no separate prefill graph yet), and the logits of the last one are returned.
pub struct CpuEngine<'b> {
    session: Session<'b>,
    vocab: usize,
}

impl<'b> CpuEngine<'b> {
    pub fn new(
        bundle: &'b Bundle,
        options: &EngineOptions,
        on_stage: &mut dyn FnMut(LoadStage),
    ) -> Result<Self, EngineError> {
        options.validate()?;
        let config = &bundle.config;
        on_stage(LoadStage::BuildGraph);
        let graph = decode_graph(bundle, options)?;
        on_stage(LoadStage::BindWeights);
        let weights = bind_bundle(bundle, &graph)?;
        on_stage(LoadStage::AllocateSession);
        // `Program::session` takes `&Arc<Self>`; the program is not Send (its weights borrow
        // the bundle), which is fine: an engine lives on one thread.
        #[allow(clippy::arc_with_non_send_sync)]
        let program = Arc::new(Program::new(graph, weights)?);
        let session = program.session(options.context)?;
        Ok(Self {
            session,
            vocab: config.vocab_size,
        })
    }

    fn forward_tokens(&mut self, tokens: &[u32]) -> Result<Vec<f32>, EngineError> {
        if tokens.is_empty() {
            return Err(EngineError::NoTokens);
        }
        // All ids are checked before any is fed, so a bad id leaves the state untouched.
        if let Some(&token) = tokens.iter().find(|&&t| t as usize >= self.vocab) {
            return Err(EngineError::TokenOutOfRange {
                token,
                vocab: self.vocab,
            });
        }
        for &token in tokens {
            self.session.step(&[Input::U32(&[token])])?;
        }
        let logits = self
            .session
            .output_f32(zaya_cpu::LOGITS)
            .ok_or_else(|| CpuError::MissingOutput(zaya_cpu::LOGITS.into()))?;
        Ok(logits.to_vec())
    }
}

impl TokenModel for CpuEngine<'_> {
    fn forward(&mut self, tokens: &[u32]) -> Result<Vec<f32>, ModelFailure> {
        Ok(self.forward_tokens(tokens)?)
    }

    fn logits_len(&self) -> usize {
        self.vocab
    }

    fn context_len(&self) -> usize {
        self.session.capacity()
    }

    fn position(&self) -> usize {
        self.session.position()
    }

    fn reset(&mut self) {
        self.session.reset();
    }
}

/// The wgpu backend as a [`TokenModel`]. Prompt tokens are fed one by one through the
/// decode graph and every token is chosen on the device, with only its 4-byte id read back:
/// greedy settings take the graph's `next_token` argmax (restricted to
/// [`EngineOptions::columns`]; [`GpuSession::step_greedy`]), everything else the device
/// sampler ([`GpuSession::step_sampled`]), which draws with the CPU sampler's seeded uniforms
/// and picks what it would pick. The logits are read back for the CPU sampler only when the
/// device cannot build its sampler (said once on stderr).
///
/// [`GpuSession::step_greedy`]: zaya_wgpu::GpuSession::step_greedy
/// [`GpuSession::step_sampled`]: zaya_wgpu::GpuSession::step_sampled
pub struct GpuEngine {
    session: zaya_wgpu::GpuSession,
    vocab: usize,
    /// Columns the graph's greedy `next_token` ranges over.
    greedy_columns: usize,
    /// The id chosen on the device by the last step (already in its token buffer).
    chained: Option<u32>,
    /// The device sampler, built on first use for its vocabulary size, or why it could not be.
    sampler: Option<(usize, Result<zaya_wgpu::DeviceSampler, String>)>,
}

impl GpuEngine {
    pub fn new(
        bundle: &Bundle,
        options: &EngineOptions,
        on_stage: &mut dyn FnMut(LoadStage),
    ) -> Result<Self, EngineError> {
        options.validate()?;
        let config = &bundle.config;
        on_stage(LoadStage::BuildGraph);
        let greedy_columns = options.columns.unwrap_or(config.vocab_size);
        let graph = decode_graph(bundle, options)?;
        on_stage(LoadStage::BindWeights);
        let ctx = zaya_wgpu::GpuContext::new(&zaya_wgpu::AdapterChoice {
            name: options.adapter.clone(),
        })?;
        let weights = zaya_wgpu::bind_bundle(bundle, &graph)?;
        on_stage(LoadStage::AllocateSession);
        let program = zaya_wgpu::GpuProgram::new(Arc::new(ctx), graph, &weights)?;
        let session = program.session(options.context)?;
        Ok(Self {
            session,
            vocab: config.vocab_size,
            greedy_columns,
            chained: None,
            sampler: None,
        })
    }

    fn check_tokens(&self, tokens: &[u32]) -> Result<(), EngineError> {
        if tokens.is_empty() {
            return Err(EngineError::NoTokens);
        }
        match tokens.iter().find(|&&t| t as usize >= self.vocab) {
            Some(&token) => Err(EngineError::TokenOutOfRange {
                token,
                vocab: self.vocab,
            }),
            None => Ok(()),
        }
    }

    fn forward_tokens(&mut self, tokens: &[u32]) -> Result<Vec<f32>, EngineError> {
        self.check_tokens(tokens)?;
        self.chained = None;
        let (last, head) = tokens.split_last().ok_or(EngineError::NoTokens)?;
        for &token in head {
            self.session.step(token, false)?;
        }
        let logits = self.session.step(*last, true)?;
        logits.ok_or_else(|| {
            EngineError::Gpu(zaya_wgpu::GpuError::UnknownName {
                what: "graph output",
                name: "logits".into(),
            })
        })
    }

    /// Feeds `tokens` and returns the device's greedy choice: every token goes through
    /// `step_greedy`, and a token equal to the previous step's device choice is fed from
    /// the GPU buffer instead of the host.
    fn forward_greedy(&mut self, tokens: &[u32]) -> Result<u32, EngineError> {
        self.check_tokens(tokens)?;
        let mut chosen = 0;
        for &token in tokens {
            let feed = match self.chained {
                Some(c) if c == token => zaya_wgpu::Feed::Previous,
                _ => zaya_wgpu::Feed::Token(token),
            };
            chosen = self.session.step_greedy(feed)?;
            self.chained = Some(chosen);
        }
        Ok(chosen)
    }

    /// The device sampler for `vocab` samplable columns, built on first use; `Err` carries
    /// why the device cannot sample (reported on stderr once, then the CPU samples).
    fn device_sampler(&mut self, vocab: usize) -> Option<&mut zaya_wgpu::DeviceSampler> {
        if self.sampler.as_ref().is_none_or(|(v, _)| *v != vocab) {
            let built = self
                .session
                .device_sampler(vocab)
                .map_err(|e| e.to_string());
            if let Err(reason) = &built {
                eprintln!(
                    "note: the GPU cannot sample ({reason}); logits are read back and sampled on the CPU"
                );
            }
            self.sampler = Some((vocab, built));
        }
        self.sampler.as_mut().and_then(|(_, s)| s.as_mut().ok())
    }

    /// Feeds `tokens` and lets the device sampler pick the next one (4-byte read-back).
    fn forward_sampled(
        &mut self,
        tokens: &[u32],
        settings: &zaya_wgpu::SampleSettings,
        history: &[u32],
        uniform: f64,
        vocab: usize,
    ) -> Result<u32, EngineError> {
        self.check_tokens(tokens)?;
        let (&last, head) = tokens.split_last().ok_or(EngineError::NoTokens)?;
        for &token in head {
            self.chained = None;
            self.session.step(token, false)?;
        }
        let feed = match self.chained {
            Some(c) if c == last => zaya_wgpu::Feed::Previous,
            _ => zaya_wgpu::Feed::Token(last),
        };
        self.chained = None;
        // Built by `forward_and_sample` before anything was fed.
        let Some((_, Ok(sampler))) = self.sampler.as_mut().filter(|(v, _)| *v == vocab) else {
            return Err(EngineError::Gpu(zaya_wgpu::GpuError::InvalidSampler {
                field: "device",
                reason: format!("no sampler was built for a vocabulary of {vocab}"),
            }));
        };
        let chosen = self
            .session
            .step_sampled(feed, sampler, settings, history, uniform)?;
        self.chained = Some(chosen);
        Ok(chosen)
    }
}

impl TokenModel for GpuEngine {
    fn forward(&mut self, tokens: &[u32]) -> Result<Vec<f32>, ModelFailure> {
        Ok(self.forward_tokens(tokens)?)
    }

    fn logits_len(&self) -> usize {
        self.vocab
    }

    fn context_len(&self) -> usize {
        self.session.capacity()
    }

    fn position(&self) -> usize {
        self.session.position()
    }

    fn reset(&mut self) {
        self.chained = None;
        // A failed reset leaves the device unusable; the next step reports the error.
        let _ = self.session.reset();
    }

    /// Every setting is decided on the device with a 4-byte read-back: plain greedy over
    /// the graph's masked argmax when it covers exactly the sampler's columns, anything else
    /// (penalty, temperature, top-k/p, min-p, another vocab size) by the device sampler,
    /// which consumes the sampler's seeded uniforms exactly as `Sampler::sample` would (one
    /// per non-greedy pick), so a seed gives the CPU backend's picks. Only a device that
    /// cannot build the sampler falls back to reading the logits back.
    fn forward_and_sample(
        &mut self,
        tokens: &[u32],
        sampler: &mut zaya_chat::Sampler,
        history: &[u32],
    ) -> Result<u32, ModelFailure> {
        let config = sampler.config();
        let vocab = sampler.vocab_size().min(self.vocab);
        if config.is_greedy() && config.repetition_penalty == 1.0 && vocab == self.greedy_columns {
            return Ok(self.forward_greedy(tokens)?);
        }
        let settings = zaya_wgpu::SampleSettings {
            temperature: config.temperature,
            top_k: config.top_k,
            top_p: config.top_p,
            min_p: config.min_p,
            repetition_penalty: config.repetition_penalty,
        };
        if self.device_sampler(vocab).is_none() {
            let logits = self.forward(tokens)?;
            return Ok(sampler.sample(&logits, history)?);
        }
        let uniform = if settings.is_greedy() {
            0.0
        } else {
            sampler.uniform()
        };
        Ok(self.forward_sampled(tokens, &settings, history, uniform, vocab)?)
    }
}
