//! Writing safetensors files and shard indexes: used by the random bundle generator and by
//! tests that build bundles (including full-size, header-only sparse ones).
use crate::error::ModelError;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Write;
use std::path::Path;
use zaya_ir::DType;

/// The safetensors spelling of a dtype.
pub fn dtype_tag(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "F32",
        DType::F16 => "F16",
        DType::BF16 => "BF16",
        DType::U32 => "U32",
        DType::U8 => "U8",
        DType::I32 => "I32",
    }
}

/// One tensor of a file to write.
#[derive(Clone, Debug)]
pub struct TensorSpec {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
}

impl TensorSpec {
    pub fn bytes(&self) -> u64 {
        self.shape.iter().product::<usize>() as u64 * self.dtype.size() as u64
    }
}

/// The header block (8-byte length + JSON padded with spaces to a multiple of 8, as the
/// safetensors crate writes it) for tensors laid out back to back in the given order;
/// returns it with the data size.
pub fn header_bytes(tensors: &[TensorSpec], metadata: &BTreeMap<String, String>) -> (Vec<u8>, u64) {
    let mut map = serde_json::Map::new();
    if !metadata.is_empty() {
        map.insert("__metadata__".into(), serde_json::json!(metadata));
    }
    let mut offset = 0u64;
    for t in tensors {
        let end = offset + t.bytes();
        let info = serde_json::json!({
            "dtype": dtype_tag(t.dtype),
            "shape": t.shape,
            "data_offsets": [offset, end],
        });
        map.insert(t.name.clone(), info);
        offset = end;
    }
    let mut json = serde_json::Value::Object(map).to_string().into_bytes();
    while !json.len().is_multiple_of(8) {
        json.push(b' ');
    }
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&json);
    (out, offset)
}

/// Writes a header whose data section is a sparse hole (all zeros): a full-size bundle in
/// milliseconds, for tests that only need headers.
pub fn write_header_only(path: &Path, tensors: &[TensorSpec]) -> Result<(), ModelError> {
    let (header, data) = header_bytes(tensors, &BTreeMap::new());
    let mut file = File::create(path).map_err(|e| ModelError::io(path, e))?;
    file.write_all(&header)
        .map_err(|e| ModelError::io(path, e))?;
    file.set_len(header.len() as u64 + data)
        .map_err(|e| ModelError::io(path, e))
}

/// Splits tensors (kept in order) into shards of at most `max_bytes` of data each (a single
/// larger tensor gets a shard of its own).
pub fn plan_shards(tensors: &[TensorSpec], max_bytes: u64) -> Vec<Vec<TensorSpec>> {
    let mut shards: Vec<Vec<TensorSpec>> = Vec::new();
    let mut current = Vec::new();
    let mut size = 0u64;
    for t in tensors {
        if !current.is_empty() && size + t.bytes() > max_bytes {
            shards.push(std::mem::take(&mut current));
            size = 0;
        }
        size += t.bytes();
        current.push(t.clone());
    }
    if !current.is_empty() || shards.is_empty() {
        shards.push(current);
    }
    shards
}

/// The HF/MLX shard file name `model-0000i-of-0000n.safetensors` (i from 1).
pub fn shard_name(i: usize, n: usize) -> String {
    format!("model-{:05}-of-{:05}.safetensors", i + 1, n)
}

/// Writes `model.safetensors.index.json` for the given shards.
pub fn write_index(dir: &Path, shards: &[Vec<TensorSpec>]) -> Result<(), ModelError> {
    let mut weight_map = serde_json::Map::new();
    let mut total = 0u64;
    for (i, shard) in shards.iter().enumerate() {
        for t in shard {
            weight_map.insert(t.name.clone(), shard_name(i, shards.len()).into());
            total += t.bytes();
        }
    }
    let index =
        serde_json::json!({ "metadata": { "total_size": total }, "weight_map": weight_map });
    let path = dir.join("model.safetensors.index.json");
    let text = serde_json::to_string_pretty(&index).map_err(|source| ModelError::Json {
        file: path.clone(),
        source,
    })?;
    std::fs::write(&path, text).map_err(|e| ModelError::io(&path, e))
}

/// A safetensors file's layout exactly as the safetensors crate (and Python's `save_file`)
/// writes it: tensors sorted by dtype (descending alignment) then name, the crate's header
/// JSON padded with spaces to a multiple of 8.
pub struct Layout {
    /// The 8-byte length and the header JSON.
    pub header: Vec<u8>,
    /// Absolute file offset of each tensor's data.
    pub offsets: Vec<(String, u64)>,
    pub data_bytes: u64,
}

/// Lays out `tensors` (any order) with optional `__metadata__`.
pub fn safetensors_layout(
    tensors: &[TensorSpec],
    metadata: Option<HashMap<String, String>>,
) -> Result<Layout, String> {
    use safetensors::tensor::{Metadata, TensorInfo};
    let mut sorted: Vec<&TensorSpec> = tensors.iter().collect();
    sorted.sort_by(|a, b| {
        st_dtype(b.dtype)
            .cmp(&st_dtype(a.dtype))
            .then(a.name.cmp(&b.name))
    });
    let mut infos = Vec::with_capacity(sorted.len());
    let mut offset = 0usize;
    for t in &sorted {
        let n = usize::try_from(t.bytes()).map_err(|_| format!("`{}` is too large", t.name))?;
        let info = TensorInfo {
            dtype: st_dtype(t.dtype),
            shape: t.shape.clone(),
            data_offsets: (offset, offset + n),
        };
        infos.push((t.name.clone(), info));
        offset += n;
    }
    let meta = Metadata::new(metadata, infos).map_err(|e| e.to_string())?;
    let mut json = serde_json::to_string(&meta)
        .map_err(|e| e.to_string())?
        .into_bytes();
    json.resize(json.len().next_multiple_of(8), b' ');
    let mut header = (json.len() as u64).to_le_bytes().to_vec();
    header.extend_from_slice(&json);
    let base = header.len() as u64;
    let mut offsets = Vec::with_capacity(sorted.len());
    let mut at = 0u64;
    for t in sorted {
        offsets.push((t.name.clone(), base + at));
        at += t.bytes();
    }
    Ok(Layout {
        header,
        offsets,
        data_bytes: offset as u64,
    })
}

fn st_dtype(dtype: DType) -> safetensors::Dtype {
    use safetensors::Dtype as S;
    match dtype {
        DType::F32 => S::F32,
        DType::F16 => S::F16,
        DType::BF16 => S::BF16,
        DType::U32 => S::U32,
        DType::U8 => S::U8,
        DType::I32 => S::I32,
    }
}
