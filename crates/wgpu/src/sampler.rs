//! Token sampling on the device (`shaders/sample.wgsl`): the logits never leave the GPU, the
//! chosen id is written where the next step reads its token, and the host reads back 4 bytes.
//!
//! The semantics are zaya-chat's CPU sampler's (repetition penalty, greedy, temperature,
//! top-k, top-p, min-p, columns beyond the tokenizer's vocabulary never sampled), and so is
//! the randomness: each non-greedy draw consumes ONE uniform from the CPU sampler's seeded
//! stream (`Sampler::uniform`), so a seed reproduces a generation, and for the same uniform
//! the device picks the token the CPU picks. The kernel's masses are exact integer sums, so
//! the picks can differ only where the two sides' weights (each side's `exp`) put the uniform
//! within rounding of a boundary between two candidates (see `tests/gpu_sampler.rs`).

use crate::context::GpuContext;
use crate::error::{GpuError, Result};
use crate::wgsl::{self, GeneratedShader, PARAM_WORDS, Shader};
use std::sync::Arc;

const SAMPLE: &str = include_str!("../../../shaders/sample.wgsl");

/// Threads of the sampling workgroup (the kernel's histograms have one bucket per thread).
const SAMPLE_WG: u32 = 256;

/// The CPU sampler's score bins: 4096 bins over the top 40 nats (`sampling.rs`).
const BIN_SCALE: f32 = 4096.0 / 40.0;

/// The id the kernel writes when no token can be sampled.
const NO_TOKEN: u32 = u32::MAX;

pub use zaya_ir::SampleSettings;

/// Rejects the settings the CPU sampler rejects, naming the field.
fn validate(settings: &SampleSettings) -> Result<()> {
    match settings.invalid() {
        Some((field, reason)) => Err(GpuError::InvalidSampler { field, reason }),
        None => Ok(()),
    }
}

/// The kernel's parameter block (see the header of `sample.wgsl`).
fn params(
    settings: &SampleSettings,
    vocab: usize,
    history: usize,
    capacity: usize,
    uniform: f64,
) -> Vec<u32> {
    let greedy = settings.is_greedy();
    let top_p = settings.top_p < 1.0;
    let frac = |x: f64| (x * 4294967296.0).floor().clamp(0.0, u32::MAX as f64) as u32;
    let mut w = vec![0u32; PARAM_WORDS];
    w[0] = vocab as u32;
    w[1] = history as u32;
    w[2] = u32::from(greedy) | (u32::from(top_p) << 1);
    w[3] = settings.top_k.min(u32::MAX as usize) as u32;
    w[4] = settings.top_p.to_bits();
    w[5] = settings.min_p.to_bits();
    w[6] = settings.repetition_penalty.to_bits();
    // Exactly the CPU's `1.0 / temperature` (f32).
    w[7] = if greedy {
        0.0
    } else {
        1.0 / settings.temperature
    }
    .to_bits();
    w[8] = frac(uniform);
    w[9] = if top_p {
        frac(f64::from(settings.top_p))
    } else {
        0
    };
    w[10] = capacity as u32;
    w[11] = BIN_SCALE.to_bits();
    w
}

/// The sampling kernel with its buffers: parameters, the history of token ids (for the
/// repetition penalty; the kernel appends each pick), penalized scores, and the chosen id.
pub struct DeviceSampler {
    ctx: Arc<GpuContext>,
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    params: wgpu::Buffer,
    history: wgpu::Buffer,
    chosen: wgpu::Buffer,
    /// The logits buffer of a standalone sampler ([`DeviceSampler::new`]).
    own_logits: Option<wgpu::Buffer>,
    columns: usize,
    vocab: usize,
    capacity: usize,
    /// What the history buffer holds, so only changed ids are written.
    mirror: Vec<u32>,
}

