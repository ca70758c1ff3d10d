//! A graph bound to weights on one device: weights uploaded once (packed, in row windows),
//! and one compute pipeline per shader variant the graph needs. Sessions share it.

use crate::context::GpuContext;
use crate::error::{GpuError, Result};
use crate::plan::{LowerInput, Plan, lower};
use crate::session::GpuSession;
use crate::weights::{WeightData, Window, max_window_bytes, plan_windows, window_bytes};
use crate::wgsl::Shader;
use std::collections::HashMap;
use std::sync::Arc;
use wgpu::util::DeviceExt;
use zaya_ir::exec::{ExecResult, ExecSession, Executor};
use zaya_ir::{Graph, WeightFormat};

/// One weight window's buffers: packed, scales, biases (absent parts are `None`).
pub(crate) type WindowBuffers = [Option<wgpu::Buffer>; 3];

/// Choices for building a program.
#[derive(Clone, Debug, Default)]
pub struct ProgramOptions {
    /// Cap on the bytes of one weight window (below the device's binding limit).
    pub max_window_bytes: Option<u64>,
    /// The fused matvec target; `None`: the device's, with the variants `zaya-graph tune`
    /// stored for this adapter (see `tune`), if any.
    pub matvec: Option<crate::variant::MatVecTarget>,
}

pub struct GpuProgram {
    pub(crate) ctx: Arc<GpuContext>,
    graph: Graph,
    formats: Vec<WeightFormat>,
    windows: Vec<Vec<Window>>,
    pub(crate) weights: Vec<Vec<WindowBuffers>>,
    pub(crate) pipelines: HashMap<Shader, wgpu::ComputePipeline>,
    weight_bytes: u64,
    matvec: crate::variant::MatVecTarget,
}

impl std::fmt::Debug for GpuProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuProgram")
            .field("graph", &self.graph.name)
            .field("pipelines", &self.pipelines.len())
            .field("weight_bytes", &self.weight_bytes)
            .finish()
    }
}

impl GpuProgram {
    /// Validates `graph`, checks and uploads `weights[i]` for weight `@i`, and builds every
    /// pipeline the graph needs. Validation and out-of-memory errors become `GpuError`s.
    pub fn new(
        ctx: Arc<GpuContext>,
        graph: Graph,
        weights: &[WeightData<'_>],
    ) -> Result<Arc<GpuProgram>> {
        Self::with_options(ctx, graph, weights, &ProgramOptions::default())
    }

    /// [`Self::new`] with options (e.g. smaller weight windows, to test windowing on small
    /// models).
    pub fn with_options(
        ctx: Arc<GpuContext>,
        graph: Graph,
        weights: &[WeightData<'_>],
        options: &ProgramOptions,
    ) -> Result<Arc<GpuProgram>> {
        graph.validate()?;
        if weights.len() != graph.weights.len() {
            return Err(GpuError::WeightCount {
                want: graph.weights.len(),
                found: weights.len(),
            });
        }
        let device_max = max_window_bytes(&ctx.limits());
        let max_bytes = options
            .max_window_bytes
            .map_or(device_max, |m| m.min(device_max));
        let mut formats = Vec::with_capacity(weights.len());
        let mut windows = Vec::with_capacity(weights.len());
        let mut buffers = Vec::with_capacity(weights.len());
        let mut weight_bytes = 0;
        for (i, (data, decl)) in weights.iter().zip(&graph.weights).enumerate() {
            let stored = data.stored(i, decl)?;
            let wins = plan_windows(&decl.source, stored.format, &decl.dims, max_bytes)?;
            let bufs =
                ctx.scoped(|| upload_windows(&ctx, &decl.source, &stored, decl.cols(), &wins))?;
            weight_bytes += bufs
                .iter()
                .flatten()
                .flatten()
                .map(wgpu::Buffer::size)
                .sum::<u64>();
            formats.push(stored.format);
            windows.push(wins);
            buffers.push(bufs);
        }
        let matvec = match &options.matvec {
            Some(t) => t.clone(),
            None => crate::tune::device_target(&ctx),
        };
        let mut program = GpuProgram {
            ctx,
            graph,
            formats,
            windows,
            weights: buffers,
            pipelines: HashMap::new(),
            weight_bytes,
            matvec,
        };
        for shader in program.plan(1)?.shaders() {
            let pipeline = program.ctx.pipeline(shader.clone())?;
            program.pipelines.insert(shader, pipeline);
        }
        Ok(Arc::new(program))
    }

    /// Lowers the graph for a session of capacity `ctx`.
    pub fn plan(&self, ctx: u64) -> Result<Plan> {
        let (max_bindings, max_binding_bytes) = LowerInput::limits_of(&self.ctx.limits());
        lower(
            &self.graph,
            &LowerInput {
                formats: &self.formats,
                windows: &self.windows,
                ctx,
                max_bindings,
                max_binding_bytes,
                matvec: &self.matvec,
            },
        )
    }

    /// The fused matvec target this program lowers with.
    pub fn matvec_target(&self) -> &crate::variant::MatVecTarget {
        &self.matvec
    }

    /// Starts a sequence with room for `capacity` tokens.
    pub fn session(self: &Arc<Self>, capacity: usize) -> Result<GpuSession> {
        GpuSession::new(Arc::clone(self), capacity)
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    pub fn context(&self) -> &Arc<GpuContext> {
        &self.ctx
    }

    /// Bytes of GPU memory holding weights (stored bytes plus at most 3 bytes of padding per
    /// part and window).
    pub fn gpu_weight_bytes(&self) -> u64 {
        self.weight_bytes
    }

    /// The stored format of each weight as uploaded.
    pub fn weight_formats(&self) -> &[WeightFormat] {
        &self.formats
    }

    /// Row windows of each weight.
    pub fn weight_windows(&self) -> &[Vec<Window>] {
        &self.windows
    }

    pub fn pipeline_count(&self) -> usize {
        self.pipelines.len()
    }

    /// Binds `graph` to `bundle` (weights uploaded once, still packed) and builds its
    /// pipelines: the executor a caller holds for any number of sessions.
    pub fn from_bundle(
        ctx: Arc<GpuContext>,
        bundle: &zaya_model::Bundle,
        graph: Graph,
    ) -> Result<Arc<GpuProgram>> {
        let weights = crate::weights::bind_bundle(bundle, &graph)?;
        GpuProgram::new(ctx, graph, &weights)
    }
}

impl Executor for GpuProgram {
    fn backend(&self) -> &'static str {
        "wgpu"
    }

    fn graph(&self) -> &Graph {
        &self.graph
    }

    fn target(&self) -> zaya_ir::Target {
        crate::plan::target(&self.ctx.limits())
    }

    fn session(self: Arc<Self>, capacity: usize) -> ExecResult<Box<dyn ExecSession>> {
        Ok(Box::new(GpuSession::new(self, capacity)?))
    }
}

fn upload_windows(
    ctx: &GpuContext,
    name: &str,
    stored: &crate::weights::StoredWeight<'_>,
    cols: u64,
    windows: &[Window],
) -> Vec<WindowBuffers> {
    windows
        .iter()
        .map(|&win| {
            std::array::from_fn(|part| {
                window_bytes(stored, part, cols, win).map(|bytes| {
                    ctx.device
                        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                            label: Some(name),
                            contents: &bytes,
                            usage: wgpu::BufferUsages::STORAGE,
                        })
                })
            })
        })
        .collect()
}
