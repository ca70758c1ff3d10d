//! The primitive op set. Every op is small and has one meaning; fused kernels are built by
//! the optimizer out of these, never instead of them.
//!
//! Each op's facts (name, attributes, arity, shape rule, effects, cost) are one [`OpSpec`]
//! in `spec.rs`; this file holds the op set itself.
//!
//! Conventions: activations are `f32`, indices `u32`; reductions, softmax, norms and RoPE work
//! along the last axis; binary ops broadcast numpy-style (trailing dims, size-1 stretches).

use crate::spec::{self, OpSpec};
use crate::{StateId, SymId, TensorType, WeightId};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnaryOp {
    Neg,
    Exp,
    Sqrt,
    Rsqrt,
    Recip,
    Square,
    /// x * sigmoid(x).
    Silu,
    /// Exact GELU: x/2 * (1 + erf(x/sqrt 2)).
    Gelu,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Max,
    Min,
    /// 1.0 where equal, else 0.0.
    Eq,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReduceOp {
    Sum,
    Mean,
    Max,
}

/// One primitive operation. Inputs are SSA values (`%n`); weights and states are referenced
/// by id because they are not values: weights are read-only data, states persist.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Op {
    /// A constant f32 tensor of the output's shape (one value broadcasts).
    Const {
        values: Vec<f32>,
    },
    /// The value of a run-time symbol (e.g. `pos`) as a `u32[1]`.
    Symbol {
        sym: SymId,
    },
    /// Dequantize a weight to f32. With one `u32[1]` input, select that index of the
    /// weight's leading axis first (an embedding row, a stacked expert); with a `u32[T, 1]`
    /// input (one index per token), gather T slices of it: `[T, ..rest]` (per-token
    /// embedding rows, per-token experts).
    Dequant {
        weight: WeightId,
    },
    /// `y[.., o] = sum_i w[o, i] * x[.., i]`: inputs (w [out, in], x [.., in]) -> [.., out]:
    /// one weight for every row of x (a token axis makes it a matmul; each weight row is
    /// read once for all rows). Or, per token, (w [T, out, in], x [T, in]) -> [T, out]:
    /// row t of x against slice t of w (a per-token expert from an indexed `dequant`).
    MatVec,
    Unary {
        op: UnaryOp,
    },
    Binary {
        op: BinaryOp,
    },
    /// `cond != 0 ? a : b`, broadcast: inputs (cond, a, b).
    Select,
    /// Reduce along `axis`, keeping it with size 1.
    Reduce {
        op: ReduceOp,
        axis: u32,
    },
    /// Softmax along the last axis.
    Softmax,
    /// `x * rsqrt(mean(x^2) + eps) * gamma` along the last axis: inputs (x, gamma).
    RmsNorm {
        eps: f32,
    },
    /// NeoX (rotate-half) rotary embedding of the first `rot_dims` of the last axis; the rest
    /// pass through. Inputs (x `[rows, hd]`, pos `u32[1]`): every row at `pos`; with x
    /// `[T, rows, hd]` (a chunk), token t at `pos + t`. The angle is `f32(pos) * inv_freq`,
    /// `inv_freq = theta^(-2i/rot_dims)`.
    Rope {
        rot_dims: u32,
        theta: f64,
    },
    /// Index of the maximum along the last axis (first one on ties): `u32[.., 1]`.
    Argmax,
    /// Pick elements along `axis` by index: inputs (x, idx u32[k]) -> x with `axis` of size k.
    Gather {
        axis: u32,
    },
    Reshape {
        dims: Vec<u64>,
    },
    /// Elements `[start, start + len)` of `axis`.
    Slice {
        axis: u32,
        start: u64,
        len: u64,
    },
    Concat {
        axis: u32,
    },
    /// Converts between f32 and u32 (float -> index truncates toward zero).
    Cast {
        to: crate::DType,
    },
    /// A causal 1-D convolution over the time axis of a window (time index 0 = oldest):
    /// inputs (window `[C_in, W]`, weight `[C_out, C_in/groups, K]`, bias `[C_out]`) ->
    /// `[C_out, W - K + 1]`, output column t over window columns `t..t+K`. With W = K it is
    /// `conv_step` (one column); prefill runs it over a chunk's window.
    Conv {
        groups: u32,
    },
    /// Swaps the last two axes: [.., a, b] -> [.., b, a].
    Transpose,
    /// One output step of a causal 1-D convolution over time: inputs
    /// (window [C_in, K] with time index 0 = oldest, weight [C_out, C_in/groups, K],
    /// bias [C_out]) -> [C_out]. Torch `Conv1d` weight layout.
    ConvStep {
        groups: u32,
    },
    /// Read a persistent state as a value.
    StateRead {
        state: StateId,
    },
    /// Overwrite a persistent state with a value of its type.
    StateWrite {
        state: StateId,
    },
    /// Write `x [heads, dim]` into `cache[:, pos, :]` of a `[heads, ctx, dim]` state:
    /// inputs (x, pos u32[1]). With x `[T, heads, dim]` (a chunk), row t goes to `pos + t`.
    CacheAppend {
        state: StateId,
    },
    /// Causal GQA attention of one query token over `cache[:, 0..=pos, :]`: inputs
    /// (q [nq, hd], pos u32[1]) -> [nq, hd]; query head h reads kv head h / (nq / nkv).
    /// With q [T, nq, hd] (a chunk whose first token is at `pos`, already appended), query t
    /// reads `cache[:, 0..=pos + t, :]`: the cache before the chunk and the chunk causally.
    Attention {
        k_cache: StateId,
        v_cache: StateId,
        scale: f32,
    },
}