impl std::fmt::Debug for DeviceSampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceSampler")
            .field("columns", &self.columns)
            .field("vocab", &self.vocab)
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl DeviceSampler {
    /// A standalone sampler over `columns` logits uploaded by [`Self::sample`] (tests and
    /// library users with their own logits); only the first `vocab` columns can be chosen and
    /// the history holds up to `capacity` ids.
    pub fn new(
        ctx: &Arc<GpuContext>,
        columns: usize,
        vocab: usize,
        capacity: usize,
    ) -> Result<Self> {
        let logits = ctx.scoped(|| storage(&ctx.device, "sample logits", columns))?;
        let mut sampler = Self::over(ctx, &logits, columns, vocab, capacity)?;
        sampler.own_logits = Some(logits);
        Ok(sampler)
    }

    /// A sampler reading `logits` (a session's logits buffer, `columns` f32).
    pub(crate) fn over(
        ctx: &Arc<GpuContext>,
        logits: &wgpu::Buffer,
        columns: usize,
        vocab: usize,
        capacity: usize,
    ) -> Result<Self> {
        if vocab == 0 || vocab > columns {
            return Err(GpuError::InvalidSampler {
                field: "vocab",
                reason: format!("must be in 1..={columns} (the logit columns), got {vocab}"),
            });
        }
        let limit = ctx.limits().max_storage_buffer_binding_size;
        let bytes = columns as u64 * 4;
        if bytes > limit || columns > u32::MAX as usize / 2 || capacity >= u32::MAX as usize {
            return Err(GpuError::BufferTooLarge {
                what: format!("the sampler's {columns} scores"),
                bytes,
                limit,
            });
        }
        let shader = Shader::Generated(Arc::new(GeneratedShader {
            label: "sample".into(),
            source: Self::wgsl(),
            writable: vec![false, true, true, true],
            matvec: None,
        }));
        let pipeline = ctx.pipeline(shader)?;
        let device = &ctx.device;
        let (params, history, scores, chosen, bind_group) = ctx.scoped(|| {
            let params = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("sample params"),
                size: (PARAM_WORDS * 4) as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let history = storage(device, "sample history", capacity);
            let scores = storage(device, "sample scores", columns);
            let chosen = storage(device, "sample chosen", 1);
            let entries: Vec<wgpu::BindGroupEntry> = [&params, logits, &history, &scores, &chosen]
                .into_iter()
                .enumerate()
                .map(|(i, b)| wgpu::BindGroupEntry {
                    binding: i as u32,
                    resource: b.as_entire_binding(),
                })
                .collect();
            let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("sample"),
                layout: &pipeline.get_bind_group_layout(0),
                entries: &entries,
            });
            (params, history, scores, chosen, bind_group)
        })?;
        drop(scores); // kept alive by the bind group
        Ok(Self {
            ctx: Arc::clone(ctx),
            pipeline,
            bind_group,
            params,
            history,
            chosen,
            own_logits: None,
            columns,
            vocab,
            capacity,
            mirror: Vec::new(),
        })
    }

    /// The kernel's complete WGSL module (for lowering checks without a device).
    pub fn wgsl() -> String {
        format!("{}\n{}\n{SAMPLE}", wgsl::COMMON, wgsl::reduce_wg(SAMPLE_WG))
    }

    /// Columns that can be chosen (the tokenizer's vocabulary).
    pub fn vocab(&self) -> usize {
        self.vocab
    }

    /// Validates a draw and writes its parameters and the history ids that changed since the
    /// last draw (normally none: the kernel appended its own pick). `uniform` in [0, 1) is
    /// ignored by greedy settings.
    pub(crate) fn prepare(
        &mut self,
        settings: &SampleSettings,
        history: &[u32],
        uniform: f64,
    ) -> Result<()> {
        validate(settings)?;
        if !(0.0..1.0).contains(&uniform) {
            return Err(GpuError::InvalidSampler {
                field: "uniform",
                reason: format!("must be in [0, 1), got {uniform}"),
            });
        }
        if history.len() > self.capacity {
            return Err(GpuError::InvalidSampler {
                field: "history",
                reason: format!(
                    "holds {} ids, the sampler was built for {}",
                    history.len(),
                    self.capacity
                ),
            });
        }
        let queue = &self.ctx.queue;
        let same = self
            .mirror
            .iter()
            .zip(history)
            .take_while(|(a, b)| a == b)
            .count();
        if same < history.len() {
            queue.write_buffer(
                &self.history,
                same as u64 * 4,
                bytemuck::cast_slice(&history[same..]),
            );
        }
        self.mirror.truncate(same);
        self.mirror.extend_from_slice(&history[same..]);
        let words = params(settings, self.vocab, history.len(), self.capacity, uniform);
        queue.write_buffer(&self.params, 0, bytemuck::cast_slice(&words));
        Ok(())
    }

    /// Records the sampling dispatch (after the step's kernels, in the same pass).
    pub(crate) fn record(&self, pass: &mut wgpu::ComputePass<'_>) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.dispatch_workgroups(1, 1, 1);
    }

    /// The 4-byte buffer the kernel writes the chosen id to.
    pub(crate) fn chosen_buffer(&self) -> &wgpu::Buffer {
        &self.chosen
    }

    /// Takes the id read back: the kernel appended it to the history buffer (when there was
    /// room), so the mirror follows; the no-candidate marker becomes an error.
    pub(crate) fn accept(&mut self, token: u32) -> Result<u32> {
        if token == NO_TOKEN {
            return Err(GpuError::NoCandidates { vocab: self.vocab });
        }
        if self.mirror.len() < self.capacity {
            self.mirror.push(token);
        }
        Ok(token)
    }

    /// Samples one token from `logits` (all `columns` of them) with `history` as the context
    /// for the repetition penalty: uploads, dispatches, reads back 4 bytes. Standalone
    /// samplers only.
    pub fn sample(
        &mut self,
        logits: &[f32],
        history: &[u32],
        settings: &SampleSettings,
        uniform: f64,
    ) -> Result<u32> {
        let own = self
            .own_logits
            .as_ref()
            .ok_or_else(|| GpuError::InvalidSampler {
                field: "logits",
                reason: "this sampler reads a session's logits; use GpuSession::step_sampled"
                    .into(),
            })?;
        if logits.len() != self.columns {
            return Err(GpuError::InvalidSampler {
                field: "logits",
                reason: format!("expected {} values, got {}", self.columns, logits.len()),
            });
        }
        self.ctx
            .queue
            .write_buffer(own, 0, bytemuck::cast_slice(logits));
        self.prepare(settings, history, uniform)?;
        let ctx = Arc::clone(&self.ctx);
        let staging = ctx.scoped(|| {
            let staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("sample readback"),
                size: 4,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let mut enc = ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("sample"),
                });
            {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("sample"),
                    timestamp_writes: None,
                });
                self.record(&mut pass);
            }
            enc.copy_buffer_to_buffer(&self.chosen, 0, &staging, 0, 4);
            ctx.queue.submit([enc.finish()]);
            staging
        })?;
        let bytes = crate::session::map_read(&ctx, &staging)?;
        let token = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        self.accept(token)
    }
}

fn storage(device: &wgpu::Device, label: &str, words: usize) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: words.max(1) as u64 * 4,
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}
