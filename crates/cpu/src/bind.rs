//! Binding a graph's weights to a loaded bundle.

use crate::program::{BoundWeight, CpuError, Program};
use crate::weights::{DenseWeight, WeightRows};
use std::sync::Arc;
use zaya_ir::{Graph, Module, Weight};
use zaya_model::{Bundle, ModelError, PackedWeight};

/// One [`WeightRows`] per graph weight, in order: module weights stay packed (borrowed from
/// the bundle's memory map); small plain tensors (norm gains, biases, conv kernels) are
/// widened to f32 once.
pub fn bind_bundle<'b>(
    bundle: &'b Bundle,
    graph: &Graph,
) -> Result<Vec<BoundWeight<'b>>, ModelError> {
    bind_with(bundle, &graph.weights, |name| {
        bundle
            .weight(name)
            .ok()
            .map(|w| Box::new(w) as BoundWeight<'b>)
    })
}

self_cell::self_cell!(
    /// A packed weight that keeps its bundle alive (the program owns a share of the map).
    struct SharedWeight {
        owner: Arc<Bundle>,
        #[covariant]
        dependent: PackedWeight,
    }
);

impl WeightRows for SharedWeight {
    fn rows(&self) -> usize {
        self.borrow_dependent().rows()
    }
    fn cols(&self) -> usize {
        self.borrow_dependent().cols()
    }
    fn dequant_row(&self, row: usize, out: &mut [f32]) {
        self.borrow_dependent().dequant_row(row, out)
    }
    fn dot_row(&self, row: usize, x: &[f32]) -> f32 {
        self.borrow_dependent().dot_row(row, x)
    }
    // The rest forwarded too: the defaults would fall back to the scalar decoder and split
    // matvecs by f32 row sizes.
    fn row_bytes(&self) -> usize {
        self.borrow_dependent().row_bytes()
    }
    fn dot_rows(&self, row0: usize, x: &[f32], out: &mut [f32]) {
        self.borrow_dependent().dot_rows(row0, x, out)
    }
    fn matvec(&self, row0: usize, x: &[f32], out: &mut [f32]) {
        self.borrow_dependent().matvec(row0, x, out)
    }
}

/// [`bind_bundle`] for a shared bundle: the weights hold a share of it, so the result has no
/// borrowed lifetime.
pub fn bind_shared(
    bundle: &Arc<Bundle>,
    graph: &Graph,
) -> Result<Vec<BoundWeight<'static>>, ModelError> {
    bind_weights_shared(bundle, &graph.weights)
}

/// [`bind_shared`] for a list of weight declarations (a module's, [`Module::weights`]).
pub fn bind_weights_shared(
    bundle: &Arc<Bundle>,
    weights: &[Weight],
) -> Result<Vec<BoundWeight<'static>>, ModelError> {
    bind_with(bundle, weights, |name| {
        SharedWeight::try_new(Arc::clone(bundle), |b| b.weight(name))
            .ok()
            .map(|w| Box::new(w) as BoundWeight<'static>)
    })
}

impl Program<'static> {
    /// Binds `graph` to a shared bundle and validates it: the executor
    /// ([`zaya_ir::Executor`]) a caller holds for any number of sessions.
    pub fn from_bundle(bundle: &Arc<Bundle>, graph: Graph) -> Result<Arc<Self>, CpuError> {
        let weights = bind_shared(bundle, &graph)?;
        Ok(Arc::new(Program::new(graph, weights)?))
    }

    /// Binds every function of `module` to a shared bundle, each weight once.
    pub fn from_bundle_module(bundle: &Arc<Bundle>, module: Module) -> Result<Arc<Self>, CpuError> {
        let weights = bind_weights_shared(bundle, &module.weights())?;
        Ok(Arc::new(Program::with_module(module, weights)?))
    }
}

/// [`bind_bundle`] for every function of a module (each weight once, in
/// [`Module::weights`] order).
pub fn bind_module<'b>(
    bundle: &'b Bundle,
    module: &Module,
) -> Result<Vec<BoundWeight<'b>>, ModelError> {
    bind_with(bundle, &module.weights(), |name| {
        bundle
            .weight(name)
            .ok()
            .map(|w| Box::new(w) as BoundWeight<'b>)
    })
}

/// Binds every graph weight: `packed` gives a module weight, else the tensor is read as f32.
fn bind_with<'w>(
    bundle: &Bundle,
    weights: &[Weight],
    packed: impl Fn(&str) -> Option<BoundWeight<'w>>,
) -> Result<Vec<BoundWeight<'w>>, ModelError> {
    weights
        .iter()
        .map(|w| -> Result<BoundWeight<'w>, ModelError> {
            let (rows, cols) = (w.rows() as usize, w.cols() as usize);
            if let Some(weight) = packed(&w.source) {
                return Ok(weight);
            }
            let data = bundle.vector_f32(&w.source)?;
            if data.len() != rows * cols {
                return Err(ModelError::Tensor {
                    file: bundle.dir.clone(),
                    tensor: w.source.clone(),
                    reason: format!("holds {} values, the graph needs {rows}x{cols}", data.len()),
                });
            }
            Ok(Box::new(DenseWeight::new(rows, cols, data)))
        })
        .collect()
}