/// What an op does to persistent state, for ordering and liveness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    Reads(StateId),
    Writes(StateId),
}

impl Op {
    /// Every fact of this op ([`OpSpec`]): the one match over the op set in the IR.
    pub fn spec(&self) -> &'static OpSpec {
        match self {
            Op::Const { .. } => &spec::CONST,
            Op::Symbol { .. } => &spec::SYMBOL,
            Op::Dequant { .. } => &spec::DEQUANT,
            Op::MatVec => &spec::MATVEC,
            Op::Unary { .. } => &spec::UNARY,
            Op::Binary { .. } => &spec::BINARY,
            Op::Select => &spec::SELECT,
            Op::Reduce { .. } => &spec::REDUCE,
            Op::Softmax => &spec::SOFTMAX,
            Op::RmsNorm { .. } => &spec::RMS_NORM,
            Op::Rope { .. } => &spec::ROPE,
            Op::Argmax => &spec::ARGMAX,
            Op::Gather { .. } => &spec::GATHER,
            Op::Reshape { .. } => &spec::RESHAPE,
            Op::Slice { .. } => &spec::SLICE,
            Op::Concat { .. } => &spec::CONCAT,
            Op::Cast { .. } => &spec::CAST,
            Op::ConvStep { .. } => &spec::CONV_STEP,
            Op::Conv { .. } => &spec::CONV,
            Op::Transpose => &spec::TRANSPOSE,
            Op::StateRead { .. } => &spec::STATE_READ,
            Op::StateWrite { .. } => &spec::STATE_WRITE,
            Op::CacheAppend { .. } => &spec::CACHE_APPEND,
            Op::Attention { .. } => &spec::ATTENTION,
        }
    }

    /// The lowercase name used by the text form.
    pub fn mnemonic(&self) -> &'static str {
        (self.spec().name)(self)
    }

    /// The persistent-state effects of this op.
    pub fn effects(&self) -> smallvec::SmallVec<[Effect; 2]> {
        (self.spec().effects)(self)
    }

    /// Ops without outputs exist for their effect and are never dead.
    pub fn has_side_effect(&self) -> bool {
        self.spec().side_effect
    }

    /// Whether an op is pure elementwise over broadcast inputs (fusable into neighbours).
    pub fn is_elementwise(&self) -> bool {
        self.spec().elementwise
    }
}

/// Context that shape inference needs from the graph.
pub trait TypeEnv {
    fn weight_type(&self, w: WeightId) -> Option<TensorType>;
    fn state_type(&self, s: StateId) -> Option<TensorType>;
    fn has_symbol(&self, s: SymId) -> bool;
}

pub use crate::spec::infer;

/// Numpy-style broadcast of two static shapes.
pub fn broadcast(a: &[u64], b: &[u64]) -> Result<Vec<u64>, String> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let x = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let y = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out[i] = match (x, y) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err(format!("shapes {a:?} and {b:?} do not broadcast")),
        };
    }
    Ok(out)
}
