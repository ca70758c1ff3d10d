//! Lowering a graph to a sequence of kernels over buffers, without a device.
//!
//! A [`Kernel`] is what the executor runs: one or more dispatches of one shader variant,
//! covering some instructions. Four kinds: [`KernelKind::Primitive`] (one instruction, one
//! kernel), [`KernelKind::QMatVec`] (a `dequant` whose output only feeds matvecs, fused into
//! each of them so the weight is read packed), and for an optimizer group
//! [`KernelKind::FusedMatVec`] or [`KernelKind::Region`] (`fused`; chosen by the group's shape,
//! not its label). A group that does not fit the binding budget falls back to primitives.
//! [`target`] tells the optimizer's plan these rules.
//!
//! Buffers: one per value (a `reshape` aliases its input; a fused `dequant` has none), one
//! per state, weights in row windows (see `weights`), a small step buffer holding the
//! symbols (`pos`, `ctx`), constant tables (RoPE inverse frequencies) and one attention
//! scratch buffer. Instructions whose inputs never change (consts, weight dequants and what
//! follows from them only) are marked constant and run once per session.

use crate::error::{GpuError, Result};
use crate::weights::{Window, rows_per_index};
use crate::wgsl::{CopyIndex, Elementwise, F32_FORMAT, PARAM_WORDS, RowOp, Shader};
use zaya_ir::{DType, Dim, Graph, Op, ValueId, WeightFormat};

/// A buffer a dispatch binds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Res {
    /// A value buffer (index into [`Plan::buffers`]).
    Value(usize),
    State(usize),
    /// Part 0 (packed), 1 (scales) or 2 (biases) of one window of a weight.
    Weight {
        weight: usize,
        part: u8,
        window: usize,
    },
    /// Symbol values of the current step (word k = symbol k).
    Step,
    Table(usize),
    Scratch,
}

/// One dispatch: a shader variant, its parameter words, its workgroup count (the executor
/// folds it into a 2-D grid) and its bindings (in the shader's binding order).
#[derive(Clone, Debug, PartialEq)]
pub struct Dispatch {
    pub shader: Shader,
    pub params: [u32; PARAM_WORDS],
    pub workgroups: u32,
    pub bindings: Vec<Res>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelKind {
    /// One primitive instruction.
    Primitive,
    /// `dequant` + `matvec` fused: the matvec reads the packed weight (an expert index, if
    /// any, is read from a GPU buffer).
    QMatVec,
    /// An optimizer group lowered with the fused matvec template (norm prologue, sibling
    /// matvecs, per-row epilogue, optional argmax): see `fused`.
    FusedMatVec,
    /// An optimizer group run by one workgroup, op after op (`cca`, `router`, `lookup`, any
    /// other group): see `fused`.
    Region,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Kernel {
    pub kind: KernelKind,
    pub label: String,
    /// Instructions this kernel computes (a fused dequant first).
    pub insts: Vec<usize>,
    pub dispatches: Vec<Dispatch>,
    /// Inputs never change: run once per session, not every step.
    pub constant: bool,
}

/// An optimizer group (or phase of one) that no template could express, so it runs
/// instruction by instruction, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    pub label: String,
    pub start: usize,
    pub end: usize,
    pub reason: String,
}

/// A lowered graph.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub kernels: Vec<Kernel>,
    /// Groups lowered instruction by instruction, with the reason.
    pub refused: Vec<Refusal>,
    /// 32-bit words of each value buffer.
    pub buffers: Vec<u64>,
    /// The buffer holding each value (`None` for fused dequants).
    pub value_buffer: Vec<Option<usize>>,
    pub state_words: Vec<u64>,
    /// Const values, uploaded once per session.
    pub consts: Vec<(usize, Vec<f32>)>,
    pub tables: Vec<Vec<f32>>,
    pub scratch_words: u64,
    /// Per graph input: the exclusive bound of its values when used as an index.
    pub input_bounds: Vec<Option<u64>>,
}

impl Plan {
    /// Dispatches of one step once constants are computed.
    pub fn dispatches_per_step(&self) -> usize {
        self.kernels
            .iter()
            .filter(|k| !k.constant)
            .map(|k| k.dispatches.len())
            .sum()
    }

    /// Every distinct shader variant the plan uses, in first-use order.
    pub fn shaders(&self) -> Vec<Shader> {
        let mut seen = std::collections::HashSet::new();
        self.kernels
            .iter()
            .flat_map(|k| &k.dispatches)
            .filter(|d| seen.insert(d.shader.clone()))
            .map(|d| d.shader.clone())
            .collect()
    }
}

/// What lowering needs besides the graph.
pub struct LowerInput<'a> {
    /// The stored format of each weight (as bound, or as declared without a device).
    pub formats: &'a [WeightFormat],
    /// Row windows of each weight.
    pub windows: &'a [Vec<Window>],
    /// KV-cache capacity (the `ctx` symbol).
    pub ctx: u64,
    /// Storage buffers one generated kernel may bind; a group needing more is lowered
    /// instruction by instruction.
    pub max_bindings: u32,
    /// Largest storage binding in bytes (scratch of generated kernels must fit).
    pub max_binding_bytes: u64,
    /// What the fused matvec template may use on the device, and its tuned variants.
    pub matvec: &'a crate::variant::MatVecTarget,
}

