//! Every fact the IR knows about an op, in one table: its name in the text form, attributes,
//! arity, shape rule, effects on state, and modeled cost. [`Op::spec`] is the only match over
//! the op set outside the backends, so a new op costs one variant in `op.rs`, one [`OpSpec`]
//! here, and one entry per backend (the CPU interpreter's `exec`, the wgpu lowering).

use crate::op::{BinaryOp, Effect, Op, ReduceOp, TypeEnv, UnaryOp, broadcast};
use crate::{DType, Dim, StateId, SymId, TensorType, WeightId};
use smallvec::{SmallVec, smallvec};
use std::fmt::{self, Write};

/// How many inputs an op takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arity {
    Exactly(usize),
    /// `min..=max` inputs.
    Between(usize, usize),
    AtLeast(usize),
}

impl Arity {
    fn check(self, n: usize) -> Result<(), String> {
        match self {
            Arity::Exactly(k) if n == k => Ok(()),
            Arity::Exactly(k) => Err(format!("takes {k} input(s), got {n}")),
            Arity::Between(a, b) if (a..=b).contains(&n) => Ok(()),
            Arity::Between(a, b) => Err(format!("takes {a} to {b} inputs, got {n}")),
            Arity::AtLeast(k) if n >= k => Ok(()),
            Arity::AtLeast(k) => Err(format!("takes at least {k} inputs, got {n}")),
        }
    }
}

/// A weight or state an op names by id (printed before its value operands).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operand {
    Weight(WeightId),
    State(StateId),
}

/// What a cost rule sees: the element count of each input and of the (first) output.
#[derive(Clone, Copy, Debug)]
pub struct Cost<'a> {
    pub inputs: &'a [u64],
    /// The last-axis length of each input (a matvec's `in`).
    pub input_last: &'a [u64],
    pub output: u64,
    /// The last-axis length of the output (a conv's time steps).
    pub output_last: u64,
    /// Tokens already in the KV cache in the modeled step (what attention reads).
    pub context_tokens: u64,
}

/// The facts of one op (or op family: unary, binary and reduce share a spec).
pub struct OpSpec {
    /// The name in the text form (attribute-dependent for op families).
    pub name: fn(&Op) -> &'static str,
    pub arity: Arity,
    /// The output type from the input types (arity already checked); `None`: no output.
    pub infer: fn(&Op, &Check<'_>) -> Result<Option<TensorType>, String>,
    /// The attributes in the text form (`{axis=1}`); nothing when it has none.
    pub attrs: fn(&Op, &mut dyn Write, &dyn Fn(SymId) -> String) -> fmt::Result,
    /// Weights and states it names.
    pub operands: fn(&Op) -> SmallVec<[Operand; 2]>,
    /// What it does to persistent state, for ordering and liveness.
    pub effects: fn(&Op) -> SmallVec<[Effect; 2]>,
    /// Exists for its effect (no output): never dead.
    pub side_effect: bool,
    /// Pure elementwise over broadcast inputs (fusable into neighbours).
    pub elementwise: bool,
    /// Its output can change between steps with the same inputs (reads a symbol or a state).
    pub step_varying: bool,
    /// Modeled FLOPs of one execution.
    pub flops: fn(&Cost<'_>) -> u64,
}

/// The inputs of one inference, with the checks shape rules share.
pub struct Check<'a> {
    pub ins: &'a [&'a TensorType],
    pub declared: Option<&'a TensorType>,
    pub env: &'a dyn TypeEnv,
}

