//! The one place a bundle becomes a running model, for every caller (`run`, `chat`, `smoke`,
//! `eval`, `bench`, a server, the tests).
//!
//! - [`Backend`] names where a graph runs (the one backend enum of the CLI, the engine and the
//!   benchmarks); [`Device`] is an opened backend and the only place that matches on it:
//!   [`Device::bind`] / [`Device::bind_module`] turn a bundle and a graph (or a module of
//!   decode and prefill functions) into a backend-neutral [`zaya_ir::Executor`].
//! - [`Model`] is a loaded model: the shared bundle, the optimized decode graph (and, where
//!   the backend runs them, the prefill graphs: [`engine_module`]) bound to its weights once. `Send + Sync` and without borrowed lifetimes, so a server holds an
//!   `Arc<Model>` and serves many sequences from it.
//! - [`Session`] is one sequence of a model (its KV caches, conv and value states, position),
//!   and the [`zaya_chat::TokenModel`] that generation and chat run on. Sessions of one model
//!   are independent: they can be interleaved or live on different threads.
//!
//! ```no_run
//! # fn main() -> Result<(), zaya_graph::engine::EngineError> {
//! use std::sync::Arc;
//! use zaya_graph::engine::{EngineOptions, Model};
//! let bundle = Arc::new(zaya_model::Bundle::open("/path/to/bundle".as_ref())?);
//! let model = Arc::new(Model::load(bundle, &EngineOptions::cpu(4096), &mut |_| {})?);
//! let mut a = model.session()?; // one conversation
//! let mut b = model.session()?; // another, sharing the weights
//! let logits = a.forward_tokens(&[2, 105])?;
//! b.forward_tokens(&[2])?;
//! # let _ = logits; Ok(()) }
//! ```

use std::sync::Arc;

use zaya_chat::{ModelFailure, TokenModel, Tokenizer};
use zaya_ir::exec::{ExecError, ExecSession, Executor, Feed, Input, LOGITS, SampleSettings};
use zaya_ir::{Graph, GraphError};
use zaya_model::graph::{GraphOptions, build_decode_graph_with};
use zaya_model::{Bundle, Config, KvDtype, ModelError, SkipMode};

