//! The executor seam: what every backend implements, so that callers (the engine, `eval`,
//! the benchmarks, the tests) hold a bound graph and its sessions without knowing which
//! backend runs them.
//!
//! - An [`Executor`] is a graph bound to its weights on one backend (weights bound once,
//!   shared by every session). It is `Send + Sync`: one executor serves many sequences, one
//!   after another or side by side.
//! - An [`ExecSession`] is one sequence: its persistent state (KV caches sized to the
//!   session's capacity, conv and value states) and its position. [`ExecSession::step`] runs
//!   the graph once with inputs and reads back the outputs asked for.
//!
//! The names every backend and caller share live here too: [`LOGITS`], [`NEXT_TOKEN`], and
//! the run-time symbols ([`SymbolKind`]).

use crate::Graph;
use thiserror::Error;

/// The graph output holding the logits of the last token.
pub const LOGITS: &str = "logits";
/// The output of a prefill function holding the logits of every token of its chunk
/// (`[T, vocab]`), present when the module was built for evaluation.
pub const ALL_LOGITS: &str = "prefill_logits";
/// The graph output holding the greedy choice (argmax of the logits, `u32[1]`).
pub const NEXT_TOKEN: &str = "next_token";

/// The largest session capacity: symbol values (positions, `ctx`) are `u32` in every graph.
pub const MAX_CAPACITY: usize = u32::MAX as usize;

/// The run-time quantities a graph may read, as `u32[1]` values. Every backend binds both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SymbolKind {
    /// The session's capacity in tokens (the KV caches' length), bound when it is opened.
    Ctx,
    /// Tokens consumed so far, bound per step.
    Pos,
}

impl SymbolKind {
    /// The name in the text form and in shapes (`ctx`, `pos`).
    pub fn name(self) -> &'static str {
        match self {
            SymbolKind::Ctx => "ctx",
            SymbolKind::Pos => "pos",
        }
    }

    /// The value of this symbol in a session of `capacity` at `position` (both at most
    /// [`MAX_CAPACITY`], which sessions check when they open).
    pub fn value(self, capacity: usize, position: usize) -> usize {
        match self {
            SymbolKind::Ctx => capacity,
            SymbolKind::Pos => position,
        }
    }
}

/// What a backend tells the optimizer's plan about itself, so the plan's launch and binding
/// figures follow the backend's rules instead of copies of them. Each backend exports its own
/// (`zaya_cpu::TARGET`, `zaya_wgpu::target(&limits)`) and [`Executor::target`] returns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Target {
    /// Storage buffers one kernel may bind; a fused group over the budget runs as one kernel
    /// per instruction. `u32::MAX`: no limit.
    pub max_storage_bindings: u32,
    /// Largest argmax (input elements) a kernel finishes in its own launch; a larger one
    /// takes a second launch that reduces per-workgroup partial maxima. `u64::MAX`: always one.
    pub one_pass_argmax: u64,
    /// Alignment of activation offsets in bytes (the plan's arena).
    pub align: u64,
}

impl Target {
    /// A target with no limits (what an interpreter is): every kernel one launch, any number
    /// of bindings.
    pub const UNLIMITED: Target = Target {
        max_storage_bindings: u32::MAX,
        one_pass_argmax: u64::MAX,
        align: 4,
    };
}

/// A graph input value for one step.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    U32(&'a [u32]),
    F32(&'a [f32]),
}

