//! An opened, validated bundle: memory-mapped safetensors (single file or index + shards),
//! exposed through canonical module names as [`PackedWeight`]s that borrow the mapped bytes.
//!
//! The unquantized original checkpoint (experts as `local_experts.{e}.linear_fc1/fc2`) opens
//! too: its experts are stacked into owned `Float` buffers at open time so every consumer
//! sees the same `switch_mlp.{gate,up,down}_proj` [E, out, in] layout. So does an HF
//! transformers checkpoint (spec §6): its tensors are renamed to the original names here and
//! its `gate_up_proj` split, so no consumer knows which naming the files used.
use crate::config::Config;
use crate::error::ModelError;
use crate::hf_names::{self, Naming};
use crate::names::{self, Entry};
use crate::quant::{self, Row};
use crate::scan::{Scan, floats_to_f32};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use zaya_ir::{DType, WeightFormat};

/// Where a tensor's bytes live.
#[derive(Clone, Copy, Debug)]
enum Storage {
    /// Absolute byte range in a shard's map.
    Mapped {
        shard: usize,
        start: usize,
        end: usize,
    },
    /// One of the bundle's owned buffers (stacked experts of an unquantized checkpoint).
    Owned { buffer: usize },
}

#[derive(Clone, Debug)]
struct TensorSlot {
    dtype: DType,
    shape: Vec<usize>,
    storage: Storage,
}

#[derive(Clone, Debug)]
struct WeightSlot {
    format: WeightFormat,
    shape: Vec<usize>,
    packed: Storage,
    scales: Option<Storage>,
    biases: Option<Storage>,
}

pub struct Bundle {
    pub dir: PathBuf,
    pub config: Config,
    scan: Scan,
    owned: Vec<Vec<u8>>,
    tensors: BTreeMap<String, TensorSlot>,
    weights: BTreeMap<String, WeightSlot>,
}

impl Bundle {
    /// Parses the config and every header, and validates each tensor's name, dtype and
    /// shape against the config and quantization. Tensor data is not read, except the
    /// experts of an unquantized checkpoint, which are stacked here.
    pub fn open(dir: &Path) -> Result<Bundle, ModelError> {
        let scan = Scan::read(dir)?;
        let scale_dtype = scan.scale_dtype();
        let expected = scan.expected();
        if let Some(first) = scan.problems(&expected).into_iter().next() {
            return Err(first);
        }
        let naming = scan.naming;
        let mut bundle = Bundle {
            dir: dir.to_path_buf(),
            config: scan.config.clone(),
            owned: Vec::new(),
            tensors: BTreeMap::new(),
            weights: BTreeMap::new(),
            scan,
        };
        bundle.collect_tensors();
        match (bundle.config.quantization.is_none(), naming) {
            (true, Naming::Original) => bundle.stack_local_experts()?,
            (true, Naming::Hf) => bundle.split_hf_experts()?,
            (false, _) => {}
        }
        for entry in names::expected_entries(&bundle.config, scale_dtype) {
            if entry.is_weight {
                bundle.add_weight(&entry)?;
            }
        }
        Ok(bundle)
    }

