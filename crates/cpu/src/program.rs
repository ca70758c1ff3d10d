//! Graph + weights = program; program + state = session.

use crate::kernels;
use crate::weights::WeightRows;
use std::sync::Arc;
use thiserror::Error;
use zaya_ir::{DType, Dim, Graph, GraphError, Op, ValueId};

#[derive(Debug, Error)]
pub enum CpuError {
    #[error("invalid graph: {0}")]
    Graph(#[from] GraphError),
    #[error(
        "weight @{index} \"{name}\": bound weight is {found_rows}x{found_cols}, the graph declares {want_rows}x{want_cols}"
    )]
    WeightShape {
        index: usize,
        name: String,
        want_rows: usize,
        want_cols: usize,
        found_rows: usize,
        found_cols: usize,
    },
    #[error("the graph declares {want} weights, {found} were bound")]
    WeightCount { want: usize, found: usize },
    #[error("symbol `{0}` has no binding (the CPU interpreter binds `ctx` and `pos`)")]
    UnboundSymbol(String),
    #[error("value {value} has type {dtype}, which the CPU interpreter does not execute")]
    UnsupportedType { value: ValueId, dtype: DType },
    #[error("graph input {index}: expected {want} {dtype} values, got {found}")]
    BadInput {
        index: usize,
        want: usize,
        dtype: DType,
        found: usize,
    },
    #[error("{what}: index {index} is out of range 0..{len}")]
    IndexOutOfRange {
        what: String,
        index: u64,
        len: usize,
    },
    #[error("the context is full: position {pos} does not fit a session of capacity {ctx}")]
    ContextFull { pos: usize, ctx: usize },
    #[error("a session needs a capacity of at least 1 token")]
    ZeroCapacity,
    #[error("the graph has no f32 output named `{0}`")]
    MissingOutput(String),
}

/// The output that `decode` returns.
pub const LOGITS: &str = "logits";

/// A graph input value for one step.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    U32(&'a [u32]),
    F32(&'a [f32]),
}

/// A graph bound to its weights, with per-value facts computed once.
pub struct Program<'w> {
    graph: Graph,
    weights: Vec<Box<dyn WeightRows + 'w>>,
    dims: Vec<Vec<usize>>,
    /// `dequant` outputs read only as a matvec weight: kept packed, read row by row.
    packed: Vec<bool>,
    /// Instructions whose outputs never change between steps (weights, consts, folds).
    constant: Vec<bool>,
}

/// A view of rows of a bound weight.
#[derive(Clone, Copy, Debug)]
struct PackedView {
    weight: usize,
    row0: usize,
}

#[derive(Clone, Debug)]
enum Buf {
    F32(Vec<f32>),
    U32(Vec<u32>),
    Packed(PackedView),
}

impl<'w> Program<'w> {
    /// Validates `graph` and checks that `weights[i]` fits weight `@i`.
    pub fn new(graph: Graph, weights: Vec<Box<dyn WeightRows + 'w>>) -> Result<Self, CpuError> {
        graph.validate()?;
        if weights.len() != graph.weights.len() {
            return Err(CpuError::WeightCount {
                want: graph.weights.len(),
                found: weights.len(),
            });
        }
        for (i, (w, decl)) in weights.iter().zip(&graph.weights).enumerate() {
            let (rows, cols) = (decl.rows() as usize, decl.cols() as usize);
            if w.rows() != rows || w.cols() != cols {
                return Err(CpuError::WeightShape {
                    index: i,
                    name: decl.source.clone(),
                    want_rows: rows,
                    want_cols: cols,
                    found_rows: w.rows(),
                    found_cols: w.cols(),
                });
            }
        }
        for s in &graph.symbols {
            if s.name != "ctx" && s.name != "pos" {
                return Err(CpuError::UnboundSymbol(s.name.clone()));
            }
        }
        let mut dims = Vec::with_capacity(graph.values.len());
        for (i, v) in graph.values.iter().enumerate() {
            if !matches!(v.ty.dtype, DType::F32 | DType::U32) {
                return Err(CpuError::UnsupportedType {
                    value: ValueId::from_index(i),
                    dtype: v.ty.dtype,
                });
            }
            let d: Option<Vec<usize>> =
                v.ty.dims
                    .iter()
                    .map(|d| d.as_const().map(|n| n as usize))
                    .collect();
            dims.push(d.ok_or(CpuError::UnboundSymbol("ctx".into()))?);
        }
        let packed = zaya_ir::analysis::matvec_only_weights(&graph);
        let constant = constant_insts(&graph);
        Ok(Program {
            graph,
            weights,
            dims,
            packed,
            constant,
        })
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Starts a sequence with room for `capacity` tokens. Sessions share the program.
    pub fn session(self: &Arc<Self>, capacity: usize) -> Result<Session<'w>, CpuError> {
        Session::new(Arc::clone(self), capacity)
    }
}

