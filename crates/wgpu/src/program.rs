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
use zaya_ir::{Graph, Module, WeightFormat};

/// One weight window's buffers: packed, scales, biases (absent parts are `None`).
pub(crate) type WindowBuffers = [Option<wgpu::Buffer>; 3];

/// A shared upload's key: weight source, stored format tag and row windows.
type UploadKey = (String, String, Vec<Window>);

/// Weight buffers uploaded once and bound by every program built with them from one bundle on
/// one device, so programs of several strategies (`bench`) hold one copy of the weights, not
/// one each. Tied to that bundle and device: another one is refused, never silently mixed.
pub struct SharedWeights {
    bundle: std::sync::Weak<zaya_model::Bundle>,
    ctx: std::sync::Weak<GpuContext>,
    uploads: std::sync::Mutex<HashMap<UploadKey, Vec<WindowBuffers>>>,
}

impl SharedWeights {
    pub fn new(ctx: &Arc<GpuContext>, bundle: &Arc<zaya_model::Bundle>) -> SharedWeights {
        SharedWeights {
            bundle: Arc::downgrade(bundle),
            ctx: Arc::downgrade(ctx),
            uploads: Default::default(),
        }
    }

    /// Bytes of GPU memory the shared weights hold.
    pub fn bytes(&self) -> u64 {
        let uploads = self.uploads.lock().unwrap_or_else(|e| e.into_inner());
        uploads.values().map(|w| windows_bytes(w)).sum()
    }

    /// Weights uploaded so far.
    pub fn len(&self) -> usize {
        self.uploads.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Debug for SharedWeights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedWeights")
            .field("weights", &self.len())
            .field("bytes", &self.bytes())
            .finish()
    }
}

