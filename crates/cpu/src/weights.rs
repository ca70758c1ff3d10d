//! How the interpreter reads weights: by rows, so a packed weight stays packed.

/// A weight seen as `rows x cols` f32 values (leading axes flattened into rows). `Send + Sync`
/// so a program can be shared by sessions on several threads.
pub trait WeightRows: Send + Sync {
    fn rows(&self) -> usize;
    fn cols(&self) -> usize;
    /// Writes row `row` dequantized to f32 into `out` (`out.len() == cols`).
    fn dequant_row(&self, row: usize, out: &mut [f32]);
    /// `sum_i w[row, i] * x[i]`, dequantizing inside the dot product.
    fn dot_row(&self, row: usize, x: &[f32]) -> f32;
}

impl WeightRows for zaya_model::PackedWeight<'_> {
    fn rows(&self) -> usize {
        zaya_model::PackedWeight::rows(self)
    }
    fn cols(&self) -> usize {
        zaya_model::PackedWeight::cols(self)
    }
    fn dequant_row(&self, row: usize, out: &mut [f32]) {
        zaya_model::PackedWeight::dequant_row(self, row, out)
    }
    fn dot_row(&self, row: usize, x: &[f32]) -> f32 {
        zaya_model::PackedWeight::dot_row(self, row, x)
    }
}

/// A plain f32 weight, for graphs built by hand and for tests.
#[derive(Clone, Debug)]
pub struct DenseWeight {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

impl DenseWeight {
    pub fn new(rows: usize, cols: usize, data: Vec<f32>) -> Self {
        assert_eq!(
            data.len(),
            rows * cols,
            "DenseWeight data must hold rows * cols values"
        );
        DenseWeight { rows, cols, data }
    }
}

impl WeightRows for DenseWeight {
    fn rows(&self) -> usize {
        self.rows
    }
    fn cols(&self) -> usize {
        self.cols
    }
    fn dequant_row(&self, row: usize, out: &mut [f32]) {
        out.copy_from_slice(&self.data[row * self.cols..(row + 1) * self.cols]);
    }
    fn dot_row(&self, row: usize, x: &[f32]) -> f32 {
        crate::kernels::dot(&self.data[row * self.cols..(row + 1) * self.cols], x)
    }
}