/// Storage bindings a generated kernel may use without a device: Metal offers 31 buffer
/// slots per stage, of which the params uniform and naga's array-sizes buffer take two.
pub const PORTABLE_MAX_BINDINGS: u32 = 28;

/// What this backend tells the optimizer's plan on a device with `limits`: the binding budget
/// its fused kernels fall back under, its argmax launch rule, its buffer offset alignment.
pub fn target(limits: &wgpu::Limits) -> zaya_ir::Target {
    zaya_ir::Target {
        max_storage_bindings: LowerInput::limits_of(limits).0,
        align: u64::from(limits.min_storage_buffer_offset_alignment),
        ..portable_target()
    }
}

/// [`target`] without a device: the portable binding budget (Metal's) and WebGPU's largest
/// offset alignment, which every adapter this backend runs on meets.
pub fn portable_target() -> zaya_ir::Target {
    zaya_ir::Target {
        max_storage_bindings: PORTABLE_MAX_BINDINGS,
        one_pass_argmax: crate::fused::ONE_PASS_ARGMAX,
        align: 256,
    }
}

impl LowerInput<'_> {
    /// Binding limits of a device (capped at the portable Metal budget, so a plan built on
    /// one machine also lowers to MSL).
    pub fn limits_of(limits: &wgpu::Limits) -> (u32, u64) {
        (
            limits
                .max_storage_buffers_per_shader_stage
                .min(PORTABLE_MAX_BINDINGS),
            crate::weights::max_window_bytes(limits),
        )
    }
}

const WG_ELEMS: u64 = 256;

/// Lowers `g` (validated) to kernels.
pub fn lower(g: &Graph, input: &LowerInput<'_>) -> Result<Plan> {
    let mut l = Lowering::new(g, input)?;
    for group in g.kernel_ranges() {
        // A group of serial ops runs as several launches around its wide ops (the
        // optimizer's plan counts the same phases), each phase a kernel of its own.
        let phases = zaya_opt::phases(g, &group);
        let split = phases.len() > 1;
        for (n, phase) in phases.into_iter().enumerate() {
            let range = zaya_ir::KernelRange {
                group: group.group,
                start: phase.start,
                end: phase.end,
            };
            let first = l.plan.kernels.len();
            // The fused templates are written for one token: a group holding token-chunk
            // (prefill) ops runs instruction by instruction, through the chunk kernels.
            let chunk = (range.start..range.end).any(|i| l.chunk_op(i));
            if chunk && range.group.is_some() && range.end - range.start > 1 {
                l.plan.refused.push(Refusal {
                    label: g.kernel_label(group.start).to_string(),
                    start: range.start,
                    end: range.end,
                    reason: "token-chunk (prefill) ops run as per-instruction kernels".into(),
                });
            }
            if !chunk
                && range.group.is_some()
                && range.end - range.start > 1
                && let Some(kernels) = crate::fused::lower_group(&mut l, &range)?
            {
                l.plan.kernels.extend(kernels);
            } else {
                for i in range.start..range.end {
                    l.inst(i)?;
                }
            }
            if split && range.group.is_some() {
                let label = g.kernel_label(group.start).to_string();
                for k in &mut l.plan.kernels[first..] {
                    k.label = format!("{label}.{n} {}", k.label);
                }
            }
        }
    }
    l.plan.input_bounds = input_bounds(g);
    Ok(l.plan)
}

pub(crate) struct Lowering<'a> {
    pub(crate) g: &'a Graph,
    pub(crate) input: &'a LowerInput<'a>,
    pub(crate) plan: Plan,
    pub(crate) dims: Vec<Vec<u64>>,
    /// Instructions reading each value (by instruction index).
    pub(crate) users: Vec<Vec<usize>>,
    fused: Vec<bool>,
    constant: Vec<bool>,
}

/// Elements of a state in a session of `ctx` tokens.
pub(crate) fn state_elements(state: &zaya_ir::State, ctx: u64) -> u64 {
    state
        .ty
        .dims
        .iter()
        .map(|d| match d {
            Dim::Const(n) => *n,
            Dim::Sym(_) => ctx,
        })
        .product()
}

fn unsupported(i: usize, op: &Op, reason: impl Into<String>) -> GpuError {
    GpuError::Unsupported {
        inst: i,
        op: op.mnemonic(),
        reason: reason.into(),
    }
}

