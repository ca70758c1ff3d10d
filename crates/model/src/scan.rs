//! Reading a bundle directory's safetensors headers (never the data) and comparing the
//! tensors found with what [`crate::names`] says the config needs.
//!
//! Shared by [`crate::Bundle::open`] (stops at the first problem) and [`crate::verify`]
//! (reports them all).
use crate::config::{Config, field};
use crate::error::ModelError;
use crate::hf_names::{self, Naming};
use crate::names::{self, StoredTensor};
use memmap2::Mmap;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use zaya_ir::DType;

pub(crate) const INDEX_FILE: &str = "model.safetensors.index.json";
const SINGLE_FILE: &str = "model.safetensors";

/// One memory-mapped safetensors file.
pub(crate) struct ShardFile {
    pub path: PathBuf,
    pub map: Mmap,
    pub header_bytes: usize,
    pub tensor_count: usize,
}

/// A tensor as found in a header; `start..end` are absolute offsets into the shard's map.
#[derive(Clone, Debug)]
pub(crate) struct RawTensor {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub shard: usize,
    pub start: usize,
    pub end: usize,
}

/// A config size checked against one axis of one tensor.
struct SizeProbe {
    field: &'static str,
    what: &'static str,
    tensor: String,
    axis: usize,
    expected: usize,
}

/// Everything read from a bundle directory's metadata.
pub(crate) struct Scan {
    pub dir: PathBuf,
    pub config: Config,
    /// The naming of the tensors in the files (and in `tensors`).
    pub naming: Naming,
    pub index: Option<PathBuf>,
    pub shards: Vec<ShardFile>,
    pub tensors: BTreeMap<String, RawTensor>,
}

impl Scan {
    pub fn read(dir: &Path) -> Result<Scan, ModelError> {
        let config = Config::from_dir(dir)?;
        let index_path = dir.join(INDEX_FILE);
        let (index, shard_paths, weight_map) = if index_path.is_file() {
            let (paths, map) = read_index(dir, &index_path)?;
            (Some(index_path), paths, Some(map))
        } else {
            (None, find_single_files(dir)?, None)
        };
        let mut scan = Scan {
            dir: dir.to_path_buf(),
            naming: Naming::Original,
            config,
            index,
            shards: Vec::new(),
            tensors: BTreeMap::new(),
        };
        for path in shard_paths {
            scan.add_shard(path)?;
        }
        if let Some(map) = weight_map {
            scan.check_index(&map)?;
        }
        scan.settle_naming()?;
        scan.check_config_sizes()?;
        Ok(scan)
    }

    /// Detects HF naming; HF's untied `lm_head.weight` is dropped when the config ties the
    /// embedding (HF itself ignores it then).
    fn settle_naming(&mut self) -> Result<(), ModelError> {
        self.naming = hf_names::detect(self.tensors.keys().map(String::as_str));
        if self.naming != Naming::Hf {
            return Ok(());
        }
        if self.config.quantization.is_some() {
            let name = self.tensors.keys().next().cloned().unwrap_or_default();
            return Err(ModelError::tensor(
                self.file_of(&name),
                &name,
                "HF transformers naming in a quantized bundle: only float HF checkpoints are \
                 supported (convert them with `zaya-graph convert`)",
            ));
        }
        if self.config.tie_word_embeddings {
            self.tensors.remove(hf_names::HF_LM_HEAD);
        }
        Ok(())
    }

    /// The tensors the files must hold, in the files' naming.
    pub fn expected(&self) -> Vec<StoredTensor> {
        names::expected_stored_as(&self.config, self.scale_dtype(), self.naming)
    }

