//! The graph: tables of symbols, weights, states and values, and the instructions in program
//! order. Program order is a valid schedule: values are defined before use, and state effects
//! happen in the order written. `deps` derives the petgraph dependency view from it.

use crate::exec::SymbolKind;
use crate::op::{Op, TypeEnv, infer};
use crate::{DType, GroupId, InstId, StateId, SymId, TensorType, ValueId, WeightFormat, WeightId};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use thiserror::Error;

/// A run-time symbol: a KV-cache capacity bound per session, a position bound per step.
/// Typed, so backends bind it by kind, never by a name string.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Symbol {
    pub kind: SymbolKind,
}

impl Symbol {
    pub fn name(&self) -> &'static str {
        self.kind.name()
    }
}

/// A read-only model weight: its logical type (`[.., out, in]`, f32 after dequantization)
/// and how it is stored. `source` names it in the checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Weight {
    pub source: String,
    pub format: WeightFormat,
    pub dims: Vec<u64>,
}

impl Weight {
    pub fn ty(&self) -> TensorType {
        TensorType::new(DType::F32, self.dims.iter().copied())
    }

    pub fn rows(&self) -> u64 {
        self.dims[..self.dims.len() - 1].iter().product()
    }

    pub fn cols(&self) -> u64 {
        *self.dims.last().unwrap_or(&0)
    }

    /// Bytes of the stored (packed) weight.
    pub fn stored_bytes(&self) -> u64 {
        self.rows() * self.format.row_bytes(self.cols())
    }
}

/// Persistent state, zero at the start of a sequence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub name: String,
    pub ty: TensorType,
}

/// Where a value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ValueDef {
    /// The n-th graph input.
    Input(u32),
    /// The n-th output of an instruction.
    Inst(InstId, u32),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Value {
    pub ty: TensorType,
    pub def: ValueDef,
    /// A readable name (`layers.0.q`) for dumps and debugging; not semantic.
    pub name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Inst {
    pub op: Op,
    pub inputs: SmallVec<[ValueId; 4]>,
    pub outputs: SmallVec<[ValueId; 1]>,
    /// The fused kernel this instruction belongs to; `None` = a kernel of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupId>,
    /// The builder's scope (`l0.cca`, `l1.router`, ...): where the instruction came from.
    /// Not semantic; passes use scopes as fusion hints ("fuse every `*.cca` scope").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<u32>,
}

/// A fused kernel: the instructions carrying its id, contiguous in program order. The label
/// (`matvec`, `cca`, `router`, ...) names where the group came from, for reports; a backend
/// picks how to lower a group from its instructions, not from the label.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub label: String,
}

/// A fusion the graph's builder declares: every builder scope named `suffix` or ending in
/// `.suffix` becomes one kernel labelled `label` (the backend's template for it). Model
/// knowledge handed to the optimizer as data: the optimizer's `name` component runs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeFusion {
    /// The strategy component and pass name (`cca`).
    pub name: String,
    pub suffix: String,
    pub label: String,
    /// One line for listings.
    pub describe: String,
}

/// A static dataflow graph of one decode step.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    pub name: String,
    pub symbols: Vec<Symbol>,
    pub weights: Vec<Weight>,
    pub states: Vec<State>,
    pub values: Vec<Value>,
    pub inputs: Vec<ValueId>,
    /// Program order. Removed instructions are dropped by `compact`.
    pub insts: Vec<Inst>,
    /// Named results of a step (`logits`, router choices, ...).
    pub outputs: Vec<(String, ValueId)>,
    /// Fused kernels, referenced by `Inst::group`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Group>,
    /// Scope names, referenced by `Inst::scope`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// The scope fusions the builder declares (what the optimizer's scope components run).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fusions: Vec<ScopeFusion>,
    /// The scope new instructions get (builder state).
    #[serde(skip)]
    pub current_scope: Option<u32>,
}