impl<'a> Lowering<'a> {
    fn new(g: &'a Graph, input: &'a LowerInput<'a>) -> Result<Self> {
        let mut dims = Vec::with_capacity(g.values.len());
        for (i, v) in g.values.iter().enumerate() {
            if !matches!(v.ty.dtype, DType::F32 | DType::U32) {
                return Err(GpuError::UnsupportedType {
                    value: i,
                    dtype: v.ty.dtype,
                });
            }
            dims.push(v.ty.const_dims().map(|d| d.to_vec()).unwrap_or_default());
        }
        // f16 states are KV caches (--kv-dtype f16); the cache ops read and
        // write them as pairs, and a state copy of one is refused below.
        if let Some(s) = g
            .states
            .iter()
            .find(|s| !matches!(s.ty.dtype, DType::F32 | DType::F16))
        {
            return Err(GpuError::UnsupportedState {
                name: s.name.clone(),
                dtype: s.ty.dtype,
            });
        }
        let matvec_only = zaya_ir::analysis::matvec_only_weights(g);
        let fused: Vec<bool> = g
            .insts
            .iter()
            .map(|inst| {
                matches!(inst.op, Op::Dequant { .. }) && matvec_only[inst.outputs[0].index()]
            })
            .collect();
        let constant = zaya_ir::analysis::step_invariant_values(g);
        let mut plan = Plan {
            value_buffer: vec![None; g.values.len()],
            ..Default::default()
        };
        plan.state_words = g
            .states
            .iter()
            .map(|s| {
                let per_word = if s.ty.dtype == DType::F16 { 2 } else { 1 };
                state_elements(s, input.ctx).div_ceil(per_word).max(1)
            })
            .collect();
        let mut users = vec![vec![]; g.values.len()];
        for (i, inst) in g.insts.iter().enumerate() {
            for v in &inst.inputs {
                users[v.index()].push(i);
            }
        }
        let mut l = Lowering {
            g,
            input,
            plan,
            dims,
            users,
            fused,
            constant,
        };
        for &v in &g.inputs {
            l.new_buffer(v);
        }
        Ok(l)
    }

    /// Whether instruction `i` is the token-chunk (prefill) form of its op.
    fn chunk_op(&self, i: usize) -> bool {
        let inst = &self.g.insts[i];
        let rank = |k: usize| inst.inputs.get(k).map_or(0, |v| self.dims[v.index()].len());
        match inst.op {
            Op::Conv { .. } | Op::Transpose => true,
            Op::MatVec => rank(1) != 1,
            Op::CacheAppend { .. } | Op::Attention { .. } => rank(0) != 2,
            Op::Rope { .. } => rank(0) == 3,
            Op::Dequant { .. } => rank(0) > 1,
            _ => false,
        }
    }

    pub(crate) fn new_buffer(&mut self, v: ValueId) -> usize {
        let words = self.dims[v.index()].iter().product::<u64>().max(1);
        self.plan.buffers.push(words);
        let b = self.plan.buffers.len() - 1;
        self.plan.value_buffer[v.index()] = Some(b);
        b
    }

    fn buf(&self, i: usize, v: ValueId) -> Result<Res> {
        self.plan.value_buffer[v.index()]
            .map(Res::Value)
            .ok_or_else(|| unsupported(i, &self.g.insts[i].op, format!("input {v} has no buffer")))
    }

    fn dims_of(&self, v: ValueId) -> &[u64] {
        &self.dims[v.index()]
    }

    fn push(&mut self, i: usize, kind: KernelKind, dispatches: Vec<Dispatch>) {
        let inst = &self.g.insts[i];
        let constant = !inst.op.has_side_effect()
            && !inst.outputs.is_empty()
            && inst.outputs.iter().all(|o| self.constant[o.index()]);
        let (label, insts) = match kind {
            KernelKind::Primitive | KernelKind::FusedMatVec | KernelKind::Region => {
                (inst.op.mnemonic().to_string(), vec![i])
            }
            KernelKind::QMatVec => {
                let d = self.g.producer(inst.inputs[0]).map_or(i, |p| p.index());
                (
                    format!("qmatvec {}", self.g.weights[self.weight_of(d)].format.tag()),
                    vec![d, i],
                )
            }
        };
        self.plan.kernels.push(Kernel {
            kind,
            label,
            insts,
            dispatches,
            constant,
        });
    }

    fn weight_of(&self, dequant: usize) -> usize {
        match self.g.insts[dequant].op {
            Op::Dequant { weight } => weight.index(),
            _ => 0,
        }
    }

