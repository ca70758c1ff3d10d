//! One sequence on the GPU: activations, persistent state (KV caches sized to the session's
//! capacity), bind groups built once, and the decode step: write the inputs and symbols with
//! `queue.write_buffer`, record every dispatch in one compute pass of one command encoder,
//! submit, and read back only what was asked for.

use crate::error::{GpuError, Result};
use crate::plan::{Plan, Res};
use crate::program::GpuProgram;
use crate::sampler::{DeviceSampler, SampleSettings};
use crate::wgsl::PARAM_WORDS;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wgpu::util::DeviceExt;
use zaya_ir::exec::{ExecError, ExecResult, ExecSession, KernelTime};
use zaya_ir::{DType, LOGITS, NEXT_TOKEN, ValueId};

/// The parameter block of one dispatch occupies this many bytes of the params buffer
/// (the largest `min_uniform_buffer_offset_alignment` WebGPU allows).
const PARAM_STRIDE: u64 = 256;

pub use zaya_ir::{Feed, Input, Tensor};

/// What the last step recorded and read back (for tests and benchmarks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StepStats {
    pub command_encoders: usize,
    pub compute_passes: usize,
    pub dispatches: usize,
    /// Bytes mapped back to the host for this step.
    pub readback_bytes: u64,
}

/// Staging buffers for token read-back: one step maps one while the next is recorded.
const TOKEN_RING: usize = 3;

/// A submitted step whose token is being mapped.
struct PendingToken {
    slot: usize,
    done: Arc<std::sync::Mutex<Option<std::result::Result<(), wgpu::BufferAsyncError>>>>,
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
    stats: StepStats,
    /// The token-id staging ring (4 bytes each).
    ring: Vec<wgpu::Buffer>,
    next_slot: usize,
    /// Whether the input buffer holds a token chosen on the GPU by the previous step.
    chained: bool,
    /// The device sampler of [`ExecSession::prepare_sampling`], for its vocabulary.
    sampler: Option<(usize, DeviceSampler)>,
    /// Prefill functions' buffers (index = module function - 1), built on first use; they
    /// share this session's states.
    prefill: Vec<Option<Runner>>,
}

/// A prefill function bound for one session: its plan, value buffers and bind groups over
/// the session's states.
struct Runner {
    plan: Plan,
    bound: Bound,
    constants_ready: bool,
}

/// A plan's buffers and bind groups.
struct Bound {
    values: Vec<wgpu::Buffer>,
    step_buf: wgpu::Buffer,
    /// Bind groups per kernel, per dispatch.
    bind_groups: Vec<Vec<wgpu::BindGroup>>,
}

