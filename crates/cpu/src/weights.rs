//! How the interpreter reads weights: by rows, so a packed weight stays packed.

use rayon::prelude::*;
use zaya_model::quant;

/// A weight seen as `rows x cols` f32 values (leading axes flattened into rows). `Send + Sync`
/// so a program can be shared by sessions on several threads.
pub trait WeightRows: Send + Sync {
    fn rows(&self) -> usize;
    fn cols(&self) -> usize;
    /// Writes row `row` dequantized to f32 into `out` (`out.len() == cols`).
    fn dequant_row(&self, row: usize, out: &mut [f32]);
    /// `sum_i w[row, i] * x[i]`, dequantizing inside the dot product.
    fn dot_row(&self, row: usize, x: &[f32]) -> f32;
    /// Bytes one row occupies in memory (what a matvec streams per row).
    fn row_bytes(&self) -> usize {
        self.cols() * 4
    }
    /// `out[r] = dot_row(row0 + r, x)` for consecutive rows. A weight that can do several
    /// rows in one pass over `x` overrides it.
    fn dot_rows(&self, row0: usize, x: &[f32], out: &mut [f32]) {
        for (r, y) in out.iter_mut().enumerate() {
            *y = self.dot_row(row0 + r, x);
        }
    }
    /// The matvec `out = W[row0 .., :] x`, split over the global thread pool in chunks of
    /// roughly equal bytes ([`chunk_rows`]); a small one runs on the calling thread.
    fn matvec(&self, row0: usize, x: &[f32], out: &mut [f32]) {
        match chunk_rows(out.len(), self.row_bytes(), rayon::current_num_threads()) {
            None => self.dot_rows(row0, x, out),
            Some(rows) => out
                .par_chunks_mut(rows)
                .enumerate()
                .for_each(|(c, chunk)| self.dot_rows(row0 + c * rows, x, chunk)),
        }
    }
}

/// Threads a matvec is split over (rayon's global pool: `RAYON_NUM_THREADS`, else one per core).
pub fn matvec_threads() -> usize {
    rayon::current_num_threads()
}

/// Below this many bytes a matvec is not worth waking the pool for.
const SERIAL_BYTES: usize = 128 << 10;
/// Chunk sizes: small enough that every thread gets several (load balance against a busy
/// neighbour), large enough that the pool's per-task cost stays under a percent.
const MIN_CHUNK_BYTES: usize = 32 << 10;
const MAX_CHUNK_BYTES: usize = 1 << 20;
const CHUNKS_PER_THREAD: usize = 8;

/// Rows per parallel chunk for a matvec of `rows` rows of `row_bytes` bytes each, or `None`
/// to run it serially: the split is by bytes (an 8-bit lm_head row is 9x a 4-bit 1024-column
/// row), rounded to a multiple of 4 rows so the kernels' row tiles stay whole.
pub fn chunk_rows(rows: usize, row_bytes: usize, threads: usize) -> Option<usize> {
    let total = rows.saturating_mul(row_bytes.max(1));
    if threads <= 1 || total < SERIAL_BYTES {
        return None;
    }
    let target = (total / (threads * CHUNKS_PER_THREAD)).clamp(MIN_CHUNK_BYTES, MAX_CHUNK_BYTES);
    let rows_per_chunk = target.div_ceil(row_bytes.max(1)).next_multiple_of(4);
    (rows_per_chunk < rows).then_some(rows_per_chunk)
}

impl WeightRows for zaya_model::PackedWeight<'_> {
    fn rows(&self) -> usize {
        zaya_model::PackedWeight::rows(self)
    }
    fn cols(&self) -> usize {
        zaya_model::PackedWeight::cols(self)
    }
    fn dequant_row(&self, row: usize, out: &mut [f32]) {
        let bytes = self.row_range(row, row + 1);
        quant::simd::dequant_row(self.format, bytes, &mut out[..self.cols()])
    }
    fn dot_row(&self, row: usize, x: &[f32]) -> f32 {
        zaya_model::PackedWeight::dot_row(self, row, x)
    }
    fn row_bytes(&self) -> usize {
        let (p, s, b) = quant::row_layout(self.format, self.cols());
        p + s + b
    }
    fn dot_rows(&self, row0: usize, x: &[f32], out: &mut [f32]) {
        let rows = self.row_range(row0, row0 + out.len());
        quant::dot_rows(self.format, rows, &x[..self.cols()], out)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_split_by_bytes_in_whole_tiles() {
        // Small matvecs stay on the calling thread, and so does everything on one thread.
        assert_eq!(chunk_rows(256, 256, 2), None);
        assert_eq!(chunk_rows(1 << 20, 2304, 1), None);
        // The 8-bit lm_head (2304 B/row): 1 MiB chunks, whole 4-row tiles.
        let lm = chunk_rows(262_272, 2304, 2).unwrap();
        assert_eq!(lm % 4, 0);
        assert!((lm * 2304).abs_diff(1 << 20) < 4 * 2304, "{lm}");
        // A 4-bit 2048 x 1024 matvec (640 B/row, 1.3 MB): several chunks per thread.
        let q = chunk_rows(2048, 640, 2).unwrap();
        assert!(2048 / q >= 2 * 4, "{q}");
        // Rows of different sizes get chunks of about the same bytes.
        let (a, b) = (
            chunk_rows(1 << 16, 1024, 2).unwrap(),
            chunk_rows(1 << 14, 4096, 2).unwrap(),
        );
        assert!(
            ((a * 1024) as f64 / (b * 4096) as f64 - 1.0).abs() < 0.01,
            "{a} {b}"
        );
    }

    #[test]
    fn parallel_matvec_equals_row_by_row() {
        let (rows, cols) = (1000, 129);
        let data: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 7919) % 113) as f32 - 56.0)
            .collect();
        let w = DenseWeight::new(rows, cols, data);
        let x: Vec<f32> = (0..cols).map(|i| i as f32 * 0.25).collect();
        let mut out = vec![0.0; rows - 3];
        w.matvec(3, &x, &mut out);
        for (r, &y) in out.iter().enumerate() {
            assert_eq!(y, w.dot_row(3 + r, &x), "row {r}");
        }
    }
}