    fn inst(&mut self, i: usize) -> Result<()> {
        let g = self.g;
        let inst = &g.insts[i];
        if self.fused[i] {
            return Ok(());
        }
        // Every output gets its buffer first (reshape aliases).
        if let Op::Reshape { .. } = inst.op {
            self.plan.value_buffer[inst.outputs[0].index()] =
                self.plan.value_buffer[inst.inputs[0].index()];
            return Ok(());
        }
        let out = inst.outputs.first().map(|&o| (o, self.new_buffer(o)));
        let op = &inst.op;
        let ins = &inst.inputs;
        let out_res = out.map(|(_, b)| Res::Value(b));
        let out_dims: Vec<u64> = out
            .map(|(o, _)| self.dims[o.index()].clone())
            .unwrap_or_default();
        let dispatch = match op {
            Op::Transpose => {
                // [.., a, b] -> [.., b, a]: per leading slice, source row k (of a) becomes
                // destination column k.
                let x = self.dims_of(ins[0]);
                let n = x.len();
                let (a, b) = (x[n.saturating_sub(2)], x[n - 1]);
                let batch: u64 = x[..n.saturating_sub(2)].iter().product();
                let (src, dst) = (self.buf(i, ins[0])?, res(out_res));
                (0..batch)
                    .map(|s| {
                        let base = s * a * b;
                        copy(
                            CopyIndex::None,
                            &[a * b, b, 1, base, b, 1, base, 1, a],
                            vec![src, dst],
                        )
                    })
                    .collect()
            }
            Op::Const { values } => {
                let n = out_dims.iter().product::<u64>() as usize;
                let data = if values.len() == 1 {
                    vec![values[0]; n]
                } else {
                    values.clone()
                };
                if let Some((_, b)) = out {
                    self.plan.consts.push((b, data));
                }
                return Ok(());
            }
            Op::Symbol { sym } => {
                // The step buffer holds the symbols' u32 values in order.
                let at = u64::from(sym.0);
                vec![copy(
                    CopyIndex::None,
                    &[1, 1, 1, at, 0, 0, 0, 0, 0],
                    vec![Res::Step, res(out_res)],
                )]
            }
            Op::Dequant { weight } => {
                self.dequant(i, weight.index(), ins.first().copied(), out_res)?
            }
            Op::MatVec => return self.matvec(i),
            Op::Unary { op: u } => {
                vec![self.ew_values(i, Elementwise::Unary(*u), out_res, &out_dims)?]
            }
            Op::Binary { op: b } => {
                vec![self.ew_values(i, Elementwise::Binary(*b), out_res, &out_dims)?]
            }
            Op::Select => vec![self.ew_values(i, Elementwise::Select, out_res, &out_dims)?],
            Op::Cast { to } => {
                let from = g.ty(ins[0]).dtype;
                match (from, to) {
                    (DType::U32, DType::F32) => {
                        vec![self.ew_values(i, Elementwise::ToF32, out_res, &out_dims)?]
                    }
                    (DType::F32, DType::U32) => {
                        vec![self.ew_values(i, Elementwise::ToU32, out_res, &out_dims)?]
                    }
                    _ => {
                        let n = out_dims.iter().product::<u64>();
                        vec![plain_copy(self.buf(i, ins[0])?, out_res, n)]
                    }
                }
            }
            Op::Reduce { op: r, axis } => {
                let (outer, n, inner) = around_axis(self.dims_of(ins[0]), *axis as usize);
                let mut params = [0u32; PARAM_WORDS];
                set(&mut params, &[outer * inner, n, inner]);
                vec![Dispatch {
                    shader: Shader::Reduce(*r),
                    params,
                    workgroups: groups(outer * inner, WG_ELEMS),
                    bindings: vec![self.buf(i, ins[0])?, res(out_res)],
                }]
            }
            Op::Softmax | Op::Argmax | Op::RmsNorm { .. } => {
                let x = self.dims_of(ins[0]);
                let n = *x.last().unwrap_or(&1);
                let rows = x.iter().product::<u64>() / n.max(1);
                let mut params = [0u32; PARAM_WORDS];
                set(&mut params, &[rows, n]);
                let (row_op, bindings) = match op {
                    Op::Softmax => (RowOp::Softmax, vec![self.buf(i, ins[0])?, res(out_res)]),
                    Op::Argmax => (RowOp::Argmax, vec![self.buf(i, ins[0])?, res(out_res)]),
                    Op::RmsNorm { eps } => {
                        params[2] = eps.to_bits();
                        (
                            RowOp::RmsNorm,
                            vec![self.buf(i, ins[0])?, self.buf(i, ins[1])?, res(out_res)],
                        )
                    }
                    _ => unreachable!("matched above"),
                };
                vec![Dispatch {
                    shader: Shader::Row(row_op),
                    params,
                    workgroups: rows as u32,
                    bindings,
                }]
            }
            Op::Rope { rot_dims, theta } => {
                let table = self.rope_table(*rot_dims, *theta);
                let x = self.dims_of(ins[0]);
                let n = *x.last().unwrap_or(&1);
                let count = x.iter().product::<u64>();
                // Token t of a chunk [T, rows, n] at pos + t, else every row at pos.
                let tokens = if x.len() == 3 { x[0] } else { 1 };
                let mut params = [0u32; PARAM_WORDS];
                set(
                    &mut params,
                    &[count, n, *rot_dims as u64, count / tokens.max(1)],
                );
                vec![Dispatch {
                    shader: Shader::Rope,
                    params,
                    workgroups: groups(count, WG_ELEMS),
                    bindings: vec![
                        self.buf(i, ins[0])?,
                        self.buf(i, ins[1])?,
                        Res::Table(table),
                        res(out_res),
                    ],
                }]
            }
            Op::Gather { axis } => {
                let (outer, n, inner) = around_axis(self.dims_of(ins[0]), *axis as usize);
                let k = self.dims_of(ins[1]).iter().product::<u64>();
                let p = [
                    outer * k * inner,
                    k,
                    inner,
                    0,
                    n * inner,
                    inner,
                    0,
                    k * inner,
                    inner,
                    n,
                    0,
                ];
                vec![copy(
                    CopyIndex::Gather,
                    &p,
                    vec![self.buf(i, ins[0])?, self.buf(i, ins[1])?, res(out_res)],
                )]
            }
            Op::Slice { axis, start, len } => {
                let (outer, n, inner) = around_axis(self.dims_of(ins[0]), *axis as usize);
                let p = [
                    outer * len * inner,
                    *len,
                    inner,
                    start * inner,
                    n * inner,
                    inner,
                    0,
                    len * inner,
                    inner,
                ];
                vec![copy(
                    CopyIndex::None,
                    &p,
                    vec![self.buf(i, ins[0])?, res(out_res)],
                )]
            }
            Op::Concat { axis } => {
                let a = *axis as usize;
                let (outer, total, inner) = around_axis(&out_dims, a);
                let mut at = 0;
                let mut parts = vec![];
                for &v in ins {
                    let n = self.dims_of(v)[a];
                    let p = [
                        outer * n * inner,
                        n,
                        inner,
                        0,
                        n * inner,
                        inner,
                        at * inner,
                        total * inner,
                        inner,
                    ];
                    parts.push(copy(
                        CopyIndex::None,
                        &p,
                        vec![self.buf(i, v)?, res(out_res)],
                    ));
                    at += n;
                }
                parts
            }
            Op::ConvStep { groups: gr } | Op::Conv { groups: gr } => {
                // One shader for both: a decode step is a window of K columns, one output.
                let win = self.dims_of(ins[0]);
                let (c_in, w) = (win[0], win[1]);
                let k = *self.dims_of(ins[1]).last().unwrap_or(&1);
                let c_out = out_dims[0];
                let cols = w + 1 - k.min(w + 1);
                let mut params = [0u32; PARAM_WORDS];
                set(&mut params, &[c_out, c_in, k, *gr as u64, w, cols.max(1)]);
                vec![Dispatch {
                    shader: Shader::ConvStep,
                    params,
                    workgroups: groups(c_out * cols.max(1), WG_ELEMS),
                    bindings: vec![
                        self.buf(i, ins[0])?,
                        self.buf(i, ins[1])?,
                        self.buf(i, ins[2])?,
                        res(out_res),
                    ],
                }]
            }
            Op::StateRead { state } | Op::StateWrite { state }
                if g.states[state.index()].ty.dtype != DType::F32 =>
            {
                return Err(unsupported(i, op, "a state copy of an f16 state"));
            }
            Op::StateRead { state } => {
                let n = self.plan.state_words[state.index()];
                vec![plain_copy(Res::State(state.index()), out_res, n)]
            }
            Op::StateWrite { state } => {
                let n = self.plan.state_words[state.index()];
                vec![plain_copy(
                    self.buf(i, ins[0])?,
                    Some(Res::State(state.index())),
                    n,
                )]
            }
            Op::CacheAppend { state } => {
                // x [heads, dim] at row pos, or a chunk [T, heads, dim] at rows pos..pos + T
                // (the token axis outermost; word 11 adds it to the position). Indices count
                // the cache's words: a row of an f16 cache is dim / 2 pairs.
                let x = self.dims_of(ins[0]);
                let n = x.len();
                let (heads, dim) = (x[n - 2], x[n - 1]);
                let tokens: u64 = x[..n - 2].iter().product();
                let f16 = g.states[state.index()].ty.dtype == DType::F16;
                if f16 && !dim.is_multiple_of(2) {
                    return Err(unsupported(i, op, format!("an f16 cache of odd row {dim}")));
                }
                let d = if f16 { dim / 2 } else { dim };
                let ctx = self.input.ctx;
                let p = if n == 2 {
                    [heads * d, 1, d, 0, d, 0, 0, ctx * d, 0, ctx, d, 0]
                } else {
                    [
                        tokens * heads * d,
                        heads,
                        d,
                        0,
                        heads * d,
                        d,
                        0,
                        d,
                        ctx * d,
                        ctx,
                        d,
                        1,
                    ]
                };
                vec![copy(
                    CopyIndex::Position { f16 },
                    &p,
                    vec![
                        self.buf(i, ins[0])?,
                        self.buf(i, ins[1])?,
                        Res::State(state.index()),
                    ],
                )]
            }
            Op::Attention {
                k_cache,
                v_cache,
                scale,
            } => {
                // q [nq, hd] (decode) or [T, nq, hd] (a prefill chunk, token t at pos + t).
                let q = self.dims_of(ins[0]);
                let r = q.len();
                let (nq, hd) = (q[r - 2], q[r - 1]);
                let tokens: u64 = q[..r - 2].iter().product();
                let nkv = g.states[k_cache.index()].ty.dims[0].as_const().unwrap_or(1);
                let ctx = self.input.ctx;
                if hd > 4 * u64::from(crate::wgsl::ATTENTION_SPLIT_WG) {
                    return Err(unsupported(i, op, format!("head dim {hd} above 256")));
                }
                if nkv == 0 || nq % nkv != 0 || nq / nkv > 8 {
                    return Err(unsupported(
                        i,
                        op,
                        format!("{nq} query heads over {nkv} kv heads (at most 8 per kv head)"),
                    ));
                }
                // Flash-decoding: chunks of keys over the device, then a merge (see
                // shaders/attention_split.wgsl, attention_combine.wgsl).
                let chunk = crate::wgsl::ATTENTION_CHUNK;
                let nch = ctx.div_ceil(chunk).max(1);
                self.plan.scratch_words = self.plan.scratch_words.max(tokens * nq * nch * (hd + 2));
                let mut params = [0u32; PARAM_WORDS];
                set(&mut params, &[nq, nkv, hd, ctx, 0, chunk, nch, tokens]);
                params[4] = scale.to_bits();
                let f16 = g.states[k_cache.index()].ty.dtype == DType::F16;
                let split = Dispatch {
                    shader: Shader::AttentionSplit { f16 },
                    params,
                    workgroups: (tokens * nkv * nch) as u32,
                    bindings: vec![
                        self.buf(i, ins[0])?,
                        self.buf(i, ins[1])?,
                        Res::State(k_cache.index()),
                        Res::State(v_cache.index()),
                        Res::Scratch,
                    ],
                };
                let mut params = [0u32; PARAM_WORDS];
                set(&mut params, &[nq, hd, ctx, chunk, nch, tokens]);
                let combine = Dispatch {
                    shader: Shader::AttentionCombine,
                    params,
                    workgroups: groups(
                        tokens * nq * hd,
                        u64::from(crate::wgsl::ATTENTION_COMBINE_WG),
                    ),
                    bindings: vec![self.buf(i, ins[1])?, Res::Scratch, res(out_res)],
                };
                vec![split, combine]
            }
            Op::Reshape { .. } => unreachable!("aliased above"),
        };
        self.push(i, KernelKind::Primitive, dispatch);
        Ok(())
    }