/// Allocates `plan`'s value buffers, step buffer, tables and scratch, uploads its consts,
/// and builds every dispatch's bind group over `states`.
fn bind_plan(
    program: &GpuProgram,
    g: &zaya_ir::Graph,
    plan: &Plan,
    states: &[wgpu::Buffer],
) -> Result<Bound> {
    let ctx = &program.ctx;
    let device = &ctx.device;
    let max_dim = ctx.limits().max_compute_workgroups_per_dimension;
    let values: Vec<wgpu::Buffer> = plan
        .buffers
        .iter()
        .map(|&w| storage_buffer(device, "value", w))
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
    let params = params_buffer(device, plan);
    for (b, data) in &plan.consts {
        ctx.queue
            .write_buffer(&values[*b], 0, bytemuck::cast_slice(data));
    }
    let resources = Resources {
        program,
        values: &values,
        states,
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
    Ok(Bound {
        values,
        step_buf,
        bind_groups,
    })
}

impl From<GpuError> for ExecError {
    fn from(e: GpuError) -> Self {
        ExecError::backend(e)
    }
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
        if capacity == 0 || capacity > zaya_ir::exec::MAX_CAPACITY {
            return Err(GpuError::Capacity(capacity));
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
        let session = ctx.scoped(|| -> Result<GpuSession> {
            let states: Vec<wgpu::Buffer> = plan
                .state_words
                .iter()
                .zip(&g.states)
                .map(|(&w, s)| storage_buffer(device, &s.name, w))
                .collect();
            let Bound {
                values,
                step_buf,
                bind_groups,
            } = bind_plan(&program, g, &plan, &states)?;
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
                stats: StepStats::default(),
                ring: (0..TOKEN_RING)
                    .map(|_| readback_buffer(device, 4))
                    .collect(),
                next_slot: 0,
                chained: false,
                sampler: None,
                prefill: vec![],
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
        self.chained = false;
        Ok(())
    }

    /// What the last step recorded and read back.
    pub fn last_step_stats(&self) -> StepStats {
        self.stats
    }

    /// One greedy step kept on the GPU: feeds `feed`, runs the graph, copies its
    /// `next_token` (the argmax) into the token input buffer for the next step, and reads
    /// back only that token id (4 bytes).
    pub fn step_greedy(&mut self, feed: Feed) -> Result<u32> {
        let started = Instant::now();
        let pending = self.submit_chained(feed, None)?;
        let token = self.wait_token(pending)?;
        self.last_step = Some(started.elapsed());
        Ok(token)
    }

    /// A sampler on the device reading this session's logits; only the first `vocab` columns
    /// can be chosen. Its history holds the whole context (capacity + 1 ids).
    pub fn device_sampler(&self, vocab: usize) -> Result<DeviceSampler> {
        let v = self.output_value(LOGITS)?;
        let columns = self.program.graph().value(v).ty.numel().unwrap_or(0) as usize;
        let b = self.plan.value_buffer[v.index()].ok_or_else(|| GpuError::UnknownName {
            what: "buffer of",
            name: "graph output logits".into(),
        })?;
        DeviceSampler::over(
            &self.program.ctx,
            &self.values[b],
            columns,
            vocab,
            self.capacity + 1,
        )
    }

    /// One step sampled on the device: feeds `feed`, runs the graph, then `sampler` picks
    /// the next token from the logits with `settings` (one `uniform` from the host's seeded
    /// stream; `history` is the whole context for the repetition penalty) and writes it into
    /// the token input buffer. Only the 4-byte id is read back.
    pub fn step_sampled_with(
        &mut self,
        feed: Feed,
        sampler: &mut DeviceSampler,
        settings: &SampleSettings,
        history: &[u32],
        uniform: f64,
    ) -> Result<u32> {
        let started = Instant::now();
        sampler.prepare(settings, history, uniform)?;
        let pending = self.submit_chained(feed, Some(sampler))?;
        let token = self.wait_token(pending);
        self.last_step = Some(started.elapsed());
        let token = token.and_then(|t| sampler.accept(t));
        // A failed pick left no usable id in the token buffer.
        self.chained &= token.is_ok();
        token
    }

    /// `steps` greedy steps, each feeding the previous one's token on the GPU. Steps are
    /// pipelined: a step is recorded and submitted while earlier tokens are still being
    /// mapped (a ring of staging buffers), so the host never waits for a token it does not
    /// need yet. Returns the chosen tokens in order.
    pub fn decode_greedy(&mut self, first: Feed, steps: usize) -> Result<Vec<u32>> {
        let mut tokens = Vec::with_capacity(steps);
        let mut in_flight = std::collections::VecDeque::new();
        let mut feed = first;
        for _ in 0..steps {
            if in_flight.len() == TOKEN_RING {
                let p = in_flight
                    .pop_front()
                    .ok_or_else(|| GpuError::Readback("ring".into()))?;
                tokens.push(self.wait_token(p)?);
            }
            in_flight.push_back(self.submit_chained(feed, None)?);
            feed = Feed::Previous;
        }
        while let Some(p) = in_flight.pop_front() {
            tokens.push(self.wait_token(p)?);
        }
        Ok(tokens)
    }

    /// Records and submits one chained step, its token chosen by the graph's `next_token`
    /// (greedy) or by `sampler`; the token is mapped asynchronously.
    fn submit_chained(
        &mut self,
        feed: Feed,
        sampler: Option<&DeviceSampler>,
    ) -> Result<PendingToken> {
        let input = self.token_input()?;
        // Where the chosen id comes from: the sampler's buffer, or the graph's argmax.
        let next = match sampler {
            Some(_) => input,
            None => self.token_buffers()?.1,
        };
        let token = match feed {
            Feed::Token(t) => Some(t),
            Feed::Previous if self.chained => None,
            Feed::Previous => {
                return Err(GpuError::Readback(
                    "no previous step chose a token to feed".into(),
                ));
            }
        };
        match token {
            Some(t) => {
                let ids = [t];
                let inputs = [Input::U32(&ids)];
                self.check_step(&inputs)?;
                self.write_inputs(&inputs);
            }
            None => {
                self.check_capacity()?;
                self.write_symbols();
            }
        }
        let slot = self.next_slot;
        self.next_slot = (self.next_slot + 1) % TOKEN_RING;
        let ctx = Arc::clone(&self.program.ctx);
        let dispatches = ctx.scoped(|| {
            let mut enc = ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("greedy step"),
                });
            let mut dispatches = 0;
            {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("greedy step"),
                    timestamp_writes: None,
                });
                for k in self.kernels_to_run() {
                    dispatches += self.record_kernel(&mut pass, k);
                }
                if let Some(s) = sampler {
                    s.record(&mut pass);
                    dispatches += 1;
                }
            }
            let chosen = sampler.map_or(&self.values[next], |s| s.chosen_buffer());
            enc.copy_buffer_to_buffer(chosen, 0, &self.values[input], 0, 4);
            enc.copy_buffer_to_buffer(chosen, 0, &self.ring[slot], 0, 4);
            ctx.queue.submit([enc.finish()]);
            dispatches
        })?;
        let done = Arc::new(std::sync::Mutex::new(None));
        let sink = Arc::clone(&done);
        self.ring[slot].map_async(wgpu::MapMode::Read, .., move |r| {
            if let Ok(mut d) = sink.lock() {
                *d = Some(r);
            }
        });
        self.stats = StepStats {
            command_encoders: 1,
            compute_passes: 1,
            dispatches,
            readback_bytes: 4,
        };
        self.constants_ready = true;
        self.pos += 1;
        self.chained = true;
        Ok(PendingToken { slot, done })
    }

    /// Waits for a submitted step's token and unmaps its staging buffer.
    fn wait_token(&self, p: PendingToken) -> Result<u32> {
        let ctx = &self.program.ctx;
        loop {
            let state = p.done.lock().ok().and_then(|mut d| d.take());
            match state {
                Some(Ok(())) => break,
                Some(Err(e)) => return Err(GpuError::Readback(e.to_string())),
                None => ctx.wait()?,
            }
        }
        let buf = &self.ring[p.slot];
        let token = {
            let bytes = buf
                .get_mapped_range(..)
                .map_err(|e| GpuError::Readback(e.to_string()))?;
            u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
        };
        buf.unmap();
        ctx.check_health()?;
        Ok(token)
    }

    /// The token input buffer of a decode graph (its only input, a `u32[1]`).
    fn token_input(&self) -> Result<usize> {
        let g = self.program.graph();
        g.inputs
            .first()
            .filter(|_| g.inputs.len() == 1)
            .and_then(|v| self.plan.value_buffer[v.index()])
            .ok_or_else(|| GpuError::UnknownName {
                what: "buffer of",
                name: "a single token input".into(),
            })
    }

    /// The token input buffer and the `next_token` output buffer of a decode graph.
    fn token_buffers(&self) -> Result<(usize, usize)> {
        let g = self.program.graph();
        let missing = |name: &str| GpuError::UnknownName {
            what: "buffer of",
            name: name.into(),
        };
        let input = g
            .inputs
            .first()
            .filter(|_| g.inputs.len() == 1)
            .and_then(|v| self.plan.value_buffer[v.index()])
            .ok_or_else(|| missing("a single token input"))?;
        let next = self
            .output_value(NEXT_TOKEN)
            .ok()
            .and_then(|v| self.plan.value_buffer[v.index()])
            .ok_or_else(|| missing("graph output next_token"))?;
        Ok((input, next))
    }

    fn check_capacity(&self) -> Result<()> {
        if self.pos >= self.capacity {
            return Err(GpuError::ContextFull {
                pos: self.pos,
                ctx: self.capacity,
            });
        }
        Ok(())
    }

    /// Feeds one token through a graph whose only input is a `u32[1]` token id; returns the
    /// `logits` output only when `want_logits`.
    pub fn step_token(&mut self, token: u32, want_logits: bool) -> Result<Option<Vec<f32>>> {
        let read: &[&str] = if want_logits { &[LOGITS] } else { &[] };
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
        let mut dispatches = 0;
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
                    dispatches += self.record_kernel(&mut pass, k);
                }
            }
            let staged = reads
                .iter()
                .map(|&v| self.stage(&mut enc, v))
                .collect::<Result<Vec<_>>>();
            ctx.queue.submit([enc.finish()]);
            staged
        })?;
        let staged = staged?;
        self.stats = StepStats {
            command_encoders: 1,
            compute_passes: 1,
            dispatches,
            readback_bytes: staged.iter().map(|(b, _)| b.size()).sum(),
        };
        self.chained = false;
        let out = staged
            .into_iter()
            .map(|(buf, dtype)| self.read_staged(&buf, dtype))
            .collect::<Result<Vec<_>>>()?;
        self.finish_step(started);
        Ok(out)
    }

    /// Like [`Self::step_inputs`] without read-back, recording each kernel in its own compute
    /// pass with GPU timestamps around it. Returns the time of each kernel run, or `None`
    /// when the device has no `TIMESTAMP_QUERY` (the step still runs).
    pub fn profile_inputs(&mut self, inputs: &[Input<'_>]) -> Result<Option<Vec<KernelTime>>> {
        if !self.program.ctx.features.timestamp_query {
            self.step_inputs(inputs, &[])?;
            return Ok(None);
        }
        let started = Instant::now();
        self.check_step(inputs)?;
        self.write_inputs(inputs);
        let ctx = Arc::clone(&self.program.ctx);
        let kernels = self.kernels_to_run();
        let queries = ctx.scoped(|| {
            let mut enc = ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("profile"),
                });
            let queries = record_timed(
                &self.program,
                &mut enc,
                &self.plan,
                &self.bind_groups,
                &kernels,
            );
            ctx.queue.submit([enc.finish()]);
            queries
        })?;
        let timings = queries.read(&self.program, &self.plan)?;
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
        if g.states[i].ty.dtype == DType::F16 {
            // An f16 cache, widened (a padding half of an odd count is dropped).
            let n = crate::plan::state_elements(&g.states[i], self.capacity as u64) as usize;
            let halves: &[half::f16] = bytemuck::cast_slice(&bytes);
            return Ok(halves[..n].iter().map(|h| h.to_f32()).collect());
        }
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
        })??;
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
        self.write_symbols();
    }

    /// Writes the step's symbols (`pos`, `ctx`) into the step buffer.
    fn write_symbols(&self) {
        write_symbols(
            &self.program.ctx,
            self.program.graph(),
            &self.step_buf,
            self.capacity,
            self.pos,
        );
    }

    /// Kernels of this step: constants only the first time.
    fn kernels_to_run(&self) -> Vec<usize> {
        (0..self.plan.kernels.len())
            .filter(|&k| !(self.constants_ready && self.plan.kernels[k].constant))
            .collect()
    }

    /// Records kernel `k`'s dispatches; returns how many.
    fn record_kernel(&self, pass: &mut wgpu::ComputePass<'_>, k: usize) -> usize {
        record(&self.program, pass, &self.plan, &self.bind_groups, k)
    }

    /// Feeds `tokens` through the module's prefill functions (longest chunks first, see
    /// [`zaya_ir::Module::plan_prefill`]), one submission per chunk, and returns the outputs
    /// named in `read`: `logits`/`next_token` of the last chunk, any other output (e.g.
    /// `prefill_logits`) concatenated over the chunks. Names, ids and the capacity are
    /// checked before anything runs.
    pub fn prefill_batched(&mut self, tokens: &[u32], read: &[&str]) -> Result<Vec<Tensor>> {
        self.prefill_with(tokens, read, None)
    }

    /// [`Self::prefill_batched`] with every kernel in its own pass between GPU timestamps:
    /// the time of each kernel run over all chunks, or `None` (the prefill still ran) when
    /// the device has no `TIMESTAMP_QUERY`.
    pub fn profile_prefill(&mut self, tokens: &[u32]) -> Result<Option<Vec<KernelTime>>> {
        if !self.program.ctx.features.timestamp_query {
            self.prefill_batched(tokens, &[])?;
            return Ok(None);
        }
        let mut times = vec![];
        self.prefill_with(tokens, &[], Some(&mut times))?;
        Ok(Some(times))
    }

    fn prefill_with(
        &mut self,
        tokens: &[u32],
        read: &[&str],
        mut profile: Option<&mut Vec<KernelTime>>,
    ) -> Result<Vec<Tensor>> {
        let program = Arc::clone(&self.program);
        let module = program.module();
        let plan = module
            .plan_prefill(tokens.len())
            .ok_or_else(|| GpuError::NoPrefillPlan {
                tokens: tokens.len(),
                chunks: module.prefill_chunks(),
            })?;
        for &(f, _) in &plan {
            for name in read {
                if module.functions()[f].graph.output(name).is_none() {
                    return Err(GpuError::UnknownName {
                        what: "prefill output",
                        name: (*name).into(),
                    });
                }
            }
        }
        if self.pos + tokens.len() > self.capacity {
            return Err(GpuError::ContextFull {
                pos: self.pos + tokens.len() - 1,
                ctx: self.capacity,
            });
        }
        if self.prefill.len() < module.functions().len() - 1 {
            self.prefill
                .resize_with(module.functions().len() - 1, || None);
        }
        let started = Instant::now();
        let mut out: Vec<Option<Tensor>> = vec![None; read.len()];
        let mut at = 0;
        let mut stats = StepStats::default();
        for (f, t) in plan {
            let chunk = &tokens[at..at + t];
            at += t;
            let got = self.run_prefill(f, chunk, read, &mut stats, profile.as_deref_mut())?;
            for (k, (name, got)) in read.iter().zip(got).enumerate() {
                out[k] = Some(Tensor::fold_chunk(name, out[k].take(), got));
            }
        }
        self.stats = stats;
        self.chained = false;
        self.last_step = Some(started.elapsed());
        Ok(out.into_iter().flatten().collect())
    }

    /// One chunk through prefill function `f` (built for this session on first use).
    fn run_prefill(
        &mut self,
        f: usize,
        chunk: &[u32],
        read: &[&str],
        stats: &mut StepStats,
        profile: Option<&mut Vec<KernelTime>>,
    ) -> Result<Vec<Tensor>> {
        let program = Arc::clone(&self.program);
        let g = &program.module().functions()[f].graph;
        if self.prefill[f - 1].is_none() {
            let plan = program.function_plan(f, self.capacity as u64)?;
            let bound = program
                .ctx
                .scoped(|| bind_plan(&program, g, &plan, &self.states))??;
            self.prefill[f - 1] = Some(Runner {
                plan,
                bound,
                constants_ready: false,
            });
        }
        let Some(runner) = self.prefill[f - 1].as_mut() else {
            return Err(GpuError::Validation("prefill function not bound".into()));
        };
        let (Some(&input), [_]) = (g.inputs.first(), g.inputs.as_slice()) else {
            return Err(GpuError::UnknownName {
                what: "buffer of",
                name: "a single token-chunk input".into(),
            });
        };
        if let Some(bound) = runner.plan.input_bounds[0]
            && let Some(&id) = chunk.iter().find(|&&id| id as u64 >= bound)
        {
            return Err(GpuError::InputOutOfRange {
                index: 0,
                id,
                bound,
            });
        }
        let reads = read
            .iter()
            .map(|name| {
                g.output(name).ok_or_else(|| GpuError::UnknownName {
                    what: "prefill output",
                    name: (*name).into(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let ctx = &program.ctx;
        if let Some(b) = runner.plan.value_buffer[input.index()] {
            ctx.queue
                .write_buffer(&runner.bound.values[b], 0, bytemuck::cast_slice(chunk));
        }
        write_symbols(ctx, g, &runner.bound.step_buf, self.capacity, self.pos);
        let kernels: Vec<usize> = (0..runner.plan.kernels.len())
            .filter(|&k| !(runner.constants_ready && runner.plan.kernels[k].constant))
            .collect();
        let staged = ctx.scoped(|| {
            let mut enc = ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("prefill"),
                });
            let timed = if profile.is_some() {
                stats.dispatches += kernels
                    .iter()
                    .map(|&k| runner.plan.kernels[k].dispatches.len())
                    .sum::<usize>();
                Some(record_timed(
                    &program,
                    &mut enc,
                    &runner.plan,
                    &runner.bound.bind_groups,
                    &kernels,
                ))
            } else {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("prefill"),
                    timestamp_writes: None,
                });
                for &k in &kernels {
                    stats.dispatches += record(
                        &program,
                        &mut pass,
                        &runner.plan,
                        &runner.bound.bind_groups,
                        k,
                    );
                }
                None
            };
            let staged = reads
                .iter()
                .map(|&v| stage_value(&program, g, &runner.plan, &runner.bound.values, &mut enc, v))
                .collect::<Result<Vec<_>>>();
            ctx.queue.submit([enc.finish()]);
            staged.map(|staged| (staged, timed))
        })??;
        let (staged, timed) = staged;
        if let (Some(times), Some(timed)) = (profile, timed) {
            times.extend(timed.read(&program, &runner.plan)?);
        }
        stats.command_encoders += 1;
        stats.compute_passes += 1;
        stats.readback_bytes += staged.iter().map(|(b, _)| b.size()).sum::<u64>();
        runner.constants_ready = true;
        self.pos += chunk.len();
        staged
            .into_iter()
            .map(|(buf, dtype)| self.read_staged(&buf, dtype))
            .collect()
    }

    fn finish_step(&mut self, started: Instant) {
        self.constants_ready = true;
        self.pos += 1;
        self.last_step = Some(started.elapsed());
    }

    /// Copies value `v` into a fresh mappable buffer in `enc`.
    /// Fails for a value that lives only inside a fused kernel (it has no buffer).
    fn stage(&self, enc: &mut wgpu::CommandEncoder, v: ValueId) -> Result<(wgpu::Buffer, DType)> {
        stage_value(
            &self.program,
            self.program.graph(),
            &self.plan,
            &self.values,
            enc,
            v,
        )
    }

    fn read_staged(&self, buf: &wgpu::Buffer, dtype: DType) -> Result<Tensor> {
        let bytes = map_read(&self.program.ctx, buf)?;
        Ok(match dtype {
            DType::U32 => Tensor::U32(bytemuck::cast_slice(&bytes).to_vec()),
            _ => Tensor::F32(bytemuck::cast_slice(&bytes).to_vec()),
        })
    }
}

