//! Passes: named, pure rewrites `Graph -> Graph` that log what they did. The pipeline runs
//! the validator after every pass, so a broken rewrite is caught where it happens.

use thiserror::Error;
use zaya_ir::{Graph, GraphError};

#[derive(Debug, Error)]
pub enum OptError {
    #[error("pass `{pass}` produced an invalid graph: {source}")]
    Invalid { pass: String, source: GraphError },
    #[error("unknown pass `{0}` (known: {1})")]
    UnknownPass(String, String),
    #[error("unknown strategy component `{0}` (known: {1})")]
    UnknownStrategy(String, String),
    #[error("the input graph is invalid: {0}")]
    InvalidInput(GraphError),
}

/// What one pass run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PassLog {
    pub pass: String,
    /// One line per rewrite ("fused %3 (dequant) into matvec %4").
    pub rewrites: Vec<String>,
    /// Fusions the pass wanted but could not do (dependency cycles), with the reason.
    pub skipped: Vec<String>,
    pub insts_before: usize,
    pub insts_after: usize,
    pub kernels_before: usize,
    pub kernels_after: usize,
}

impl PassLog {
    pub fn note(&mut self, line: impl Into<String>) {
        self.rewrites.push(line.into());
    }
    pub fn skip(&mut self, line: impl Into<String>) {
        self.skipped.push(line.into());
    }
}

/// A named rewrite. `run` must not mutate its input: it returns a new graph. Strategies hold
/// passes as `Arc<dyn Pass>`, so a pass written outside this crate runs everywhere a built-in
/// one does (the bench, `dump`, any backend).
pub trait Pass: Send + Sync {
    fn name(&self) -> &str;
    /// One line saying what the pass does, for `--help`-style listings.
    fn describe(&self) -> &str;
    fn run(&self, graph: &Graph, log: &mut PassLog) -> Graph;
}

/// Runs `passes` in order, validating after each; returns the result and one log per pass.
pub fn run_passes(graph: &Graph, passes: &[&dyn Pass]) -> Result<(Graph, Vec<PassLog>), OptError> {
    graph.validate().map_err(OptError::InvalidInput)?;
    let mut g = graph.clone();
    let mut logs = Vec::with_capacity(passes.len());
    for pass in passes {
        let mut log = PassLog {
            pass: pass.name().to_string(),
            insts_before: g.insts.len(),
            kernels_before: g.kernel_ranges().len(),
            ..Default::default()
        };
        // Passes may leave orphaned groups and values behind: compact to canonical ids.
        let next = pass.run(&g, &mut log).compacted();
        next.validate().map_err(|source| OptError::Invalid {
            pass: pass.name().to_string(),
            source,
        })?;
        log.insts_after = next.insts.len();
        log.kernels_after = next.kernel_ranges().len();
        logs.push(log);
        g = next;
    }
    Ok((g, logs))
}
