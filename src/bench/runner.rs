//! One strategy's graph running on one backend, behind a small trait so the benchmark loop,
//! the correctness gate and the tests (with a fake runner) share one code path.

use std::sync::Arc;
use zaya_ir::exec::{ExecSession, Executor, Input, LOGITS, Tensor};

/// One kernel's time in a profiled step (the executor seam's).
pub type KernelSample = zaya_ir::exec::KernelTime;

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
    /// Feeds `tokens` through batched prefill and returns the last token's logits, or
    /// `Ok(None)` (nothing ran) when the runner has no batched prefill.
    fn prefill(&mut self, tokens: &[u32]) -> anyhow::Result<Option<Vec<f32>>> {
        let _ = tokens;
        Ok(None)
    }
    /// Batched prefill of `tokens` with a time per backend kernel run, or `Ok(None)` when
    /// the runner has no batched prefill or cannot time its kernels.
    fn profile_prefill(&mut self, tokens: &[u32]) -> anyhow::Result<Option<Vec<KernelSample>>> {
        let _ = tokens;
        Ok(None)
    }
}

/// Any backend's session, through the executor seam.
pub struct ExecRunner {
    session: Box<dyn ExecSession>,
}

impl ExecRunner {
    /// A session of `executor` with room for `capacity` tokens.
    pub fn new(executor: &Arc<dyn Executor>, capacity: usize) -> anyhow::Result<Self> {
        Ok(ExecRunner {
            session: Arc::clone(executor).session(capacity)?,
        })
    }
}

impl StepRunner for ExecRunner {
    fn prefill(&mut self, tokens: &[u32]) -> anyhow::Result<Option<Vec<f32>>> {
        match self.session.prefill(tokens, &[LOGITS]) {
            Ok(out) => match out.into_iter().next() {
                Some(Tensor::F32(logits)) => Ok(Some(logits)),
                _ => anyhow::bail!("the prefill's `{LOGITS}` output is not f32"),
            },
            Err(zaya_ir::ExecError::Unsupported(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn step(&mut self, token: u32, want_logits: bool) -> anyhow::Result<Option<Vec<f32>>> {
        let read: &[&str] = if want_logits { &[LOGITS] } else { &[] };
        let out = self.session.step(&[Input::U32(&[token])], read)?;
        match out.into_iter().next() {
            None => Ok(None),
            Some(Tensor::F32(logits)) => Ok(Some(logits)),
            Some(Tensor::U32(_)) => anyhow::bail!("the graph's `{LOGITS}` output is not f32"),
        }
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        Ok(self.session.finish()?)
    }

    fn reset(&mut self) -> anyhow::Result<()> {
        Ok(self.session.reset()?)
    }

    fn position(&self) -> usize {
        self.session.position()
    }

    fn recorded_dispatches(&self) -> Option<usize> {
        self.session.dispatches_per_step()
    }

    fn profile_step(&mut self, token: u32) -> anyhow::Result<Option<Vec<KernelSample>>> {
        Ok(self.session.profile_step(&[Input::U32(&[token])])?)
    }

    fn profile_prefill(&mut self, tokens: &[u32]) -> anyhow::Result<Option<Vec<KernelSample>>> {
        match self.session.profile_prefill(tokens) {
            Err(zaya_ir::ExecError::Unsupported(_)) => Ok(None),
            got => Ok(got?),
        }
    }
}