/// Where a graph runs: the one backend enum of the CLI, the engine and the benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The best hardware GPU adapter, else the CPU interpreter (a software adapter such as
    /// lavapipe counts as none: it is slower than the interpreter on this model).
    #[default]
    Auto,
    /// The reference interpreter (`zaya-cpu`): exact, portable, slow on the full model.
    Cpu,
    /// The wgpu backend (`zaya-wgpu`; `--adapter NAME`, `WGPU_BACKEND=vulkan|metal|gl|dx12`).
    Wgpu,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Auto => "auto",
            Backend::Cpu => "cpu",
            Backend::Wgpu => "wgpu",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An opened backend: the CPU, or a GPU device (its context is shared by every executor
/// bound on it). The only place that matches on [`Backend`].
#[derive(Clone, Debug)]
pub enum Device {
    Cpu,
    Gpu(Arc<zaya_wgpu::GpuContext>),
}

impl Device {
    /// Opens `backend`; `adapter` (a case-insensitive substring of the adapter's name) only
    /// for the wgpu backend.
    pub fn open(backend: Backend, adapter: Option<&str>) -> Result<Device, EngineError> {
        match backend {
            // Naming an adapter is choosing the GPU.
            Backend::Auto if adapter.is_some() => Device::open(Backend::Wgpu, adapter),
            Backend::Auto => {
                let hardware = zaya_wgpu::list_adapters().iter().any(|a| !a.is_software());
                // Adapters are ranked hardware first, so the wgpu default is the best one.
                Device::open(
                    if hardware {
                        Backend::Wgpu
                    } else {
                        Backend::Cpu
                    },
                    None,
                )
            }
            Backend::Cpu => match adapter {
                Some(name) => Err(EngineError::AdapterOnCpu(name.to_string())),
                None => Ok(Device::Cpu),
            },
            Backend::Wgpu => Ok(Device::Gpu(Arc::new(zaya_wgpu::GpuContext::new(
                &zaya_wgpu::AdapterChoice {
                    name: adapter.map(str::to_string),
                },
            )?))),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Device::Cpu => Backend::Cpu,
            Device::Gpu(_) => Backend::Wgpu,
        }
    }

    /// Binds a module (decode and prefill functions) to `bundle` once, each weight once for
    /// every function. A module without prefill functions gives sessions that answer
    /// `prefill` with [`ExecError::Unsupported`]; callers then feed prompts token by token.
    pub fn bind_module(
        &self,
        bundle: &Arc<Bundle>,
        module: zaya_ir::Module,
    ) -> Result<Arc<dyn Executor>, EngineError> {
        self.bind_module_with(bundle, module, &BindOptions::default())
    }

    /// [`Self::bind_module`] with [`BindOptions`] (they concern the GPU's program).
    pub fn bind_module_with(
        &self,
        bundle: &Arc<Bundle>,
        module: zaya_ir::Module,
        options: &BindOptions,
    ) -> Result<Arc<dyn Executor>, EngineError> {
        match self {
            Device::Cpu => {
                Ok(zaya_cpu::Program::from_bundle_module(bundle, module)? as Arc<dyn Executor>)
            }
            Device::Gpu(ctx) => {
                let program_options = zaya_wgpu::ProgramOptions {
                    matvec: options
                        .untuned
                        .then(|| zaya_wgpu::tune::untuned_target(ctx)),
                    ..Default::default()
                };
                let chunk = module.prefill_chunks().first().copied();
                let bound = zaya_wgpu::GpuProgram::from_bundle_module(
                    Arc::clone(ctx),
                    bundle,
                    module,
                    &program_options,
                    options.shared.as_deref(),
                );
                match (bound, chunk) {
                    // Only a prefill graph can exceed what the decode lowering handles (a
                    // chunk above the matmul's token limit): say which flag to change
                    // rather than quietly feeding the prompt token by token.
                    (Err(e @ zaya_wgpu::GpuError::Unsupported { .. }), Some(chunk)) => {
                        Err(EngineError::PrefillChunk {
                            chunk,
                            reason: e.to_string(),
                        })
                    }
                    (bound, _) => Ok(bound? as Arc<dyn Executor>),
                }
            }
        }
    }

    /// Binds `graph`'s weights to `bundle` once (the CPU reads the shared memory map, a GPU
    /// uploads them still packed) and validates it for this backend.
    pub fn bind(
        &self,
        bundle: &Arc<Bundle>,
        graph: Graph,
    ) -> Result<Arc<dyn Executor>, EngineError> {
        Ok(match self {
            Device::Cpu => zaya_cpu::Program::from_bundle(bundle, graph)? as Arc<dyn Executor>,
            Device::Gpu(ctx) => zaya_wgpu::GpuProgram::from_bundle(Arc::clone(ctx), bundle, graph)?
                as Arc<dyn Executor>,
        })
    }

    /// One upload of `bundle`'s weights that programs bound with it share (GPU only; the
    /// CPU never copies weights).
    pub fn shared_weights(&self, bundle: &Arc<Bundle>) -> Option<Arc<zaya_wgpu::SharedWeights>> {
        match self {
            Device::Cpu => None,
            Device::Gpu(ctx) => Some(Arc::new(zaya_wgpu::SharedWeights::new(ctx, bundle))),
        }
    }

    /// Whether `zaya-graph tune` left variants for this device that programs will use.
    pub fn is_tuned(&self) -> bool {
        match self {
            Device::Cpu => false,
            Device::Gpu(ctx) => {
                zaya_wgpu::tune::load(&ctx.summary).is_some_and(|c| !c.shapes.is_empty())
            }
        }
    }

    /// The device in words (`CPU interpreter (8 threads)`, `NVIDIA ... (Vulkan, DiscreteGpu)`).
    pub fn describe(&self) -> String {
        match self {
            Device::Cpu => format!(
                "CPU interpreter ({} threads)",
                std::thread::available_parallelism().map_or(1, |n| n.get())
            ),
            Device::Gpu(ctx) => format!(
                "{} ({}, {})",
                ctx.summary.name, ctx.summary.backend, ctx.summary.device_type
            ),
        }
    }

    /// This backend's rules for the optimizer's plan (launches, binding budget, alignment).
    pub fn target(&self) -> zaya_ir::Target {
        match self {
            Device::Cpu => zaya_cpu::TARGET,
            Device::Gpu(ctx) => zaya_wgpu::target(&ctx.limits()),
        }
    }

    /// The strategy this device runs when none is given: every fusion on a GPU (fewer
    /// launches and less memory traffic); none on the CPU interpreter, which executes a fused
    /// group instruction by instruction at the same speed, so the passes would only cost load
    /// time.
    pub fn default_strategy(&self) -> &'static str {
        match self {
            Device::Cpu => STRATEGY_NONE,
            Device::Gpu(_) => STRATEGY_ALL,
        }
    }

    /// The longest prefill chunk this device runs when `--chunk` is not given (0 = token by
    /// token). The CPU prefills in chunks of [`DEFAULT_PREFILL_CHUNK`] (several times faster
    /// than token by token, docs/BENCHMARKS.md). A GPU takes what `zaya-graph tune` measured
    /// on it (batched against token by token); untuned, a software adapter (lavapipe, where
    /// the batched kernels are compute-bound and slower) goes token by token and a hardware
    /// one batched, which reads each weight once per block of tokens instead of once per
    /// token.
    pub fn default_prefill_chunk(&self) -> usize {
        match self {
            Device::Cpu => DEFAULT_PREFILL_CHUNK,
            Device::Gpu(ctx) => match zaya_wgpu::tune::load(&ctx.summary).and_then(|c| c.prefill) {
                Some(measured) => measured.chosen_chunk(),
                None if ctx.summary.is_software() => 0,
                None => DEFAULT_PREFILL_CHUNK,
            },
        }
    }

    /// Which matvec kernels the device runs: the variants `zaya-graph tune` chose for this
    /// adapter (its cache file) or the defaults.
    pub fn kernels(&self) -> String {
        match self {
            Device::Cpu => "interpreter kernels".into(),
            Device::Gpu(ctx) => match zaya_wgpu::tune::load(&ctx.summary) {
                Some(cache) => format!(
                    "tuned kernels ({} shapes{})",
                    cache.shapes.len(),
                    zaya_wgpu::tune::cache_path(&ctx.summary)
                        .map_or(String::new(), |p| format!(", {}", p.display()))
                ),
                None => "default kernels (not tuned: `zaya-graph tune`)".into(),
            },
        }
    }

    /// Whether kernels can be timed one by one on the device.
    pub fn timestamps(&self) -> bool {
        matches!(self, Device::Gpu(ctx) if ctx.features.timestamp_query)
    }
}

