//! Graph + weights = program; program + state = session.

use crate::kernels;
use crate::weights::WeightRows;
use rayon::prelude::*;
use std::sync::Arc;
use thiserror::Error;
use zaya_ir::exec::{ExecError, ExecResult, ExecSession, Executor, Feed, Tensor};
use zaya_ir::{DType, Dim, Graph, GraphError, Module, NEXT_TOKEN, Op, ValueId};

pub use zaya_ir::{Input, LOGITS};

#[derive(Debug, Error)]
pub enum CpuError {
    #[error("invalid graph: {0}")]
    Graph(#[from] GraphError),
    #[error(transparent)]
    Model(#[from] zaya_model::ModelError),
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
    #[error("a session's capacity must be 1 to 4294967295 tokens (positions are u32), got {0}")]
    Capacity(usize),
    #[error(
        "a context of {capacity} tokens needs {bytes} bytes of state ({name} and the other caches), more than this machine can allocate; use a smaller --context or --kv-dtype f16"
    )]
    StateTooLarge {
        capacity: usize,
        bytes: u128,
        name: String,
    },
    #[error("the graph has no f32 output named `{0}`")]
    MissingOutput(String),
    #[error("the graph has no output or value named `{0}`")]
    UnknownName(String),
    #[error("the graph has no state named `{0}`")]
    UnknownState(String),
    #[error("no previous step chose a token to feed")]
    NothingChained,
    #[error(
        "this program has no prefill functions (bind a module with prefill graphs for batched prefill)"
    )]
    NoPrefill,
    #[error("prefill of {tokens} tokens: no combination of the chunk lengths {chunks:?} covers it")]
    NoPrefillPlan { tokens: usize, chunks: Vec<usize> },
    #[error("prefill output `{name}`: {reason}")]
    PrefillOutput { name: String, reason: String },
}

impl From<CpuError> for ExecError {
    fn from(e: CpuError) -> Self {
        ExecError::backend(e)
    }
}

/// The interpreter's limits for the optimizer's plan: none (a kernel is a function call).
pub const TARGET: zaya_ir::Target = zaya_ir::Target::UNLIMITED;

/// A bound weight: owned, or borrowing a bundle the program outlives.
pub type BoundWeight<'w> = Box<dyn WeightRows + 'w>;

/// A module's functions bound to their weights (each weight once, shared by the functions),
/// with per-value facts computed once. `Send + Sync`: sessions on several threads share one
/// program. Function 0 is the decode graph; the others are prefill chunks.
pub struct Program<'w> {
    module: Module,
    weights: Vec<BoundWeight<'w>>,
    funcs: Vec<Func>,
}

/// One function of the module, ready to interpret.
struct Func {
    tokens: usize,
    dims: Vec<Vec<usize>>,
    /// `dequant` outputs read only as a matvec weight: kept packed, read row by row.
    packed: Vec<bool>,
    /// Instructions whose outputs never change between steps (weights, consts, folds).
    constant: Vec<bool>,
    /// The program weight bound to each of the graph's weights.
    slots: Vec<usize>,
}

/// A view of rows of a bound weight.
#[derive(Clone, Debug)]
struct PackedView {
    weight: usize,
    row0: usize,
    /// Per-token slices (an indexed dequant over a token axis): the first row of each
    /// token's slice; empty for one slice starting at `row0`.
    token_rows: Vec<usize>,
}

#[derive(Clone, Debug)]
enum Buf {
    F32(Vec<f32>),
    U32(Vec<u32>),
    Packed(PackedView),
}

impl<'w> Program<'w> {
    /// Validates `graph` and checks that `weights[i]` fits weight `@i`.
    pub fn new(graph: Graph, weights: Vec<BoundWeight<'w>>) -> Result<Self, CpuError> {
        Self::with_module(Module::decode_only(graph), weights)
    }