impl ExecSession for GpuSession {
    fn position(&self) -> usize {
        self.pos
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    fn reset(&mut self) -> ExecResult<()> {
        Ok(GpuSession::reset(self)?)
    }

    fn step(&mut self, inputs: &[Input<'_>], read: &[&str]) -> ExecResult<Vec<Tensor>> {
        Ok(self.step_inputs(inputs, read)?)
    }

    fn read(&self, name: &str) -> ExecResult<Tensor> {
        match self.output_value(name) {
            Ok(v) => Ok(self.read_value(v)?),
            Err(_) => Ok(self.read_named(name)?),
        }
    }

    fn read_state(&self, name: &str) -> ExecResult<Vec<f32>> {
        Ok(GpuSession::read_state(self, name)?)
    }

    fn step_greedy(&mut self, feed: Feed) -> ExecResult<u32> {
        Ok(GpuSession::step_greedy(self, feed)?)
    }

    fn prepare_sampling(&mut self, vocab: usize) -> ExecResult<()> {
        if self.sampler.as_ref().is_none_or(|(v, _)| *v != vocab) {
            self.sampler = None;
            let sampler = self.device_sampler(vocab)?;
            self.sampler = Some((vocab, sampler));
        }
        Ok(())
    }

    fn step_sampled(
        &mut self,
        feed: Feed,
        vocab: usize,
        settings: &SampleSettings,
        history: &[u32],
        uniform: f64,
    ) -> ExecResult<u32> {
        self.prepare_sampling(vocab)?;
        // Taken out for the step (it borrows the session), put back after.
        let Some((v, mut sampler)) = self.sampler.take() else {
            return Err(GpuError::InvalidSampler {
                field: "device",
                reason: format!("no sampler was built for a vocabulary of {vocab}"),
            }
            .into());
        };
        let chosen = self.step_sampled_with(feed, &mut sampler, settings, history, uniform);
        self.sampler = Some((v, sampler));
        Ok(chosen?)
    }

    fn prefill(&mut self, tokens: &[u32], read: &[&str]) -> ExecResult<Vec<Tensor>> {
        if self.program.module().functions().len() < 2 {
            return Err(ExecError::Unsupported("has no batched prefill"));
        }
        Ok(self.prefill_batched(tokens, read)?)
    }

    fn profile_prefill(&mut self, tokens: &[u32]) -> ExecResult<Option<Vec<KernelTime>>> {
        if self.program.module().functions().len() < 2 {
            return Err(ExecError::Unsupported("has no batched prefill"));
        }
        Ok(GpuSession::profile_prefill(self, tokens)?)
    }

    fn finish(&mut self) -> ExecResult<()> {
        Ok(self.program.ctx.wait()?)
    }

    fn dispatches_per_step(&self) -> Option<usize> {
        Some(self.plan.dispatches_per_step())
    }

    /// Profiles a steady-state step: a session's first step, which also runs the constant
    /// kernels, is run unprofiled first.
    fn profile_step(&mut self, inputs: &[Input<'_>]) -> ExecResult<Option<Vec<KernelTime>>> {
        if !self.constants_ready {
            self.step_inputs(inputs, &[])?;
            self.program.ctx.wait()?;
        }
        Ok(self.profile_inputs(inputs)?)
    }
}

/// Kernels recorded one compute pass each with GPU timestamps around it, and where the
/// times land once the encoder has been submitted.
struct TimedKernels {
    kernels: Vec<usize>,
    staged: Vec<wgpu::Buffer>,
}

/// Records `kernels` of `plan` into `enc`, each in its own pass between two timestamps
/// (needs `TIMESTAMP_QUERY`), and copies the timestamps to mappable buffers.
fn record_timed(
    program: &GpuProgram,
    enc: &mut wgpu::CommandEncoder,
    plan: &Plan,
    bind_groups: &[Vec<wgpu::BindGroup>],
    kernels: &[usize],
) -> TimedKernels {
    let device = &program.ctx.device;
    // Two timestamps per kernel; query sets hold at most 4096.
    const PER_SET: usize = 2048;
    let sets: Vec<wgpu::QuerySet> = kernels
        .chunks(PER_SET)
        .map(|c| {
            device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("profile"),
                ty: wgpu::QueryType::Timestamp,
                count: 2 * c.len() as u32,
            })
        })
        .collect();
    for (n, &k) in kernels.iter().enumerate() {
        let (set, slot) = (&sets[n / PER_SET], (n % PER_SET) as u32);
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(&plan.kernels[k].label),
            timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                query_set: set,
                beginning_of_pass_write_index: Some(2 * slot),
                end_of_pass_write_index: Some(2 * slot + 1),
            }),
        });
        record(program, &mut pass, plan, bind_groups, k);
    }
    let staged = sets
        .iter()
        .zip(kernels.chunks(PER_SET))
        .map(|(set, c)| {
            let bytes = 16 * c.len() as u64;
            let resolve = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamps"),
                size: bytes,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            enc.resolve_query_set(set, 0..2 * c.len() as u32, &resolve, 0);
            let staging = readback_buffer(device, bytes);
            enc.copy_buffer_to_buffer(&resolve, 0, &staging, 0, bytes);
            staging
        })
        .collect();
    TimedKernels {
        kernels: kernels.to_vec(),
        staged,
    }
}