fn windows_bytes(w: &[WindowBuffers]) -> u64 {
    w.iter()
        .flatten()
        .flatten()
        .map(wgpu::Buffer::size)
        .sum::<u64>()
}

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
    /// The decode graph and its prefill functions (decode alone for a plain graph).
    module: Module,
    /// Per function of `module`, the program weight bound to each of its weights (the
    /// decode graph's are the first, in order).
    slots: Vec<Vec<usize>>,
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
        Self::build(ctx, Module::decode_only(graph), weights, options, None)
    }

    /// A module (decode graph and prefill functions) bound to `weights`, one per entry of
    /// [`Module::weights`]: each weight uploaded once for every function, and the pipelines
    /// of every function built. Sessions then offer batched prefill.
    pub fn with_module(
        ctx: Arc<GpuContext>,
        module: Module,
        weights: &[WeightData<'_>],
        options: &ProgramOptions,
    ) -> Result<Arc<GpuProgram>> {
        Self::build(ctx, module, weights, options, None)
    }

    fn build(
        ctx: Arc<GpuContext>,
        module: Module,
        weights: &[WeightData<'_>],
        options: &ProgramOptions,
        shared: Option<&SharedWeights>,
    ) -> Result<Arc<GpuProgram>> {
        for f in module.functions() {
            f.graph.validate()?;
        }
        let graph = module.decode().clone();
        let decls = module.weights();
        let slots = module.weight_slots();
        // Decode indices are program indices: the decode graph's weights come first.
        if slots[0].iter().enumerate().any(|(i, &s)| i != s) {
            return Err(GpuError::Validation(
                "the decode graph declares one weight source twice".into(),
            ));
        }
        if weights.len() != decls.len() {
            return Err(GpuError::WeightCount {
                want: decls.len(),
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
        for (i, (data, decl)) in weights.iter().zip(&decls).enumerate() {
            let stored = data.stored(i, decl)?;
            let wins = plan_windows(&decl.source, stored.format, &decl.dims, max_bytes)?;
            let upload =
                || ctx.scoped(|| upload_windows(&ctx, &decl.source, &stored, decl.cols(), &wins));
            let bufs = match shared {
                None => upload()?,
                Some(shared) => {
                    let key = (decl.source.clone(), stored.format.tag(), wins.clone());
                    let mut uploads = shared.uploads.lock().unwrap_or_else(|e| e.into_inner());
                    match uploads.get(&key) {
                        // wgpu buffers are handles: a clone binds the same memory.
                        Some(b) => b.clone(),
                        None => uploads.entry(key).or_insert(upload()?).clone(),
                    }
                }
            };
            weight_bytes += windows_bytes(&bufs);
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
            module,
            slots,
            formats,
            windows,
            weights: buffers,
            pipelines: HashMap::new(),
            weight_bytes,
            matvec,
        };
        for f in 0..program.module.functions().len() {
            for shader in program.function_plan(f, 1)?.shaders() {
                if !program.pipelines.contains_key(&shader) {
                    let pipeline = program.ctx.pipeline(shader.clone())?;
                    program.pipelines.insert(shader, pipeline);
                }
            }
        }
        Ok(Arc::new(program))
    }

    /// Lowers the graph for a session of capacity `ctx`.
    pub fn plan(&self, ctx: u64) -> Result<Plan> {
        self.function_plan(0, ctx)
    }

    /// Lowers function `f` of the module (0 = decode) for a session of capacity `ctx`; its
    /// weight bindings name the program's weights.
    pub fn function_plan(&self, f: usize, ctx: u64) -> Result<Plan> {
        let (max_bindings, max_binding_bytes) = LowerInput::limits_of(&self.ctx.limits());
        let slots = &self.slots[f];
        let formats: Vec<WeightFormat> = slots.iter().map(|&s| self.formats[s]).collect();
        let windows: Vec<Vec<Window>> = slots.iter().map(|&s| self.windows[s].clone()).collect();
        let mut plan = lower(
            &self.module.functions()[f].graph,
            &LowerInput {
                formats: &formats,
                windows: &windows,
                ctx,
                max_bindings,
                max_binding_bytes,
                matvec: &self.matvec,
            },
        )?;
        for d in plan.kernels.iter_mut().flat_map(|k| &mut k.dispatches) {
            for b in &mut d.bindings {
                if let crate::plan::Res::Weight { weight, .. } = b {
                    *weight = slots[*weight];
                }
            }
        }
        Ok(plan)
    }

    /// The decode graph and the prefill functions this program runs.
    pub fn module(&self) -> &Module {
        &self.module
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
        GpuProgram::from_bundle_with(ctx, bundle, graph, &ProgramOptions::default())
    }

    /// [`Self::from_bundle`] with explicit options (e.g. the untuned matvec target).
    pub fn from_bundle_with(
        ctx: Arc<GpuContext>,
        bundle: &zaya_model::Bundle,
        graph: Graph,
        options: &ProgramOptions,
    ) -> Result<Arc<GpuProgram>> {
        let weights = crate::weights::bind_bundle(bundle, &graph)?;
        GpuProgram::with_options(ctx, graph, &weights, options)
    }

    /// Binds a module (decode and prefill functions) to `bundle`: every weight uploaded once
    /// (into `shared` when given, reusing what it holds), the pipelines of every function.
    pub fn from_bundle_module(
        ctx: Arc<GpuContext>,
        bundle: &Arc<zaya_model::Bundle>,
        module: Module,
        options: &ProgramOptions,
        shared: Option<&SharedWeights>,
    ) -> Result<Arc<GpuProgram>> {
        if let Some(shared) = shared {
            let same_bundle = shared
                .bundle
                .upgrade()
                .is_some_and(|b| Arc::ptr_eq(&b, bundle));
            let same_device = shared.ctx.upgrade().is_some_and(|c| Arc::ptr_eq(&c, &ctx));
            if !(same_bundle && same_device) {
                return Err(GpuError::Validation(format!(
                    "shared weights of another bundle or device cannot be bound to {}",
                    bundle.dir.display()
                )));
            }
        }
        let weights = crate::weights::bind_weights(bundle, &module.weights())?;
        GpuProgram::build(ctx, module, &weights, options, shared)
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
