//! Typed errors of the wgpu backend. Everything a caller can cause (a bad token, a full
//! context, a graph this backend cannot run, a weight too large for the device) is reported
//! before anything is dispatched; what the device reports (validation, out of memory, loss)
//! is captured through error scopes and callbacks instead of wgpu's default panic.

use thiserror::Error;
use zaya_ir::{DType, GraphError};

#[derive(Debug, Error)]
pub enum GpuError {
    #[error("no GPU adapter matches {wanted} (available: {available})")]
    NoAdapter { wanted: String, available: String },
    #[error("the adapter refused a device: {0}")]
    RequestDevice(String),
    #[error("the GPU device was lost: {0}")]
    DeviceLost(String),
    #[error("the GPU ran out of memory: {0}")]
    OutOfMemory(String),
    #[error("wgpu validation error: {0}")]
    Validation(String),
    #[error("invalid graph: {0}")]
    Graph(#[from] GraphError),
    #[error("instruction i{inst} ({op}) is not supported by the wgpu backend: {reason}")]
    Unsupported {
        inst: usize,
        op: &'static str,
        reason: String,
    },
    #[error("value %{value} has type {dtype}; the wgpu backend keeps only f32 and u32 values")]
    UnsupportedType { value: usize, dtype: DType },
    #[error(
        "state \"{name}\" is {dtype}; the wgpu backend keeps KV caches in f32 or f16 (--kv-dtype) and other states in f32"
    )]
    UnsupportedState { name: String, dtype: DType },
    #[error("symbol `{0}` has no binding (the wgpu backend binds `ctx` and `pos`)")]
    UnboundSymbol(String),
    #[error("the graph declares {want} weights, {found} were bound")]
    WeightCount { want: usize, found: usize },
    #[error("weight @{index} \"{name}\": {reason}")]
    WeightMismatch {
        index: usize,
        name: String,
        reason: String,
    },
    #[error(
        "weight \"{name}\": one unit of {unit_rows} row(s) takes {unit_bytes} bytes, over the device's binding limit of {limit} bytes"
    )]
    WeightTooLarge {
        name: String,
        unit_rows: u64,
        unit_bytes: u64,
        limit: u64,
    },
    #[error("graph input {index}: expected {want} {dtype} values, got {found}")]
    BadInput {
        index: usize,
        want: usize,
        dtype: DType,
        found: usize,
    },
    #[error("graph input {index}: id {id} is out of range 0..{bound}")]
    InputOutOfRange { index: usize, id: u32, bound: u64 },
    #[error("the context is full: position {pos} does not fit a session of capacity {ctx}")]
    ContextFull { pos: usize, ctx: usize },
    #[error("a session's capacity must be 1 to 4294967295 tokens (positions are u32), got {0}")]
    Capacity(usize),
    #[error("no {what} named `{name}`")]
    UnknownName { what: &'static str, name: String },
    #[error("generated WGSL for kernel `{kernel}` is invalid: {message}")]
    Shader { kernel: String, message: String },
    #[error("MSL translation of kernel `{kernel}` failed: {message}")]
    Msl { kernel: String, message: String },
    #[error("{what} needs {bytes} bytes, over the device's binding limit of {limit} bytes")]
    BufferTooLarge {
        what: String,
        bytes: u64,
        limit: u64,
    },
    #[error("a dispatch of {workgroups} workgroups does not fit a {max}x{max} grid")]
    GridTooLarge { workgroups: u64, max: u32 },
    #[error("reading back a GPU buffer failed: {0}")]
    Readback(String),
    #[error("device sampler: {field} {reason}")]
    InvalidSampler { field: &'static str, reason: String },
    #[error("prefill of {tokens} tokens: no combination of the chunk lengths {chunks:?} covers it")]
    NoPrefillPlan { tokens: usize, chunks: Vec<usize> },
    #[error("no samplable token: every logit below the vocab size {vocab} is NaN or -inf")]
    NoCandidates { vocab: usize },
}

pub type Result<T, E = GpuError> = std::result::Result<T, E>;
