//! One strategy's graph running on one backend, behind a small trait so the benchmark loop,
//! the correctness gate and the tests (with a fake runner) share one code path.

use anyhow::Context;
use std::sync::Arc;
use zaya_ir::Graph;
use zaya_model::Bundle;
use zaya_wgpu::{GpuContext, GpuProgram, GpuSession};

/// One kernel's time in a profiled step.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelSample {
    /// The backend's kernel label (e.g. `qmatvec mxfp4`, `rms_norm`).
    pub backend_label: String,
    /// Instructions of the optimized graph the kernel computes (maps it to the plan).
    pub insts: Vec<usize>,
    pub seconds: f64,
}

/// A decode session of one strategy on one backend.
pub trait StepRunner {
    /// Feeds one token. Returns the logits only when `want_logits` (reading them back costs a
    /// transfer on a GPU). May return before a GPU has finished: see [`Self::finish`].
    fn step(&mut self, token: u32, want_logits: bool) -> anyhow::Result<Option<Vec<f32>>>;
    /// Waits until everything submitted has executed (a no-op on a synchronous backend).
    fn finish(&mut self) -> anyhow::Result<()>;
    /// Forgets the sequence (position 0, zero state).
    fn reset(&mut self) -> anyhow::Result<()>;
    fn position(&self) -> usize;
    /// Dispatches the backend records per step, when it records any.
    fn recorded_dispatches(&self) -> Option<usize> {
        None
    }
    /// Runs one step with a per-kernel time each, or `Ok(None)` (the step still ran) when
    /// the backend cannot time kernels separately.
    fn profile_step(&mut self, token: u32) -> anyhow::Result<Option<Vec<KernelSample>>> {
        self.step(token, false)?;
        self.finish()?;
        Ok(None)
    }
}

/// The reference interpreter.
pub struct CpuRunner<'b> {
    session: zaya_cpu::Session<'b>,
}

impl<'b> CpuRunner<'b> {
    pub fn new(bundle: &'b Bundle, graph: Graph, capacity: usize) -> anyhow::Result<Self> {
        let weights = zaya_cpu::bind_bundle(bundle, &graph)?;
        // The program borrows the bundle's memory map, so it is not Send; the benchmark runs
        // on one thread (the interpreter parallelises inside a step).
        #[allow(clippy::arc_with_non_send_sync)]
        let program = Arc::new(zaya_cpu::Program::new(graph, weights)?);
        Ok(CpuRunner {
            session: program.session(capacity)?,
        })
    }
}

impl StepRunner for CpuRunner<'_> {
    fn step(&mut self, token: u32, want_logits: bool) -> anyhow::Result<Option<Vec<f32>>> {
        self.session.step(&[zaya_cpu::Input::U32(&[token])])?;
        if !want_logits {
            return Ok(None);
        }
        let logits = self
            .session
            .output_f32(zaya_cpu::LOGITS)
            .context("the graph has no f32 `logits` output")?;
        Ok(Some(logits.to_vec()))
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        Ok(())
    }

    fn reset(&mut self) -> anyhow::Result<()> {
        self.session.reset();
        Ok(())
    }

    fn position(&self) -> usize {
        self.session.position()
    }
}

/// The wgpu backend: weights uploaded once per strategy (each strategy is its own program).
pub struct GpuRunner {
    ctx: Arc<GpuContext>,
    session: GpuSession,
}

impl GpuRunner {
    pub fn new(
        ctx: &Arc<GpuContext>,
        bundle: &Bundle,
        graph: Graph,
        capacity: usize,
    ) -> anyhow::Result<Self> {
        let weights = zaya_wgpu::bind_bundle(bundle, &graph)?;
        let program = GpuProgram::new(Arc::clone(ctx), graph, &weights)?;
        Ok(GpuRunner {
            ctx: Arc::clone(ctx),
            session: program.session(capacity)?,
        })
    }
}

impl StepRunner for GpuRunner {
    fn step(&mut self, token: u32, want_logits: bool) -> anyhow::Result<Option<Vec<f32>>> {
        Ok(self.session.step(token, want_logits)?)
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        Ok(self.ctx.wait()?)
    }

    fn reset(&mut self) -> anyhow::Result<()> {
        Ok(self.session.reset()?)
    }

    fn position(&self) -> usize {
        self.session.position()
    }

    fn recorded_dispatches(&self) -> Option<usize> {
        Some(self.session.dispatches_per_step())
    }

    fn profile_step(&mut self, token: u32) -> anyhow::Result<Option<Vec<KernelSample>>> {
        // Constant kernels run only in a session's first step; profile a steady-state step.
        if self.session.position() == 0 {
            self.session.step(token, false)?;
            self.ctx.wait()?;
        }
        let Some(times) = self.session.profile_step(token)? else {
            return Ok(None);
        };
        let kernels: Vec<&zaya_wgpu::Kernel> = self
            .session
            .plan()
            .kernels
            .iter()
            .filter(|k| !k.constant)
            .collect();
        if kernels.len() != times.len() {
            anyhow::bail!(
                "the GPU profile has {} kernel times for {} kernels",
                times.len(),
                kernels.len()
            );
        }
        Ok(Some(
            times
                .into_iter()
                .zip(kernels)
                .map(|((label, seconds), k)| KernelSample {
                    backend_label: label,
                    insts: k.insts.clone(),
                    seconds,
                })
                .collect(),
        ))
    }
}