    /// Validates every function of `module` and checks that `weights[i]` fits the module's
    /// weight `i` ([`Module::weights`]).
    pub fn with_module(module: Module, weights: Vec<BoundWeight<'w>>) -> Result<Self, CpuError> {
        let decls = module.weights();
        if weights.len() != decls.len() {
            return Err(CpuError::WeightCount {
                want: decls.len(),
                found: weights.len(),
            });
        }
        for (i, (w, decl)) in weights.iter().zip(&decls).enumerate() {
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
        let slots = module.weight_slots();
        let funcs = module
            .functions()
            .iter()
            .zip(slots)
            .map(|(f, slots)| Func::new(&f.graph, f.tokens, slots))
            .collect::<Result<_, _>>()?;
        Ok(Program {
            module,
            weights,
            funcs,
        })
    }

    /// The decode graph.
    pub fn graph(&self) -> &Graph {
        self.module.decode()
    }

    pub fn module(&self) -> &Module {
        &self.module
    }

    fn fgraph(&self, f: usize) -> &Graph {
        &self.module.functions()[f].graph
    }

    /// Starts a sequence with room for `capacity` tokens. Sessions share the program.
    pub fn session(self: &Arc<Self>, capacity: usize) -> Result<Session<'w>, CpuError> {
        Session::new(Arc::clone(self), capacity)
    }
}

impl Func {
    fn new(graph: &Graph, tokens: usize, slots: Vec<usize>) -> Result<Func, CpuError> {
        graph.validate()?;
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
        let packed = zaya_ir::analysis::matvec_only_weights(graph);
        let constant = constant_insts(graph);
        Ok(Func {
            tokens,
            dims,
            packed,
            constant,
            slots,
        })
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

/// A persistent state's storage: f32, or f16 for KV caches built with `KvDtype::F16` (the
/// IR allows f16 for caches only, so reads and writes of other states stay f32).
enum StateBuf {
    F32(Vec<f32>),
    F16(Vec<half::f16>),
}

impl StateBuf {
    /// `n` zeros, or `None` when the allocation fails (a context too large for the machine
    /// is an error, not an abort).
    fn zeros(dtype: DType, n: usize) -> Option<StateBuf> {
        use half::vec::HalfBitsVecExt;
        // Probe first: `vec!` of zeros aborts when it cannot allocate. It maps zeroed pages
        // lazily, so a long context costs memory only as it fills.
        let mut probe: Vec<u8> = Vec::new();
        probe.try_reserve_exact(n.checked_mul(dtype.size())?).ok()?;
        drop(probe);
        Some(match dtype {
            DType::F16 => StateBuf::F16(vec![0u16; n].reinterpret_into()),
            _ => StateBuf::F32(vec![0.0; n]),
        })
    }

    fn clear(&mut self) {
        match self {
            StateBuf::F32(b) => b.fill(0.0),
            StateBuf::F16(b) => b.fill(half::f16::ZERO),
        }
    }

    fn to_f32(&self) -> std::borrow::Cow<'_, [f32]> {
        match self {
            StateBuf::F32(b) => std::borrow::Cow::Borrowed(b),
            StateBuf::F16(b) => b.iter().map(|v| v.to_f32()).collect(),
        }
    }

    /// Writes `src` at element `at`, rounded to the storage type.
    fn store(&mut self, at: usize, src: &[f32]) {
        use kernels::KvElem;
        match self {
            StateBuf::F32(b) => f32::store(src, &mut b[at..at + src.len()]),
            StateBuf::F16(b) => half::f16::store(src, &mut b[at..at + src.len()]),
        }
    }
}

/// One sequence: persistent state plus a preallocated buffer for every value of the
/// function that ran last (other functions' buffers are parked, allocated on first use).
pub struct Session<'w> {
    program: Arc<Program<'w>>,
    capacity: usize,
    pos: usize,
    states: Vec<StateBuf>,
    /// The function whose buffers are in `bufs`.
    func: usize,
    bufs: Vec<Buf>,
    constants_ready: bool,
    /// Every other function's buffers and whether its constants are computed.
    parked: Vec<Option<(Vec<Buf>, bool)>>,
    /// The token the last greedy step chose (what `Feed::Previous` feeds).
    chained: Option<u32>,
}