impl Check<'_> {
    pub fn dtype(&self, i: usize, d: DType) -> Result<(), String> {
        if self.ins[i].dtype == d {
            Ok(())
        } else {
            Err(format!("input {i} must be {d}, got {}", self.ins[i].dtype))
        }
    }

    pub fn f32s(&self) -> Result<(), String> {
        (0..self.ins.len()).try_for_each(|i| self.dtype(i, DType::F32))
    }

    /// The static dims of input `i`.
    pub fn dims(&self, i: usize) -> Result<Vec<u64>, String> {
        self.ins[i]
            .const_dims()
            .map(|d| d.to_vec())
            .ok_or_else(|| format!("input {i} must have a static shape"))
    }

    pub fn scalar_index(&self, i: usize) -> Result<(), String> {
        self.dtype(i, DType::U32)?;
        if self.ins[i].numel() == Some(1) {
            Ok(())
        } else {
            Err(format!("input {i} must be a single index u32[1]"))
        }
    }

    pub fn position(&self, i: usize) -> Result<(), String> {
        self.dtype(i, DType::U32)?;
        if self.ins[i].numel() == Some(1) {
            Ok(())
        } else {
            Err(format!("input {i} must be a position u32[1]"))
        }
    }

    /// Input 0 of a cache op: `[rows, dim]` for one token, `[T, rows, dim]` for a chunk.
    /// Returns (rows, dim).
    fn token_rows(&self, what: &str) -> Result<(u64, u64), String> {
        match self.dims(0)?.as_slice() {
            &[r, d] | &[_, r, d] => Ok((r, d)),
            d => Err(format!(
                "{what} needs [rows, dim] or [T, rows, dim], got {d:?}"
            )),
        }
    }

    pub fn axis(&self, axis: u32, rank: usize) -> Result<usize, String> {
        if (axis as usize) < rank {
            Ok(axis as usize)
        } else {
            Err(format!("axis {axis} out of range for rank {rank}"))
        }
    }

    pub fn state(&self, s: StateId) -> Result<TensorType, String> {
        self.env
            .state_type(s)
            .ok_or_else(|| format!("unknown state {s}"))
    }

    /// Input `i`'s type, unchanged (unary ops, softmax, norms).
    fn same(&self, i: usize) -> Result<Option<TensorType>, String> {
        Ok(Some(self.ins[i].clone()))
    }
}

/// Infers the output types of `op` applied to inputs of types `ins`: the arity, then the
/// op's shape rule. `declared` is the output type a builder asked for, needed only by `const`.
pub fn infer(
    op: &Op,
    ins: &[&TensorType],
    declared: Option<&TensorType>,
    env: &dyn TypeEnv,
) -> Result<Vec<TensorType>, String> {
    let spec = op.spec();
    spec.arity.check(ins.len())?;
    let check = Check { ins, declared, env };
    Ok((spec.infer)(op, &check)?.into_iter().collect())
}

fn no_attrs(_: &Op, _: &mut dyn Write, _: &dyn Fn(SymId) -> String) -> fmt::Result {
    Ok(())
}

fn no_operands(_: &Op) -> SmallVec<[Operand; 2]> {
    SmallVec::new()
}

fn no_effects(_: &Op) -> SmallVec<[Effect; 2]> {
    SmallVec::new()
}

fn free(_: &Cost<'_>) -> u64 {
    0
}

/// The defaults of a pure op; each spec overrides what it has.
const PURE: OpSpec = OpSpec {
    name: |_| "?",
    arity: Arity::Exactly(1),
    infer: |_, _| Err("no shape rule".into()),
    attrs: no_attrs,
    operands: no_operands,
    effects: no_effects,
    side_effect: false,
    elementwise: false,
    step_varying: false,
    flops: free,
};

/// A positive attribute (`!(x > 0)` on purpose: it also rejects NaN).
#[allow(clippy::neg_cmp_op_on_partial_ord)]
fn positive<T: PartialOrd + Default + fmt::Display>(what: &str, x: T) -> Result<(), String> {
    if !(x > T::default()) {
        return Err(format!("{what} must be positive, got {x}"));
    }
    Ok(())
}