/// Errors from building or validating a graph. They name the instruction and op.
#[derive(Debug, Error, PartialEq)]
pub enum GraphError {
    #[error("{inst} ({op}): {msg}")]
    Op {
        inst: InstId,
        op: &'static str,
        msg: String,
    },
    #[error("{0}")]
    Structure(String),
}

impl TypeEnv for Graph {
    fn weight_type(&self, w: WeightId) -> Option<TensorType> {
        self.weights.get(w.index()).map(Weight::ty)
    }
    fn state_type(&self, s: StateId) -> Option<TensorType> {
        self.states.get(s.index()).map(|s| s.ty.clone())
    }
    fn has_symbol(&self, s: SymId) -> bool {
        s.index() < self.symbols.len()
    }
}

impl Graph {
    pub fn new(name: impl Into<String>) -> Self {
        Graph {
            name: name.into(),
            ..Default::default()
        }
    }

    /// The symbol of `kind`, declared on first use (a graph has at most one of each).
    pub fn add_symbol(&mut self, kind: SymbolKind) -> SymId {
        if let Some(s) = self.symbol(kind) {
            return s;
        }
        self.symbols.push(Symbol { kind });
        SymId::from_index(self.symbols.len() - 1)
    }

    pub fn symbol(&self, kind: SymbolKind) -> Option<SymId> {
        self.symbols
            .iter()
            .position(|s| s.kind == kind)
            .map(SymId::from_index)
    }

    /// The value of every symbol, in table order, in a session of `capacity` at `position`.
    pub fn symbol_values(&self, capacity: usize, position: usize) -> Vec<usize> {
        self.symbols
            .iter()
            .map(|s| s.kind.value(capacity, position))
            .collect()
    }

    pub fn add_weight(
        &mut self,
        source: impl Into<String>,
        format: WeightFormat,
        dims: &[u64],
    ) -> WeightId {
        self.weights.push(Weight {
            source: source.into(),
            format,
            dims: dims.to_vec(),
        });
        WeightId::from_index(self.weights.len() - 1)
    }

    pub fn add_state(&mut self, name: impl Into<String>, ty: TensorType) -> StateId {
        self.states.push(State {
            name: name.into(),
            ty,
        });
        StateId::from_index(self.states.len() - 1)
    }

    pub fn add_input(&mut self, ty: TensorType, name: impl Into<String>) -> ValueId {
        let id = ValueId::from_index(self.values.len());
        self.values.push(Value {
            ty,
            def: ValueDef::Input(self.inputs.len() as u32),
            name: Some(name.into()),
        });
        self.inputs.push(id);
        id
    }

    pub fn add_output(&mut self, name: impl Into<String>, v: ValueId) {
        self.outputs.push((name.into(), v));
    }

    pub fn output(&self, name: &str) -> Option<ValueId> {
        self.outputs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }

    pub fn value(&self, v: ValueId) -> &Value {
        &self.values[v.index()]
    }

    pub fn ty(&self, v: ValueId) -> &TensorType {
        &self.values[v.index()].ty
    }

    /// Appends an instruction, inferring its output types. `declared` is needed by `const`.
    pub fn push(
        &mut self,
        op: Op,
        inputs: &[ValueId],
        declared: Option<TensorType>,
    ) -> Result<SmallVec<[ValueId; 1]>, GraphError> {
        let inst = InstId::from_index(self.insts.len());
        let err = |msg: String| GraphError::Op {
            inst,
            op: op.mnemonic(),
            msg,
        };
        if let Some(bad) = inputs.iter().find(|v| v.index() >= self.values.len()) {
            return Err(err(format!("input {bad} is not defined")));
        }
        let tys: Vec<&TensorType> = inputs.iter().map(|v| &self.values[v.index()].ty).collect();
        let outs = infer(&op, &tys, declared.as_ref(), self).map_err(err)?;
        let outputs: SmallVec<[ValueId; 1]> = outs
            .into_iter()
            .enumerate()
            .map(|(i, ty)| {
                let id = ValueId::from_index(self.values.len());
                self.values.push(Value {
                    ty,
                    def: ValueDef::Inst(inst, i as u32),
                    name: None,
                });
                id
            })
            .collect();
        self.insts.push(Inst {
            op,
            inputs: inputs.into(),
            outputs: outputs.clone(),
            group: None,
            scope: self.current_scope,
        });
        Ok(outputs)
    }