    /// The config's sizes against what the headers hold, before anything is expanded from
    /// them: the layer count against the layer indices present, then each dimension that one
    /// tensor axis shows directly. A config that disagrees is refused naming the field, in
    /// time independent of the (possibly absurd) numbers it claims.
    pub fn check_config_sizes(&self) -> Result<(), ModelError> {
        let c = &self.config;
        let config_file = self.dir.join("config.json");
        let per_index = match self.naming {
            Naming::Original => 1,
            Naming::Hf => 2,
        };
        let found = self
            .tensors
            .keys()
            .filter_map(|n| hf_names::layer_index(n))
            .max()
            .map_or(0, |k| (k + 1) * per_index);
        if found != c.num_layers {
            return Err(ModelError::config(
                &config_file,
                field::LAYERS,
                format!(
                    "describes {} original layers ({} attention/MoE pairs), but the files hold \
                     {found} ({} pairs)",
                    c.num_layers,
                    c.num_layers / 2,
                    found / 2
                ),
            ));
        }
        for probe in self.size_probes() {
            let Some(t) = self.tensors.get(&probe.tensor) else {
                continue; // reported as a missing tensor
            };
            let Some(&axis_len) = t.shape.get(probe.axis) else {
                continue; // reported as a wrong shape
            };
            if axis_len != probe.expected {
                return Err(ModelError::config(
                    &config_file,
                    probe.field,
                    format!(
                        "implies {} = {} for axis {} of `{}`, but the file holds {axis_len} \
                         (shape {:?})",
                        probe.what, probe.expected, probe.axis, probe.tensor, t.shape
                    ),
                ));
            }
        }
        Ok(())
    }

    /// One axis of one tensor per config size (names in the files' naming).
    fn size_probes(&self) -> Vec<SizeProbe> {
        let c = &self.config;
        let name = |orig: &str| match self.naming {
            Naming::Original => orig.to_string(),
            Naming::Hf => hf_names::to_hf(orig, c.num_layers).unwrap_or_default(),
        };
        let probe = |field, what, tensor: String, axis, expected| SizeProbe {
            field,
            what,
            tensor,
            axis,
            expected,
        };
        let attn = "model.layers.0.self_attn.qkv";
        let router = "model.layers.1.zaya_block.router";
        let mut probes = vec![
            probe(
                field::VOCAB,
                "V",
                format!("{}.weight", names::EMBED),
                0,
                c.vocab_size,
            ),
            probe(
                field::HIDDEN,
                "H",
                name(names::FINAL_NORM),
                0,
                c.hidden_size,
            ),
            probe(
                field::EXPERTS,
                "E + 1",
                name(&names::balancing_biases(1)),
                0,
                c.num_experts + 1,
            ),
            probe(
                field::ROUTER_HIDDEN,
                "D",
                name(&format!("{router}.rmsnorm_eda.weight")),
                0,
                c.router_hidden,
            ),
            probe(
                field::KV_HEADS,
                "nkv",
                name(&format!("{attn}.temp")),
                0,
                c.num_kv_heads,
            ),
            probe(
                field::HEAD_DIM,
                "hd",
                name(&format!("{attn}.conv_qk.1.weight")),
                1,
                c.head_dim,
            ),
            probe(
                field::Q_HEADS,
                "(nq + nkv) * hd",
                name(&format!("{attn}.conv_qk.0.bias")),
                0,
                c.conv_channels(),
            ),
        ];
        let (tensor, axis, expected) = match (self.naming, c.quantization.is_some()) {
            (_, true) => (
                format!("{}.weight", names::switch_mlp(1, "gate_proj")),
                1,
                c.expert_intermediate,
            ),
            (Naming::Original, false) => {
                (names::local_expert_fc1(1, 0), 0, 2 * c.expert_intermediate)
            }
            (Naming::Hf, false) => (hf_names::gate_up(0), 1, 2 * c.expert_intermediate),
        };
        probes.push(probe(
            field::EXPERT_INTERMEDIATE,
            "2I (or I)",
            tensor,
            axis,
            expected,
        ));
        probes
    }

    fn add_shard(&mut self, path: PathBuf) -> Result<(), ModelError> {
        let shard_idx = self.shards.len();
        let (map, header_bytes, found) = read_header(&path)?;
        for (name, t) in &found {
            if let Some(prev) = self.tensors.get(name) {
                let other = self.shards[prev.shard].path.display().to_string();
                return Err(ModelError::tensor(
                    &path,
                    name,
                    format!("also stored in {other}"),
                ));
            }
            self.tensors.insert(
                name.clone(),
                RawTensor {
                    shard: shard_idx,
                    ..t.clone()
                },
            );
        }
        self.shards.push(ShardFile {
            path,
            map,
            header_bytes,
            tensor_count: found.len(),
        });
        Ok(())
    }