impl Input<'_> {
    pub fn len(&self) -> usize {
        match self {
            Input::U32(x) => x.len(),
            Input::F32(x) => x.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A tensor read back from a session.
#[derive(Clone, Debug, PartialEq)]
pub enum Tensor {
    F32(Vec<f32>),
    U32(Vec<u32>),
}

impl Tensor {
    /// Folds one prefill chunk's output `name` into what the earlier chunks gave:
    /// [`LOGITS`] and [`NEXT_TOKEN`] belong to the last token, so the newest chunk's stand;
    /// every other output has a leading token axis and is concatenated.
    pub fn fold_chunk(name: &str, so_far: Option<Tensor>, chunk: Tensor) -> Tensor {
        let last_only = name == LOGITS || name == NEXT_TOKEN;
        match (so_far, chunk) {
            (Some(Tensor::F32(mut a)), Tensor::F32(b)) if !last_only => {
                a.extend(b);
                Tensor::F32(a)
            }
            (Some(Tensor::U32(mut a)), Tensor::U32(b)) if !last_only => {
                a.extend(b);
                Tensor::U32(a)
            }
            (_, chunk) => chunk,
        }
    }

    pub fn as_f32(&self) -> Option<&[f32]> {
        match self {
            Tensor::F32(v) => Some(v),
            Tensor::U32(_) => None,
        }
    }

    pub fn as_u32(&self) -> Option<&[u32]> {
        match self {
            Tensor::U32(v) => Some(v),
            Tensor::F32(_) => None,
        }
    }

    pub fn into_f32(self) -> Option<Vec<f32>> {
        match self {
            Tensor::F32(v) => Some(v),
            Tensor::U32(_) => None,
        }
    }
}

/// Where a chained step's token comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feed {
    /// A token from the host (a prompt token).
    Token(u32),
    /// The token the previous chained step chose, already where the next step reads it
    /// (on a GPU: copied into the token input buffer on the device).
    Previous,
}

/// Sampling settings a backend may apply on the device (zaya-chat's `SamplerConfig` without
/// the seed: the randomness comes from the host as one uniform per draw).
#[derive(Clone, Debug, PartialEq)]
pub struct SampleSettings {
    /// 0 = greedy. Finite and >= 0.
    pub temperature: f32,
    /// Keep the k most likely tokens; 0 = off.
    pub top_k: usize,
    /// Nucleus mass in (0, 1]; 1 = off.
    pub top_p: f32,
    /// Minimum probability relative to the top token, in [0, 1]; 0 = off.
    pub min_p: f32,
    /// HF repetition penalty over the history, finite and > 0; 1 = off.
    pub repetition_penalty: f32,
}

impl SampleSettings {
    /// Argmax decoding.
    pub fn greedy() -> Self {
        Self {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repetition_penalty: 1.0,
        }
    }

    /// True when the pick is the argmax (no uniform is consumed), as on the CPU.
    pub fn is_greedy(&self) -> bool {
        self.temperature == 0.0 || self.top_k == 1
    }

    /// The first setting the CPU sampler rejects, as (field, reason).
    pub fn invalid(&self) -> Option<(&'static str, String)> {
        let bad =
            |field, reason: &str, value: f32| Some((field, format!("{reason} (got {value})")));
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            return bad("temperature", "must be finite and >= 0", self.temperature);
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("top_p", "must be in (0, 1]", self.top_p);
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return bad("min_p", "must be in [0, 1]", self.min_p);
        }
        if !self.repetition_penalty.is_finite() || self.repetition_penalty <= 0.0 {
            return bad(
                "repetition_penalty",
                "must be finite and > 0",
                self.repetition_penalty,
            );
        }
        None
    }
}

/// One kernel's time in a profiled step.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelTime {
    /// The backend's kernel label (e.g. `qmatvec mxfp4`, `rms_norm`).
    pub label: String,
    /// Instructions of the graph the kernel computes.
    pub insts: Vec<usize>,
    /// Workgroups it launched (summed over its dispatches), where the backend has them.
    pub workgroups: Option<u64>,
    pub seconds: f64,
}

/// An error from a backend, behind the seam. The backend's own typed error is the source
/// (downcast it to match on variants); its message is this error's message.
#[derive(Debug, Error)]
pub enum ExecError {
    #[error(transparent)]
    Backend(Box<dyn std::error::Error + Send + Sync + 'static>),
    /// The backend does not offer an optional capability (e.g. sampling on the device).
    #[error("this backend {0}")]
    Unsupported(&'static str),
}

impl ExecError {
    /// Wraps a backend's error.
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        ExecError::Backend(Box::new(e))
    }

    /// The backend's error as `E`, if it is one.
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        match self {
            ExecError::Backend(e) => e.downcast_ref(),
            ExecError::Unsupported(_) => None,
        }
    }
}

pub type ExecResult<T> = Result<T, ExecError>;

/// A graph bound to its weights on one backend. Bind once, open any number of sessions.
pub trait Executor: Send + Sync {
    /// `cpu`, `wgpu`, ...
    fn backend(&self) -> &'static str;

    /// The graph this executor runs.
    fn graph(&self) -> &Graph;

    /// The limits the plan of this executor's graph is modeled against.
    fn target(&self) -> Target;

