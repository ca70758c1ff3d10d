//! One sequence on the GPU: activations, persistent state (KV caches sized to the session's
//! capacity), bind groups built once, and the decode step: write the inputs and symbols with
//! `queue.write_buffer`, record every dispatch in one compute pass of one command encoder,
//! submit, and read back only what was asked for.

use crate::error::{GpuError, Result};
use crate::plan::{Plan, Res};
use crate::program::GpuProgram;
use crate::wgsl::PARAM_WORDS;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wgpu::util::DeviceExt;
use zaya_ir::{DType, ValueId};

/// The parameter block of one dispatch occupies this many bytes of the params buffer
/// (the largest `min_uniform_buffer_offset_alignment` WebGPU allows).
const PARAM_STRIDE: u64 = 256;

/// A graph input for one step.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    U32(&'a [u32]),
    F32(&'a [f32]),
}

/// A tensor read back from the GPU.
#[derive(Clone, Debug, PartialEq)]
pub enum Tensor {
    F32(Vec<f32>),
    U32(Vec<u32>),
}

impl Tensor {
    pub fn as_f32(&self) -> Option<&[f32]> {
        match self {
            Tensor::F32(v) => Some(v),
            Tensor::U32(_) => None,
        }
    }

    pub fn as_u32(&self) -> Option<&[u32]> {
        match self {
            Tensor::U32(v) => Some(v),
            Tensor::F32(_) => None,
        }
    }
}

pub struct GpuSession {
    program: Arc<GpuProgram>,
    plan: Plan,
    capacity: usize,
    pos: usize,
    values: Vec<wgpu::Buffer>,
    states: Vec<wgpu::Buffer>,
    step_buf: wgpu::Buffer,
    /// Bind groups per kernel, per dispatch.
    bind_groups: Vec<Vec<wgpu::BindGroup>>,
    constants_ready: bool,
    last_step: Option<Duration>,
}

fn storage_buffer(device: &wgpu::Device, label: &str, words: u64) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: words.max(1) * 4,
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

/// A 2-D grid for `n` workgroups within `max` per dimension.
fn grid(n: u32, max: u32) -> Result<(u32, u32)> {
    let x = n.min(max).max(1);
    let y = n.div_ceil(x);
    if y > max {
        return Err(GpuError::GridTooLarge {
            workgroups: n as u64,
            max,
        });
    }
    Ok((x, y))
}

