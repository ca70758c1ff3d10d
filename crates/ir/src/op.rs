//! The primitive op set. Every op is small and has one meaning; fused kernels are built by
//! the optimizer out of these, never instead of them.
//!
//! Conventions: activations are `f32`, indices `u32`; reductions, softmax, norms and RoPE work
//! along the last axis; binary ops broadcast numpy-style (trailing dims, size-1 stretches).

use crate::{Dim, StateId, SymId, TensorType, WeightId};
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
    /// The value of a run-time symbol (e.g. `pos`) as an `f32[1]`.
    Symbol {
        sym: SymId,
    },
    /// Dequantize a weight to f32. With one `u32[1]` input, select that index of the
    /// weight's leading axis first (an embedding row, a stacked expert).
    Dequant {
        weight: WeightId,
    },
    /// `y[o] = sum_i w[o, i] * x[i]`: inputs (w [out, in], x [in]).
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
    /// pass through. Inputs (x [.., hd], pos f32[1]); `inv_freq = theta^(-2i/rot_dims)`.
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
    /// inputs (x, pos f32[1]).
    CacheAppend {
        state: StateId,
    },
    /// Causal GQA attention of one query token over `cache[:, 0..=pos, :]`: inputs
    /// (q [nq, hd], pos f32[1]) -> [nq, hd]; query head h reads kv head h / (nq / nkv).
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
    /// The lowercase name used by the text form.
    pub fn mnemonic(&self) -> &'static str {
        match self {
            Op::Const { .. } => "const",
            Op::Symbol { .. } => "symbol",
            Op::Dequant { .. } => "dequant",
            Op::MatVec => "matvec",
            Op::Unary { op } => match op {
                UnaryOp::Neg => "neg",
                UnaryOp::Exp => "exp",
                UnaryOp::Sqrt => "sqrt",
                UnaryOp::Rsqrt => "rsqrt",
                UnaryOp::Recip => "recip",
                UnaryOp::Square => "square",
                UnaryOp::Silu => "silu",
                UnaryOp::Gelu => "gelu",
            },
            Op::Binary { op } => match op {
                BinaryOp::Add => "add",
                BinaryOp::Sub => "sub",
                BinaryOp::Mul => "mul",
                BinaryOp::Div => "div",
                BinaryOp::Max => "max",
                BinaryOp::Min => "min",
                BinaryOp::Eq => "eq",
            },
            Op::Select => "select",
            Op::Reduce { op, .. } => match op {
                ReduceOp::Sum => "reduce_sum",
                ReduceOp::Mean => "reduce_mean",
                ReduceOp::Max => "reduce_max",
            },
            Op::Softmax => "softmax",
            Op::RmsNorm { .. } => "rms_norm",
            Op::Rope { .. } => "rope",
            Op::Argmax => "argmax",
            Op::Gather { .. } => "gather",
            Op::Reshape { .. } => "reshape",
            Op::Slice { .. } => "slice",
            Op::Concat { .. } => "concat",
            Op::Cast { .. } => "cast",
            Op::ConvStep { .. } => "conv_step",
            Op::StateRead { .. } => "state_read",
            Op::StateWrite { .. } => "state_write",
            Op::CacheAppend { .. } => "cache_append",
            Op::Attention { .. } => "attention",
        }
    }

    /// The persistent-state effects of this op.
    pub fn effects(&self) -> smallvec::SmallVec<[Effect; 2]> {
        use smallvec::smallvec;
        match *self {
            Op::StateRead { state } => smallvec![Effect::Reads(state)],
            Op::StateWrite { state } | Op::CacheAppend { state } => {
                smallvec![Effect::Writes(state)]
            }
            Op::Attention {
                k_cache, v_cache, ..
            } => {
                smallvec![Effect::Reads(k_cache), Effect::Reads(v_cache)]
            }
            _ => smallvec![],
        }
    }

    /// Ops without outputs exist for their effect and are never dead.
    pub fn has_side_effect(&self) -> bool {
        matches!(self, Op::StateWrite { .. } | Op::CacheAppend { .. })
    }

    /// Whether an op is pure elementwise over broadcast inputs (fusable into neighbours).
    pub fn is_elementwise(&self) -> bool {
        matches!(self, Op::Unary { .. } | Op::Binary { .. } | Op::Select)
    }
}