    /// The weight of a module (path without `.weight`), e.g.
    /// `model.layers.1.zaya_block.experts.switch_mlp.gate_proj` or `model.embed_tokens`
    /// (also the tied lm_head).
    pub fn weight(&self, module: &str) -> Result<PackedWeight<'_>, ModelError> {
        let key = module.strip_suffix(".weight").unwrap_or(module);
        let Some((name, slot)) = self.weights.get_key_value(key) else {
            let reason = if self.tensors.contains_key(module) {
                "a plain tensor, not a weight: use vector_f32"
            } else {
                "no such weight in this model"
            };
            return Err(self.lookup_error(module, reason));
        };
        Ok(PackedWeight {
            name,
            format: slot.format,
            shape: &slot.shape,
            packed: self.bytes(slot.packed),
            scales: slot.scales.map(|s| self.bytes(s)),
            biases: slot.biases.map(|s| self.bytes(s)),
        })
    }

    /// A float tensor by full name (e.g. `model.final_norm.weight`, `….temp`,
    /// `….balancing_biases`), widened to f32 and flattened.
    pub fn vector_f32(&self, name: &str) -> Result<Vec<f32>, ModelError> {
        let slot = self
            .tensors
            .get(name)
            .ok_or_else(|| self.lookup_error(name, "no such tensor"))?;
        floats_to_f32(self.bytes(slot.storage), slot.dtype).ok_or_else(|| ModelError::WrongDtype {
            file: self.scan.file_of(name),
            tensor: name.to_string(),
            expected: "a float dtype".into(),
            found: slot.dtype.to_string(),
        })
    }

    /// Canonical tensor names (stacked `switch_mlp` experts, also for an unquantized
    /// checkpoint).
    pub fn tensor_names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    pub fn total_tensor_bytes(&self) -> u64 {
        self.tensors
            .values()
            .map(|t| self.bytes(t.storage).len() as u64)
            .sum()
    }

    /// Dtype and shape of a tensor by canonical name.
    pub fn tensor_info(&self, name: &str) -> Option<(DType, &[usize])> {
        self.tensors
            .get(name)
            .map(|t| (t.dtype, t.shape.as_slice()))
    }

    /// Module names of all weights (quantized or float), sorted.
    pub fn weight_names(&self) -> impl Iterator<Item = &str> {
        self.weights.keys().map(String::as_str)
    }

    fn lookup_error(&self, name: &str, reason: &str) -> ModelError {
        ModelError::Lookup {
            file: self.scan.file_of(name),
            name: name.to_string(),
            reason: reason.into(),
        }
    }

    fn bytes(&self, storage: Storage) -> &[u8] {
        match storage {
            Storage::Mapped { shard, start, end } => &self.scan.shards[shard].map[start..end],
            Storage::Owned { buffer } => &self.owned[buffer],
        }
    }

    /// Every tensor under its canonical (original) name; HF experts keep their HF names
    /// until [`Bundle::split_hf_experts`] replaces them.
    fn collect_tensors(&mut self) {
        let canonical: HashMap<String, String> = match self.scan.naming {
            Naming::Original => HashMap::new(),
            Naming::Hf => names::expected_stored(&self.config, DType::F16)
                .into_iter()
                .filter_map(|t| Some((hf_names::to_hf(&t.name, self.config.num_layers)?, t.name)))
                .collect(),
        };
        for (name, t) in &self.scan.tensors {
            let name = canonical.get(name).unwrap_or(name);
            let storage = Storage::Mapped {
                shard: t.shard,
                start: t.start,
                end: t.end,
            };
            self.tensors.insert(
                name.clone(),
                TensorSlot {
                    dtype: t.dtype,
                    shape: t.shape.clone(),
                    storage,
                },
            );
        }
    }

    fn add_weight(&mut self, entry: &Entry) -> Result<(), ModelError> {
        let data = self.slot(&entry.data_name())?.clone();
        let suffix = |s: &str| format!("{}.{s}", entry.name);
        let (format, scales, biases) = match entry.format {
            WeightFormat::Float { .. } => (WeightFormat::Float { dtype: data.dtype }, None, None),
            WeightFormat::Mxfp4 { .. } => (
                entry.format,
                Some(self.slot(&suffix("scales"))?.storage),
                None,
            ),
            WeightFormat::Affine { .. } => {
                let scales = self.slot(&suffix("scales"))?.storage;
                (
                    entry.format,
                    Some(scales),
                    Some(self.slot(&suffix("biases"))?.storage),
                )
            }
        };
        let slot = WeightSlot {
            format,
            shape: entry.shape.clone(),
            packed: data.storage,
            scales,
            biases,
        };
        self.weights.insert(entry.name.clone(), slot);
        Ok(())
    }

    fn slot(&self, name: &str) -> Result<&TensorSlot, ModelError> {
        // Validation guarantees presence; this only guards against a names.rs inconsistency.
        self.tensors
            .get(name)
            .ok_or_else(|| self.lookup_error(name, "validated tensor vanished"))
    }

    /// Replaces `local_experts.{e}.linear_fc1/fc2` by stacked `switch_mlp` gate/up/down
    /// tensors held in owned buffers.
    fn stack_local_experts(&mut self) -> Result<(), ModelError> {
        let c = &self.config;
        let (e_count, i, h) = (c.num_experts, c.expert_intermediate, c.hidden_size);
        for layer in (1..c.num_layers).step_by(2) {
            let fc1: Vec<String> = (0..e_count)
                .map(|e| names::local_expert_fc1(layer, e))
                .collect();
            let fc2: Vec<String> = (0..e_count)
                .map(|e| names::local_expert_fc2(layer, e))
                .collect();
            let dtype = self.common_dtype(fc1.iter().chain(&fc2))?;
            let elem = dtype.size();
            let half = i * h * elem; // gate rows 0..I, up rows I..2I of each fc1
            let gate = self.concat(&fc1, |b| &b[..half]);
            let up = self.concat(&fc1, |b| &b[half..]);
            let down = self.concat(&fc2, |b| b);
            for (proj, bytes, shape) in [
                ("gate_proj", gate, vec![e_count, i, h]),
                ("up_proj", up, vec![e_count, i, h]),
                ("down_proj", down, vec![e_count, h, i]),
            ] {
                let storage = Storage::Owned {
                    buffer: self.owned.len(),
                };
                self.owned.push(bytes);
                let name = format!("{}.weight", names::switch_mlp(layer, proj));
                self.tensors.insert(
                    name,
                    TensorSlot {
                        dtype,
                        shape,
                        storage,
                    },
                );
            }
            for name in fc1.iter().chain(&fc2) {
                self.tensors.remove(name);
            }
        }
        Ok(())
    }

    /// HF's `mlp.experts.gate_up_proj` [E, 2I, H] holds each expert's gate rows then its up
    /// rows: split into owned stacked gate/up tensors; `down_proj` [E, H, I] is already the
    /// stacked layout and stays mapped.
    fn split_hf_experts(&mut self) -> Result<(), ModelError> {
        let c = &self.config;
        let (e_count, i, h) = (c.num_experts, c.expert_intermediate, c.hidden_size);
        for layer in (1..c.num_layers).step_by(2) {
            let gate_up_name = hf_names::gate_up(layer / 2);
            let down_name = hf_names::experts_down(layer / 2);
            let gate_up = self.slot(&gate_up_name)?.clone();
            let down = self.slot(&down_name)?.clone();
            let half = i * h * gate_up.dtype.size();
            let bytes = self.bytes(gate_up.storage);
            let (mut gate, mut up) = (Vec::with_capacity(bytes.len() / 2), Vec::new());
            up.reserve(bytes.len() / 2);
            for expert in bytes.chunks_exact(2 * half) {
                gate.extend_from_slice(&expert[..half]);
                up.extend_from_slice(&expert[half..]);
            }
            for (proj, bytes) in [("gate_proj", gate), ("up_proj", up)] {
                let storage = Storage::Owned {
                    buffer: self.owned.len(),
                };
                self.owned.push(bytes);
                let slot = TensorSlot {
                    dtype: gate_up.dtype,
                    shape: vec![e_count, i, h],
                    storage,
                };
                self.tensors
                    .insert(format!("{}.weight", names::switch_mlp(layer, proj)), slot);
            }
            let name = format!("{}.weight", names::switch_mlp(layer, "down_proj"));
            self.tensors.insert(name, down);
            self.tensors.remove(&gate_up_name);
            self.tensors.remove(&down_name);
        }
        Ok(())
    }

    /// All experts of a layer must share one float dtype to be stacked.
    fn common_dtype<'n>(
        &self,
        names: impl Iterator<Item = &'n String>,
    ) -> Result<DType, ModelError> {
        let mut dtype = None;
        for name in names {
            let t = self.slot(name)?;
            match dtype {
                None => dtype = Some(t.dtype),
                Some(d) if d != t.dtype => {
                    return Err(ModelError::WrongDtype {
                        file: self.scan.file_of(name),
                        tensor: name.clone(),
                        expected: format!("{d} like the layer's other experts"),
                        found: t.dtype.to_string(),
                    });
                }
                _ => {}
            }
        }
        dtype.ok_or_else(|| self.lookup_error("local_experts", "no experts"))
    }

    fn concat(&self, names: &[String], part: impl Fn(&[u8]) -> &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for name in names {
            if let Some(t) = self.tensors.get(name) {
                out.extend_from_slice(part(self.bytes(t.storage)));
            }
        }
        out
    }
}