    /// The index and the shard headers must describe the same tensors.
    fn check_index(&self, weight_map: &BTreeMap<String, String>) -> Result<(), ModelError> {
        let index = self.dir.join(INDEX_FILE);
        for (name, shard) in weight_map {
            let holder = self.tensors.get(name).map(|t| &self.shards[t.shard].path);
            if holder.and_then(|p| p.file_name()).and_then(|f| f.to_str()) != Some(shard.as_str()) {
                let reason =
                    format!("listed in the index for shard `{shard}`, which does not hold it");
                return Err(ModelError::tensor(&index, name, reason));
            }
        }
        if let Some((name, t)) = self
            .tensors
            .iter()
            .find(|(n, _)| !weight_map.contains_key(*n))
        {
            let reason = format!("not listed in {INDEX_FILE}");
            return Err(ModelError::tensor(&self.shards[t.shard].path, name, reason));
        }
        Ok(())
    }

    /// The file to name for a tensor: its shard, or for a missing one the index (or the
    /// single file, or the directory).
    pub fn file_of(&self, tensor: &str) -> PathBuf {
        if let Some(t) = self.tensors.get(tensor) {
            return self.shards[t.shard].path.clone();
        }
        match (&self.index, self.shards.as_slice()) {
            (Some(index), _) => index.clone(),
            (None, [only]) => only.path.clone(),
            _ => self.dir.clone(),
        }
    }

    pub fn bytes(&self, t: &RawTensor) -> &[u8] {
        &self.shards[t.shard].map[t.start..t.end]
    }

    /// The scale dtype of affine weights (f16 in every known bundle; bf16 accepted).
    pub fn scale_dtype(&self) -> DType {
        self.tensors
            .iter()
            .filter(|(n, _)| n.ends_with(".scales"))
            .map(|(_, t)| t.dtype)
            .find(|d| matches!(d, DType::F16 | DType::BF16))
            .unwrap_or(DType::F16)
    }

    /// A float tensor as f32 (reads only that tensor's bytes).
    pub fn read_f32(&self, name: &str) -> Result<Vec<f32>, ModelError> {
        let t = self.tensors.get(name).ok_or_else(|| ModelError::Lookup {
            file: self.file_of(name),
            name: name.to_string(),
            reason: "no such tensor".into(),
        })?;
        floats_to_f32(self.bytes(t), t.dtype).ok_or_else(|| ModelError::WrongDtype {
            file: self.file_of(name),
            tensor: name.to_string(),
            expected: "a float dtype".into(),
            found: t.dtype.to_string(),
        })
    }

    /// Every disagreement between the files and the tensors `config` needs; empty = valid.
    /// Unstacked experts in a quantized bundle come first: they explain the missing
    /// `switch_mlp` tensors that follow.
    pub fn problems(&self, expected: &[StoredTensor]) -> Vec<ModelError> {
        let mut local = Vec::new();
        let mut others = Vec::new();
        let wanted: HashMap<&str, &StoredTensor> =
            expected.iter().map(|s| (s.name.as_str(), s)).collect();
        let quantized = self.config.quantization.is_some();
        for (name, _) in self
            .tensors
            .iter()
            .filter(|(n, _)| !wanted.contains_key(n.as_str()))
        {
            let file = self.file_of(name);
            if quantized && name.contains(names::LOCAL_EXPERTS) {
                local.push(ModelError::LocalExperts {
                    file,
                    tensor: name.clone(),
                });
            } else {
                others.push(ModelError::UnexpectedTensor {
                    file,
                    tensor: name.clone(),
                });
            }
        }
        let mut found_problems = Vec::new();
        for want in expected {
            if let Some(problem) = self.compare(want) {
                found_problems.push(problem);
            }
        }
        local.extend(found_problems);
        local.extend(others);
        local
    }

    fn compare(&self, want: &StoredTensor) -> Option<ModelError> {
        let file = self.file_of(&want.name);
        let tensor = want.name.clone();
        let Some(found) = self.tensors.get(&want.name) else {
            let expected = format!("{} {:?}", want.dtype_rule(), want.shape);
            return Some(ModelError::MissingTensor {
                file,
                tensor,
                expected,
            });
        };
        if !want.accepts(found.dtype) {
            let (expected, found) = (want.dtype_rule(), found.dtype.to_string());
            return Some(ModelError::WrongDtype {
                file,
                tensor,
                expected,
                found,
            });
        }
        if found.shape != want.shape {
            let (expected, found) = (want.shape.clone(), found.shape.clone());
            return Some(ModelError::WrongShape {
                file,
                tensor,
                expected,
                found,
            });
        }
        None
    }
}