/// Context that shape inference needs from the graph.
pub trait TypeEnv {
    fn weight_type(&self, w: WeightId) -> Option<TensorType>;
    fn state_type(&self, s: StateId) -> Option<TensorType>;
    fn has_symbol(&self, s: SymId) -> bool;
}

/// Infers the output types of `op` applied to inputs of types `ins`.
/// `declared` is the output type a builder asked for, needed only by `Const`.
// `!(x > 0.0)` on purpose: it also rejects NaN attributes.
#[allow(clippy::neg_cmp_op_on_partial_ord)]
pub fn infer(
    op: &Op,
    ins: &[&TensorType],
    declared: Option<&TensorType>,
    env: &dyn TypeEnv,
) -> Result<Vec<TensorType>, String> {
    use crate::DType::{F32, U32};
    let arity = |n: usize| -> Result<(), String> {
        if ins.len() == n {
            Ok(())
        } else {
            Err(format!("takes {n} input(s), got {}", ins.len()))
        }
    };
    let want_dtype = |i: usize, d: crate::DType| -> Result<(), String> {
        if ins[i].dtype == d {
            Ok(())
        } else {
            Err(format!("input {i} must be {d}, got {}", ins[i].dtype))
        }
    };
    let consts = |i: usize| -> Result<Vec<u64>, String> {
        ins[i]
            .const_dims()
            .map(|d| d.to_vec())
            .ok_or_else(|| format!("input {i} must have a static shape"))
    };
    let scalar_index = |i: usize| -> Result<(), String> {
        want_dtype(i, U32)?;
        if ins[i].numel() == Some(1) {
            Ok(())
        } else {
            Err(format!("input {i} must be a single index u32[1]"))
        }
    };
    let position = |i: usize| -> Result<(), String> {
        want_dtype(i, F32)?;
        if ins[i].numel() == Some(1) {
            Ok(())
        } else {
            Err(format!("input {i} must be a position f32[1]"))
        }
    };
    let axis_ok = |axis: u32, rank: usize| -> Result<usize, String> {
        if (axis as usize) < rank {
            Ok(axis as usize)
        } else {
            Err(format!("axis {axis} out of range for rank {rank}"))
        }
    };

    let out = match op {
        Op::Const { values } => {
            arity(0)?;
            let ty = declared.ok_or("const needs a declared type")?.clone();
            let n = ty.numel().ok_or("const must have a static shape")?;
            if values.len() as u64 != n && values.len() != 1 {
                return Err(format!(
                    "const has {} values for {n} elements",
                    values.len()
                ));
            }
            if ty.dtype != F32 {
                return Err("const must be f32".into());
            }
            ty
        }
        Op::Symbol { sym } => {
            arity(0)?;
            if !env.has_symbol(*sym) {
                return Err(format!("unknown symbol {sym}"));
            }
            TensorType::f32([1u64])
        }
        Op::Dequant { weight } => {
            let wt = env
                .weight_type(*weight)
                .ok_or_else(|| format!("unknown weight {weight}"))?;
            let mut dims = wt.dims.clone();
            match ins.len() {
                0 => {}
                1 => {
                    scalar_index(0)?;
                    if dims.len() < 2 {
                        return Err("indexed dequant needs a weight of rank >= 2".into());
                    }
                    dims.remove(0);
                }
                n => return Err(format!("takes 0 or 1 inputs, got {n}")),
            }
            TensorType { dtype: F32, dims }
        }
        Op::MatVec => {
            arity(2)?;
            want_dtype(0, F32)?;
            want_dtype(1, F32)?;
            let w = consts(0)?;
            let x = consts(1)?;
            if w.len() != 2 || x.len() != 1 || w[1] != x[0] {
                return Err(format!(
                    "matvec needs w [out, in] and x [in], got {w:?} and {x:?}"
                ));
            }
            TensorType::f32([w[0]])
        }
        Op::Unary { .. } => {
            arity(1)?;
            want_dtype(0, F32)?;
            ins[0].clone()
        }
        Op::Binary { .. } => {
            arity(2)?;
            want_dtype(0, F32)?;
            want_dtype(1, F32)?;
            TensorType {
                dtype: F32,
                dims: broadcast(&consts(0)?, &consts(1)?)?
                    .into_iter()
                    .map(Dim::Const)
                    .collect(),
            }
        }
        Op::Select => {
            arity(3)?;
            for i in 0..3 {
                want_dtype(i, F32)?;
            }
            let ab = broadcast(&consts(1)?, &consts(2)?)?;
            let all = broadcast(&consts(0)?, &ab)?;
            TensorType {
                dtype: F32,
                dims: all.into_iter().map(Dim::Const).collect(),
            }
        }
        Op::Reduce { axis, .. } => {
            arity(1)?;
            want_dtype(0, F32)?;
            let mut d = consts(0)?;
            let a = axis_ok(*axis, d.len())?;
            d[a] = 1;
            TensorType::f32(d)
        }
        Op::Softmax => {
            arity(1)?;
            want_dtype(0, F32)?;
            ins[0].clone()
        }
        Op::RmsNorm { eps } => {
            arity(2)?;
            want_dtype(0, F32)?;
            want_dtype(1, F32)?;
            let x = consts(0)?;
            let g = consts(1)?;
            if g.len() != 1 || x.last() != g.last() {
                return Err(format!("gamma {g:?} must match the last axis of x {x:?}"));
            }
            if !(*eps > 0.0) {
                return Err(format!("eps must be positive, got {eps}"));
            }
            ins[0].clone()
        }
        Op::Rope { rot_dims, theta } => {
            arity(2)?;
            want_dtype(0, F32)?;
            position(1)?;
            let last = ins[0].last().ok_or("rope needs a static last axis")?;
            if *rot_dims == 0 || rot_dims % 2 != 0 || *rot_dims as u64 > last {
                return Err(format!(
                    "rot_dims {rot_dims} must be even and at most {last}"
                ));
            }
            if !(*theta > 0.0) {
                return Err(format!("theta must be positive, got {theta}"));
            }
            ins[0].clone()
        }
        Op::Argmax => {
            arity(1)?;
            want_dtype(0, F32)?;
            let mut d = consts(0)?;
            *d.last_mut().ok_or("argmax of a scalar")? = 1;
            TensorType::new(U32, d)
        }
        Op::Gather { axis } => {
            arity(2)?;
            want_dtype(1, U32)?;
            let mut d = consts(0)?;
            let idx = consts(1)?;
            let a = axis_ok(*axis, d.len())?;
            if idx.len() != 1 {
                return Err(format!("gather index must be rank 1, got {idx:?}"));
            }
            d[a] = idx[0];
            TensorType::new(ins[0].dtype, d)
        }
        Op::Reshape { dims } => {
            arity(1)?;
            let n = ins[0].numel().ok_or("reshape needs a static shape")?;
            let m: u64 = dims.iter().product();
            if n != m {
                return Err(format!(
                    "reshape of {n} elements to {dims:?} ({m} elements)"
                ));
            }
            TensorType::new(ins[0].dtype, dims.iter().copied())
        }
        Op::Slice { axis, start, len } => {
            arity(1)?;
            let mut d = consts(0)?;
            let a = axis_ok(*axis, d.len())?;
            if *len == 0 || start + len > d[a] {
                return Err(format!(
                    "slice [{start}, {}) out of range 0..{}",
                    start + len,
                    d[a]
                ));
            }
            d[a] = *len;
            TensorType::new(ins[0].dtype, d)
        }
        Op::Concat { axis } => {
            if ins.len() < 2 {
                return Err("concat takes at least 2 inputs".into());
            }
            let first = consts(0)?;
            let a = axis_ok(*axis, first.len())?;
            let mut total = 0;
            for i in 0..ins.len() {
                let d = consts(i)?;
                want_dtype(i, ins[0].dtype)?;
                let same = d.len() == first.len()
                    && d.iter()
                        .zip(&first)
                        .enumerate()
                        .all(|(k, (x, y))| k == a || x == y);
                if !same {
                    return Err(format!(
                        "concat input {i} {d:?} does not match {first:?} off axis {a}"
                    ));
                }
                total += d[a];
            }
            let mut d = first;
            d[a] = total;
            TensorType::new(ins[0].dtype, d)
        }
        Op::Cast { to } => {
            arity(1)?;
            let ok = matches!(
                (ins[0].dtype, to),
                (F32, U32) | (U32, F32) | (F32, F32) | (U32, U32)
            );
            if !ok {
                return Err(format!(
                    "cast from {} to {to} is not supported",
                    ins[0].dtype
                ));
            }
            TensorType {
                dtype: *to,
                dims: ins[0].dims.clone(),
            }
        }
        Op::ConvStep { groups } => {
            arity(3)?;
            for i in 0..3 {
                want_dtype(i, F32)?;
            }
            let win = consts(0)?;
            let w = consts(1)?;
            let b = consts(2)?;
            let g = *groups as u64;
            let ok = win.len() == 2
                && w.len() == 3
                && g > 0
                && win[0] % g == 0
                && w[0] % g == 0
                && w[1] == win[0] / g
                && w[2] == win[1]
                && b == [w[0]];
            if !ok {
                return Err(format!(
                    "conv_step needs window [C_in, K], weight [C_out, C_in/{g}, K], bias [C_out]; got {win:?}, {w:?}, {b:?}"
                ));
            }
            TensorType::f32([w[0]])
        }
        Op::StateRead { state } => {
            arity(0)?;
            let st = env
                .state_type(*state)
                .ok_or_else(|| format!("unknown state {state}"))?;
            if !st.is_static() {
                return Err(format!(
                    "state {state} has a symbolic shape: read it through attention"
                ));
            }
            st
        }
        Op::StateWrite { state } => {
            arity(1)?;
            let st = env
                .state_type(*state)
                .ok_or_else(|| format!("unknown state {state}"))?;
            if *ins[0] != st {
                return Err(format!(
                    "state_write of a value that is not of the state's type {st:?}"
                ));
            }
            return Ok(vec![]);
        }
        Op::CacheAppend { state } => {
            arity(2)?;
            want_dtype(0, F32)?;
            position(1)?;
            let st = env
                .state_type(*state)
                .ok_or_else(|| format!("unknown state {state}"))?;
            let x = consts(0)?;
            let ok = st.rank() == 3
                && x.len() == 2
                && st.dims[0] == Dim::Const(x[0])
                && st.dims[2] == Dim::Const(x[1]);
            if !ok {
                return Err(format!(
                    "cache_append of {x:?} into a state of shape {:?}",
                    st.dims
                ));
            }
            return Ok(vec![]);
        }
        Op::Attention {
            k_cache,
            v_cache,
            scale,
        } => {
            arity(2)?;
            want_dtype(0, F32)?;
            position(1)?;
            let q = consts(0)?;
            let kt = env
                .state_type(*k_cache)
                .ok_or_else(|| format!("unknown state {k_cache}"))?;
            let vt = env
                .state_type(*v_cache)
                .ok_or_else(|| format!("unknown state {v_cache}"))?;
            if kt != vt || kt.rank() != 3 || q.len() != 2 {
                return Err("attention needs q [nq, hd] and equal caches [nkv, ctx, hd]".into());
            }
            let nkv = kt.dims[0]
                .as_const()
                .ok_or("cache heads must be constant")?;
            if kt.dims[2] != Dim::Const(q[1]) || nkv == 0 || q[0] % nkv != 0 {
                return Err(format!("q {q:?} does not fit caches {:?}", kt.dims));
            }
            if !(*scale > 0.0) {
                return Err(format!("scale must be positive, got {scale}"));
            }
            ins[0].clone()
        }
    };
    Ok(vec![out])
}

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