pub(crate) static CONST: OpSpec = OpSpec {
    name: |_| "const",
    arity: Arity::Exactly(0),
    infer: |op, c| {
        let Op::Const { values } = op else {
            unreachable!()
        };
        let ty = c.declared.ok_or("const needs a declared type")?.clone();
        let n = ty.numel().ok_or("const must have a static shape")?;
        if values.len() as u64 != n && values.len() != 1 {
            return Err(format!(
                "const has {} values for {n} elements",
                values.len()
            ));
        }
        if ty.dtype != DType::F32 {
            return Err("const must be f32".into());
        }
        Ok(Some(ty))
    },
    attrs: |op, f, _| {
        let Op::Const { values } = op else {
            return Ok(());
        };
        let vals: Vec<String> = values.iter().map(|x| format!("{x:?}")).collect();
        if vals.len() == 1 {
            write!(f, "{{{}}}", vals[0])
        } else {
            write!(f, "{{[{}]}}", vals.join(", "))
        }
    },
    ..PURE
};

pub(crate) static SYMBOL: OpSpec = OpSpec {
    name: |_| "symbol",
    arity: Arity::Exactly(0),
    infer: |op, c| {
        let Op::Symbol { sym } = op else {
            unreachable!()
        };
        if !c.env.has_symbol(*sym) {
            return Err(format!("unknown symbol {sym}"));
        }
        Ok(Some(TensorType::new(DType::U32, [1u64])))
    },
    attrs: |op, f, sym_name| match op {
        Op::Symbol { sym } => write!(f, "{{{}}}", sym_name(*sym)),
        _ => Ok(()),
    },
    step_varying: true,
    ..PURE
};

pub(crate) static DEQUANT: OpSpec = OpSpec {
    name: |_| "dequant",
    arity: Arity::Between(0, 1),
    infer: |op, c| {
        let Op::Dequant { weight } = op else {
            unreachable!()
        };
        let wt = c
            .env
            .weight_type(*weight)
            .ok_or_else(|| format!("unknown weight {weight}"))?;
        let mut dims = wt.dims.clone();
        if !c.ins.is_empty() {
            c.dtype(0, DType::U32)?;
            if dims.len() < 2 {
                return Err("indexed dequant needs a weight of rank >= 2".into());
            }
            match c.dims(0)?.as_slice() {
                // One index: that slice.
                [1] => {
                    dims.remove(0);
                }
                // One index per token: T slices.
                &[t, 1] => dims[0] = Dim::Const(t),
                d => {
                    return Err(format!(
                        "dequant index must be u32[1] or u32[T, 1], got {d:?}"
                    ));
                }
            }
        }
        Ok(Some(TensorType {
            dtype: DType::F32,
            dims,
        }))
    },
    operands: |op| match op {
        Op::Dequant { weight } => smallvec![Operand::Weight(*weight)],
        _ => SmallVec::new(),
    },
    flops: |c| c.output * 2,
    ..PURE
};

pub(crate) static MATVEC: OpSpec = OpSpec {
    name: |_| "matvec",
    arity: Arity::Exactly(2),
    infer: |_, c| {
        c.f32s()?;
        let (w, x) = (c.dims(0)?, c.dims(1)?);
        let shared = w.len() == 2 && !x.is_empty() && x.last() == Some(&w[1]);
        let per_token = w.len() == 3 && x.len() == 2 && w[0] == x[0] && w[2] == x[1];
        if shared {
            let mut out = x;
            *out.last_mut().unwrap_or(&mut 0) = w[0];
            Ok(Some(TensorType::f32(out)))
        } else if per_token {
            Ok(Some(TensorType::f32([x[0], w[1]])))
        } else {
            Err(format!(
                "matvec needs w [out, in] and x [.., in], or w [T, out, in] and x [T, in]; got {w:?} and {x:?}"
            ))
        }
    },
    // One multiply-add per output element and input column.
    flops: |c| 2 * c.output * c.input_last[1],
    ..PURE
};

pub(crate) static UNARY: OpSpec = OpSpec {
    name: |op| match op {
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
        _ => "unary",
    },
    infer: |_, c| {
        c.f32s()?;
        c.same(0)
    },
    elementwise: true,
    flops: |c| c.output * 4,
    ..PURE
};