impl GpuSession {
    pub(crate) fn new(program: Arc<GpuProgram>, capacity: usize) -> Result<GpuSession> {
        if capacity == 0 {
            return Err(GpuError::ZeroCapacity);
        }
        let plan = program.plan(capacity as u64)?;
        let ctx = Arc::clone(&program.ctx);
        let device = &ctx.device;
        let limit = ctx.limits().max_storage_buffer_binding_size;
        let g = program.graph();
        for (i, &words) in plan.state_words.iter().enumerate() {
            if words * 4 > limit {
                return Err(GpuError::BufferTooLarge {
                    what: format!("state `{}` at capacity {capacity}", g.states[i].name),
                    bytes: words * 4,
                    limit,
                });
            }
        }
        if let Some(&words) = plan.buffers.iter().max()
            && words * 4 > limit
        {
            return Err(GpuError::BufferTooLarge {
                what: "an activation value".into(),
                bytes: words * 4,
                limit,
            });
        }
        let max_dim = ctx.limits().max_compute_workgroups_per_dimension;
        let session = ctx.scoped(|| -> Result<GpuSession> {
            let values: Vec<wgpu::Buffer> = plan
                .buffers
                .iter()
                .map(|&w| storage_buffer(device, "value", w))
                .collect();
            let states: Vec<wgpu::Buffer> = plan
                .state_words
                .iter()
                .zip(&g.states)
                .map(|(&w, s)| storage_buffer(device, &s.name, w))
                .collect();
            let step_buf = storage_buffer(device, "step", g.symbols.len() as u64);
            let tables: Vec<wgpu::Buffer> = plan
                .tables
                .iter()
                .map(|t| {
                    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                        label: Some("table"),
                        contents: bytemuck::cast_slice(t),
                        usage: wgpu::BufferUsages::STORAGE,
                    })
                })
                .collect();
            let scratch = storage_buffer(device, "scratch", plan.scratch_words);
            let params = params_buffer(device, &plan);
            for (b, data) in &plan.consts {
                ctx.queue
                    .write_buffer(&values[*b], 0, bytemuck::cast_slice(data));
            }
            let resources = Resources {
                program: &program,
                values: &values,
                states: &states,
                step: &step_buf,
                tables: &tables,
                scratch: &scratch,
            };
            let mut bind_groups = vec![];
            let mut slot = 0u64;
            for kernel in &plan.kernels {
                let mut groups = vec![];
                for d in &kernel.dispatches {
                    grid(d.workgroups, max_dim)?;
                    groups.push(resources.bind_group(d, &params, slot)?);
                    slot += 1;
                }
                bind_groups.push(groups);
            }
            Ok(GpuSession {
                program: Arc::clone(&program),
                plan,
                capacity,
                pos: 0,
                values,
                states,
                step_buf,
                bind_groups,
                constants_ready: false,
                last_step: None,
            })
        })??;
        Ok(session)
    }

    /// Tokens consumed so far (the position of the next token).
    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Dispatches recorded by one step (after the first, which also computes constants).
    pub fn dispatches_per_step(&self) -> usize {
        self.plan.dispatches_per_step()
    }

    /// Wall time of the last step: from checking its inputs to the end of its read-back when
    /// something was read back (so GPU execution is included), else to its submission (the
    /// GPU then runs asynchronously; the next read-back waits for it).
    pub fn last_step_time(&self) -> Option<Duration> {
        self.last_step
    }

    /// Forgets the sequence: zero state, position 0.
    pub fn reset(&mut self) -> Result<()> {
        let ctx = &self.program.ctx;
        ctx.scoped(|| {
            let mut enc = ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
            for s in &self.states {
                enc.clear_buffer(s, 0, None);
            }
            ctx.queue.submit([enc.finish()]);
        })?;
        self.pos = 0;
        Ok(())
    }

    /// Feeds one token through a graph whose only input is a `u32[1]` token id; returns the
    /// `logits` output only when `want_logits`.
    pub fn step(&mut self, token: u32, want_logits: bool) -> Result<Option<Vec<f32>>> {
        let read: &[&str] = if want_logits { &["logits"] } else { &[] };
        let mut out = self.step_inputs(&[Input::U32(&[token])], read)?;
        Ok(out.pop().and_then(|t| match t {
            Tensor::F32(v) => Some(v),
            Tensor::U32(_) => None,
        }))
    }

    /// Runs one step with `inputs` and reads back the graph outputs named in `read` (in
    /// that order), all in one submission.
    pub fn step_inputs(&mut self, inputs: &[Input<'_>], read: &[&str]) -> Result<Vec<Tensor>> {
        let started = Instant::now();
        self.check_step(inputs)?;
        let reads = read
            .iter()
            .map(|name| self.output_value(name))
            .collect::<Result<Vec<_>>>()?;
        self.write_inputs(inputs);
        let ctx = Arc::clone(&self.program.ctx);
        let staged = ctx.scoped(|| {
            let mut enc = ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("step"),
                });
            {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("step"),
                    timestamp_writes: None,
                });
                for k in self.kernels_to_run() {
                    self.record_kernel(&mut pass, k);
                }
            }
            let staged: Vec<_> = reads.iter().map(|&v| self.stage(&mut enc, v)).collect();
            ctx.queue.submit([enc.finish()]);
            staged
        })?;
        let out = staged
            .into_iter()
            .map(|(buf, dtype)| self.read_staged(&buf, dtype))
            .collect::<Result<Vec<_>>>()?;
        self.finish_step(started);
        Ok(out)
    }

    /// Like [`Self::step`] without read-back, recording each kernel in its own compute pass
    /// with GPU timestamps around it. Returns (kernel label, seconds) per kernel run, or
    /// `None` when the device has no `TIMESTAMP_QUERY` (the step still runs).
    pub fn profile_step(&mut self, token: u32) -> Result<Option<Vec<(String, f64)>>> {
        if !self.program.ctx.features.timestamp_query {
            self.step(token, false)?;
            return Ok(None);
        }
        let started = Instant::now();
        let inputs = [Input::U32(&[token])];
        self.check_step(&inputs)?;
        self.write_inputs(&inputs);
        let ctx = Arc::clone(&self.program.ctx);
        let kernels = self.kernels_to_run();
        // Two timestamps per kernel; query sets hold at most 4096.
        const PER_SET: usize = 2048;
        let sets: Vec<wgpu::QuerySet> = kernels
            .chunks(PER_SET)
            .map(|c| {
                ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
                    label: Some("profile"),
                    ty: wgpu::QueryType::Timestamp,
                    count: 2 * c.len() as u32,
                })
            })
            .collect();
        let staged = ctx.scoped(|| {
            let mut enc = ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("profile"),
                });
            for (n, &k) in kernels.iter().enumerate() {
                let (set, slot) = (&sets[n / PER_SET], (n % PER_SET) as u32);
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some(&self.plan.kernels[k].label),
                    timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                        query_set: set,
                        beginning_of_pass_write_index: Some(2 * slot),
                        end_of_pass_write_index: Some(2 * slot + 1),
                    }),
                });
                self.record_kernel(&mut pass, k);
            }
            let staged: Vec<wgpu::Buffer> = sets
                .iter()
                .zip(kernels.chunks(PER_SET))
                .map(|(set, c)| {
                    let bytes = 16 * c.len() as u64;
                    let resolve = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("timestamps"),
                        size: bytes,
                        usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                        mapped_at_creation: false,
                    });
                    enc.resolve_query_set(set, 0..2 * c.len() as u32, &resolve, 0);
                    let staging = readback_buffer(&ctx.device, bytes);
                    enc.copy_buffer_to_buffer(&resolve, 0, &staging, 0, bytes);
                    staging
                })
                .collect();
            ctx.queue.submit([enc.finish()]);
            staged
        })?;
        let period_s = ctx.queue.get_timestamp_period() as f64 * 1e-9;
        let mut ticks: Vec<u64> = vec![];
        for buf in &staged {
            ticks.extend(bytemuck::cast_slice::<u8, u64>(&map_read(&ctx, buf)?));
        }
        let timings = kernels
            .iter()
            .zip(ticks.chunks_exact(2))
            .map(|(&k, t)| {
                let label = self.plan.kernels[k].label.clone();
                (label, t[1].saturating_sub(t[0]) as f64 * period_s)
            })
            .collect();
        self.finish_step(started);
        Ok(Some(timings))
    }

    /// The current contents of a graph output.
    pub fn read_output(&self, name: &str) -> Result<Tensor> {
        let v = self.output_value(name)?;
        self.read_value(v)
    }

    /// The current contents of a value by its debug name (first match).
    pub fn read_named(&self, name: &str) -> Result<Tensor> {
        let g = self.program.graph();
        let i = g
            .values
            .iter()
            .position(|v| v.name.as_deref() == Some(name))
            .ok_or_else(|| GpuError::UnknownName {
                what: "value",
                name: name.into(),
            })?;
        self.read_value(ValueId::from_index(i))
    }

    /// The contents of a persistent state (caches are `[heads, capacity, dim]`).
    pub fn read_state(&self, name: &str) -> Result<Vec<f32>> {
        let g = self.program.graph();
        let i = g
            .states
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| GpuError::UnknownName {
                what: "state",
                name: name.into(),
            })?;
        let buf = &self.states[i];
        let bytes = self.copy_out(buf, buf.size())?;
        Ok(bytemuck::cast_slice(&bytes).to_vec())
    }

    fn read_value(&self, v: ValueId) -> Result<Tensor> {
        let ctx = &self.program.ctx;
        let (buf, dtype) = ctx.scoped(|| {
            let mut enc = ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
            let staged = self.stage(&mut enc, v);
            ctx.queue.submit([enc.finish()]);
            staged
        })?;
        self.read_staged(&buf, dtype)
    }

    fn copy_out(&self, src: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>> {
        let ctx = &self.program.ctx;
        let staging = ctx.scoped(|| {
            let staging = readback_buffer(&ctx.device, bytes);
            let mut enc = ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
            enc.copy_buffer_to_buffer(src, 0, &staging, 0, bytes);
            ctx.queue.submit([enc.finish()]);
            staging
        })?;
        map_read(ctx, &staging)
    }

    fn output_value(&self, name: &str) -> Result<ValueId> {
        self.program
            .graph()
            .output(name)
            .ok_or_else(|| GpuError::UnknownName {
                what: "graph output",
                name: name.into(),
            })
    }

    /// Rejects a step before anything is written or dispatched.
    fn check_step(&self, inputs: &[Input<'_>]) -> Result<()> {
        if self.pos >= self.capacity {
            return Err(GpuError::ContextFull {
                pos: self.pos,
                ctx: self.capacity,
            });
        }
        let g = self.program.graph();
        if inputs.len() != g.inputs.len() {
            return Err(GpuError::BadInput {
                index: inputs.len().min(g.inputs.len()),
                want: g.inputs.len(),
                dtype: DType::U32,
                found: inputs.len(),
            });
        }
        for (index, (&v, input)) in g.inputs.iter().zip(inputs).enumerate() {
            let ty = &g.value(v).ty;
            let want = ty.numel().unwrap_or(0) as usize;
            let (found, dtype) = match input {
                Input::U32(x) => (x.len(), DType::U32),
                Input::F32(x) => (x.len(), DType::F32),
            };
            if found != want || dtype != ty.dtype {
                return Err(GpuError::BadInput {
                    index,
                    want,
                    dtype: ty.dtype,
                    found,
                });
            }
            if let (Input::U32(ids), Some(bound)) = (input, self.plan.input_bounds[index])
                && let Some(&id) = ids.iter().find(|&&id| id as u64 >= bound)
            {
                return Err(GpuError::InputOutOfRange { index, id, bound });
            }
        }
        Ok(())
    }

    fn write_inputs(&self, inputs: &[Input<'_>]) {
        let ctx = &self.program.ctx;
        let g = self.program.graph();
        for (&v, input) in g.inputs.iter().zip(inputs) {
            let Some(b) = self.plan.value_buffer[v.index()] else {
                continue;
            };
            let bytes: &[u8] = match input {
                Input::U32(x) => bytemuck::cast_slice(x),
                Input::F32(x) => bytemuck::cast_slice(x),
            };
            ctx.queue.write_buffer(&self.values[b], 0, bytes);
        }
        let symbols: Vec<u32> = g
            .symbols
            .iter()
            .map(|s| match s.name.as_str() {
                "pos" => self.pos as u32,
                _ => self.capacity as u32,
            })
            .collect();
        if !symbols.is_empty() {
            ctx.queue
                .write_buffer(&self.step_buf, 0, bytemuck::cast_slice(&symbols));
        }
    }

    /// Kernels of this step: constants only the first time.
    fn kernels_to_run(&self) -> Vec<usize> {
        (0..self.plan.kernels.len())
            .filter(|&k| !(self.constants_ready && self.plan.kernels[k].constant))
            .collect()
    }

    fn record_kernel(&self, pass: &mut wgpu::ComputePass<'_>, k: usize) {
        let max = self
            .program
            .ctx
            .limits()
            .max_compute_workgroups_per_dimension;
        for (d, bg) in self.plan.kernels[k]
            .dispatches
            .iter()
            .zip(&self.bind_groups[k])
        {
            let Some(pipeline) = self.program.pipelines.get(&d.shader) else {
                continue;
            };
            // Grids were checked when the session was built.
            let (x, y) = grid(d.workgroups, max).unwrap_or((1, 1));
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, bg, &[]);
            pass.dispatch_workgroups(x, y, 1);
        }
    }

    fn finish_step(&mut self, started: Instant) {
        self.constants_ready = true;
        self.pos += 1;
        self.last_step = Some(started.elapsed());
    }

    /// Copies value `v` into a fresh mappable buffer in `enc`.
    fn stage(&self, enc: &mut wgpu::CommandEncoder, v: ValueId) -> (wgpu::Buffer, DType) {
        let g = self.program.graph();
        let dtype = g.value(v).ty.dtype;
        let words = g.value(v).ty.numel().unwrap_or(0).max(1);
        let staging = readback_buffer(&self.program.ctx.device, words * 4);
        if let Some(b) = self.plan.value_buffer[v.index()] {
            enc.copy_buffer_to_buffer(&self.values[b], 0, &staging, 0, words * 4);
        }
        (staging, dtype)
    }

    fn read_staged(&self, buf: &wgpu::Buffer, dtype: DType) -> Result<Tensor> {
        let bytes = map_read(&self.program.ctx, buf)?;
        Ok(match dtype {
            DType::U32 => Tensor::U32(bytemuck::cast_slice(&bytes).to_vec()),
            _ => Tensor::F32(bytemuck::cast_slice(&bytes).to_vec()),
        })
    }
}

fn readback_buffer(device: &wgpu::Device, bytes: u64) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("readback"),
        size: bytes.max(4),
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

/// Maps a read-back buffer (waiting for the GPU) and copies its bytes out.
fn map_read(ctx: &crate::GpuContext, buf: &wgpu::Buffer) -> Result<Vec<u8>> {
    let (tx, rx) = std::sync::mpsc::channel();
    buf.map_async(wgpu::MapMode::Read, .., move |r| {
        let _ = tx.send(r);
    });
    ctx.wait()?;
    rx.recv()
        .map_err(|e| GpuError::Readback(e.to_string()))?
        .map_err(|e| GpuError::Readback(e.to_string()))?;
    let bytes = buf
        .get_mapped_range(..)
        .map_err(|e| GpuError::Readback(e.to_string()))?
        .to_vec();
    buf.unmap();
    ctx.check_health()?;
    Ok(bytes)
}

/// All dispatch parameter blocks, one per `PARAM_STRIDE` bytes, in kernel order.
fn params_buffer(device: &wgpu::Device, plan: &Plan) -> wgpu::Buffer {
    let mut words: Vec<u32> = vec![];
    for d in plan.kernels.iter().flat_map(|k| &k.dispatches) {
        words.extend_from_slice(&d.params);
        words.resize(words.len() + (PARAM_STRIDE as usize / 4 - PARAM_WORDS), 0);
    }
    if words.is_empty() {
        words.resize(PARAM_STRIDE as usize / 4, 0);
    }
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("params"),
        contents: bytemuck::cast_slice(&words),
        usage: wgpu::BufferUsages::UNIFORM,
    })
}

