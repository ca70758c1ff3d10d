//! Binding a graph's weights to a loaded bundle.

use crate::weights::{DenseWeight, WeightRows};
use zaya_ir::Graph;
use zaya_model::{Bundle, ModelError};

/// One [`WeightRows`] per graph weight, in order: module weights stay packed (borrowed from
/// the bundle's memory map); small plain tensors (norm gains, biases, conv kernels) are
/// widened to f32 once.
pub fn bind_bundle<'b>(
    bundle: &'b Bundle,
    graph: &Graph,
) -> Result<Vec<Box<dyn WeightRows + 'b>>, ModelError> {
    graph
        .weights
        .iter()
        .map(|w| -> Result<Box<dyn WeightRows + 'b>, ModelError> {
            let (rows, cols) = (w.rows() as usize, w.cols() as usize);
            if let Ok(packed) = bundle.weight(&w.source) {
                return Ok(Box::new(packed));
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