/// Float bytes in `dtype` widened to f32; `None` for integer dtypes.
pub(crate) fn floats_to_f32(bytes: &[u8], dtype: DType) -> Option<Vec<f32>> {
    if !dtype.is_float() {
        return None;
    }
    let n = bytes.len() / dtype.size();
    Some(
        (0..n)
            .map(|i| crate::quant::read_float(bytes, dtype, i))
            .collect(),
    )
}

/// Shard paths and the weight map of `model.safetensors.index.json`.
fn read_index(
    dir: &Path,
    index: &Path,
) -> Result<(Vec<PathBuf>, BTreeMap<String, String>), ModelError> {
    let text = std::fs::read_to_string(index).map_err(|e| ModelError::io(index, e))?;
    let weight_map = parse_index(index, &text)?;
    let mut shards: Vec<PathBuf> = Vec::new();
    for (name, shard) in &weight_map {
        let path = shard_path(dir, index, name, shard)?;
        if !shards.contains(&path) {
            shards.push(path);
        }
    }
    shards.sort();
    Ok((shards, weight_map))
}

/// The `weight_map` (tensor -> shard file name) of a `model.safetensors.index.json` text
/// (`file` is named in errors); shard names must be plain file names. Whether the shards
/// exist is the loader's next check.
pub fn parse_index(file: &Path, text: &str) -> Result<BTreeMap<String, String>, ModelError> {
    let value: Value = serde_json::from_str(text).map_err(|source| ModelError::Json {
        file: file.to_path_buf(),
        source,
    })?;
    let map = value
        .get("weight_map")
        .and_then(Value::as_object)
        .ok_or_else(|| ModelError::header(file, "no `weight_map` object"))?;
    let mut weight_map = BTreeMap::new();
    for (name, shard) in map {
        let shard = shard
            .as_str()
            .filter(|s| is_plain_file_name(s))
            .ok_or_else(|| {
                ModelError::tensor(
                    file,
                    name,
                    format!("shard {shard} is not a plain file name"),
                )
            })?;
        weight_map.insert(name.clone(), shard.to_string());
    }
    Ok(weight_map)
}

fn is_plain_file_name(shard: &str) -> bool {
    let mut parts = Path::new(shard).components();
    // Components drop a trailing `/` or `/.` (`a/` is one component), so refuse any
    // separator outright (the long fuzz run found `x/` accepted).
    !shard.contains(['/', '\\'])
        && matches!(
            (parts.next(), parts.next()),
            (Some(std::path::Component::Normal(_)), None)
        )
}

/// A shard named by the index: a plain file name inside the bundle directory.
fn shard_path(dir: &Path, index: &Path, tensor: &str, shard: &str) -> Result<PathBuf, ModelError> {
    let plain = is_plain_file_name(shard);
    let path = dir.join(shard);
    if !plain || !path.is_file() {
        return Err(ModelError::MissingShard {
            file: index.to_path_buf(),
            shard: shard.to_string(),
            tensor: tensor.to_string(),
        });
    }
    Ok(path)
}

/// Without an index: `model.safetensors`, else every `*.safetensors` in the directory.
fn find_single_files(dir: &Path) -> Result<Vec<PathBuf>, ModelError> {
    let single = dir.join(SINGLE_FILE);
    if single.is_file() {
        return Ok(vec![single]);
    }
    let entries = std::fs::read_dir(dir).map_err(|e| ModelError::io(dir, e))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors") && p.is_file())
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(ModelError::NotABundle {
            path: dir.to_path_buf(),
            reason: format!("no {INDEX_FILE} and no *.safetensors files"),
        });
    }
    Ok(files)
}

/// Maps a file and parses its header with the safetensors crate; when the crate refuses
/// it, [`diagnose`] re-reads the header to name the file and the offending tensor.
/// A mapped shard, its header length and its tensors.
type MappedHeader = (Mmap, usize, Vec<(String, RawTensor)>);

