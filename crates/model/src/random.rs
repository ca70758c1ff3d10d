//! Deterministic random bundles of any config, in the real on-disk formats: for tests of
//! shapes the fixtures do not cover, and for benchmarks at full size.
//!
//! Values are plausible rather than trained: norms and scales near 1, small weights,
//! balancing biases that keep the skip route unreachable (as in the real model). Data is
//! streamed to disk in chunks, so size is limited by the disk, not memory.
use crate::config::Config;
use crate::error::ModelError;
use crate::names::{self, Role, StoredTensor};
use crate::writer::{self, TensorSpec};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use zaya_ir::DType;

/// Shard size of written bundles, like the jang converter's ~1 GB files.
pub const DEFAULT_SHARD_BYTES: u64 = 1 << 30;

/// Bytes generated per write.
const CHUNK: usize = 1 << 20;

/// Writes `config.json`, sharded safetensors and `model.safetensors.index.json` for
/// `config` into `dir` (created if needed). Same seed, same bytes. An unquantized config
/// gets the original checkpoint layout (bf16, `local_experts`).
pub fn write_random_bundle(config: &Config, dir: &Path, seed: u64) -> Result<(), ModelError> {
    write_random_bundle_sharded(config, dir, seed, DEFAULT_SHARD_BYTES)
}

/// [`write_random_bundle`] with a chosen maximum shard size.
pub fn write_random_bundle_sharded(
    config: &Config,
    dir: &Path,
    seed: u64,
    shard_bytes: u64,
) -> Result<(), ModelError> {
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    let config_path = dir.join("config.json");
    let text =
        serde_json::to_string_pretty(&config.to_json()).map_err(|source| ModelError::Json {
            file: config_path.clone(),
            source,
        })?;
    std::fs::write(&config_path, text).map_err(|e| ModelError::io(&config_path, e))?;

    let stored = names::expected_stored(config, DType::F16);
    let by_name: BTreeMap<&str, &StoredTensor> =
        stored.iter().map(|s| (s.name.as_str(), s)).collect();
    let specs: Vec<TensorSpec> = stored
        .iter()
        .map(|s| TensorSpec {
            name: s.name.clone(),
            dtype: s.dtype,
            shape: s.shape.clone(),
        })
        .collect();
    let shards = writer::plan_shards(&specs, shard_bytes);
    let mut rng = StdRng::seed_from_u64(seed);
    let metadata = BTreeMap::from([("format".to_string(), "mlx".to_string())]);
    for (i, shard) in shards.iter().enumerate() {
        let path = dir.join(writer::shard_name(i, shards.len()));
        let file = File::create(&path).map_err(|e| ModelError::io(&path, e))?;
        let mut out = BufWriter::with_capacity(CHUNK, file);
        let (header, _) = writer::header_bytes(shard, &metadata);
        out.write_all(&header)
            .map_err(|e| ModelError::io(&path, e))?;
        for spec in shard {
            if let Some(tensor) = by_name.get(spec.name.as_str()) {
                write_tensor(&mut out, tensor, config, &mut rng)
                    .map_err(|e| ModelError::io(&path, e))?;
            }
        }
        out.flush().map_err(|e| ModelError::io(&path, e))?;
    }
    writer::write_index(dir, &shards)
}

fn write_tensor(
    out: &mut impl Write,
    t: &StoredTensor,
    config: &Config,
    rng: &mut StdRng,
) -> std::io::Result<()> {
    let count: usize = t.shape.iter().product();
    match t.role {
        Role::Packed => write_random_bytes(out, count * 4, rng),
        Role::Scales if t.dtype == DType::U8 => {
            // E8M0 around 2^-7: E2M1 values up to 6 give weights up to ~0.05.
            write_values(
                out,
                count,
                |_| f32::from(rng.random_range(118u8..122)),
                DType::U8,
            )
        }
        Role::Scales => write_values(out, count, |_| rng.random_range(0.002f32..0.01), t.dtype),
        Role::Biases => write_values(out, count, |_| rng.random_range(-0.06f32..-0.01), t.dtype),
        Role::Float => write_float(out, t, count, config, rng),
    }
}

/// Float tensors by what they are: gains near 1, biases near 0, weights ~ U(±1/sqrt(in)).
fn write_float(
    out: &mut impl Write,
    t: &StoredTensor,
    count: usize,
    c: &Config,
    rng: &mut StdRng,
) -> std::io::Result<()> {
    let n = &t.name;
    if n.ends_with(".balancing_biases") {
        let e = c.num_experts;
        return write_values(
            out,
            count,
            |i| {
                if i == e {
                    -1.0
                } else {
                    rng.random_range(0.0f32..0.1)
                }
            },
            t.dtype,
        );
    }
    let gain = n.contains("norm") || n.ends_with("_scale") || n.ends_with(".temp");
    if gain {
        return write_values(
            out,
            count,
            |_| 1.0 + rng.random_range(-0.1f32..0.1),
            t.dtype,
        );
    }
    if n.ends_with("bias") {
        return write_values(out, count, |_| rng.random_range(-0.02f32..0.02), t.dtype);
    }
    let fan_in = t.shape.last().copied().unwrap_or(1).max(1) as f32;
    let a = 1.0 / fan_in.sqrt();
    write_values(out, count, |_| rng.random_range(-a..a), t.dtype)
}

fn write_random_bytes(
    out: &mut impl Write,
    mut len: usize,
    rng: &mut StdRng,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; CHUNK.min(len)];
    while len > 0 {
        let n = buf.len().min(len);
        rng.fill_bytes(&mut buf[..n]);
        out.write_all(&buf[..n])?;
        len -= n;
    }
    Ok(())
}

/// Writes `count` values `value(i)` encoded as `dtype`.
fn write_values(
    out: &mut impl Write,
    count: usize,
    mut value: impl FnMut(usize) -> f32,
    dtype: DType,
) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(CHUNK.min(count * dtype.size()));
    for i in 0..count {
        let v = value(i);
        match dtype {
            DType::F16 => buf.extend_from_slice(&half::f16::from_f32(v).to_le_bytes()),
            DType::BF16 => buf.extend_from_slice(&half::bf16::from_f32(v).to_le_bytes()),
            DType::F32 => buf.extend_from_slice(&v.to_le_bytes()),
            DType::U8 => buf.push(v as u8),
            DType::U32 => buf.extend_from_slice(&(v as u32).to_le_bytes()),
            DType::I32 => buf.extend_from_slice(&(v as i32).to_le_bytes()),
        }
        if buf.len() >= CHUNK {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    out.write_all(&buf)
}