impl TimedKernels {
    /// The time of each recorded kernel (waits for the submission).
    fn read(&self, program: &GpuProgram, plan: &Plan) -> Result<Vec<KernelTime>> {
        let ctx = &program.ctx;
        let period_s = ctx.queue.get_timestamp_period() as f64 * 1e-9;
        let mut ticks: Vec<u64> = vec![];
        for buf in &self.staged {
            ticks.extend(bytemuck::cast_slice::<u8, u64>(&map_read(ctx, buf)?));
        }
        Ok(self
            .kernels
            .iter()
            .zip(ticks.chunks_exact(2))
            .map(|(&k, t)| KernelTime {
                label: plan.kernels[k].label.clone(),
                insts: plan.kernels[k].insts.clone(),
                workgroups: Some(
                    plan.kernels[k]
                        .dispatches
                        .iter()
                        .map(|d| u64::from(d.workgroups))
                        .sum(),
                ),
                seconds: t[1].saturating_sub(t[0]) as f64 * period_s,
            })
            .collect())
    }
}

/// Writes graph `g`'s symbols (`pos`, `ctx`) for a session of `capacity` at `pos` into
/// `step_buf`.
fn write_symbols(
    ctx: &crate::GpuContext,
    g: &zaya_ir::Graph,
    step_buf: &wgpu::Buffer,
    capacity: usize,
    pos: usize,
) {
    let symbols: Vec<u32> = g
        .symbol_values(capacity, pos)
        .into_iter()
        .map(|v| v as u32)
        .collect();
    if !symbols.is_empty() {
        ctx.queue
            .write_buffer(step_buf, 0, bytemuck::cast_slice(&symbols));
    }
}