/// The buffers a session binds.
struct Resources<'a> {
    program: &'a GpuProgram,
    values: &'a [wgpu::Buffer],
    states: &'a [wgpu::Buffer],
    step: &'a wgpu::Buffer,
    tables: &'a [wgpu::Buffer],
    scratch: &'a wgpu::Buffer,
}

impl Resources<'_> {
    fn buffer(&self, r: Res) -> Option<&wgpu::Buffer> {
        match r {
            Res::Value(b) => self.values.get(b),
            Res::State(s) => self.states.get(s),
            Res::Weight {
                weight,
                part,
                window,
            } => self.program.weights.get(weight)?.get(window)?[part as usize].as_ref(),
            Res::Step => Some(self.step),
            Res::Table(t) => self.tables.get(t),
            Res::Scratch => Some(self.scratch),
        }
    }

    fn bind_group(
        &self,
        d: &crate::plan::Dispatch,
        params: &wgpu::Buffer,
        slot: u64,
    ) -> Result<wgpu::BindGroup> {
        let pipeline =
            self.program.pipelines.get(&d.shader).ok_or_else(|| {
                GpuError::Validation(format!("no pipeline for {}", d.shader.label()))
            })?;
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: params,
                offset: slot * PARAM_STRIDE,
                size: wgpu::BufferSize::new((PARAM_WORDS * 4) as u64),
            }),
        }];
        for (i, &r) in d.bindings.iter().enumerate() {
            let buffer = self.buffer(r).ok_or_else(|| {
                GpuError::Validation(format!("{}: missing buffer {r:?}", d.shader.label()))
            })?;
            entries.push(wgpu::BindGroupEntry {
                binding: i as u32 + 1,
                resource: buffer.as_entire_binding(),
            });
        }
        Ok(self
            .program
            .ctx
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(&d.shader.label()),
                layout: &pipeline.get_bind_group_layout(0),
                entries: &entries,
            }))
    }
}
