//! Weights as the GPU stores them: the bundle's bytes unchanged (packed codes, scales,
//! biases), padded only to 4 bytes, split into row windows when a tensor is larger than
//! one storage binding may be.
//!
//! Windows: each window is its own buffer holding whole rows (a multiple of the rows one
//! index selects, for stacked experts), sized from `max_storage_buffer_binding_size` and
//! `max_buffer_size`. Separate buffers instead of offsets into one buffer mean no
//! `min_storage_buffer_offset_alignment` padding and no buffer above `max_buffer_size`; a
//! kernel over a windowed weight is dispatched once per window and each dispatch computes
//! only the rows its window holds.

use crate::error::{GpuError, Result};
use std::borrow::Cow;
use zaya_ir::{DType, Graph, Weight, WeightFormat};
use zaya_model::{Bundle, PackedWeight};

/// The data bound to one graph weight.
#[derive(Clone, Debug)]
pub enum WeightData<'a> {
    /// A weight as stored in the bundle: format and raw bytes, uploaded unchanged.
    Packed(PackedWeight<'a>),
    /// Plain f32 values (`rows * cols`), e.g. a norm gain from `Bundle::vector_f32`.
    /// Stored back in the graph's declared f16/bf16 when that is exact, else as f32.
    F32(Vec<f32>),
}

/// The bytes of one weight in the format the kernels will read.
#[derive(Clone, Debug)]
pub struct StoredWeight<'a> {
    pub format: WeightFormat,
    pub packed: Cow<'a, [u8]>,
    pub scales: Option<Cow<'a, [u8]>>,
    pub biases: Option<Cow<'a, [u8]>>,
}

impl<'a> WeightData<'a> {
    /// Checks the data against the graph's declaration and returns what gets uploaded.
    pub fn stored(&'a self, index: usize, decl: &Weight) -> Result<StoredWeight<'a>> {
        let mismatch = |reason: String| GpuError::WeightMismatch {
            index,
            name: decl.source.clone(),
            reason,
        };
        let (rows, cols) = (decl.rows() as usize, decl.cols() as usize);
        match self {
            WeightData::Packed(w) => {
                if w.rows() != rows || w.cols() != cols {
                    return Err(mismatch(format!(
                        "bound weight is {}x{}, the graph declares {rows}x{cols}",
                        w.rows(),
                        w.cols()
                    )));
                }
                crate::wgsl::check_format(w.format).map_err(mismatch)?;
                let (p, s, b) = zaya_model::quant::row_layout(w.format, cols);
                let lens_ok = w.packed.len() == rows * p
                    && w.scales.map_or(0, <[u8]>::len) == rows * s
                    && w.biases.map_or(0, <[u8]>::len) == rows * b;
                if !lens_ok {
                    return Err(mismatch(format!("byte lengths do not match {}", w.format)));
                }
                Ok(StoredWeight {
                    format: w.format,
                    packed: Cow::Borrowed(w.packed),
                    scales: w.scales.map(Cow::Borrowed),
                    biases: w.biases.map(Cow::Borrowed),
                })
            }
            WeightData::F32(values) => {
                if values.len() != rows * cols {
                    return Err(mismatch(format!(
                        "holds {} values, the graph needs {rows}x{cols}",
                        values.len()
                    )));
                }
                let (format, packed) = narrow_exactly(decl.format, values);
                Ok(StoredWeight {
                    format,
                    packed: Cow::Owned(packed),
                    scales: None,
                    biases: None,
                })
            }
        }
    }
}

/// f32 values re-encoded in the declared 16-bit float type when every value survives the
/// round trip (they came from it), so plain tensors cost what they cost in the bundle.
/// A 16-bit float type with its exact conversions.
type Narrowing = (DType, fn(f32) -> u16, fn(u16) -> f32);

fn narrow_exactly(declared: WeightFormat, values: &[f32]) -> (WeightFormat, Vec<u8>) {
    let narrow: Option<Narrowing> = match declared {
        WeightFormat::Float { dtype: DType::F16 } => Some((
            DType::F16,
            |x| half::f16::from_f32(x).to_bits(),
            |h| half::f16::from_bits(h).to_f32(),
        )),
        WeightFormat::Float { dtype: DType::BF16 } => Some((
            DType::BF16,
            |x| half::bf16::from_f32(x).to_bits(),
            |h| half::bf16::from_bits(h).to_f32(),
        )),
        _ => None,
    };
    if let Some((dtype, to, from)) = narrow {
        let halves: Vec<u16> = values.iter().map(|&x| to(x)).collect();
        let exact = halves
            .iter()
            .zip(values)
            .all(|(&h, &x)| from(h).to_bits() == x.to_bits());
        if exact {
            return (
                WeightFormat::Float { dtype },
                halves.iter().flat_map(|h| h.to_le_bytes()).collect(),
            );
        }
    }
    (
        WeightFormat::Float { dtype: DType::F32 },
        values.iter().flat_map(|x| x.to_le_bytes()).collect(),
    )
}

/// One weight's data per graph weight, like `zaya_cpu::bind_bundle`: module weights stay
/// packed (borrowed from the bundle's map); plain tensors come as f32 and are narrowed back.
pub fn bind_bundle<'b>(bundle: &'b Bundle, graph: &Graph) -> Result<Vec<WeightData<'b>>> {
    bind_weights(bundle, &graph.weights)
}