/// How [`Device::bind_with`] binds a graph.
#[derive(Clone, Debug, Default)]
pub struct BindOptions {
    /// Run the device's default kernels even where `zaya-graph tune` chose others.
    pub untuned: bool,
    /// Weights uploaded once for several programs ([`Device::shared_weights`]).
    pub shared: Option<Arc<zaya_wgpu::SharedWeights>>,
}

/// The graph exactly as built (the reference of every strategy; the CPU's default).
pub const STRATEGY_NONE: &str = "none";
/// Every fusion (a GPU's default).
pub const STRATEGY_ALL: &str = "all";

/// How to build an engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineOptions {
    pub backend: Backend,
    /// What a MoE layer does with tokens routed to the skip expert (spec §4).
    pub skip: SkipMode,
    /// Element type of the KV caches (`--kv-dtype`).
    pub kv_cache: KvDtype,
    /// Session capacity in tokens: the prompt plus everything generated must fit.
    pub context: usize,
    /// Fusion strategy (`--strategy`: `none`, `dequant`, `dequant+epilogue`, `cca`, `all`, or
    /// a `+`-composition); `None` means the device's default ([`Device::default_strategy`]).
    pub strategy: Option<String>,
    /// GPU adapter name (case-insensitive substring, `--adapter`); `None` picks the best.
    /// `WGPU_BACKEND` narrows the backends searched.
    pub adapter: Option<String>,
    /// Logit columns a token can stand for (the tokenizer's vocabulary); `None` = all. The
    /// wgpu engine restricts its on-device greedy argmax to them, so greedy decoding never
    /// reads the logits back even when the model pads its vocabulary (ZAYA1-8B, the demo).
    pub columns: Option<usize>,
    /// Longest prompt chunk of batched prefill (`--chunk`); 0 = feed prompts token by token
    /// through the decode graph; `None` = the device's default
    /// ([`Device::default_prefill_chunk`]). The CPU and wgpu backends both run the prefill
    /// graphs.
    pub prefill_chunk: Option<usize>,
    /// Whether the prefill functions also compute every position's logits
    /// ([`zaya_ir::ALL_LOGITS`], for `eval`); otherwise only the last token's.
    pub prefill_logits: bool,
}