pub(crate) static BINARY: OpSpec = OpSpec {
    name: |op| match op {
        Op::Binary { op } => match op {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Max => "max",
            BinaryOp::Min => "min",
            BinaryOp::Eq => "eq",
        },
        _ => "binary",
    },
    arity: Arity::Exactly(2),
    infer: |_, c| {
        c.f32s()?;
        let dims = broadcast(&c.dims(0)?, &c.dims(1)?)?;
        Ok(Some(TensorType::f32(dims)))
    },
    elementwise: true,
    flops: |c| c.output * 4,
    ..PURE
};

pub(crate) static SELECT: OpSpec = OpSpec {
    name: |_| "select",
    arity: Arity::Exactly(3),
    infer: |_, c| {
        c.f32s()?;
        let ab = broadcast(&c.dims(1)?, &c.dims(2)?)?;
        Ok(Some(TensorType::f32(broadcast(&c.dims(0)?, &ab)?)))
    },
    elementwise: true,
    flops: |c| c.output * 4,
    ..PURE
};

pub(crate) static REDUCE: OpSpec = OpSpec {
    name: |op| match op {
        Op::Reduce { op, .. } => match op {
            ReduceOp::Sum => "reduce_sum",
            ReduceOp::Mean => "reduce_mean",
            ReduceOp::Max => "reduce_max",
        },
        _ => "reduce",
    },
    infer: |op, c| {
        let Op::Reduce { axis, .. } = op else {
            unreachable!()
        };
        c.f32s()?;
        let mut d = c.dims(0)?;
        let a = c.axis(*axis, d.len())?;
        d[a] = 1;
        Ok(Some(TensorType::f32(d)))
    },
    attrs: |op, f, _| match op {
        Op::Reduce { axis, .. } => write!(f, "{{axis={axis}}}"),
        _ => Ok(()),
    },
    flops: |c| c.inputs[0] * 2,
    ..PURE
};

pub(crate) static SOFTMAX: OpSpec = OpSpec {
    name: |_| "softmax",
    infer: |_, c| {
        c.f32s()?;
        c.same(0)
    },
    flops: |c| c.output * 4,
    ..PURE
};

pub(crate) static RMS_NORM: OpSpec = OpSpec {
    name: |_| "rms_norm",
    arity: Arity::Exactly(2),
    infer: |op, c| {
        let Op::RmsNorm { eps } = op else {
            unreachable!()
        };
        c.f32s()?;
        let (x, g) = (c.dims(0)?, c.dims(1)?);
        if g.len() != 1 || x.last() != g.last() {
            return Err(format!("gamma {g:?} must match the last axis of x {x:?}"));
        }
        positive("eps", *eps)?;
        c.same(0)
    },
    attrs: |op, f, _| match op {
        Op::RmsNorm { eps } => write!(f, "{{eps={eps:?}}}"),
        _ => Ok(()),
    },
    flops: |c| c.inputs[0] * 2,
    ..PURE
};

pub(crate) static ROPE: OpSpec = OpSpec {
    name: |_| "rope",
    arity: Arity::Exactly(2),
    infer: |op, c| {
        let Op::Rope { rot_dims, theta } = op else {
            unreachable!()
        };
        c.dtype(0, DType::F32)?;
        // One position for every row of x [rows, dim]; the first of a chunk [T, rows, dim],
        // whose token t sits at pos + t (as for cache_append and attention).
        c.position(1)?;
        if c.ins[0].rank() > 3 {
            return Err(format!(
                "rope needs x [rows, dim] or [T, rows, dim], got {:?}",
                c.ins[0].dims
            ));
        }
        let last = c.ins[0].last().ok_or("rope needs a static last axis")?;
        if *rot_dims == 0 || rot_dims % 2 != 0 || *rot_dims as u64 > last {
            return Err(format!(
                "rot_dims {rot_dims} must be even and at most {last}"
            ));
        }
        positive("theta", *theta)?;
        c.same(0)
    },
    attrs: |op, f, _| match op {
        Op::Rope { rot_dims, theta } => write!(f, "{{rot={rot_dims}, theta={theta:?}}}"),
        _ => Ok(()),
    },
    flops: |c| c.output * 4,
    ..PURE
};