fn read_header(path: &Path) -> Result<MappedHeader, ModelError> {
    let file = File::open(path).map_err(|e| ModelError::io(path, e))?;
    let len = file.metadata().map_err(|e| ModelError::io(path, e))?.len();
    if len < 8 {
        return Err(ModelError::header(
            path,
            format!("file is {len} bytes, too short for a header"),
        ));
    }
    // SAFETY: the map is read-only; like every safetensors loader we assume the files are
    // not modified while the bundle is open.
    let map = unsafe { Mmap::map(&file) }.map_err(|e| ModelError::io(path, e))?;
    let (data_start, found) = parse_header(path, &map)?;
    Ok((map, data_start, found))
}

/// One tensor entry of a safetensors header, as [`parse_safetensors_header`] returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderEntry {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    /// Absolute byte range of the data in the file.
    pub start: usize,
    pub end: usize,
}

/// Parses and checks a whole safetensors file held in `bytes` (`file` is named in errors):
/// the header, every entry's dtype, shape and offsets, and that the entries tile the data.
/// The loader runs exactly this on each mapped shard; it is public for tools and fuzzing.
pub fn parse_safetensors_header(file: &Path, bytes: &[u8]) -> Result<Vec<HeaderEntry>, ModelError> {
    if bytes.len() < 8 {
        return Err(ModelError::header(
            file,
            format!("file is {} bytes, too short for a header", bytes.len()),
        ));
    }
    let (_, found) = parse_header(file, bytes)?;
    Ok(found
        .into_iter()
        .map(|(name, t)| HeaderEntry {
            name,
            dtype: t.dtype,
            shape: t.shape,
            start: t.start,
            end: t.end,
        })
        .collect())
}

/// The data start and the entries (sorted by name) of a safetensors file of >= 8 bytes.
fn parse_header(path: &Path, map: &[u8]) -> Result<(usize, Vec<(String, RawTensor)>), ModelError> {
    let (n, metadata) = match safetensors::SafeTensors::read_metadata(map) {
        Ok(parsed) => parsed,
        Err(err) => return Err(diagnose(path, map, &err.to_string())),
    };
    let data_start = 8 + n;
    let mut found = Vec::new();
    for (name, info) in metadata.tensors() {
        let dtype = convert_dtype(info.dtype).ok_or_else(|| {
            ModelError::tensor(
                path,
                &name,
                format!(
                    "unsupported dtype {:?} (expected F16, BF16, F32, U32, U8)",
                    info.dtype
                ),
            )
        })?;
        let (s, e) = info.data_offsets;
        let raw = RawTensor {
            dtype,
            shape: info.shape.clone(),
            shard: 0,
            start: data_start + s,
            end: data_start + e,
        };
        found.push((name, raw));
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((data_start, found))
}

fn convert_dtype(d: safetensors::Dtype) -> Option<DType> {
    use safetensors::Dtype as S;
    Some(match d {
        S::F32 => DType::F32,
        S::F16 => DType::F16,
        S::BF16 => DType::BF16,
        S::U32 => DType::U32,
        S::U8 => DType::U8,
        S::I32 => DType::I32,
        _ => return None,
    })
}

/// Bytes per element of a safetensors dtype name (sub-byte types as 0: checked by the crate).
fn dtype_size(tag: &str) -> Option<u64> {
    Some(match tag {
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" | "F8_E8M0" | "F8_E4M3FNUZ"
        | "F8_E5M2FNUZ" => 1,
        "I16" | "U16" | "F16" | "BF16" => 2,
        "I32" | "U32" | "F32" => 4,
        "C64" | "F64" | "I64" | "U64" => 8,
        "F4" | "F6_E2M3" | "F6_E3M2" => 0,
        _ => return None,
    })
}

/// Explains why the safetensors crate refused a header, naming the tensor where there is
/// one; falls back to the crate's own message.
fn diagnose(path: &Path, bytes: &[u8], crate_message: &str) -> ModelError {
    match find_header_fault(path, bytes) {
        Some(err) => err,
        None => ModelError::header(path, crate_message.to_string()),
    }
}

fn find_header_fault(path: &Path, bytes: &[u8]) -> Option<ModelError> {
    let len = bytes.len() as u64;
    let n = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    if n.checked_add(8).is_none_or(|end| end > len) {
        return Some(ModelError::header(
            path,
            format!(
                "header length {n} runs past the end of the file ({len} bytes): truncated or not safetensors"
            ),
        ));
    }
    let text = match std::str::from_utf8(&bytes[8..8 + n as usize]) {
        Ok(t) => t,
        Err(e) => {
            return Some(ModelError::header(
                path,
                format!("header is not UTF-8: {e}"),
            ));
        }
    };
    let entries: serde_json::Map<String, Value> = match serde_json::from_str(text) {
        Ok(m) => m,
        Err(e) => {
            return Some(ModelError::header(
                path,
                format!("invalid header JSON: {e}"),
            ));
        }
    };
    let mut spans = Vec::new();
    for (name, info) in entries.iter().filter(|(k, _)| *k != "__metadata__") {
        match tensor_span(info) {
            Ok(span) => spans.push((span, name)),
            Err(reason) => return Some(ModelError::tensor(path, name, reason)),
        }
    }
    check_spans(path, spans, len - 8 - n)
}

/// `(start, end)` of one header entry, checked against its dtype and shape.
fn tensor_span(info: &Value) -> Result<(u64, u64), String> {
    let tag = info
        .get("dtype")
        .and_then(Value::as_str)
        .ok_or("no `dtype` string")?;
    let size = dtype_size(tag).ok_or_else(|| format!("unknown dtype `{tag}`"))?;
    let shape: Option<Vec<u64>> = info
        .get("shape")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(Value::as_u64).collect())
        .unwrap_or(None);
    let shape = shape.ok_or("`shape` is not a list of non-negative integers")?;
    let offsets: Option<Vec<u64>> = info
        .get("data_offsets")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(Value::as_u64).collect())
        .unwrap_or(None);
    let (s, e) = match offsets.as_deref() {
        Some(&[s, e]) if s <= e => (s, e),
        _ => return Err("`data_offsets` is not a [start, end] pair with start <= end".into()),
    };
    let elements = shape
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d))
        .ok_or("shape overflows")?;
    let need = elements.checked_mul(size).ok_or("shape overflows")?;
    if size > 0 && need != e - s {
        return Err(format!(
            "data_offsets [{s}, {e}] hold {} bytes but {tag} {shape:?} needs {need}",
            e - s
        ));
    }
    Ok((s, e))
}

