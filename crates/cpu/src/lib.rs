//! The reference CPU interpreter: executes any valid graph in f32 activations, reading
//! weights through [`WeightRows`] so packed weights are dequantized row by row inside the
//! op that uses them and never materialized whole.
//!
//! A [`Program`] is a graph bound to weights (`Send + Sync`; [`Program::from_bundle`] shares
//! the bundle through an `Arc`); a [`Session`] holds one sequence's state (KV caches, conv and
//! value states) and runs steps. Both implement the backend-neutral seam of `zaya-ir`
//! ([`zaya_ir::Executor`], [`zaya_ir::ExecSession`]). Symbols: `ctx` is bound to the
//! session's capacity, `pos` to the number of tokens consumed so far.

pub mod kernels;
mod program;
mod weights;

pub use program::{BoundWeight, CpuError, Input, LOGITS, Program, Session, TARGET};
pub use weights::{DenseWeight, WeightRows, chunk_rows, matvec_threads};

mod bind;
pub use bind::{bind_bundle, bind_module, bind_shared, bind_weights_shared};