pub(crate) static ARGMAX: OpSpec = OpSpec {
    name: |_| "argmax",
    infer: |_, c| {
        c.f32s()?;
        let mut d = c.dims(0)?;
        *d.last_mut().ok_or("argmax of a scalar")? = 1;
        Ok(Some(TensorType::new(DType::U32, d)))
    },
    flops: |c| c.inputs[0] * 2,
    ..PURE
};

pub(crate) static GATHER: OpSpec = OpSpec {
    name: |_| "gather",
    arity: Arity::Exactly(2),
    infer: |op, c| {
        let Op::Gather { axis } = op else {
            unreachable!()
        };
        c.dtype(1, DType::U32)?;
        let mut d = c.dims(0)?;
        let idx = c.dims(1)?;
        let a = c.axis(*axis, d.len())?;
        if idx.len() != 1 {
            return Err(format!("gather index must be rank 1, got {idx:?}"));
        }
        d[a] = idx[0];
        Ok(Some(TensorType::new(c.ins[0].dtype, d)))
    },
    attrs: |op, f, _| match op {
        Op::Gather { axis } => write!(f, "{{axis={axis}}}"),
        _ => Ok(()),
    },
    ..PURE
};

pub(crate) static RESHAPE: OpSpec = OpSpec {
    name: |_| "reshape",
    infer: |op, c| {
        let Op::Reshape { dims } = op else {
            unreachable!()
        };
        let n = c.ins[0].numel().ok_or("reshape needs a static shape")?;
        let m: u64 = dims.iter().product();
        if n != m {
            return Err(format!(
                "reshape of {n} elements to {dims:?} ({m} elements)"
            ));
        }
        Ok(Some(TensorType::new(c.ins[0].dtype, dims.iter().copied())))
    },
    attrs: |op, f, _| match op {
        Op::Reshape { dims } => write!(f, "{{{dims:?}}}"),
        _ => Ok(()),
    },
    ..PURE
};

pub(crate) static SLICE: OpSpec = OpSpec {
    name: |_| "slice",
    infer: |op, c| {
        let Op::Slice { axis, start, len } = op else {
            unreachable!()
        };
        let mut d = c.dims(0)?;
        let a = c.axis(*axis, d.len())?;
        if *len == 0 || start + len > d[a] {
            return Err(format!(
                "slice [{start}, {}) out of range 0..{}",
                start + len,
                d[a]
            ));
        }
        d[a] = *len;
        Ok(Some(TensorType::new(c.ins[0].dtype, d)))
    },
    attrs: |op, f, _| match op {
        Op::Slice { axis, start, len } => write!(f, "{{axis={axis}, start={start}, len={len}}}"),
        _ => Ok(()),
    },
    ..PURE
};