    /// Appends an instruction with exactly one output.
    pub fn push1(&mut self, op: Op, inputs: &[ValueId]) -> Result<ValueId, GraphError> {
        let mnemonic = op.mnemonic();
        let outs = self.push(op, inputs, None)?;
        outs.first().copied().ok_or_else(|| GraphError::Op {
            inst: InstId::from_index(self.insts.len() - 1),
            op: mnemonic,
            msg: "has no output".into(),
        })
    }

    /// Names a value for dumps.
    pub fn name_value(&mut self, v: ValueId, name: impl Into<String>) {
        self.values[v.index()].name = Some(name.into());
    }

    /// The instruction defining `v`, if any.
    pub fn producer(&self, v: ValueId) -> Option<InstId> {
        match self.values[v.index()].def {
            ValueDef::Inst(i, _) => Some(i),
            ValueDef::Input(_) => None,
        }
    }

    /// How many times each value is used (inputs of instructions and graph outputs).
    pub fn use_counts(&self) -> Vec<u32> {
        let mut uses = vec![0; self.values.len()];
        for inst in &self.insts {
            for v in &inst.inputs {
                uses[v.index()] += 1;
            }
        }
        for (_, v) in &self.outputs {
            uses[v.index()] += 1;
        }
        uses
    }

    /// Total bytes of all weights as stored.
    pub fn weight_bytes(&self) -> u64 {
        self.weights.iter().map(Weight::stored_bytes).sum()
    }
}

/// A kernel of a (possibly fused) graph: a contiguous range of instructions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelRange {
    pub group: Option<GroupId>,
    pub start: usize,
    pub end: usize,
}

impl Graph {
    /// The kernels in program order: each group's instructions, or a lone instruction.
    pub fn kernel_ranges(&self) -> Vec<KernelRange> {
        let mut out: Vec<KernelRange> = Vec::new();
        for (i, inst) in self.insts.iter().enumerate() {
            match (out.last_mut(), inst.group) {
                (Some(last), Some(g)) if last.group == Some(g) && last.end == i => last.end = i + 1,
                _ => out.push(KernelRange {
                    group: inst.group,
                    start: i,
                    end: i + 1,
                }),
            }
        }
        out
    }

    /// Sets the scope of instructions pushed from now on (`None` = no scope).
    pub fn set_scope(&mut self, name: Option<&str>) {
        self.current_scope = name.map(|n| match self.scopes.iter().position(|s| s == n) {
            Some(i) => i as u32,
            None => {
                self.scopes.push(n.to_string());
                (self.scopes.len() - 1) as u32
            }
        });
    }

    /// The scope name of an instruction.
    pub fn scope_of(&self, inst: usize) -> Option<&str> {
        self.insts[inst]
            .scope
            .map(|s| self.scopes[s as usize].as_str())
    }

    /// Adds a group with `label` and returns its id.
    pub fn add_group(&mut self, label: impl Into<String>) -> GroupId {
        self.groups.push(Group {
            label: label.into(),
        });
        GroupId::from_index(self.groups.len() - 1)
    }

    /// The label of the kernel an instruction runs in: its group's, else its op's mnemonic.
    pub fn kernel_label(&self, inst: usize) -> &str {
        match self.insts[inst].group {
            Some(g) => &self.groups[g.index()].label,
            None => self.insts[inst].op.mnemonic(),
        }
    }
}