fn alloc_bufs(g: &Graph, f: &Func) -> Vec<Buf> {
    g.values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let n: usize = f.dims[i].iter().product();
            if f.packed[i] {
                Buf::Packed(PackedView {
                    weight: 0,
                    row0: 0,
                    token_rows: vec![],
                })
            } else if v.ty.dtype == DType::U32 {
                Buf::U32(vec![0; n])
            } else {
                Buf::F32(vec![0.0; n])
            }
        })
        .collect()
}

impl<'w> Session<'w> {
    fn new(program: Arc<Program<'w>>, capacity: usize) -> Result<Self, CpuError> {
        if capacity == 0 || capacity > zaya_ir::exec::MAX_CAPACITY {
            return Err(CpuError::Capacity(capacity));
        }
        let g = program.graph();
        let elements = |s: &zaya_ir::State| -> u128 {
            s.ty.dims
                .iter()
                .map(|d| match d {
                    Dim::Const(n) => *n as u128,
                    Dim::Sym(_) => capacity as u128,
                })
                .product()
        };
        let total: u128 = g
            .states
            .iter()
            .map(|s| elements(s) * s.ty.dtype.size() as u128)
            .sum();
        let too_large = |name: &str| CpuError::StateTooLarge {
            capacity,
            bytes: total,
            name: name.to_string(),
        };
        let mut states = Vec::with_capacity(g.states.len());
        for s in &g.states {
            let n = usize::try_from(elements(s)).map_err(|_| too_large(&s.name))?;
            states.push(StateBuf::zeros(s.ty.dtype, n).ok_or_else(|| too_large(&s.name))?);
        }
        let bufs = alloc_bufs(g, &program.funcs[0]);
        let parked = (0..program.funcs.len()).map(|_| None).collect();
        Ok(Session {
            program,
            capacity,
            pos: 0,
            states,
            func: 0,
            bufs,
            constants_ready: false,
            parked,
            chained: None,
        })
    }

    /// Puts function `f`'s buffers in place (allocating them on its first run).
    fn activate(&mut self, f: usize) {
        if self.func == f {
            return;
        }
        let (bufs, ready) = match self.parked[f].take() {
            Some(p) => p,
            None => (
                alloc_bufs(self.program.fgraph(f), &self.program.funcs[f]),
                false,
            ),
        };
        let old = std::mem::replace(&mut self.bufs, bufs);
        self.parked[self.func] = Some((old, self.constants_ready));
        self.constants_ready = ready;
        self.func = f;
    }

    /// The graph of the function whose buffers are in place.
    fn graph(&self) -> &Graph {
        self.program.fgraph(self.func)
    }

    fn func(&self) -> &Func {
        &self.program.funcs[self.func]
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
        self.chained = None;
        for s in &mut self.states {
            s.clear();
        }
    }