/// One weight's bytes and layout, borrowed from a [`Bundle`] (or built by hand in tests).
/// `shape` is logical, `[.., out, in]` with `in` unpacked and a leading expert axis for
/// stacked experts; rows are flattened over all leading dims.
#[derive(Clone, Copy, Debug)]
pub struct PackedWeight<'a> {
    pub name: &'a str,
    pub format: WeightFormat,
    pub shape: &'a [usize],
    pub packed: &'a [u8],
    pub scales: Option<&'a [u8]>,
    pub biases: Option<&'a [u8]>,
}

impl<'a> PackedWeight<'a> {
    /// A weight from parts, checking that the byte lengths match the format and shape (so
    /// the row accessors cannot go out of bounds).
    pub fn new(
        name: &'a str,
        format: WeightFormat,
        shape: &'a [usize],
        packed: &'a [u8],
        scales: Option<&'a [u8]>,
        biases: Option<&'a [u8]>,
    ) -> Result<PackedWeight<'a>, ModelError> {
        let w = PackedWeight {
            name,
            format,
            shape,
            packed,
            scales,
            biases,
        };
        w.check_lengths()?;
        Ok(w)
    }

    fn check_lengths(&self) -> Result<(), ModelError> {
        let (p, s, b) = quant::row_layout(self.format, self.cols());
        let rows = self.rows();
        let group_ok = match self.format {
            WeightFormat::Affine {
                group_size, bits, ..
            } => matches!(bits, 4 | 8) && self.cols().is_multiple_of(group_size as usize),
            WeightFormat::Mxfp4 { group_size } => self.cols().is_multiple_of(group_size as usize),
            WeightFormat::Float { dtype } => dtype.is_float(),
        };
        let lens_ok = self.packed.len() == rows * p
            && self.scales.map_or(0, <[u8]>::len) == rows * s
            && self.biases.map_or(0, <[u8]>::len) == rows * b;
        if group_ok && lens_ok && !self.shape.is_empty() {
            return Ok(());
        }
        Err(ModelError::tensor(
            PathBuf::from("<in memory>"),
            self.name,
            format!("byte lengths do not match {} {:?}", self.format, self.shape),
        ))
    }

    /// Product of all dims but the last.
    pub fn rows(&self) -> usize {
        self.shape
            .split_last()
            .map_or(0, |(_, lead)| lead.iter().product())
    }

    /// The last (unpacked) dim.
    pub fn cols(&self) -> usize {
        self.shape.last().copied().unwrap_or(0)
    }

    /// Bytes of row `row` (panics if `row >= rows()`: a caller bug, not bad input).
    fn row(&self, row: usize) -> Row<'a> {
        self.row_range(row, row + 1)
    }

    /// Bytes of rows `r0 .. r1`, consecutive in each part (panics past `rows()`).
    pub fn row_range(&self, r0: usize, r1: usize) -> Row<'a> {
        let (p, s, b) = quant::row_layout(self.format, self.cols());
        Row {
            packed: &self.packed[r0 * p..r1 * p],
            scales: self.scales.map_or(&[], |x| &x[r0 * s..r1 * s]),
            biases: self.biases.map_or(&[], |x| &x[r0 * b..r1 * b]),
        }
    }

    /// Dequantizes row `row` (flattened over leading dims) into `out[..cols()]`.
    pub fn dequant_row(&self, row: usize, out: &mut [f32]) {
        let cols = self.cols();
        quant::dequant_row(self.format, self.row(row), &mut out[..cols]);
    }

    /// The whole weight as f32, row-major.
    pub fn dequant(&self) -> Vec<f32> {
        let cols = self.cols();
        let mut out = vec![0.0f32; self.rows() * cols];
        if cols > 0 {
            for (r, chunk) in out.chunks_exact_mut(cols).enumerate() {
                self.dequant_row(r, chunk);
            }
        }
        out
    }

    /// `dot(dequant_row(row), x)` fused: no allocation, same values, different summation
    /// order.
    pub fn dot_row(&self, row: usize, x: &[f32]) -> f32 {
        quant::dot_row(self.format, self.row(row), &x[..self.cols()])
    }

    /// Bytes this weight occupies (packed + scales + biases).
    pub fn stored_bytes(&self) -> u64 {
        (self.packed.len()
            + self.scales.map_or(0, <[u8]>::len)
            + self.biases.map_or(0, <[u8]>::len)) as u64
    }
}