/// The default longest prefill chunk: long enough that a weight row decoded once serves
/// many tokens, short enough that the chunk's activations stay small.
pub const DEFAULT_PREFILL_CHUNK: usize = 64;

impl EngineOptions {
    /// The graph-shaping part of the options.
    pub fn graph_options(&self) -> GraphOptions {
        GraphOptions {
            skip: self.skip,
            kv_cache: self.kv_cache,
        }
    }

    /// Options for the CPU backend with the default skip semantics and no optimization.
    pub fn cpu(context: usize) -> Self {
        Self {
            backend: Backend::Cpu,
            skip: SkipMode::default(),
            kv_cache: KvDtype::default(),
            context,
            strategy: None,
            adapter: None,
            columns: None,
            prefill_chunk: None,
            prefill_logits: false,
        }
    }

    /// These options with the strategy and the prefill chunk resolved for `device` (its
    /// defaults where none is given).
    pub fn on(&self, device: &Device) -> EngineOptions {
        EngineOptions {
            backend: device.backend(),
            strategy: Some(
                self.strategy
                    .clone()
                    .unwrap_or_else(|| device.default_strategy().to_string()),
            ),
            prefill_chunk: Some(
                self.prefill_chunk
                    .unwrap_or_else(|| device.default_prefill_chunk()),
            ),
            ..self.clone()
        }
    }

    /// The longest prefill chunk these options ask for (0 = token by token); unresolved
    /// options (not yet [`Self::on`] a device) mean the CPU's default.
    pub fn prefill_chunk(&self) -> usize {
        self.prefill_chunk.unwrap_or(DEFAULT_PREFILL_CHUNK)
    }

    /// Rejects settings no engine can honour, before any weight is touched.
    pub fn validate(&self) -> Result<(), EngineError> {
        if self.context == 0 {
            return Err(EngineError::ZeroContext);
        }
        check_strategy(self.strategy.as_deref()).map(|_| ())
    }
}

pub use zaya_model::graph::STRATEGIES;

/// Parses a strategy for ZAYA graphs: the optimizer's generic components plus the scope
/// fusions the model's builder declares ([`zaya_model::graph::scope_fusions`], the same
/// as every built graph's `fusions`).
pub fn parse_strategy(spec: &str) -> Result<zaya_opt::Strategy, zaya_opt::OptError> {
    zaya_opt::Strategy::parse(spec, &zaya_model::graph::scope_fusions())
}

/// Resolves `--strategy` (callers check it before loading anything, so a typo fails fast).
pub fn check_strategy(strategy: Option<&str>) -> Result<zaya_opt::Strategy, EngineError> {
    parse_strategy(strategy.unwrap_or(STRATEGY_NONE)).map_err(EngineError::Strategy)
}

