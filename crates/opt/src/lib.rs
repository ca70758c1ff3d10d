//! The optimizer: fusion passes over the IR, named strategies, and the execution plan.
//!
//! - [`pass`]: the `Pass` trait (a name, a pure `Graph -> Graph`, a log) and the pipeline
//!   that validates after every pass.
//! - [`passes`]: dequant folding, sibling matvecs, epilogues, norm prologues, the scope
//!   fusions a graph declares (ZAYA's CCA block, router, head: the model's data, not ours),
//!   dead-code elimination.
//! - [`strategy`]: `none`, `dequant`, `epilogue`, each declared scope fusion, `all`, or any
//!   `+`-composition.
//! - [`plan`]: kernels with buffers, launch shapes, bytes and FLOPs; the memory plan.
pub mod pass;
pub mod passes;
pub mod plan;
pub mod rewrite;
pub mod strategy;

pub use pass::{OptError, Pass, PassLog, run_passes};
pub use plan::{Plan, PlanOptions, SERIAL_PHASE_BYTES, phases};
pub use strategy::Strategy;
