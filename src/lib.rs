//! zaya-graph: a compute-graph engine for Zyphra's ZAYA1-8B.
//!
//! This facade re-exports the workspace crates so library users depend on one crate.
pub use zaya_chat as chat;
pub use zaya_cpu as cpu;
pub use zaya_ir as ir;
pub use zaya_model as model;
pub use zaya_opt as opt;
pub use zaya_wgpu as gpu;

pub mod bench;
pub mod cost_model;
pub mod demo;
pub mod engine;
pub mod serve;
pub mod tune;
