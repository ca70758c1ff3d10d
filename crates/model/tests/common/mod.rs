//! Shared helpers: fixture paths and bundle surgery (copy a fixture, then rewrite headers,
//! tensors or the index).
#![allow(dead_code)]
pub mod hf_twin;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use zaya_ir::DType;
use zaya_model::writer::{self, TensorSpec};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

pub fn tiny(which: &str) -> PathBuf {
    fixtures().join("zaya-tiny-a").join(which)
}

pub const SHARD: &str = "model-00001-of-00001.safetensors";
pub const INDEX: &str = "model.safetensors.index.json";

/// A writable copy of a fixture directory.
pub fn copy_fixture(which: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(tiny(which)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), tmp.path().join(entry.file_name())).unwrap();
    }
    tmp
}

/// One tensor with its bytes, as read from a file.
#[derive(Clone)]
pub struct Tensor {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

/// All tensors of a safetensors file, in data order.
pub fn read_tensors(path: &Path) -> Vec<Tensor> {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let data = &bytes[8 + n..];
    let mut out: Vec<(usize, Tensor)> = header
        .iter()
        .filter(|(k, _)| *k != "__metadata__")
        .map(|(name, v)| {
            let off: Vec<usize> = v["data_offsets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as usize)
                .collect();
            let shape = v["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as usize)
                .collect();
            let dtype = v["dtype"].as_str().unwrap().to_string();
            (
                off[0],
                Tensor {
                    name: name.clone(),
                    dtype,
                    shape,
                    data: data[off[0]..off[1]].to_vec(),
                },
            )
        })
        .collect();
    out.sort_by_key(|(o, _)| *o);
    out.into_iter().map(|(_, t)| t).collect()
}

fn parse_dtype(tag: &str) -> DType {
    match tag {
        "F16" => DType::F16,
        "BF16" => DType::BF16,
        "F32" => DType::F32,
        "U32" => DType::U32,
        "U8" => DType::U8,
        "I32" => DType::I32,
        other => panic!("test helper cannot write dtype {other}"),
    }
}

/// Writes tensors as a valid safetensors file (offsets recomputed).
pub fn write_tensors(path: &Path, tensors: &[Tensor]) {
    let specs: Vec<TensorSpec> = tensors
        .iter()
        .map(|t| TensorSpec {
            name: t.name.clone(),
            dtype: parse_dtype(&t.dtype),
            shape: t.shape.clone(),
        })
        .collect();
    let (mut bytes, _) = writer::header_bytes(&specs, &BTreeMap::new());
    for t in tensors {
        bytes.extend_from_slice(&t.data);
    }
    std::fs::write(path, bytes).unwrap();
}

/// Rewrites the single shard of a copied fixture through `edit`, and its index to match.
pub fn edit_tensors(dir: &Path, edit: impl FnOnce(&mut Vec<Tensor>)) {
    let shard = dir.join(SHARD);
    let mut tensors = read_tensors(&shard);
    edit(&mut tensors);
    write_tensors(&shard, &tensors);
    let weight_map: serde_json::Map<String, serde_json::Value> = tensors
        .iter()
        .map(|t| (t.name.clone(), SHARD.into()))
        .collect();
    let index = serde_json::json!({ "metadata": {}, "weight_map": weight_map });
    std::fs::write(dir.join(INDEX), index.to_string()).unwrap();
}

/// Rewrites only the JSON header of a shard (data untouched): for corrupt offsets/dtypes.
pub fn edit_header(
    path: &Path,
    edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    edit(&mut header);
    let mut json = serde_json::to_vec(&header).unwrap();
    while !json.len().is_multiple_of(8) {
        json.push(b' ');
    }
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&json);
    out.extend_from_slice(&bytes[8 + n..]);
    std::fs::write(path, out).unwrap();
}

/// Edits a JSON file in place.
pub fn edit_json(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(path, v.to_string()).unwrap();
}

/// Reads an f32/i64 tensor of a golden file as f64 values.
pub fn golden_values(path: &Path, name: &str) -> Vec<f64> {
    let t = read_tensors(path)
        .into_iter()
        .find(|t| t.name == name)
        .unwrap();
    match t.dtype.as_str() {
        "F32" => t
            .data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
            .collect(),
        "I64" => t
            .data
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64)
            .collect(),
        other => panic!("golden dtype {other}"),
    }
}