pub(crate) static CONCAT: OpSpec = OpSpec {
    name: |_| "concat",
    arity: Arity::AtLeast(2),
    infer: |op, c| {
        let Op::Concat { axis } = op else {
            unreachable!()
        };
        let first = c.dims(0)?;
        let a = c.axis(*axis, first.len())?;
        let mut total = 0;
        for i in 0..c.ins.len() {
            let d = c.dims(i)?;
            c.dtype(i, c.ins[0].dtype)?;
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
        Ok(Some(TensorType::new(c.ins[0].dtype, d)))
    },
    attrs: |op, f, _| match op {
        Op::Concat { axis } => write!(f, "{{axis={axis}}}"),
        _ => Ok(()),
    },
    ..PURE
};

pub(crate) static CAST: OpSpec = OpSpec {
    name: |_| "cast",
    infer: |op, c| {
        let Op::Cast { to } = op else { unreachable!() };
        use DType::{F32, U32};
        let ok = matches!(
            (c.ins[0].dtype, to),
            (F32, U32) | (U32, F32) | (F32, F32) | (U32, U32)
        );
        if !ok {
            return Err(format!(
                "cast from {} to {to} is not supported",
                c.ins[0].dtype
            ));
        }
        Ok(Some(TensorType {
            dtype: *to,
            dims: c.ins[0].dims.clone(),
        }))
    },
    attrs: |op, f, _| match op {
        Op::Cast { to } => write!(f, "{{{to}}}"),
        _ => Ok(()),
    },
    ..PURE
};

pub(crate) static CONV_STEP: OpSpec = OpSpec {
    name: |_| "conv_step",
    arity: Arity::Exactly(3),
    infer: |op, c| {
        let Op::ConvStep { groups } = op else {
            unreachable!()
        };
        c.f32s()?;
        let (win, w, b) = (c.dims(0)?, c.dims(1)?, c.dims(2)?);
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
        Ok(Some(TensorType::f32([w[0]])))
    },
    attrs: |op, f, _| match op {
        Op::ConvStep { groups } => write!(f, "{{groups={groups}}}"),
        _ => Ok(()),
    },
    flops: |c| 2 * c.inputs[1],
    ..PURE
};

pub(crate) static CONV: OpSpec = OpSpec {
    name: |_| "conv",
    arity: Arity::Exactly(3),
    infer: |op, c| {
        let Op::Conv { groups } = op else {
            unreachable!()
        };
        c.f32s()?;
        let (win, w, b) = (c.dims(0)?, c.dims(1)?, c.dims(2)?);
        let g = *groups as u64;
        let ok = win.len() == 2
            && w.len() == 3
            && g > 0
            && win[0] % g == 0
            && w[0] % g == 0
            && w[1] == win[0] / g
            && w[2] >= 1
            && win[1] >= w[2]
            && b == [w[0]];
        if !ok {
            return Err(format!(
                "conv needs window [C_in, W >= K], weight [C_out, C_in/{g}, K], bias [C_out]; got {win:?}, {w:?}, {b:?}"
            ));
        }
        Ok(Some(TensorType::f32([w[0], win[1] - w[2] + 1])))
    },
    attrs: |op, f, _| match op {
        Op::Conv { groups } => write!(f, "{{groups={groups}}}"),
        _ => Ok(()),
    },
    flops: |c| 2 * c.inputs[1] * c.output_last,
    ..PURE
};

pub(crate) static TRANSPOSE: OpSpec = OpSpec {
    name: |_| "transpose",
    infer: |_, c| {
        let mut d = c.dims(0)?;
        let n = d.len();
        if n < 2 {
            return Err(format!("transpose needs rank >= 2, got {d:?}"));
        }
        d.swap(n - 2, n - 1);
        Ok(Some(TensorType::new(c.ins[0].dtype, d)))
    },
    ..PURE
};

fn state_operand(op: &Op) -> SmallVec<[Operand; 2]> {
    match op {
        Op::StateRead { state } | Op::StateWrite { state } | Op::CacheAppend { state } => {
            smallvec![Operand::State(*state)]
        }
        _ => SmallVec::new(),
    }
}

pub(crate) static STATE_READ: OpSpec = OpSpec {
    name: |_| "state_read",
    arity: Arity::Exactly(0),
    infer: |op, c| {
        let Op::StateRead { state } = op else {
            unreachable!()
        };
        let st = c.state(*state)?;
        if !st.is_static() {
            return Err(format!(
                "state {state} has a symbolic shape: read it through attention"
            ));
        }
        Ok(Some(st))
    },
    operands: state_operand,
    effects: |op| match op {
        Op::StateRead { state } => smallvec![Effect::Reads(*state)],
        _ => SmallVec::new(),
    },
    step_varying: true,
    ..PURE
};

pub(crate) static STATE_WRITE: OpSpec = OpSpec {
    name: |_| "state_write",
    infer: |op, c| {
        let Op::StateWrite { state } = op else {
            unreachable!()
        };
        let st = c.state(*state)?;
        if *c.ins[0] != st {
            return Err(format!(
                "state_write of a value that is not of the state's type {st:?}"
            ));
        }
        Ok(None)
    },
    operands: state_operand,
    effects: |op| match op {
        Op::StateWrite { state } => smallvec![Effect::Writes(*state)],
        _ => SmallVec::new(),
    },
    side_effect: true,
    ..PURE
};

/// KV caches hold f32 or f16 (rounded on append; attention sums in f32 either way).
fn kv_cache_dtype(st: &TensorType) -> Result<(), String> {
    match st.dtype {
        DType::F32 | DType::F16 => Ok(()),
        other => Err(format!("a KV cache holds f32 or f16, not {other}")),
    }
}

pub(crate) static CACHE_APPEND: OpSpec = OpSpec {
    name: |_| "cache_append",
    arity: Arity::Exactly(2),
    infer: |op, c| {
        let Op::CacheAppend { state } = op else {
            unreachable!()
        };
        c.dtype(0, DType::F32)?;
        c.position(1)?;
        let st = c.state(*state)?;
        kv_cache_dtype(&st)?;
        let (rows, dim) = c.token_rows("cache_append")?;
        let ok = st.rank() == 3 && st.dims[0] == Dim::Const(rows) && st.dims[2] == Dim::Const(dim);
        if !ok {
            return Err(format!(
                "cache_append of {:?} into a state of shape {:?}",
                c.ins[0].dims, st.dims
            ));
        }
        Ok(None)
    },
    operands: state_operand,
    effects: |op| match op {
        Op::CacheAppend { state } => smallvec![Effect::Writes(*state)],
        _ => SmallVec::new(),
    },
    side_effect: true,
    ..PURE
};

pub(crate) static ATTENTION: OpSpec = OpSpec {
    name: |_| "attention",
    arity: Arity::Exactly(2),
    infer: |op, c| {
        let Op::Attention {
            k_cache,
            v_cache,
            scale,
        } = op
        else {
            unreachable!()
        };
        c.dtype(0, DType::F32)?;
        c.position(1)?;
        let (nq, hd) = c.token_rows("attention")?;
        let (kt, vt) = (c.state(*k_cache)?, c.state(*v_cache)?);
        kv_cache_dtype(&kt)?;
        if kt != vt || kt.rank() != 3 {
            return Err(
                "attention needs q [nq, hd] or [T, nq, hd] and equal caches [nkv, ctx, hd]".into(),
            );
        }
        let nkv = kt.dims[0]
            .as_const()
            .ok_or("cache heads must be constant")?;
        if kt.dims[2] != Dim::Const(hd) || nkv == 0 || nq % nkv != 0 {
            return Err(format!(
                "q {:?} does not fit caches {:?}",
                c.ins[0].dims, kt.dims
            ));
        }
        positive("scale", *scale)?;
        c.same(0)
    },
    attrs: |op, f, _| match op {
        Op::Attention { scale, .. } => write!(f, "{{scale={scale:?}}}"),
        _ => Ok(()),
    },
    operands: |op| match op {
        Op::Attention {
            k_cache, v_cache, ..
        } => smallvec![Operand::State(*k_cache), Operand::State(*v_cache)],
        _ => SmallVec::new(),
    },
    effects: |op| match op {
        Op::Attention {
            k_cache, v_cache, ..
        } => smallvec![Effect::Reads(*k_cache), Effect::Reads(*v_cache)],
        _ => SmallVec::new(),
    },
    step_varying: true,
    // q·k and p·v per query element and cache row.
    flops: |c| 4 * c.inputs[0] * (c.context_tokens + 1),
    ..PURE
};
