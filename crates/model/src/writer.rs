//! Writing safetensors files and shard indexes: used by the random bundle generator and by
//! tests that build bundles (including full-size, header-only sparse ones).
use crate::error::ModelError;
use std::collections::BTreeMap;
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