    /// An elementwise kernel over the instruction's own value inputs.
    fn ew_values(
        &self,
        i: usize,
        e: Elementwise,
        out: Option<Res>,
        out_dims: &[u64],
    ) -> Result<Dispatch> {
        let inputs: Vec<(Res, Vec<u64>, u32)> = self.g.insts[i]
            .inputs
            .iter()
            .map(|&v| Ok((self.buf(i, v)?, self.dims_of(v).to_vec(), 0)))
            .collect::<Result<_>>()?;
        self.elementwise(i, e, &inputs, out, out_dims)
    }

    fn elementwise(
        &self,
        i: usize,
        e: Elementwise,
        inputs: &[(Res, Vec<u64>, u32)],
        out: Option<Res>,
        out_dims: &[u64],
    ) -> Result<Dispatch> {
        let out4 = pad4(out_dims)
            .ok_or_else(|| unsupported(i, &self.g.insts[i].op, "elementwise rank above 4"))?;
        let mut params = [0u32; PARAM_WORDS];
        let count: u64 = out_dims.iter().product();
        params[0] = count as u32;
        for d in 0..4 {
            params[2 + d] = out4[d] as u32;
        }
        for (k, (_, dims, base)) in inputs.iter().enumerate() {
            let strides = broadcast_strides(dims, &out4);
            for d in 0..4 {
                params[6 + 4 * k + d] = strides[d] as u32;
            }
            params[18 + k] = *base;
        }
        let mut bindings: Vec<Res> = inputs.iter().map(|(r, _, _)| *r).collect();
        bindings.push(res(out));
        Ok(Dispatch {
            shader: Shader::Elementwise(e),
            params,
            workgroups: groups(count, WG_ELEMS),
            bindings,
        })
    }