/// Everything that can go wrong between an opened bundle and the first logits.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("--strategy: {0}")]
    Strategy(zaya_opt::OptError),

    #[error(
        "--chunk {chunk}: this backend cannot run batched prefill of that chunk ({reason}); use a smaller --chunk, or --chunk 0 for token by token"
    )]
    PrefillChunk { chunk: usize, reason: String },

    #[error("the context must hold at least 1 token (--context)")]
    ZeroContext,

    #[error(
        "the tokenizer has {tokenizer} token ids but the model has only {model} (vocab_size in config.json): the tokenizer does not belong to this model"
    )]
    VocabMismatch { tokenizer: usize, model: usize },

    #[error("token id {token} is out of range for the model's vocabulary of {vocab}")]
    TokenOutOfRange { token: u32, vocab: usize },

    #[error("the graph has no f32 `{LOGITS}` output")]
    MissingLogits,

    #[error("nothing to feed: a forward pass needs at least one token")]
    NoTokens,

    #[error("--adapter {0}: only the wgpu backend chooses an adapter")]
    AdapterOnCpu(String),

    #[error(transparent)]
    Exec(#[from] ExecError),

    #[error(transparent)]
    Model(#[from] ModelError),

    #[error("cannot build the decode graph: {0}")]
    Graph(#[from] GraphError),

    #[error(transparent)]
    Cpu(#[from] zaya_cpu::CpuError),

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
/// `next_token` restricted to `options.columns`, optimized by `options.strategy` (or
/// [`STRATEGY_NONE`] when it is `None`; [`Model::load`] puts the device's default there).
pub fn decode_graph(
    bundle: &Bundle,
    options: &EngineOptions,
) -> Result<zaya_ir::Graph, EngineError> {
    let strategy = check_strategy(options.strategy.as_deref())?;
    let config = &bundle.config;
    let mut graph = build_decode_graph_with(config, bundle, options.graph_options())?;
    // Before optimizing, so the unmasked argmax is dead code that `dce` removes.
    zaya_model::graph::mask_next_token(&mut graph, options.columns.unwrap_or(config.vocab_size))?;
    let (graph, _) = strategy.apply(&graph).map_err(EngineError::Strategy)?;
    Ok(graph)
}

/// The functions every engine runs: [`decode_graph`], plus (when `options.prefill_chunk` is
/// set) prefill graphs for chunks of up to that many tokens with the same `next_token`
/// mask. The strategy optimizes the decode graph only; the backends run the prefill graphs
/// unfused (every strategy leaves them valid: `tests/prefill_cpu.rs`).
pub fn engine_module(
    bundle: &Bundle,
    options: &EngineOptions,
) -> Result<zaya_ir::Module, EngineError> {
    let decode = decode_graph(bundle, options)?;
    if options.prefill_chunk() == 0 {
        return Ok(zaya_ir::Module::decode_only(decode));
    }
    let config = &bundle.config;
    let mut prefill = zaya_model::graph::prefill_functions(
        config,
        bundle,
        options.graph_options(),
        options.prefill_chunk(),
        options.prefill_logits,
    )?;
    for f in &mut prefill {
        zaya_model::graph::mask_next_token(
            &mut f.graph,
            options.columns.unwrap_or(config.vocab_size),
        )?;
        // The unmasked argmax is dead; drop it as the decode graph's strategies do.
        f.graph.eliminate_dead_code();
    }
    Ok(zaya_ir::Module::new(decode, prefill)?)
}

/// Steps of loading a model, reported so a caller can show progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadStage {
    /// Building the decode graph from the config and the stored weight formats.
    BuildGraph,
    /// Binding every graph weight to the bundle's (memory-mapped) tensors.
    BindWeights,
    /// Validating the program and building what every session shares (GPU pipelines).
    AllocateSession,
}

impl LoadStage {
    /// Number of stages, for a progress bar's length.
    pub const COUNT: usize = 3;

    pub fn describe(self) -> &'static str {
        match self {
            LoadStage::BuildGraph => "building the decode graph",
            LoadStage::BindWeights => "binding weights",
            LoadStage::AllocateSession => "preparing the executor",
        }
    }
}

/// A loaded model: the shared bundle and its optimized decode graph, bound to the weights
/// once on one device. `Send + Sync`; open any number of [`Session`]s.
pub struct Model {
    bundle: Arc<Bundle>,
    executor: Arc<dyn Executor>,
    device: Device,
    /// Session capacity when none is given ([`EngineOptions::context`]).
    context: usize,
    /// Columns the graph's greedy `next_token` ranges over.
    greedy_columns: usize,
    /// The strategy the graph was optimized with, and whether it was the device's default.
    strategy: String,
    strategy_defaulted: bool,
    kv_cache: KvDtype,
    /// Longest batched prefill chunk (0: prompts go token by token).
    prefill_chunk: usize,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("bundle", &self.bundle.dir)
            .field("backend", &self.device.backend())
            .field("context", &self.context)
            .finish()
    }
}

impl Model {
    /// Builds the decode graph of `bundle` for `options` and binds it on `options.backend`.
    pub fn load(
        bundle: Arc<Bundle>,
        options: &EngineOptions,
        on_stage: &mut dyn FnMut(LoadStage),
    ) -> Result<Model, EngineError> {
        options.validate()?;
        on_stage(LoadStage::BuildGraph);
        // The device first: it decides the default strategy.
        let device = Device::open(options.backend, options.adapter.as_deref())?;
        let defaulted = options.strategy.is_none();
        let options = options.on(&device);
        let module = engine_module(&bundle, &options)?;
        on_stage(LoadStage::BindWeights);
        on_stage(LoadStage::AllocateSession);
        Model::bind(bundle, &device, module, &options, defaulted)
    }

    /// [`Self::load`] on an already opened device (several models can share one GPU).
    pub fn load_on(
        bundle: Arc<Bundle>,
        device: &Device,
        options: &EngineOptions,
    ) -> Result<Model, EngineError> {
        options.validate()?;
        let defaulted = options.strategy.is_none();
        let options = options.on(device);
        let module = engine_module(&bundle, &options)?;
        Model::bind(bundle, device, module, &options, defaulted)
    }

    fn bind(
        bundle: Arc<Bundle>,
        device: &Device,
        module: zaya_ir::Module,
        options: &EngineOptions,
        strategy_defaulted: bool,
    ) -> Result<Model, EngineError> {
        let executor = device.bind_module(&bundle, module)?;
        Ok(Model {
            strategy: options.strategy.clone().unwrap_or(STRATEGY_NONE.into()),
            strategy_defaulted,
            greedy_columns: options.columns.unwrap_or(bundle.config.vocab_size),
            context: options.context,
            kv_cache: options.kv_cache,
            prefill_chunk: options.prefill_chunk(),
            device: device.clone(),
            executor,
            bundle,
        })
    }

    /// A new sequence with the model's default capacity ([`EngineOptions::context`]).
    pub fn session(&self) -> Result<Session, EngineError> {
        self.session_with_capacity(self.context)
    }

    /// A new sequence with room for `capacity` tokens (its KV caches are sized to it).
    pub fn session_with_capacity(&self, capacity: usize) -> Result<Session, EngineError> {
        if capacity == 0 {
            return Err(EngineError::ZeroContext);
        }
        Ok(Session {
            inner: Arc::clone(&self.executor).session(capacity)?,
            vocab: self.bundle.config.vocab_size,
            greedy_columns: self.greedy_columns,
            chained: None,
            sampling: None,
            batched: true,
        })
    }

    pub fn config(&self) -> &Config {
        &self.bundle.config
    }

    pub fn bundle(&self) -> &Arc<Bundle> {
        &self.bundle
    }

    pub fn backend(&self) -> Backend {
        self.device.backend()
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The strategy the graph was optimized with.
    pub fn strategy(&self) -> &str {
        &self.strategy
    }

    /// What this model runs on, in one line: backend and adapter, strategy, KV dtype,
    /// tuned or default kernels, prefill, context (`run`/`chat`/`smoke` print it on stderr).
    pub fn describe_path(&self) -> String {
        let prefill = match self.prefill_chunk {
            0 => "prompts token by token".to_string(),
            n => format!("prefill in chunks of up to {n}"),
        };
        format!(
            "{} backend on {}, strategy {}{}, KV cache {}, {}, {prefill}, context {} tokens",
            self.device.backend(),
            self.device.describe(),
            self.strategy,
            if self.strategy_defaulted {
                " (the device's default)"
            } else {
                ""
            },
            self.kv_cache,
            self.device.kernels(),
            self.context
        )
    }

    /// The bound graph, for callers that run it directly (`eval` reads router choices).
    pub fn executor(&self) -> &Arc<dyn Executor> {
        &self.executor
    }
}

/// One sequence of a [`Model`]: its state and position. A multi-token prompt goes through the
/// backend's batched prefill when it has one (else one decode step per token). Every token is chosen on the backend when it can: greedy
/// settings take the graph's `next_token` argmax (restricted to [`EngineOptions::columns`]),
/// with the chosen id fed back without a host round trip; other settings use the backend's
/// device sampler (the GPU's, fed the CPU sampler's seeded uniforms, so `--seed` reproduces
/// the CPU's picks). A backend without one returns the logits, sampled on the host.
pub struct Session {
    inner: Box<dyn ExecSession>,
    vocab: usize,
    greedy_columns: usize,
    /// The id the backend chose in the last step (already where the next step reads it).
    chained: Option<u32>,
    /// Whether the backend samples over this many columns, or why not (said once).
    sampling: Option<(usize, Result<(), String>)>,
    /// Whether prompts may go through the backend's batched prefill (cleared when the
    /// backend says it has none).
    batched: bool,
}

impl Session {
    /// The backend session underneath (to read outputs other than the logits).
    pub fn exec(&mut self) -> &mut dyn ExecSession {
        self.inner.as_mut()
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

    /// Runs `tokens` through the backend's batched prefill reading `read`, or returns
    /// `None` when the backend has none (said once; the caller steps the decode graph).
    fn try_prefill(
        &mut self,
        tokens: &[u32],
        read: &[&str],
    ) -> Result<Option<Vec<zaya_ir::Tensor>>, EngineError> {
        if !self.batched || tokens.len() < 2 {
            return Ok(None);
        }
        match self.inner.prefill(tokens, read) {
            Ok(out) => Ok(Some(out)),
            Err(ExecError::Unsupported(_)) => {
                self.batched = false;
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Whether this session's prompts go through batched prefill (the engine was built
    /// with a prefill chunk and the backend has prefill functions).
    pub fn batched_prefill(&self) -> bool {
        self.batched
    }

    /// Feeds prompt tokens without reading anything: batched when the backend can, else one
    /// decode step each.
    fn feed_prompt(&mut self, tokens: &[u32]) -> Result<(), EngineError> {
        if self.try_prefill(tokens, &[])?.is_some() {
            return Ok(());
        }
        for &token in tokens {
            self.inner.step(&[Input::U32(&[token])], &[])?;
        }
        Ok(())
    }

    /// Feeds `tokens` (all ids checked first, so a bad one leaves the state untouched) and
    /// returns the logits of the last. Several tokens go through batched prefill when the
    /// backend has it.
    pub fn forward_tokens(&mut self, tokens: &[u32]) -> Result<Vec<f32>, EngineError> {
        self.check_tokens(tokens)?;
        self.chained = None;
        if let Some(out) = self.try_prefill(tokens, &[LOGITS])? {
            return out
                .into_iter()
                .next()
                .and_then(zaya_ir::Tensor::into_f32)
                .ok_or_else(|| EngineError::MissingLogits);
        }
        let (last, head) = tokens.split_last().ok_or(EngineError::NoTokens)?;
        self.feed_prompt(head)?;
        let out = self.inner.step(&[Input::U32(&[*last])], &[LOGITS])?;
        out.into_iter()
            .next()
            .and_then(zaya_ir::Tensor::into_f32)
            .ok_or_else(|| EngineError::MissingLogits)
    }

    /// How a token equal to the last chosen one is fed: from where the backend left it.
    fn feed(&self, token: u32) -> Feed {
        match self.chained {
            Some(c) if c == token => Feed::Previous,
            _ => Feed::Token(token),
        }
    }

    /// Feeds `tokens` and returns the backend's greedy choice.
    pub fn forward_greedy(&mut self, tokens: &[u32]) -> Result<u32, EngineError> {
        self.check_tokens(tokens)?;
        let (&last, head) = tokens.split_last().ok_or(EngineError::NoTokens)?;
        if head.len() >= 2 && self.batched {
            // All but the last in batched prefill; the last chooses on the backend.
            self.chained = None;
            self.feed_prompt(head)?;
        } else {
            for &token in head {
                let chosen = self.inner.step_greedy(self.feed(token))?;
                self.chained = Some(chosen);
            }
        }
        let chosen = self.inner.step_greedy(self.feed(last))?;
        self.chained = Some(chosen);
        Ok(chosen)
    }

    /// Whether the backend samples over `vocab` columns (prepared on first use; why not is
    /// reported on stderr once, then the host samples).
    fn samples_on_device(&mut self, vocab: usize) -> bool {
        if self.sampling.as_ref().is_none_or(|(v, _)| *v != vocab) {
            let prepared = self.inner.prepare_sampling(vocab);
            // A backend without a device sampler is the ordinary case; a GPU that could not
            // build one is worth a note.
            if let Err(e) = &prepared
                && !matches!(e, ExecError::Unsupported(_))
            {
                eprintln!(
                    "note: the device cannot sample ({e}); logits are read back and sampled on the host"
                );
            }
            self.sampling = Some((vocab, prepared.map_err(|e| e.to_string())));
        }
        matches!(&self.sampling, Some((_, Ok(()))))
    }

    /// Feeds `tokens` and lets the backend's sampler pick the next one.
    fn forward_sampled(
        &mut self,
        tokens: &[u32],
        settings: &SampleSettings,
        history: &[u32],
        uniform: f64,
        vocab: usize,
    ) -> Result<u32, EngineError> {
        self.check_tokens(tokens)?;
        let (&last, head) = tokens.split_last().ok_or(EngineError::NoTokens)?;
        if !head.is_empty() {
            self.chained = None;
            self.feed_prompt(head)?;
        }
        let feed = self.feed(last);
        self.chained = None;
        let chosen = self
            .inner
            .step_sampled(feed, vocab, settings, history, uniform)?;
        self.chained = Some(chosen);
        Ok(chosen)
    }
}

impl TokenModel for Session {
    fn forward(&mut self, tokens: &[u32]) -> Result<Vec<f32>, ModelFailure> {
        Ok(self.forward_tokens(tokens)?)
    }

    fn logits_len(&self) -> usize {
        self.vocab
    }

    fn context_len(&self) -> usize {
        self.inner.capacity()
    }

    fn position(&self) -> usize {
        self.inner.position()
    }

    fn reset(&mut self) {
        self.chained = None;
        // A failed reset leaves the device unusable; the next step reports the error.
        let _ = self.inner.reset();
    }

    /// Every setting is decided on the backend when it can: plain greedy over the graph's
    /// masked argmax when it covers exactly the sampler's columns, anything else (penalty,
    /// temperature, top-k/p, min-p, another vocab size) by the backend's device sampler, which
    /// consumes the sampler's seeded uniforms exactly as `Sampler::sample` would (one per
    /// non-greedy pick), so a seed gives the same picks on every backend. A backend without a
    /// device sampler reads the logits back and the host samples.
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
        let settings = SampleSettings {
            temperature: config.temperature,
            top_k: config.top_k,
            top_p: config.top_p,
            min_p: config.min_p,
            repetition_penalty: config.repetition_penalty,
        };
        if !self.samples_on_device(vocab) {
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
