//! The zaya-graph IR: a static, typed dataflow graph of one decode step.
//!
//! - [`DType`], [`TensorType`] with [`Dim`] symbols: static shapes; the only run-time
//!   quantities are symbols (`ctx` capacity per session, `pos` per step).
//! - [`WeightFormat`]: quantized weights are typed data, dequantized by an explicit
//!   `dequant` op that the optimizer fuses into its consumer.
//! - [`Graph`]: tables of weights, states and values, instructions in program order;
//!   [`Graph::validate`], a canonical text form (`Display`) and DOT ([`deps::to_dot`]).
//!
//! This crate knows nothing about ZAYA, files or GPUs.
pub mod analysis;
pub mod deps;
pub mod display;
pub mod dtype;
pub mod exec;
pub mod graph;
pub mod ids;
pub mod module;
pub mod op;
pub mod parse;
pub mod shape;
pub mod spec;
pub mod transform;
pub mod validate;

pub use dtype::{DType, WeightFormat};
pub use exec::{
    ALL_LOGITS, ExecError, ExecSession, Executor, Feed, Input, LOGITS, NEXT_TOKEN, SampleSettings,
    SymbolKind, Target, Tensor,
};
pub use graph::{
    Graph, GraphError, Group, Inst, KernelRange, ScopeFusion, State, Symbol, Value, ValueDef,
    Weight,
};
pub use ids::{GroupId, InstId, StateId, SymId, ValueId, WeightId};
pub use module::{Function, Module};
pub use op::{BinaryOp, Effect, Op, ReduceOp, UnaryOp};
pub use parse::{ParseError, parse};
pub use shape::{Dim, Dims, TensorType};
pub use spec::{Arity, OpSpec, Operand};
pub use transform::Fused;