    /// Runs one decode step with the given graph inputs and advances the position.
    pub fn run(&mut self, inputs: &[Input<'_>]) -> Result<(), CpuError> {
        self.run_function(0, inputs)
    }

    /// Runs function `f` of the module once and advances the position by its tokens.
    fn run_function(&mut self, f: usize, inputs: &[Input<'_>]) -> Result<(), CpuError> {
        self.activate(f);
        let program = Arc::clone(&self.program);
        let g = program.fgraph(f);
        let func = &program.funcs[f];
        if self.pos + func.tokens > self.capacity {
            return Err(CpuError::ContextFull {
                pos: self.pos + func.tokens - 1,
                ctx: self.capacity,
            });
        }
        for (index, v) in g.inputs.iter().enumerate() {
            let ty = &g.values[v.index()].ty;
            let want: usize = func.dims[v.index()].iter().product();
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
            if self.constants_ready && func.constant[i] {
                continue;
            }
            self.exec(i)?;
        }
        self.constants_ready = true;
        self.pos += func.tokens;
        self.chained = None;
        Ok(())
    }

    /// Feeds `tokens` through the module's prefill functions, longest chunk first, and
    /// returns the outputs named in `read` (see [`ExecSession::prefill`]). All names are
    /// checked before anything runs.
    pub fn prefill_batched(
        &mut self,
        tokens: &[u32],
        read: &[&str],
    ) -> Result<Vec<Tensor>, CpuError> {
        let program = Arc::clone(&self.program);
        let module = &program.module;
        if module.functions().len() < 2 {
            return Err(CpuError::NoPrefill);
        }
        let plan = module
            .plan_prefill(tokens.len())
            .ok_or_else(|| CpuError::NoPrefillPlan {
                tokens: tokens.len(),
                chunks: module.prefill_chunks(),
            })?;
        for &(f, _) in &plan {
            for name in read {
                if program.fgraph(f).output(name).is_none() {
                    return Err(CpuError::UnknownName((*name).into()));
                }
            }
        }
        if self.pos + tokens.len() > self.capacity {
            return Err(CpuError::ContextFull {
                pos: self.pos + tokens.len() - 1,
                ctx: self.capacity,
            });
        }
        let mut out: Vec<Option<Tensor>> = vec![None; read.len()];
        let mut at = 0;
        for (f, t) in plan {
            self.run_function(f, &[Input::U32(&tokens[at..at + t])])?;
            at += t;
            for (k, name) in read.iter().enumerate() {
                let got = self.lookup(name)?;
                out[k] = Some(Tensor::fold_chunk(name, out[k].take(), got));
            }
        }
        out.into_iter()
            .zip(read)
            .map(|(t, name)| {
                t.ok_or_else(|| CpuError::PrefillOutput {
                    name: (*name).into(),
                    reason: "no chunk produced it".into(),
                })
            })
            .collect()
    }

    /// Feeds one token through a graph whose only input is a `u32[1]` token id and returns
    /// its `logits` output.
    pub fn decode(&mut self, token: u32) -> Result<&[f32], CpuError> {
        self.run(&[Input::U32(&[token])])?;
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

    /// The value named `name` in the graph that ran last (first match), as f32.
    pub fn named_f32(&self, name: &str) -> Option<&[f32]> {
        let g = self.graph();
        let i = g
            .values
            .iter()
            .position(|v| v.name.as_deref() == Some(name))?;
        self.value_f32(ValueId::from_index(i))
    }

    /// A graph output as f32 (`None` if absent or not f32).
    pub fn output_f32(&self, name: &str) -> Option<&[f32]> {
        self.value_f32(self.graph().output(name)?)
    }

    pub fn output_u32(&self, name: &str) -> Option<&[u32]> {
        self.value_u32(self.graph().output(name)?)
    }

    /// The contents of a persistent state by name (caches are `[heads, capacity, dim]`), as
    /// f32 whatever it is stored in.
    pub fn state(&self, name: &str) -> Option<std::borrow::Cow<'_, [f32]>> {
        let i = self
            .program
            .graph()
            .states
            .iter()
            .position(|s| s.name == name)?;
        Some(self.states[i].to_f32())
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
        let g = program.fgraph(self.func);
        let inst = &g.insts[i];
        let dims = &program.funcs[self.func].dims;
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
        let g = self.graph();
        let func = self.func();
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
            let check = |index: u64| {
                if index >= decl.dims[0] {
                    return Err(CpuError::IndexOutOfRange {
                        what: format!("dequant of weight \"{}\"", decl.source),
                        index,
                        len: decl.dims[0] as usize,
                    });
                }
                Ok(index as usize * rows_per_index)
            };
            // A `u32[T, 1]` index: one slice per token.
            let per_token = ins.first().is_some_and(|v| dims[v.index()].len() == 2);
            let (row0, token_rows) = match ins.first() {
                Some(&idx) if per_token => (
                    0,
                    self.u32_in(idx)
                        .iter()
                        .map(|&x| check(x as u64))
                        .collect::<Result<Vec<_>, _>>()?,
                ),
                Some(&idx) => (check(self.u32_scalar(idx))?, vec![]),
                None => (0, vec![]),
            };
            let slot = func.slots[weight.index()];
            let w = &program.weights[slot];
            match out {
                Buf::Packed(view) => {
                    *view = PackedView {
                        weight: slot,
                        row0,
                        token_rows,
                    }
                }
                Buf::F32(o) => {
                    let cols = w.cols();
                    if per_token {
                        let per = rows_per_index * cols;
                        for (slice, &r0) in o.chunks_mut(per).zip(&token_rows) {
                            for (r, chunk) in slice.chunks_mut(cols).enumerate() {
                                w.dequant_row(r0 + r, chunk);
                            }
                        }
                    } else {
                        for (r, chunk) in o.chunks_mut(cols).enumerate() {
                            w.dequant_row(row0 + r, chunk);
                        }
                    }
                }
                Buf::U32(_) => {}
            }
            return Ok(());
        }
        if let Buf::U32(o) = out {
            match &inst.op {
                Op::Symbol { sym } => {
                    // Lossless: the capacity is at most MAX_CAPACITY (checked at open).
                    o[0] = g.symbols[sym.index()].kind.value(self.capacity, self.pos) as u32;
                }
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
                Op::Transpose => transpose_last(self.u32_in(ins[0]), &dims[ins[0].index()], o),
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
            Op::MatVec => {
                let x = self.f32_in(ins[1]);
                let cols = *dims[ins[1].index()].last().unwrap_or(&1);
                let rows = *out_dims.last().unwrap_or(&1);
                let tokens = x.len() / cols.max(1);
                // w [T, out, in]: token t reads slice t.
                let per_token = dims[ins[0].index()].len() == 3;
                match &self.bufs[ins[0].index()] {
                    Buf::Packed(view) if per_token => {
                        let w = &program.weights[view.weight];
                        // An indexed dequant names each token's slice; a plain one of a
                        // stacked weight has them in order.
                        let slices: Vec<usize> = if view.token_rows.is_empty() {
                            (0..tokens).map(|t| view.row0 + t * rows).collect()
                        } else {
                            view.token_rows.clone()
                        };
                        kernels::matmul_per_token(w.as_ref(), &slices, rows, x, cols, o)
                    }
                    Buf::Packed(view) if tokens == 1 => {
                        program.weights[view.weight].matvec(view.row0, x, o)
                    }
                    Buf::Packed(view) => {
                        let w = &program.weights[view.weight];
                        kernels::matmul(w.as_ref(), view.row0, rows, x, cols, o)
                    }
                    Buf::F32(w) => {
                        // A materialized weight: [out, in] shared, or [T, out, in] per token.
                        for (t, (xt, ot)) in x.chunks(cols).zip(o.chunks_mut(rows)).enumerate() {
                            let base = if per_token { t * rows * cols } else { 0 };
                            for (r, y) in ot.iter_mut().enumerate() {
                                let at = base + r * cols;
                                *y = kernels::dot(&w[at..at + cols], xt);
                            }
                        }
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
                // One position for all rows, or token t of a chunk [T, rows, dim] at pos + t.
                let pos = self.position_of(ins[1]);
                let n = *out_dims.last().unwrap_or(&1);
                let x = self.f32_in(ins[0]);
                let tokens = if out_dims.len() == 3 { out_dims[0] } else { 1 };
                let per = x.len() / tokens.max(1);
                for (t, (xs, os)) in x.chunks(per).zip(o.chunks_mut(per)).enumerate() {
                    let p = (pos + t) as f32;
                    kernels::rope_rows(xs, n, *rot_dims as usize, *theta, p, os)
                }
            }
            Op::Gather { axis } => gather(
                self.f32_in(ins[0]),
                &dims[ins[0].index()],
                *axis as usize,
                self.u32_in(ins[1]),
                o,
            )?,
            Op::Reshape { .. } => o.copy_from_slice(self.f32_in(ins[0])),
            Op::Transpose => transpose_last(self.f32_in(ins[0]), &dims[ins[0].index()], o),
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
            Op::Conv { groups } => {
                let wd = &dims[ins[0].index()];
                kernels::conv(
                    self.f32_in(ins[0]),
                    wd[0],
                    wd[1],
                    self.f32_in(ins[1]),
                    self.f32_in(ins[2]),
                    *groups as usize,
                    o,
                )
            }
            Op::StateRead { state } => o.copy_from_slice(&self.states[state.index()].to_f32()),
            Op::Attention {
                k_cache,
                v_cache,
                scale,
            } => {
                // q [nq, hd] (one token) or [T, nq, hd]: query t sees rows 0..=pos + t.
                let qd = &dims[ins[0].index()];
                let (nq, hd) = (qd[qd.len() - 2], qd[qd.len() - 1]);
                let st = &g.states[k_cache.index()].ty;
                let nkv = st.dims[0].as_const().unwrap_or(1) as usize;
                let pos = self.position_of(ins[1]);
                let (kc, vc) = (&self.states[k_cache.index()], &self.states[v_cache.index()]);
                let cap = self.capacity;
                let q = self.f32_in(ins[0]);
                let per = nq * hd;
                let one = |t: usize, qt: &[f32], ot: &mut [f32]| {
                    let len = (pos + t + 1).min(cap);
                    match (kc, vc) {
                        (StateBuf::F16(kc), StateBuf::F16(vc)) => {
                            kernels::attention(qt, kc, vc, nq, nkv, cap, hd, len, *scale, ot)
                        }
                        (StateBuf::F32(kc), StateBuf::F32(vc)) => {
                            kernels::attention(qt, kc, vc, nq, nkv, cap, hd, len, *scale, ot)
                        }
                        // The IR requires equal cache types.
                        _ => unreachable!("k and v caches of different types"),
                    }
                };
                if q.len() > per {
                    o.par_chunks_mut(per)
                        .zip(q.par_chunks(per))
                        .enumerate()
                        .for_each(|(t, (ot, qt))| one(t, qt, ot));
                } else {
                    one(0, q, o)
                }
            }
            Op::Dequant { .. }
            | Op::Argmax
            | Op::Symbol { .. }
            | Op::StateWrite { .. }
            | Op::CacheAppend { .. } => {}
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
        self.u32_in(v).first().map_or(0, |&p| p as usize)
    }

    fn exec_effect(&mut self, i: usize) -> Result<(), CpuError> {
        let program = Arc::clone(&self.program);
        let g = program.fgraph(self.func);
        let dims = &program.funcs[self.func].dims;
        let inst = &g.insts[i];
        match inst.op {
            Op::StateWrite { state } => {
                // Disjoint fields: no copy of the value on the per-token path.
                if let Buf::F32(src) = &self.bufs[inst.inputs[0].index()] {
                    self.states[state.index()].store(0, src);
                }
            }
            Op::CacheAppend { state } => {
                // x [heads, dim] (one token) or [T, heads, dim] (rows pos..pos + T).
                let pos = self.position_of(inst.inputs[1]);
                let xd = &dims[inst.inputs[0].index()];
                let (heads, dim) = (xd[xd.len() - 2], xd[xd.len() - 1]);
                let tokens = if xd.len() == 3 { xd[0] } else { 1 };
                if pos + tokens > self.capacity {
                    return Err(CpuError::ContextFull {
                        pos: pos + tokens - 1,
                        ctx: self.capacity,
                    });
                }
                let cap = self.capacity;
                let Buf::F32(x) = &self.bufs[inst.inputs[0].index()] else {
                    return Ok(());
                };
                let cache = &mut self.states[state.index()];
                for t in 0..tokens {
                    let xt = &x[t * heads * dim..(t + 1) * heads * dim];
                    let p = pos + t;
                    for h in 0..heads {
                        cache.store((h * cap + p) * dim, &xt[h * dim..(h + 1) * dim]);
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

impl Session<'_> {
    /// A value's contents as a tensor (`None` for a weight kept packed).
    fn tensor(&self, v: ValueId) -> Option<Tensor> {
        match &self.bufs[v.index()] {
            Buf::F32(b) => Some(Tensor::F32(b.clone())),
            Buf::U32(b) => Some(Tensor::U32(b.clone())),
            Buf::Packed(_) => None,
        }
    }

    /// A graph output, else the first value with that debug name.
    fn lookup(&self, name: &str) -> Result<Tensor, CpuError> {
        let g = self.graph();
        let v = g.output(name).or_else(|| {
            g.values
                .iter()
                .position(|v| v.name.as_deref() == Some(name))
                .map(ValueId::from_index)
        });
        v.and_then(|v| self.tensor(v))
            .ok_or_else(|| CpuError::UnknownName(name.into()))
    }
}

impl Executor for Program<'static> {
    fn backend(&self) -> &'static str {
        "cpu"
    }

    fn graph(&self) -> &Graph {
        Program::graph(self)
    }

    fn target(&self) -> zaya_ir::Target {
        TARGET
    }

    fn session(self: Arc<Self>, capacity: usize) -> ExecResult<Box<dyn ExecSession>> {
        Ok(Box::new(Session::new(self, capacity)?))
    }
}

impl ExecSession for Session<'static> {
    fn position(&self) -> usize {
        self.pos
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    fn reset(&mut self) -> ExecResult<()> {
        Session::reset(self);
        Ok(())
    }

    fn step(&mut self, inputs: &[Input<'_>], read: &[&str]) -> ExecResult<Vec<Tensor>> {
        // Names are checked first, so a typo does not advance the sequence.
        for name in read {
            if self.program.graph().output(name).is_none() {
                return Err(CpuError::UnknownName((*name).into()).into());
            }
        }
        self.run(inputs)?;
        Ok(read
            .iter()
            .map(|name| self.lookup(name))
            .collect::<Result<_, _>>()?)
    }

    fn read(&self, name: &str) -> ExecResult<Tensor> {
        Ok(self.lookup(name)?)
    }

    fn read_state(&self, name: &str) -> ExecResult<Vec<f32>> {
        Ok(self
            .state(name)
            .map(std::borrow::Cow::into_owned)
            .ok_or_else(|| CpuError::UnknownState(name.into()))?)
    }

    fn prefill(&mut self, tokens: &[u32], read: &[&str]) -> ExecResult<Vec<Tensor>> {
        match self.prefill_batched(tokens, read) {
            Err(CpuError::NoPrefill) => {
                Err(ExecError::Unsupported("program has no prefill functions"))
            }
            r => Ok(r?),
        }
    }

    fn step_greedy(&mut self, feed: Feed) -> ExecResult<u32> {
        let token = match feed {
            Feed::Token(t) => t,
            Feed::Previous => self.chained.ok_or(CpuError::NothingChained)?,
        };
        if self.program.graph().output(NEXT_TOKEN).is_none() {
            return Err(CpuError::UnknownName(NEXT_TOKEN.into()).into());
        }
        self.run(&[Input::U32(&[token])])?;
        let chosen = self
            .output_u32(NEXT_TOKEN)
            .and_then(|t| t.first().copied())
            .ok_or_else(|| CpuError::UnknownName(NEXT_TOKEN.into()))?;
        self.chained = Some(chosen);
        Ok(chosen)
    }
}

/// Swaps the last two axes of `x` (dims `dims`).
fn transpose_last<T: Copy>(x: &[T], dims: &[usize], out: &mut [T]) {
    let n = dims.len();
    let (a, b) = (dims[n - 2], dims[n - 1]);
    for (xs, os) in x.chunks(a * b).zip(out.chunks_mut(a * b)) {
        for i in 0..a {
            for j in 0..b {
                os[j * a + i] = xs[i * b + j];
            }
        }
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