/// [`bind_bundle`] for a list of weight declarations (a module's, each source once).
pub fn bind_weights<'b>(bundle: &'b Bundle, decls: &[Weight]) -> Result<Vec<WeightData<'b>>> {
    decls
        .iter()
        .enumerate()
        .map(|(index, w)| {
            if let Ok(packed) = bundle.weight(&w.source) {
                return Ok(WeightData::Packed(packed));
            }
            bundle
                .vector_f32(&w.source)
                .map(WeightData::F32)
                .map_err(|e| GpuError::WeightMismatch {
                    index,
                    name: w.source.clone(),
                    reason: e.to_string(),
                })
        })
        .collect()
}

/// A range of whole rows of a weight held by one buffer (per part).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Window {
    pub row0: u64,
    pub rows: u64,
}

/// Bytes per row of each stored part: (packed, scales, biases).
pub fn part_row_bytes(format: WeightFormat, cols: u64) -> [u64; 3] {
    let (p, s, b) = zaya_model::quant::row_layout(format, cols as usize);
    [p as u64, s as u64, b as u64]
}

/// Rows selected by one step of a leading-axis index (`dims[1..-1]` product).
pub fn rows_per_index(dims: &[u64]) -> u64 {
    if dims.len() < 2 {
        return 1;
    }
    dims[1..dims.len() - 1].iter().product::<u64>().max(1)
}

/// The largest binding (and buffer) a weight window may use on a device with `limits`.
pub fn max_window_bytes(limits: &wgpu::Limits) -> u64 {
    limits
        .max_storage_buffer_binding_size
        .min(limits.max_buffer_size)
        / 4
        * 4
}

/// Splits a weight into windows of whole units (`unit_rows` rows: what one index selects)
/// so that no part of a window exceeds `max_bytes`.
pub fn plan_windows(
    name: &str,
    format: WeightFormat,
    dims: &[u64],
    max_bytes: u64,
) -> Result<Vec<Window>> {
    let rows: u64 = dims[..dims.len().saturating_sub(1)].iter().product();
    let cols = *dims.last().unwrap_or(&0);
    let unit_rows = rows_per_index(dims);
    let row_bytes = part_row_bytes(format, cols).into_iter().max().unwrap_or(0);
    let unit_bytes = unit_rows * row_bytes;
    // A window's part is padded to 4 bytes: leave room for it.
    if unit_bytes + 3 > max_bytes {
        return Err(GpuError::WeightTooLarge {
            name: name.to_string(),
            unit_rows,
            unit_bytes,
            limit: max_bytes,
        });
    }
    let units_per_window = ((max_bytes - 3) / unit_bytes.max(1)).max(1);
    let window_rows = units_per_window * unit_rows;
    let mut windows = vec![];
    let mut row0 = 0;
    while row0 < rows.max(1) {
        let n = window_rows.min(rows - row0);
        windows.push(Window { row0, rows: n });
        row0 += n;
        if n == 0 {
            break;
        }
    }
    Ok(windows)
}

/// The bytes of part `part` (0 packed, 1 scales, 2 biases) of `window`, padded to 4.
pub fn window_bytes<'w>(
    stored: &'w StoredWeight<'_>,
    part: usize,
    cols: u64,
    window: Window,
) -> Option<Cow<'w, [u8]>> {
    let all: &[u8] = match part {
        0 => &stored.packed,
        1 => stored.scales.as_deref()?,
        _ => stored.biases.as_deref()?,
    };
    let rb = part_row_bytes(stored.format, cols)[part];
    let start = (window.row0 * rb) as usize;
    let end = ((window.row0 + window.rows) * rb) as usize;
    let bytes = all.get(start..end)?;
    if bytes.len() % 4 == 0 && !bytes.is_empty() {
        return Some(Cow::Borrowed(bytes));
    }
    let mut padded = bytes.to_vec();
    padded.resize(bytes.len().div_ceil(4).max(1) * 4, 0);
    Some(Cow::Owned(padded))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_8b_embedding_is_split_into_windows_under_the_default_limit() {
        let f = WeightFormat::Affine {
            bits: 8,
            group_size: 32,
            scale_dtype: DType::F16,
        };
        let max = max_window_bytes(&wgpu::Limits::default());
        let w = plan_windows("embed", f, &[262272, 2048], max).unwrap();
        assert!(w.len() >= 4, "{w:?}");
        assert_eq!(w.iter().map(|w| w.rows).sum::<u64>(), 262272);
        assert!(w.iter().all(|w| w.rows * 2048 <= max));
    }

    #[test]
    fn stacked_experts_are_never_split_inside_one_expert() {
        let f = WeightFormat::Float { dtype: DType::F32 };
        // 4 experts of 8 rows x 16 cols (512 B each); a 1200-byte limit holds 2 experts.
        let w = plan_windows("experts", f, &[4, 8, 16], 1200).unwrap();
        assert_eq!(
            w,
            vec![Window { row0: 0, rows: 16 }, Window { row0: 16, rows: 16 }]
        );
        let err = plan_windows("experts", f, &[4, 8, 16], 500).unwrap_err();
        assert!(matches!(err, GpuError::WeightTooLarge { .. }), "{err}");
    }

    #[test]
    fn plain_tensors_narrow_back_to_f16_only_when_exact() {
        let f16 = WeightFormat::Float { dtype: DType::F16 };
        let (f, bytes) = narrow_exactly(f16, &[1.0, -0.5, 65504.0]);
        assert_eq!((f, bytes.len()), (f16, 6));
        let (f, bytes) = narrow_exactly(f16, &[0.1]);
        assert_eq!(
            (f, bytes.len()),
            (WeightFormat::Float { dtype: DType::F32 }, 4)
        );
    }
}