    /// Starts a sequence with room for `capacity` tokens (its caches are sized to it). The
    /// session shares this executor (`Arc::clone(&executor).session(n)`).
    fn session(self: std::sync::Arc<Self>, capacity: usize) -> ExecResult<Box<dyn ExecSession>>;
}

/// One sequence of an [`Executor`]: state, position and buffers.
pub trait ExecSession: Send {
    /// Tokens consumed so far (the position of the next token).
    fn position(&self) -> usize;

    /// The capacity in tokens the session was opened with.
    fn capacity(&self) -> usize;

    /// Forgets the sequence: zero state, position 0.
    fn reset(&mut self) -> ExecResult<()>;

    /// Runs the graph once with `inputs` (one per graph input, in order), advances the
    /// position, and returns the graph outputs named in `read`, in that order. A GPU
    /// returns without waiting when `read` is empty ([`Self::finish`] waits).
    fn step(&mut self, inputs: &[Input<'_>], read: &[&str]) -> ExecResult<Vec<Tensor>>;

    /// A graph output (or, failing that, a value by its debug name) after the last step.
    fn read(&self, name: &str) -> ExecResult<Tensor>;

    /// The contents of a persistent state by name (caches are `[heads, capacity, dim]`).
    fn read_state(&self, name: &str) -> ExecResult<Vec<f32>>;

    /// One greedy step of a decode graph (one `u32[1]` token input, a [`NEXT_TOKEN`] output):
    /// feeds `feed` and returns the chosen id, which a later `Feed::Previous` feeds back
    /// without a round trip through the host.
    fn step_greedy(&mut self, feed: Feed) -> ExecResult<u32>;

    /// Feeds prompt `tokens` through the executor's prefill functions, in chunks (see
    /// [`crate::Module::plan_prefill`]), advancing the position by `tokens.len()`, and
    /// returns the outputs named in `read` in that order: [`LOGITS`] and [`NEXT_TOKEN`] of
    /// the last token; any other name is an output with a leading token axis (e.g.
    /// [`ALL_LOGITS`], router choices), returned concatenated over the tokens. The state
    /// afterwards equals that of `tokens.len()` decode steps. A backend or executor without
    /// prefill functions says so ([`ExecError::Unsupported`]); the caller then steps the
    /// decode graph token by token.
    fn prefill(&mut self, tokens: &[u32], read: &[&str]) -> ExecResult<Vec<Tensor>> {
        let _ = (tokens, read);
        Err(ExecError::Unsupported("has no batched prefill"))
    }

    /// [`Self::prefill`] with a time per kernel run (over every chunk), or `Ok(None)` (the
    /// prefill still ran) when the backend cannot time kernels separately.
    fn profile_prefill(&mut self, tokens: &[u32]) -> ExecResult<Option<Vec<KernelTime>>> {
        self.prefill(tokens, &[])?;
        self.finish()?;
        Ok(None)
    }

    /// Prepares sampling on the device over the first `vocab` logit columns, or says why
    /// this backend cannot (the caller then reads the logits and samples on the host).
    fn prepare_sampling(&mut self, vocab: usize) -> ExecResult<()> {
        let _ = vocab;
        Err(ExecError::Unsupported("does not sample on the device"))
    }

    /// One step sampled on the device (after [`Self::prepare_sampling`] for `vocab`): feeds
    /// `feed`, picks with `settings`, one host-drawn `uniform`, and the whole context as
    /// `history`; the chosen id is fed back by a later `Feed::Previous`.
    fn step_sampled(
        &mut self,
        feed: Feed,
        vocab: usize,
        settings: &SampleSettings,
        history: &[u32],
        uniform: f64,
    ) -> ExecResult<u32> {
        let _ = (feed, vocab, settings, history, uniform);
        Err(ExecError::Unsupported("does not sample on the device"))
    }

    /// Waits until everything submitted has executed (a no-op on a synchronous backend).
    fn finish(&mut self) -> ExecResult<()> {
        Ok(())
    }

    /// Dispatches the backend records per steady-state step, when it records any.
    fn dispatches_per_step(&self) -> Option<usize> {
        None
    }

    /// Runs one step with a time per kernel, or `Ok(None)` (the step still ran) when the
    /// backend cannot time kernels separately.
    fn profile_step(&mut self, inputs: &[Input<'_>]) -> ExecResult<Option<Vec<KernelTime>>> {
        self.step(inputs, &[])?;
        self.finish()?;
        Ok(None)
    }
}