    /// Parameters and bindings shared by matvec and dequant over weight `w`: one dispatch
    /// per window. `grid` is the number of output rows; `per_wg` rows per workgroup
    /// (0: elements, 256 per workgroup).
    #[allow(clippy::too_many_arguments)]
    fn weight_dispatches(
        &self,
        shader: Shader,
        w: usize,
        index: Option<Res>,
        tail: &[Res],
        out_rows: u64,
        cols: u64,
        by_element: bool,
    ) -> Vec<Dispatch> {
        let format = self.input.formats[w];
        let (scales, biases) = crate::wgsl::weight_parts(format);
        let decl = &self.g.weights[w].dims;
        let rpi = rows_per_index(decl);
        let bound = decl.first().copied().unwrap_or(1);
        let windows = &self.input.windows[w];
        windows
            .iter()
            .enumerate()
            .map(|(k, win)| {
                // Indexed: the grid covers every output row and the window test inside the
                // kernel picks the dispatch holding the selected slice. Not indexed: the grid
                // covers exactly the window's rows.
                let (grid_rows, out_base) = if index.is_some() {
                    (out_rows, 0)
                } else {
                    (win.rows, win.row0)
                };
                let mut params = [0u32; PARAM_WORDS];
                let grid = if by_element {
                    grid_rows * cols
                } else {
                    grid_rows
                };
                set(
                    &mut params,
                    &[grid, cols, out_base, win.row0, win.rows, rpi, bound],
                );
                let mut bindings = vec![Res::Weight {
                    weight: w,
                    part: 0,
                    window: k,
                }];
                if scales {
                    bindings.push(Res::Weight {
                        weight: w,
                        part: 1,
                        window: k,
                    });
                }
                if biases {
                    bindings.push(Res::Weight {
                        weight: w,
                        part: 2,
                        window: k,
                    });
                }
                bindings.extend(index);
                bindings.extend_from_slice(tail);
                Dispatch {
                    shader: shader.clone(),
                    params,
                    workgroups: if by_element {
                        groups(grid, WG_ELEMS)
                    } else {
                        grid as u32
                    },
                    bindings,
                }
            })
            .collect()
    }