/// Tensors must tile the data section exactly: in range, no overlaps, no gaps, no tail.
/// Checked in that order so the most specific fault is the one reported.
fn check_spans(
    path: &Path,
    mut spans: Vec<((u64, u64), &String)>,
    data_len: u64,
) -> Option<ModelError> {
    spans.sort();
    if let Some(&((s, e), name)) = spans.iter().find(|((_, e), _)| *e > data_len) {
        let reason = format!(
            "data_offsets [{s}, {e}] run past the end of the data ({data_len} bytes): file truncated?"
        );
        return Some(ModelError::tensor(path, name, reason));
    }
    for pair in spans.windows(2) {
        let (((_, prev_end), prev), ((s, e), name)) = (pair[0], pair[1]);
        if s < prev_end {
            return Some(ModelError::tensor(
                path,
                name,
                format!("data [{s}, {e}] overlaps tensor `{prev}`"),
            ));
        }
    }
    let mut end = 0;
    for &((s, e), name) in &spans {
        if s > end {
            return Some(ModelError::tensor(
                path,
                name,
                format!("gap of {} bytes before its data", s - end),
            ));
        }
        end = end.max(e);
    }
    (end != data_len).then(|| {
        ModelError::header(
            path,
            format!("{} bytes after the last tensor's data", data_len - end),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_names_are_plain_file_names_only() {
        for ok in ["model-00001-of-00002.safetensors", "a.b", "x..y"] {
            assert!(is_plain_file_name(ok), "{ok}");
        }
        for bad in [
            "", ".", "..", "x/", "x/.", "./x", "../x", "a/b", "/abs", "a\\b", "x//",
        ] {
            assert!(!is_plain_file_name(bad), "{bad}");
        }
        let index = r#"{"weight_map": {"t": "model.safetensors/"}}"#;
        let err = parse_index(Path::new("index.json"), index).unwrap_err();
        assert!(err.to_string().contains("not a plain file name"), "{err}");
    }
}
