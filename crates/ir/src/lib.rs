//! The zaya-graph IR: a static, typed dataflow graph.
pub mod dtype;
pub use dtype::{DType, WeightFormat};
