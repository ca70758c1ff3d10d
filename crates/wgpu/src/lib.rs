//! The wgpu backend of zaya-graph: runs IR graphs on Metal, Vulkan, DX12 or GL.
//!
//! - [`GpuContext`]: adapter choice ([`AdapterChoice`], `WGPU_BACKEND`), device with the
//!   adapter's limits and optional features, errors as values ([`GpuError`]).
//! - [`GpuProgram`]: a graph with its weights uploaded once, still packed
//!   ([`WeightData`], [`bind_bundle`]), and its pipelines.
//! - [`GpuSession`]: one sequence; [`GpuSession::step`] records one compute pass per step
//!   and reads back only what is asked; [`GpuSession::step_sampled`] samples on the device
//!   ([`DeviceSampler`]) and reads back only the token id.
//! - [`plan`]: device-free lowering of a graph to kernels (primitive or fused QMatVec);
//!   [`wgsl`]: the templates; [`msl`]: naga validation and MSL translation.
pub mod bandwidth;
pub mod context;
pub mod error;
pub mod fused;
pub mod msl;
pub mod plan;
pub mod program;
pub mod report;
pub mod sampler;
pub mod session;
mod templates;
pub mod tune;
pub mod variant;
pub mod weights;
pub mod wgsl;

pub use context::{AdapterChoice, AdapterSummary, DeviceFeatures, GpuContext, list_adapters};
pub use error::GpuError;
pub use plan::{Kernel, KernelKind, Plan, portable_target, target};
pub use program::{GpuProgram, ProgramOptions, SharedWeights};
pub use sampler::{DeviceSampler, SampleSettings};
pub use session::{Feed, GpuSession, Input, StepStats, Tensor};
pub use weights::{WeightData, bind_bundle};

use zaya_ir::Graph;

/// The WGSL modules (label, source) that running `graph` needs with weights in their
/// declared formats on a device with `limits`, without a device: for lowering checks.
pub fn graph_shaders(
    graph: &Graph,
    limits: &wgpu::Limits,
) -> Result<Vec<(String, String)>, GpuError> {
    Ok(report::lower_declared(graph, limits, 1)?.wgsl(None))
}