/// Records kernel `k` of `plan` with its bind groups; returns how many dispatches.
fn record(
    program: &GpuProgram,
    pass: &mut wgpu::ComputePass<'_>,
    plan: &Plan,
    bind_groups: &[Vec<wgpu::BindGroup>],
    k: usize,
) -> usize {
    let max = program.ctx.limits().max_compute_workgroups_per_dimension;
    let mut recorded = 0;
    for (d, bg) in plan.kernels[k].dispatches.iter().zip(&bind_groups[k]) {
        let Some(pipeline) = program.pipelines.get(&d.shader) else {
            continue;
        };
        // Grids were checked when the plan was bound.
        let (x, y) = grid(d.workgroups, max).unwrap_or((1, 1));
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, bg, &[]);
        pass.dispatch_workgroups(x, y, 1);
        recorded += 1;
    }
    recorded
}

/// Copies value `v` of graph `g` (lowered as `plan` into `values`) into a fresh mappable
/// buffer in `enc`. Fails for a value that lives only inside a fused kernel.
fn stage_value(
    program: &GpuProgram,
    g: &zaya_ir::Graph,
    plan: &Plan,
    values: &[wgpu::Buffer],
    enc: &mut wgpu::CommandEncoder,
    v: ValueId,
) -> Result<(wgpu::Buffer, DType)> {
    let dtype = g.value(v).ty.dtype;
    let words = g.value(v).ty.numel().unwrap_or(0).max(1);
    let b = plan.value_buffer[v.index()].ok_or_else(|| GpuError::UnknownName {
        what: "materialized value (it lives inside a fused kernel)",
        name: g
            .value(v)
            .name
            .clone()
            .unwrap_or_else(|| format!("%{}", v.index())),
    })?;
    let staging = readback_buffer(&program.ctx.device, words * 4);
    enc.copy_buffer_to_buffer(&values[b], 0, &staging, 0, words * 4);
    Ok((staging, dtype))
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
pub(crate) fn map_read(ctx: &crate::GpuContext, buf: &wgpu::Buffer) -> Result<Vec<u8>> {
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