/// Instructions computable once per program (all their outputs are step-invariant).
fn constant_insts(g: &Graph) -> Vec<bool> {
    let invariant = zaya_ir::analysis::step_invariant_values(g);
    g.insts
        .iter()
        .map(|inst| !inst.outputs.is_empty() && inst.outputs.iter().all(|o| invariant[o.index()]))
        .collect()
}

/// One sequence: persistent state plus a preallocated buffer for every value.
pub struct Session<'w> {
    program: Arc<Program<'w>>,
    capacity: usize,
    pos: usize,
    states: Vec<Vec<f32>>,
    bufs: Vec<Buf>,
    constants_ready: bool,
}

impl<'w> Session<'w> {
    fn new(program: Arc<Program<'w>>, capacity: usize) -> Result<Self, CpuError> {
        if capacity == 0 {
            return Err(CpuError::ZeroCapacity);
        }
        let g = &program.graph;
        let states = g
            .states
            .iter()
            .map(|s| {
                let n: usize =
                    s.ty.dims
                        .iter()
                        .map(|d| match d {
                            Dim::Const(n) => *n as usize,
                            Dim::Sym(_) => capacity,
                        })
                        .product();
                vec![0f32; n]
            })
            .collect();
        let bufs: Vec<Buf> = g
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let n: usize = program.dims[i].iter().product();
                if program.packed[i] {
                    Buf::Packed(PackedView { weight: 0, row0: 0 })
                } else if v.ty.dtype == DType::U32 {
                    Buf::U32(vec![0; n])
                } else {
                    Buf::F32(vec![0.0; n])
                }
            })
            .collect();
        Ok(Session {
            program,
            capacity,
            pos: 0,
            states,
            bufs,
            constants_ready: false,
        })
    }

    /// Tokens consumed so far (the position of the next token).
    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Forgets the sequence: zero state, position 0.
    pub fn reset(&mut self) {
        self.pos = 0;
        for s in &mut self.states {
            s.fill(0.0);
        }
    }

    /// Runs one step with the given graph inputs and advances the position.
    pub fn step(&mut self, inputs: &[Input<'_>]) -> Result<(), CpuError> {
        let program = Arc::clone(&self.program);
        let g = &program.graph;
        if self.pos >= self.capacity {
            return Err(CpuError::ContextFull {
                pos: self.pos,
                ctx: self.capacity,
            });
        }
        for (index, v) in g.inputs.iter().enumerate() {
            let ty = &g.values[v.index()].ty;
            let want: usize = program.dims[v.index()].iter().product();
            let bad = |found| CpuError::BadInput {
                index,
                want,
                dtype: ty.dtype,
                found,
            };
            match (inputs.get(index), &mut self.bufs[v.index()]) {
                (Some(Input::U32(x)), Buf::U32(b)) if x.len() == want => b.copy_from_slice(x),
                (Some(Input::F32(x)), Buf::F32(b)) if x.len() == want => b.copy_from_slice(x),
                (Some(Input::U32(x)), _) => return Err(bad(x.len())),
                (Some(Input::F32(x)), _) => return Err(bad(x.len())),
                (None, _) => return Err(bad(0)),
            }
        }
        for i in 0..g.insts.len() {
            if self.constants_ready && program.constant[i] {
                continue;
            }
            self.exec(i)?;
        }
        self.constants_ready = true;
        self.pos += 1;
        Ok(())
    }

    /// Feeds one token through a graph whose only input is a `u32[1]` token id and returns
    /// its `logits` output.
    pub fn decode(&mut self, token: u32) -> Result<&[f32], CpuError> {
        self.step(&[Input::U32(&[token])])?;
        self.output_f32(LOGITS)
            .ok_or_else(|| CpuError::MissingOutput(LOGITS.into()))
    }

    /// Feeds prompt tokens one at a time through the decode graph; returns the logits after
    /// each token.
    pub fn prefill(&mut self, tokens: &[u32]) -> Result<Vec<Vec<f32>>, CpuError> {
        tokens
            .iter()
            .map(|&t| self.decode(t).map(<[f32]>::to_vec))
            .collect()
    }

    /// The f32 contents of a value after the last step (`None` if it is packed or u32).
    pub fn value_f32(&self, v: ValueId) -> Option<&[f32]> {
        match &self.bufs[v.index()] {
            Buf::F32(b) => Some(b),
            _ => None,
        }
    }

    pub fn value_u32(&self, v: ValueId) -> Option<&[u32]> {
        match &self.bufs[v.index()] {
            Buf::U32(b) => Some(b),
            _ => None,
        }
    }

    /// The value named `name` in the graph (first match), as f32.
    pub fn named_f32(&self, name: &str) -> Option<&[f32]> {
        let g = &self.program.graph;
        let i = g
            .values
            .iter()
            .position(|v| v.name.as_deref() == Some(name))?;
        self.value_f32(ValueId::from_index(i))
    }

    /// A graph output as f32 (`None` if absent or not f32).
    pub fn output_f32(&self, name: &str) -> Option<&[f32]> {
        self.value_f32(self.program.graph.output(name)?)
    }

    pub fn output_u32(&self, name: &str) -> Option<&[u32]> {
        self.value_u32(self.program.graph.output(name)?)
    }

    /// The contents of a persistent state by name (caches are `[heads, capacity, dim]`).
    pub fn state(&self, name: &str) -> Option<&[f32]> {
        let i = self
            .program
            .graph
            .states
            .iter()
            .position(|s| s.name == name)?;
        Some(&self.states[i])
    }

    fn f32_in(&self, v: ValueId) -> &[f32] {
        match &self.bufs[v.index()] {
            Buf::F32(b) => b,
            // The validator and `packed_dequants` guarantee f32 inputs here.
            _ => &[],
        }
    }

    fn u32_scalar(&self, v: ValueId) -> u64 {
        match &self.bufs[v.index()] {
            Buf::U32(b) => b.first().copied().unwrap_or(0) as u64,
            _ => 0,
        }
    }

    fn exec(&mut self, i: usize) -> Result<(), CpuError> {
        let program = Arc::clone(&self.program);
        let g = &program.graph;
        let inst = &g.insts[i];
        let dims = &program.dims;
        let ins = &inst.inputs;
        let Some(&out_id) = inst.outputs.first() else {
            return self.exec_effect(i);
        };
        let mut out = std::mem::replace(&mut self.bufs[out_id.index()], Buf::F32(Vec::new()));
        let result = self.exec_value(i, &mut out, dims, ins);
        self.bufs[out_id.index()] = out;
        result
    }

    fn exec_value(
        &self,
        i: usize,
        out: &mut Buf,
        dims: &[Vec<usize>],
        ins: &[ValueId],
    ) -> Result<(), CpuError> {
        let program = &*self.program;
        let g = &program.graph;
        let inst = &g.insts[i];
        let out_id = inst.outputs[0];
        let out_dims = &dims[out_id.index()];
        if let Op::Dequant { weight } = inst.op {
            let decl = &g.weights[weight.index()];
            let rows_per_index: usize = if ins.is_empty() {
                0
            } else {
                decl.dims[1..decl.dims.len() - 1].iter().product::<u64>() as usize
            };
            let row0 = if let Some(&idx) = ins.first() {
                let index = self.u32_scalar(idx);
                if index >= decl.dims[0] {
                    return Err(CpuError::IndexOutOfRange {
                        what: format!("dequant of weight \"{}\"", decl.source),
                        index,
                        len: decl.dims[0] as usize,
                    });
                }
                index as usize * rows_per_index
            } else {
                0
            };
            let w = &program.weights[weight.index()];
            match out {
                Buf::Packed(view) => {
                    *view = PackedView {
                        weight: weight.index(),
                        row0,
                    }
                }
                Buf::F32(o) => {
                    let cols = w.cols();
                    for (r, chunk) in o.chunks_mut(cols).enumerate() {
                        w.dequant_row(row0 + r, chunk);
                    }
                }
                Buf::U32(_) => {}
            }
            return Ok(());
        }
        if let Buf::U32(o) = out {
            match &inst.op {
                Op::Argmax => kernels::argmax_rows(
                    self.f32_in(ins[0]),
                    *dims[ins[0].index()].last().unwrap_or(&1),
                    o,
                ),
                Op::Cast { .. } => match &self.bufs[ins[0].index()] {
                    Buf::F32(x) => o
                        .iter_mut()
                        .zip(x)
                        .for_each(|(o, &x)| *o = x.max(0.0) as u32),
                    Buf::U32(x) => o.copy_from_slice(x),
                    Buf::Packed(_) => {}
                },
                Op::Reshape { .. } => o.copy_from_slice(self.u32_in(ins[0])),
                Op::Slice { axis, start, .. } => slice_copy(
                    self.u32_in(ins[0]),
                    &dims[ins[0].index()],
                    *axis as usize,
                    *start as usize,
                    o,
                ),
                Op::Concat { axis } => {
                    let parts: Vec<(&[u32], &[usize])> = ins
                        .iter()
                        .map(|v| (self.u32_in(*v), dims[v.index()].as_slice()))
                        .collect();
                    concat_copy(&parts, *axis as usize, o)
                }
                Op::Gather { axis } => gather(
                    self.u32_in(ins[0]),
                    &dims[ins[0].index()],
                    *axis as usize,
                    self.u32_in(ins[1]),
                    o,
                )?,
                _ => {}
            }
            return Ok(());
        }
        let Buf::F32(o) = out else { return Ok(()) };
        match &inst.op {
            Op::Const { values } => {
                if values.len() == 1 {
                    o.fill(values[0]);
                } else {
                    o.copy_from_slice(values);
                }
            }
            Op::Symbol { sym } => {
                let name = &g.symbols[sym.index()].name;
                o[0] = if name == "pos" {
                    self.pos as f32
                } else {
                    self.capacity as f32
                };
            }
            Op::MatVec => {
                let x = self.f32_in(ins[1]);
                match &self.bufs[ins[0].index()] {
                    Buf::Packed(view) => program.weights[view.weight].matvec(view.row0, x, o),
                    Buf::F32(w) => {
                        let cols = x.len();
                        o.iter_mut()
                            .enumerate()
                            .for_each(|(r, y)| *y = kernels::dot(&w[r * cols..(r + 1) * cols], x));
                    }
                    Buf::U32(_) => {}
                }
            }
            Op::Unary { op } => kernels::unary(*op, self.f32_in(ins[0]), o),
            Op::Binary { op } => {
                let (a, b) = (self.f32_in(ins[0]), self.f32_in(ins[1]));
                let sa = kernels::broadcast_strides(&dims[ins[0].index()], out_dims);
                let sb = kernels::broadcast_strides(&dims[ins[1].index()], out_dims);
                kernels::for_each_broadcast(out_dims, [&sa, &sb], |k, [x, y]| {
                    o[k] = kernels::binary(*op, a[x], b[y])
                });
            }
            Op::Select => {
                let (c, a, b) = (
                    self.f32_in(ins[0]),
                    self.f32_in(ins[1]),
                    self.f32_in(ins[2]),
                );
                let s: Vec<Vec<usize>> = ins
                    .iter()
                    .map(|v| kernels::broadcast_strides(&dims[v.index()], out_dims))
                    .collect();
                kernels::for_each_broadcast(out_dims, [&s[0], &s[1], &s[2]], |k, [ci, ai, bi]| {
                    o[k] = if c[ci] != 0.0 { a[ai] } else { b[bi] }
                });
            }
            Op::Reduce { op, axis } => kernels::reduce(
                *op,
                self.f32_in(ins[0]),
                &dims[ins[0].index()],
                *axis as usize,
                o,
            ),
            Op::Softmax => {
                kernels::softmax_rows(self.f32_in(ins[0]), *out_dims.last().unwrap_or(&1), o)
            }
            Op::RmsNorm { eps } => {
                kernels::rms_norm_rows(self.f32_in(ins[0]), self.f32_in(ins[1]), *eps, o)
            }
            Op::Rope { rot_dims, theta } => {
                let pos = self.f32_in(ins[1])[0];
                let n = *out_dims.last().unwrap_or(&1);
                kernels::rope_rows(self.f32_in(ins[0]), n, *rot_dims as usize, *theta, pos, o)
            }
            Op::Gather { axis } => gather(
                self.f32_in(ins[0]),
                &dims[ins[0].index()],
                *axis as usize,
                self.u32_in(ins[1]),
                o,
            )?,
            Op::Reshape { .. } => o.copy_from_slice(self.f32_in(ins[0])),
            Op::Slice { axis, start, .. } => slice_copy(
                self.f32_in(ins[0]),
                &dims[ins[0].index()],
                *axis as usize,
                *start as usize,
                o,
            ),
            Op::Concat { axis } => {
                let parts: Vec<(&[f32], &[usize])> = ins
                    .iter()
                    .map(|v| (self.f32_in(*v), dims[v.index()].as_slice()))
                    .collect();
                concat_copy(&parts, *axis as usize, o)
            }
            Op::Cast { .. } => match &self.bufs[ins[0].index()] {
                Buf::U32(x) => o.iter_mut().zip(x).for_each(|(o, &x)| *o = x as f32),
                Buf::F32(x) => o.copy_from_slice(x),
                Buf::Packed(_) => {}
            },
            Op::ConvStep { groups } => {
                let wd = &dims[ins[0].index()];
                kernels::conv_step(
                    self.f32_in(ins[0]),
                    wd[0],
                    wd[1],
                    self.f32_in(ins[1]),
                    self.f32_in(ins[2]),
                    *groups as usize,
                    o,
                )
            }
            Op::StateRead { state } => o.copy_from_slice(&self.states[state.index()]),
            Op::Attention {
                k_cache,
                v_cache,
                scale,
            } => {
                let qd = &dims[ins[0].index()];
                let st = &g.states[k_cache.index()].ty;
                let nkv = st.dims[0].as_const().unwrap_or(1) as usize;
                let len = self.position_of(ins[1]) + 1;
                kernels::attention(
                    self.f32_in(ins[0]),
                    &self.states[k_cache.index()],
                    &self.states[v_cache.index()],
                    qd[0],
                    nkv,
                    self.capacity,
                    qd[1],
                    len.min(self.capacity),
                    *scale,
                    o,
                )
            }
            Op::Dequant { .. } | Op::Argmax | Op::StateWrite { .. } | Op::CacheAppend { .. } => {}
        }
        Ok(())
    }

    fn u32_in(&self, v: ValueId) -> &[u32] {
        match &self.bufs[v.index()] {
            Buf::U32(b) => b,
            _ => &[],
        }
    }

    fn position_of(&self, v: ValueId) -> usize {
        self.f32_in(v).first().map_or(0, |&p| p.max(0.0) as usize)
    }

    fn exec_effect(&mut self, i: usize) -> Result<(), CpuError> {
        let g = &self.program.graph;
        let inst = &g.insts[i];
        match inst.op {
            Op::StateWrite { state } => {
                // Disjoint fields: no copy of the value on the per-token path.
                if let Buf::F32(src) = &self.bufs[inst.inputs[0].index()] {
                    self.states[state.index()].copy_from_slice(src);
                }
            }
            Op::CacheAppend { state } => {
                let pos = self.position_of(inst.inputs[1]);
                if pos >= self.capacity {
                    return Err(CpuError::ContextFull {
                        pos,
                        ctx: self.capacity,
                    });
                }
                let xd = &self.program.dims[inst.inputs[0].index()];
                let (heads, dim) = (xd[0], xd[1]);
                let cap = self.capacity;
                let Buf::F32(x) = &self.bufs[inst.inputs[0].index()] else {
                    return Ok(());
                };
                let cache = &mut self.states[state.index()];
                for h in 0..heads {
                    cache[(h * cap + pos) * dim..(h * cap + pos + 1) * dim]
                        .copy_from_slice(&x[h * dim..(h + 1) * dim]);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn slice_copy<T: Copy>(x: &[T], dims: &[usize], axis: usize, start: usize, out: &mut [T]) {
    let (outer, n, inner) = kernels::around_axis(dims, axis);
    let len = out.len() / (outer * inner).max(1);
    for o in 0..outer {
        let src = &x[(o * n + start) * inner..(o * n + start + len) * inner];
        out[o * len * inner..(o + 1) * len * inner].copy_from_slice(src);
    }
}

fn concat_copy<T: Copy>(parts: &[(&[T], &[usize])], axis: usize, out: &mut [T]) {
    let (outer, _, inner) = kernels::around_axis(parts[0].1, axis);
    let total: usize = parts.iter().map(|(_, d)| d[axis]).sum();
    for o in 0..outer {
        let mut at = 0;
        for (x, d) in parts {
            let n = d[axis];
            out[(o * total + at) * inner..(o * total + at + n) * inner]
                .copy_from_slice(&x[o * n * inner..(o + 1) * n * inner]);
            at += n;
        }
    }
}

fn gather<T: Copy>(
    x: &[T],
    dims: &[usize],
    axis: usize,
    idx: &[u32],
    out: &mut [T],
) -> Result<(), CpuError> {
    let (outer, n, inner) = kernels::around_axis(dims, axis);
    for o in 0..outer {
        for (k, &ix) in idx.iter().enumerate() {
            let ix = ix as usize;
            if ix >= n {
                return Err(CpuError::IndexOutOfRange {
                    what: "gather".into(),
                    index: ix as u64,
                    len: n,
                });
            }
            out[(o * idx.len() + k) * inner..(o * idx.len() + k + 1) * inner]
                .copy_from_slice(&x[(o * n + ix) * inner..(o * n + ix + 1) * inner]);
        }
    }
    Ok(())
}