    fn dequant(
        &self,
        i: usize,
        w: usize,
        index: Option<ValueId>,
        out: Option<Res>,
    ) -> Result<Vec<Dispatch>> {
        let format = self.input.formats[w];
        let decl = &self.g.weights[w].dims;
        let cols = *decl.last().unwrap_or(&1);
        let out_rows = self
            .dims_of(self.g.insts[i].outputs[0])
            .iter()
            .product::<u64>()
            / cols.max(1);
        let index = index.map(|v| self.buf(i, v)).transpose()?;
        let shader = Shader::Dequant {
            format,
            indexed: index.is_some(),
        };
        Ok(self.weight_dispatches(shader, w, index, &[res(out)], out_rows, cols, true))
    }

    fn matvec(&mut self, i: usize) -> Result<()> {
        let g = self.g;
        let inst = &g.insts[i];
        let out = inst.outputs[0];
        let x_dims = self.dims_of(inst.inputs[1]).to_vec();
        let w_dims = self.dims_of(inst.inputs[0]).to_vec();
        let rows = *self.dims_of(out).last().unwrap_or(&1);
        let cols = *x_dims.last().unwrap_or(&1);
        let tokens = x_dims.iter().product::<u64>() / cols.max(1);
        let per_token = w_dims.len() == 3;
        if x_dims.len() > 1 || per_token {
            return self.matmul(i, tokens, rows, cols, per_token);
        }
        let y = Res::Value(self.new_buffer(out));
        let x = self.buf(i, inst.inputs[1])?;
        let producer = g.producer(inst.inputs[0]).map(|p| p.index());
        if let Some(d) = producer.filter(|&d| self.fused[d]) {
            let w = self.weight_of(d);
            let index = g.insts[d]
                .inputs
                .first()
                .map(|&v| self.buf(d, v))
                .transpose()?;
            let shader = Shader::MatVec {
                format: self.input.formats[w],
                indexed: index.is_some(),
            };
            let dispatches = self.weight_dispatches(shader, w, index, &[x, y], rows, cols, false);
            self.push(i, KernelKind::QMatVec, dispatches);
            return Ok(());
        }
        // The weight is an f32 value: a matvec over one "window" that is the whole value.
        let wbuf = self.buf(i, inst.inputs[0])?;
        let mut params = [0u32; PARAM_WORDS];
        set(&mut params, &[rows, cols, 0, 0, rows, 1, 1]);
        let d = Dispatch {
            shader: Shader::MatVec {
                format: F32_FORMAT,
                indexed: false,
            },
            params,
            workgroups: rows as u32,
            bindings: vec![wbuf, x, y],
        };
        self.push(i, KernelKind::Primitive, vec![d]);
        Ok(())
    }

    /// A matvec over a chunk of `tokens` rows of x (prefill): one weight for every token, or
    /// per-token slices picked by an indexed dequant's ids (grouped by expert on the GPU; see
    /// shaders/matmul.wgsl). One dispatch per weight window.
    fn matmul(
        &mut self,
        i: usize,
        tokens: u64,
        rows: u64,
        cols: u64,
        per_token: bool,
    ) -> Result<()> {
        let g = self.g;
        let inst = &g.insts[i];
        let op = &inst.op;
        if tokens > crate::wgsl::MATMUL_MAX_TOKENS {
            return Err(unsupported(
                i,
                op,
                format!(
                    "a chunk of {tokens} tokens (at most {})",
                    crate::wgsl::MATMUL_MAX_TOKENS
                ),
            ));
        }
        let x = self.buf(i, inst.inputs[1])?;
        let producer = g.producer(inst.inputs[0]).map(|p| p.index());
        let fused = producer.filter(|&d| self.fused[d]);
        let index = match fused {
            Some(d) => g.insts[d]
                .inputs
                .first()
                .map(|&v| self.buf(d, v))
                .transpose()?,
            None => None,
        };
        if per_token && index.is_none() {
            return Err(unsupported(
                i,
                op,
                "per-token weights [T, out, in] that are not an indexed dequant of a stored weight",
            ));
        }
        let out = inst.outputs[0];
        let y = Res::Value(self.new_buffer(out));
        // A width outside the kernel's choices (a hand-edited target) falls back to the
        // default: the reduction needs a power of two dividing 64.
        let team = Some(self.input.matvec.matmul_team)
            .filter(|t| crate::variant::MATMUL_TEAMS.contains(t))
            .unwrap_or(crate::variant::DEFAULT_MATMUL_TEAM);
        let Some(d) = fused else {
            // An f32 value [out, in] read as one window of an f32 weight.
            let wbuf = self.buf(i, inst.inputs[0])?;
            let mut params = [0u32; PARAM_WORDS];
            set(&mut params, &[rows, cols, tokens, 0, rows, rows, 1]);
            let d = Dispatch {
                shader: Shader::MatMul {
                    format: F32_FORMAT,
                    indexed: false,
                    team,
                },
                params,
                workgroups: crate::wgsl::matmul_workgroups(1, rows, team),
                bindings: vec![wbuf, x, y],
            };
            self.push(i, KernelKind::Primitive, vec![d]);
            return Ok(());
        };
        let w = self.weight_of(d);
        let format = self.input.formats[w];
        let (scales, biases) = crate::wgsl::weight_parts(format);
        let decl = &g.weights[w].dims;
        let rpi = rows_per_index(decl);
        let experts = if index.is_some() {
            decl.first().copied().unwrap_or(1)
        } else {
            1
        };
        let shader = Shader::MatMul {
            format,
            indexed: index.is_some(),
            team,
        };
        let dispatches = self.input.windows[w]
            .iter()
            .enumerate()
            .map(|(k, win)| {
                let mut params = [0u32; PARAM_WORDS];
                set(
                    &mut params,
                    &[rows, cols, tokens, win.row0, win.rows, rpi, experts],
                );
                let part = |part: u8| Res::Weight {
                    weight: w,
                    part,
                    window: k,
                };
                let mut bindings = vec![part(0)];
                if scales {
                    bindings.push(part(1));
                }
                if biases {
                    bindings.push(part(2));
                }
                bindings.extend(index);
                bindings.extend([x, y]);
                Dispatch {
                    shader: shader.clone(),
                    params,
                    workgroups: crate::wgsl::matmul_workgroups(experts, rows, team),
                    bindings,
                }
            })
            .collect();
        self.push(i, KernelKind::QMatVec, dispatches);
        Ok(())
    }

    /// Inverse frequencies computed like the CPU reference (f64, rounded to f32).
    fn rope_table(&mut self, rot: u32, theta: f64) -> usize {
        let half = (rot / 2) as usize;
        let table: Vec<f32> = (0..half)
            .map(|i| (1.0 / theta.powf((2 * i) as f64 / rot as f64)) as f32)
            .collect();
        if let Some(t) = self.plan.tables.iter().position(|t| *t == table) {
            return t;
        }
        self.plan.tables.push(table);
        self.plan.tables.len() - 1
    }
}

fn res(out: Option<Res>) -> Res {
    out.unwrap_or(Res::Scratch)
}

fn set(params: &mut [u32; PARAM_WORDS], words: &[u64]) {
    for (p, &w) in params.iter_mut().zip(words) {
        *p = w as u32;
    }
}

fn groups(n: u64, per: u64) -> u32 {
    n.div_ceil(per).max(1) as u32
}

fn copy(index: CopyIndex, words: &[u64], bindings: Vec<Res>) -> Dispatch {
    let mut params = [0u32; PARAM_WORDS];
    set(&mut params, words);
    Dispatch {
        shader: Shader::Copy(index),
        params,
        workgroups: groups(words[0], WG_ELEMS),
        bindings,
    }
}

/// A contiguous copy of `n` words.
fn plain_copy(src: Res, dst: Option<Res>, n: u64) -> Dispatch {
    copy(
        CopyIndex::None,
        &[n, 1, n, 0, 0, 0, 0, 0, 0],
        vec![src, res(dst)],
    )
}

/// Splits `dims` around `axis` into (outer, axis length, inner).
fn around_axis(dims: &[u64], axis: usize) -> (u64, u64, u64) {
    let outer = dims[..axis].iter().product();
    let inner = dims[axis + 1..].iter().product();
    (outer, dims[axis], inner)
}

/// `dims` with leading 1s to rank 4 (extra leading 1s dropped), or `None` above rank 4.
fn pad4(dims: &[u64]) -> Option<[u64; 4]> {
    let mut d: Vec<u64> = dims.to_vec();
    while d.len() > 4 && d[0] == 1 {
        d.remove(0);
    }
    if d.len() > 4 {
        return None;
    }
    let mut out = [1u64; 4];
    out[4 - d.len()..].copy_from_slice(&d);
    Some(out)
}

/// Strides of `dims` broadcast to the rank-4 `out` (0 where stretched).
fn broadcast_strides(dims: &[u64], out: &[u64; 4]) -> [u64; 4] {
    let mut strides = [0u64; 4];
    let mut stride = 1;
    for (k, &d) in dims.iter().enumerate().rev() {
        let o = 4 + k - dims.len();
        if o < 4 {
            strides[o] = if d == 1 && out[o] != 1 { 0 } else { stride };
        }
        stride *= d;
    }
    strides
}

/// For each graph input, the smallest bound among its uses as an index (dequant of a
/// stacked weight, gather), so bad ids are rejected before anything is dispatched.
fn input_bounds(g: &Graph) -> Vec<Option<u64>> {
    g.inputs
        .iter()
        .map(|&v| {
            g.insts
                .iter()
                .filter_map(|inst| match inst.op {
                    Op::Dequant { weight } if inst.inputs.first() == Some(&v) => {
                        g.weights[weight.index()].dims.first().copied()
                    }
                    Op::Gather { axis } if inst.inputs.get(1) == Some(&v) => g
                        .ty(inst.inputs[0])
                        .dims
                        .get(axis as usize)
                        .and_then(|d| d.as_const()),
                    _ => None,
                })
                .min()
        })
        .collect()
}
